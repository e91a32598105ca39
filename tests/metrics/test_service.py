"""The card's definitions, checked on hand-made attempts whose numbers are known."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from django.test import TestCase

from mailboxes.vocabulary import FailureReason, ReadState
from metrics.services.buckets import (
    LATENCY_EDGES,
    N_BUCKETS,
    bucket_of,
    format_duration,
    percentile,
)
from metrics.services.card import plan_interval, retractions_card, whole_days
from metrics.services.scan import scan_latency
from metrics.services.sql import TenantScope
from retraction.models import AttemptStatus, Mode
from tests.base import TwoTenantsTestCase
from tests.metrics.helpers import T0, Spec, make_attempts

DAY = timedelta(days=1)
S, F = AttemptStatus.SUCCEEDED, AttemptStatus.FAILED


class CardDefinitionTests(TwoTenantsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        noon = T0 + timedelta(hours=12)
        make_attempts(
            cls.alpha,
            [
                # Succeeded, auto, unread: 50 min after delivery, 20 s after the verdict.
                Spec(
                    noon,
                    received_at=noon - timedelta(minutes=50),
                    requested_at=noon - timedelta(seconds=20),
                ),
                # Succeeded, manual, read: 2 days after delivery, 100 s after the request.
                Spec(
                    noon + timedelta(hours=1),
                    mode=Mode.MANUAL,
                    read_state=ReadState.READ,
                    received_at=noon - timedelta(days=2),
                    requested_at=noon + timedelta(hours=1) - timedelta(seconds=100),
                    # A manual attempt ignores the message's verdict time.
                    verdict_at=noon - timedelta(days=1),
                ),
                # Exactly at the start: counted (half-open interval).
                Spec(
                    T0,
                    received_at=T0 - timedelta(seconds=7),
                    requested_at=T0 - timedelta(seconds=4),
                ),
                Spec(noon, status=F, reason=FailureReason.NOT_FOUND, read_state=ReadState.UNKNOWN),
                Spec(noon, status=F, reason=FailureReason.NOT_A_MAILBOX, read_state=""),
                Spec(
                    noon,
                    status=F,
                    reason=FailureReason.NOT_AUTHORIZED,
                    mode=Mode.MANUAL,
                    read_state=ReadState.UNKNOWN,
                ),
                # Not counted: cancelled, an undo, finished at the end or outside.
                Spec(noon, status=AttemptStatus.CANCELLED),
                Spec(noon, action="inbox"),
                Spec(T0 + DAY),
                Spec(T0 - timedelta(microseconds=1)),
                # In progress: requested within the interval (counted), before it (not).
                Spec(None, status=AttemptStatus.QUEUED, requested_at=noon),
                Spec(None, status=AttemptStatus.RUNNING, requested_at=noon),
                Spec(None, status=AttemptStatus.RUNNING, requested_at=T0 - DAY),
                Spec(None, status=AttemptStatus.QUEUED, requested_at=noon, action="inbox"),
            ],
        )
        # An auto attempt whose message was reclassified after it was queued: the
        # verdict time falls back to requested_at.
        make_attempts(
            cls.alpha,
            [
                Spec(
                    noon + timedelta(hours=2),
                    requested_at=noon + timedelta(hours=2) - timedelta(seconds=8),
                    verdict_at=noon + timedelta(hours=3),
                    received_at=noon - timedelta(hours=5),
                )
            ],
        )
        make_attempts(cls.beta, [Spec(noon), Spec(noon, status=F, reason="throttled")])

    def card(self, user=None, **kwargs):
        kwargs.setdefault("start", T0)
        kwargs.setdefault("end", T0 + DAY)
        return retractions_card(user=user or self.vera, **kwargs).as_dict()

    def test_it_counts_finished_retractions_in_the_interval(self) -> None:
        card = self.card()
        self.assertEqual((card["total"], card["succeeded"], card["failed"]), (7, 4, 3))
        self.assertAlmostEqual(card["success_rate"], 4 / 7)
        self.assertAlmostEqual(card["fail_rate"], 3 / 7)

    def test_it_breaks_failures_down_by_every_reason(self) -> None:
        reasons = self.card()["failures_by_reason"]
        self.assertEqual(set(reasons), {*FailureReason.values, "other"})
        counts = {k: v["count"] for k, v in reasons.items() if v["count"]}
        self.assertEqual(counts, {"not_found": 1, "not_a_mailbox": 1, "not_authorized": 1})
        self.assertAlmostEqual(reasons["not_found"]["share"], 1 / 7)
        self.assertEqual(reasons["throttled"]["share"], 0)
        self.assertEqual(reasons["not_a_mailbox"]["label"], FailureReason.NOT_A_MAILBOX.label)

    def test_it_counts_read_states_and_modes(self) -> None:
        card = self.card()
        self.assertEqual((card["read"], card["unread"], card["read_unknown"]), (1, 3, 3))
        self.assertEqual((card["auto"], card["manual"]), (5, 2))

    def test_it_shows_queued_and_running_beside_the_total(self) -> None:
        self.assertEqual(self.card()["in_progress"], 2)

    def test_it_measures_time_to_retract_from_delivery_and_verdict(self) -> None:
        ttr = self.card()["time_to_retract"]
        # From delivery: 7 s, 50 min, 5 h, 2 days -> p50 is the 2nd (< 1 h), p95 the 4th.
        self.assertEqual(
            ttr["from_delivery"], {"p50": 3600, "p95": 3 * 86400, "samples": 4, "open_ended": []}
        )
        # From the verdict: 4 s (at start), 8 s (fallback), 20 s, 100 s.
        self.assertEqual(ttr["from_verdict"]["p50"], 10)
        self.assertEqual(ttr["from_verdict"]["p95"], 120)

    def test_it_sees_only_the_users_tenants(self) -> None:
        self.assertEqual(self.card(self.charlie)["total"], 2)
        self.assertEqual(self.card(self.root)["total"], 9)
        self.assertEqual(self.card(self.root, tenant=self.beta)["total"], 2)
        # A tenant the user may not see gives nothing, not its numbers.
        self.assertEqual(self.card(self.charlie, tenant=self.alpha)["total"], 0)

    def test_it_draws_one_point_per_utc_day_touched(self) -> None:
        card = self.card(start=T0 - timedelta(hours=1), end=T0 + timedelta(days=1, hours=1))
        self.assertEqual(
            card["daily"],
            [
                {"date": "2025-03-09", "succeeded": 1, "failed": 0},
                {"date": "2025-03-10", "succeeded": 4, "failed": 3},
                {"date": "2025-03-11", "succeeded": 1, "failed": 0},
            ],
        )
        self.assertEqual(card["total"], 9)  # T0 - 1 µs and T0 + 1 day are inside now

    def test_it_reads_bounds_with_any_offset(self) -> None:
        plus2 = timezone(timedelta(hours=2))
        card = self.card(start=T0.astimezone(plus2), end=(T0 + DAY).astimezone(plus2))
        self.assertEqual(card["total"], 7)

    def test_it_has_no_rates_without_retractions(self) -> None:
        card = self.card(start=T0 - 5 * DAY, end=T0 - 4 * DAY)
        self.assertEqual(card["total"], 0)
        self.assertIsNone(card["success_rate"])
        self.assertIsNone(card["time_to_retract"]["from_delivery"]["p50"])


class BucketTests(TestCase):
    def test_it_reads_percentiles_as_bucket_upper_bounds(self) -> None:
        counts = [0] * N_BUCKETS
        counts[bucket_of(100)] = 50  # [90, 120)
        counts[bucket_of(1000)] = 45  # [900, 1200)
        counts[bucket_of(4000)] = 5  # [3600, 5400)
        self.assertEqual(percentile(counts, 50), 120)
        self.assertEqual(percentile(counts, 95), 1200)
        self.assertEqual(percentile(counts, 96), 5400)
        self.assertIsNone(percentile([0] * N_BUCKETS, 50))

    def test_it_puts_skew_and_very_late_retractions_at_the_ends(self) -> None:
        self.assertEqual(bucket_of(-5), 0)
        self.assertEqual(bucket_of(400 * 86400), N_BUCKETS - 1)
        self.assertEqual(format_duration(LATENCY_EDGES[-1], open_ended=True), "≥ 365 d")
        self.assertEqual(format_duration(90), "< 1.5 min")
        self.assertEqual(format_duration(None), "—")


class SqlBucketTests(TwoTenantsTestCase):
    def test_it_buckets_in_sql_as_in_python(self) -> None:
        offsets = [-3, 0, 0.5, 1, 1.5, 59.9, 60, 90, 3599, 3600, 86400 * 2, 86400 * 400]
        make_attempts(
            self.alpha,
            [
                Spec(
                    T0,
                    received_at=T0 - timedelta(seconds=seconds),
                    requested_at=T0 - timedelta(seconds=seconds),
                )
                for seconds in offsets
            ],
        )
        hist = scan_latency(TenantScope.all_tenants(), [(T0, T0 + DAY)])[()]
        expected = [0] * N_BUCKETS
        for seconds in offsets:
            expected[bucket_of(seconds)] += 1
        self.assertEqual(hist.delivery, expected)
        self.assertEqual(hist.verdict, expected)


class PlanTests(TestCase):
    def test_it_takes_whole_past_marked_days_and_months_from_the_rollup(self) -> None:
        start = datetime(2025, 1, 30, 15, tzinfo=UTC)
        end = datetime(2025, 3, 2, 6, tzinfo=UTC)
        days = set(whole_days(start, end))
        self.assertEqual(min(days), date(2025, 1, 31))
        self.assertEqual(max(days), date(2025, 3, 1))
        plan = plan_interval(
            start,
            end,
            now=datetime(2025, 6, 1, tzinfo=UTC),
            day_marks=dict.fromkeys(days - {date(2025, 3, 1)}, 24),
            month_marks={date(2025, 2, 1)},
        )
        self.assertEqual(plan.months, (date(2025, 2, 1),))
        self.assertEqual(plan.days, (date(2025, 1, 31),))
        self.assertEqual(plan.hours, ())  # the edge days are not rolled up
        self.assertEqual(
            plan.live,
            (
                (start, datetime(2025, 1, 31, tzinfo=UTC)),
                (datetime(2025, 3, 1, tzinfo=UTC), end),
            ),
        )

    def test_it_takes_the_whole_hours_of_the_edges_as_differences_of_hour_rows(self) -> None:
        start = datetime(2025, 1, 30, 15, 20, tzinfo=UTC)
        end = datetime(2025, 2, 1, 6, 40, tzinfo=UTC)
        plan = plan_interval(
            start,
            end,
            now=datetime(2025, 6, 1, tzinfo=UTC),
            day_marks={date(2025, 1, 30): 24, date(2025, 1, 31): 24, date(2025, 2, 1): 24},
            month_marks=set(),
        )
        self.assertEqual(plan.days, (date(2025, 1, 31),))
        # [16:00, 24:00) on the 30th is the whole day less its first 16 hours.
        self.assertEqual(
            plan.hours,
            ((date(2025, 1, 30), 24, 1), (date(2025, 1, 30), 16, -1), (date(2025, 2, 1), 6, 1)),
        )
        self.assertEqual(
            plan.live,
            (
                (start, datetime(2025, 1, 30, 16, tzinfo=UTC)),
                (datetime(2025, 2, 1, 6, tzinfo=UTC), end),
            ),
        )

    def test_it_keeps_today_live_past_its_rolled_up_hours(self) -> None:
        start = datetime(2025, 6, 1, tzinfo=UTC)
        end = datetime(2025, 6, 3, 12, tzinfo=UTC)
        now = datetime(2025, 6, 2, 10, 30, tzinfo=UTC)
        # Today (the 2nd) is rolled up to 09:00; a mark past now is not trusted.
        plan = plan_interval(
            start,
            end,
            now=now,
            day_marks={date(2025, 6, 1): 24, date(2025, 6, 2): 9, date(2025, 6, 3): 24},
            month_marks=set(),
        )
        self.assertEqual(plan.days, (date(2025, 6, 1),))
        self.assertEqual(plan.hours, ((date(2025, 6, 2), 9, 1),))
        self.assertEqual(plan.live, ((datetime(2025, 6, 2, 9, tzinfo=UTC), end),))
        plan = plan_interval(
            start,
            end,
            now=now,
            day_marks={date(2025, 6, 1): 24, date(2025, 6, 2): 12},
            month_marks=set(),
        )
        self.assertEqual(plan.hours, ((date(2025, 6, 2), 10, 1),))  # 10:00-10:30 is not over

    def test_it_keeps_an_interval_within_one_hour_live(self) -> None:
        start = datetime(2025, 1, 30, 15, 5, tzinfo=UTC)
        end = datetime(2025, 1, 30, 15, 55, tzinfo=UTC)
        plan = plan_interval(
            start,
            end,
            now=datetime(2025, 6, 1, tzinfo=UTC),
            day_marks={date(2025, 1, 30): 24},
            month_marks=set(),
        )
        self.assertEqual((plan.days, plan.hours, plan.live), ((), (), ((start, end),)))
