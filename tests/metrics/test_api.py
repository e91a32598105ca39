"""GET /api/v1/metrics/retractions/: the card's numbers, validated parameters, tenant isolation."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailboxes.services import api_key_issue
from mailboxes.vocabulary import FailureReason
from metrics.serializers import RetractionCardSerializer
from metrics.services.card import retractions_card
from metrics.services.rollup import days_between, rollup_days
from retraction.models import AttemptStatus, Mode
from tests.api.helpers import ApiTestCase
from tests.metrics.helpers import T0, Spec, make_attempts

URL = "/api/v1/metrics/retractions/"
DAY = timedelta(days=1)


class MetricsApiTests(ApiTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        specs = [
            Spec(
                T0 + timedelta(hours=5 * i),
                status=AttemptStatus.FAILED if i % 4 == 0 else AttemptStatus.SUCCEEDED,
                reason=FailureReason.NOT_FOUND if i % 4 == 0 else "",
                mode=Mode.MANUAL if i % 3 == 0 else Mode.AUTO,
                received_at=T0 + timedelta(hours=5 * i) - timedelta(minutes=i + 1),
            )
            for i in range(40)
        ]
        make_attempts(cls.alpha, specs)
        make_attempts(cls.beta, specs[:10])
        rollup_days(days_between(T0.date(), (T0 + 5 * DAY).date()))
        now = timezone.now()
        make_attempts(cls.alpha, [Spec(now - timedelta(hours=1)), Spec(now - 2 * DAY)])

    def get(self, user, **params):
        return self.call(user, "get", URL, params)

    def test_it_returns_the_services_numbers(self) -> None:
        start = (T0 + timedelta(hours=7)).isoformat()
        end = (
            (T0 + timedelta(days=6, hours=3))
            .astimezone(datetime.now().astimezone().tzinfo)
            .isoformat()
        )
        for user, tenant in ((self.root, None), (self.root, self.beta.pk), (self.vera, None)):
            with self.subTest(user=user.username, tenant=tenant):
                params = {"start": start, "end": end}
                if tenant:
                    params["tenant"] = tenant
                body = self.get_json(user, URL, params)
                expected = retractions_card(
                    user=user,
                    start=datetime.fromisoformat(start),
                    end=datetime.fromisoformat(end),
                    tenant=tenant,
                ).as_dict()
                self.assertEqual(body, expected)
                self.assertGreater(body["rolled_up_days"], 0)
                self.assertGreater(body["total"], 0)
        self.assertEqual(set(body), set(RetractionCardSerializer().fields))

    def test_it_defaults_to_the_last_seven_days(self) -> None:
        body = self.get_json(self.alice, URL)
        start, end = datetime.fromisoformat(body["start"]), datetime.fromisoformat(body["end"])
        self.assertEqual(end - start, timedelta(days=7))
        self.assertLess(abs(end - timezone.now()), timedelta(minutes=1))
        self.assertEqual(body["total"], 2)

    def test_it_accepts_an_unencoded_plus_in_the_offset(self) -> None:
        query = "start=2025-03-10T02:00:00+02:00&end=2025-03-11T02:00:00+02:00"
        body = self.call(self.root, "get", f"{URL}?{query}").json()
        self.assertEqual(body["start"], "2025-03-10T02:00:00+02:00")
        self.assertEqual(body["total"], 5 + 5)

    def test_it_answers_bad_parameters_with_field_errors(self) -> None:
        cases = [
            ({"start": "yesterday"}, "start"),
            ({"end": "2025-13-01T00:00:00Z"}, "end"),
            ({"start": "2025-03-01T00:00:00"}, "start"),  # no offset
            ({"start": "2025-03-02T00:00:00Z", "end": "2025-03-01T00:00:00Z"}, "end"),
            ({"start": "2025-03-01T00:00:00Z", "end": "2025-03-01T00:00:00Z"}, "end"),
            ({"start": "2024-01-01T00:00:00Z", "end": "2025-03-01T00:00:00Z"}, "end"),
            ({"tenant": "alpha"}, "tenant"),
        ]
        for params, field in cases:
            with self.subTest(params=params):
                response = self.get(self.root, **params)
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(list(response.json()), [field])
                self.assertIsInstance(response.json()[field][0], str)

    def test_it_allows_four_hundred_days(self) -> None:
        response = self.get(self.root, start="2024-01-01T00:00:00Z", end="2025-02-04T00:00:00Z")
        self.assertEqual(response.status_code, 200)

    def test_it_refuses_another_tenant_like_a_missing_one(self) -> None:
        alpha = self.get(self.charlie, tenant=self.alpha.pk)
        missing = self.get(self.charlie, tenant=987654321)
        self.assertEqual(alpha.status_code, 400)
        self.assertEqual(alpha.json(), {"tenant": ["No such tenant."]})
        self.assertEqual(alpha.content, missing.content)

    def test_the_outsider_counts_nothing_of_another_tenant(self) -> None:
        params = {"start": T0.isoformat(), "end": (T0 + 10 * DAY).isoformat()}
        charlie = self.get_json(self.charlie, URL, params)
        own = self.get_json(self.root, URL, {**params, "tenant": self.beta.pk})
        self.assertEqual(charlie, {**own, "tenant": None})
        self.assertEqual(charlie["total"], 10)
        everything = self.get_json(self.root, URL, params)
        self.assertEqual(everything["total"], 50)

    def test_it_needs_authentication_and_takes_api_keys(self) -> None:
        self.assertIn(self.get(None).status_code, (401, 403))
        _, raw = api_key_issue(actor=self.vera, user=self.vera, name="metrics")
        self.client.logout()
        response = self.client.get(
            URL,
            {"start": T0.isoformat(), "end": (T0 + DAY).isoformat()},
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["total"], 5)

    def test_it_costs_a_constant_number_of_queries(self) -> None:
        self.client.force_login(self.alice)
        params = urlencode(
            {"start": (T0 - 40 * DAY).isoformat(), "end": (T0 + 300 * DAY).isoformat()}
        )
        self.client.get(f"{URL}?{params}")
        with CaptureQueriesContext(connection) as few:
            self.client.get(f"{URL}?{params}")
        make_attempts(self.alpha, [Spec(T0 + timedelta(days=i, hours=3)) for i in range(60)])
        rollup_days(days_between(T0.date(), (T0 + 30 * DAY).date()))
        with CaptureQueriesContext(connection) as many:
            self.client.get(f"{URL}?{params}")
        self.assertEqual(len(many), len(few))
        # PostgreSQL: also the savepoint, SET LOCAL and release around the card's queries.
        self.assertLessEqual(len(few), 10 if connection.vendor == "sqlite" else 13)

    def test_it_is_in_the_schema(self) -> None:
        schema = self.client.get("/api/schema/?format=json").json()
        operation = schema["paths"][URL]["get"]
        self.assertEqual({p["name"] for p in operation["parameters"]}, {"start", "end", "tenant"})
        self.assertEqual(
            set(schema["components"]["schemas"]["RetractionCard"]["properties"]),
            set(RetractionCardSerializer().fields),
        )
