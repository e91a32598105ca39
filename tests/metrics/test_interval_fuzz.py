"""Property-based tests of the card's interval parsers (API query and admin form).

Whatever start, end and tenant arrive, the parser either refuses them with field
errors or gives an interval the card can be computed for.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone
from hypothesis import event, example, given
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from metrics.forms import CardForm
from metrics.serializers import MAX_SPAN, CardQuerySerializer
from metrics.services.card import retractions_card
from retraction.models import AttemptStatus
from tests.base import TwoTenantsTestCase
from tests.hostile import FUZZ, ISO_DATES, QUERY_VALUES, assert_field_errors
from tests.metrics.helpers import T0, Spec, make_attempts

# Plausible instants and days too, so that many examples get as far as the card.
RECENT = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 1, 1))
OFFSET_DATES = st.one_of(
    RECENT.flatmap(lambda d: st.timezones().map(lambda z: d.replace(tzinfo=z).isoformat())),
    RECENT.map(lambda d: d.isoformat() + "Z"),
    ISO_DATES,
    st.builds("{}Z".format, ISO_DATES),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    QUERY_VALUES,
)
# Start and end in order (in whatever zones), so the card itself is computed often.
INTERVALS = st.builds(
    lambda start, span, zone: {
        "start": start.replace(tzinfo=zone).isoformat(),
        "end": (start.replace(tzinfo=zone) + span).isoformat(),
    },
    RECENT,
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=420)),
    st.timezones(),
)
DAYS = st.one_of(
    RECENT.map(lambda d: d.date().isoformat()),
    st.dates().map(date.isoformat),
    st.sampled_from(["0001-01-01", "9999-12-31", "1969-12-31", "2025-02-30", "2025-1-1"]),
    QUERY_VALUES,
)


class IntervalFuzzTests(HypothesisTestCase, TwoTenantsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        make_attempts(cls.alpha, [Spec(T0), Spec(T0, status=AttemptStatus.FAILED)])

    def tenant_values(self) -> Any:
        return st.one_of(st.just(str(self.alpha.pk)), st.just(str(self.beta.pk)), QUERY_VALUES)

    @FUZZ
    @given(data=st.data())
    @example(data=None)
    def test_the_api_query_gives_a_card_or_field_errors(self, data: Any) -> None:
        if data is None:  # the regression: a week before the first day of year 1
            query = {"end": "0001-01-02T00:00:00Z"}
        else:
            keys = {"start": OFFSET_DATES, "end": OFFSET_DATES, "tenant": self.tenant_values()}
            query = data.draw(st.one_of(st.fixed_dictionaries({}, optional=keys), INTERVALS))
        request = Request(APIRequestFactory().get("/", query))
        request.user = self.alice
        serializer = CardQuerySerializer(data=request.query_params, context={"request": request})
        if not serializer.is_valid():
            if data is not None:
                event("400")
            assert_field_errors({k: [str(m) for m in v] for k, v in serializer.errors.items()})
            return
        if data is not None:
            event("card")
        params = serializer.validated_data
        self.assertLess(params["start"], params["end"])
        self.assertLessEqual(params["end"] - params["start"], MAX_SPAN)
        card = retractions_card(
            user=self.alice, start=params["start"], end=params["end"], tenant=params.get("tenant")
        )
        self.assertIsInstance(card.as_dict()["total"], int)

    @FUZZ
    @given(data=st.data())
    def test_the_admin_card_form_gives_a_card_or_field_errors(self, data: Any) -> None:
        keys = {
            "card-period": st.sampled_from(["custom", "custom", "7d", "24h", ""]) | QUERY_VALUES,
            "card-start": DAYS,
            "card-end": DAYS,
            "card-tenant": self.tenant_values(),
        }
        custom = st.builds(
            lambda first, days: {
                "card-period": "custom",
                "card-start": first.date().isoformat(),
                "card-end": (first.date() + timedelta(days=days)).isoformat(),
            },
            RECENT,
            st.integers(-3, 420),
        )
        params = data.draw(st.one_of(st.fixed_dictionaries({}, optional=keys), custom))
        form = CardForm(params, user=self.alice)
        if not form.is_valid():
            event("invalid")
            assert_field_errors({k: [str(m) for m in v] for k, v in form.errors.items()})
            return
        event("card")
        start, end, tenant = form.interval()
        self.assertLess(start, end)
        self.assertTrue(timezone.is_aware(start) and timezone.is_aware(end))
        card = retractions_card(user=self.alice, start=start, end=end, tenant=tenant)
        self.assertIsInstance(card.as_dict()["total"], int)

    def test_the_admin_card_form_refuses_days_beyond_what_dates_hold(self) -> None:
        for start, end in (("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-02")):
            with self.subTest(start=start, end=end):
                params = {"card-period": "custom", "card-start": start, "card-end": end}
                form = CardForm(params, user=self.alice)
                self.assertFalse(form.is_valid())
