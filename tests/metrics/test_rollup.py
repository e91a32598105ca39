"""Rolled-up days plus the live remainder equal a live computation over the same interval."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from unittest import mock

from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_q.models import Schedule
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from mailboxes.vocabulary import FailureReason, ReadState
from metrics.models import RetractionRollup, RollupPeriod, Span
from metrics.services.card import retractions_card
from metrics.services.rollup import (
    days_between,
    days_to_roll_up,
    rollup_day,
    rollup_days,
    rollup_recent,
)
from metrics.services.scan import scan
from metrics.services.sql import TenantScope
from metrics.services.tally import Tally
from metrics.tasks import rollup_hourly, rollup_nightly
from retraction.models import AttemptStatus, Mode
from tests.base import TwoTenantsTestCase
from tests.metrics.helpers import Spec, make_attempts

DAY = timedelta(days=1)
# A window across two month boundaries, February whole: month rows get exercised.
WINDOW_START = datetime(2025, 1, 27, tzinfo=UTC)
WINDOW_DAYS = 38  # to 2025-03-06
FEBRUARY = days_between(date(2025, 2, 1), date(2025, 2, 28))


def card(user: Any, start: datetime, end: datetime, **kwargs: Any) -> dict[str, Any]:
    out = retractions_card(user=user, start=start, end=end, **kwargs).as_dict()
    out.pop("rolled_up_days")
    return out


class RollupTests(TwoTenantsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        specs = []
        for i in range(WINDOW_DAYS * 4):
            at = WINDOW_START + timedelta(hours=6 * i + 1, minutes=i)
            status = AttemptStatus.FAILED if i % 5 == 0 else AttemptStatus.SUCCEEDED
            specs.append(
                Spec(
                    at,
                    status=status,
                    reason=FailureReason.values[i % 6] if status == AttemptStatus.FAILED else "",
                    mode=Mode.MANUAL if i % 3 == 0 else Mode.AUTO,
                    read_state=ReadState.values[i % 3],
                    received_at=at - timedelta(seconds=37 * i + 5),
                    requested_at=at - timedelta(seconds=i + 1),
                )
            )
        make_attempts(cls.alpha, specs[::2])
        make_attempts(cls.beta, specs[1::2])

    def assert_rollup_matches_live(self, start: datetime, end: datetime) -> None:
        for user in (self.root, self.vera, self.charlie):
            for tenant in (None, self.alpha):
                with self.subTest(user=user.username, tenant=tenant):
                    self.assertEqual(
                        card(user, start, end, tenant=tenant),
                        card(user, start, end, tenant=tenant, use_rollup=False),
                    )

    def test_it_adds_rolled_up_days_to_the_live_remainder(self) -> None:
        rollup_days(days_between(date(2025, 1, 27), date(2025, 3, 5)))
        start = datetime(2025, 1, 28, 13, 17, tzinfo=UTC)
        end = datetime(2025, 3, 4, 2, 5, tzinfo=timezone(timedelta(hours=-5)))
        used = retractions_card(user=self.root, start=start, end=end)
        self.assertEqual(used.plan.months, (date(2025, 2, 1),))
        self.assertEqual(len(used.plan.rolled_days), 34)
        self.assertGreater(used.total, 100)
        self.assert_rollup_matches_live(start, end)

    def test_it_writes_one_row_per_tenant_and_day_and_month(self) -> None:
        rollup_days(FEBRUARY)
        rows = RetractionRollup.objects.all_tenants()
        self.assertEqual(rows.filter(span=Span.DAY, hours=24).count(), 28 * 2)
        self.assertEqual(rows.filter(span=Span.MONTH).count(), 2)
        month = rows.get(span=Span.MONTH, tenant=self.alpha)
        days = rows.filter(span=Span.DAY, hours=24, tenant=self.alpha)
        self.assertEqual(month.succeeded, sum(d.succeeded for d in days))
        self.assertEqual(month.delivery_b05, sum(d.delivery_b05 for d in days))
        self.assertTrue(RollupPeriod.objects.filter(span=Span.MONTH, day=date(2025, 2, 1)).exists())

    def test_it_writes_each_days_first_hours_as_rows_of_their_own(self) -> None:
        day = date(2025, 2, 3)
        rollup_day(day)
        rows = RetractionRollup.objects.all_tenants().filter(
            span=Span.DAY, day=day, tenant=self.alpha
        )
        # Alpha's attempts that day finished at 01:28 and 13:30: its first row is [0 h, 2 h).
        self.assertEqual(sorted(rows.values_list("hours", flat=True)), list(range(2, 25)))
        midnight = datetime(2025, 2, 3, tzinfo=UTC)
        scope = TenantScope("{column} = %s", (self.alpha.pk,))
        for row in rows:
            expected = scan(scope, [(midnight, midnight + timedelta(hours=row.hours))])[()]
            self.assertEqual(Tally.from_fields(vars(row)), expected, row.hours)

    def test_it_reads_any_interval_in_a_fixed_number_of_queries(self) -> None:
        rollup_days(days_between(date(2025, 1, 27), date(2025, 3, 5)))
        # Marks, rollup sums, daily series, live counts and latencies (only with minutes
        # to scan), in progress; on PostgreSQL also a savepoint, SET LOCAL and release.
        extra = 0 if connection.vendor == "sqlite" else 3
        for start, end, queries in (
            (datetime(2025, 1, 27, 5, 30, tzinfo=UTC), datetime(2025, 3, 6, 7, 45, tzinfo=UTC), 6),
            (datetime(2025, 1, 28, tzinfo=UTC), datetime(2025, 3, 2, 9, tzinfo=UTC), 4),
        ):
            for user in (self.root, self.vera):
                with (
                    self.subTest(start=start, user=user.username),
                    self.assertNumQueries(queries + extra),
                ):
                    retractions_card(user=user, start=start, end=end)

    def test_it_recomputes_a_day_idempotently(self) -> None:
        day = date(2025, 2, 3)
        rollup_day(day)
        before = list(RetractionRollup.objects.all_tenants().values().order_by("id"))
        whole = [r for r in before if r["hours"] == 24]
        self.assertEqual(rollup_day(day), sum(r["succeeded"] + r["failed"] for r in whole))
        after = list(RetractionRollup.objects.all_tenants().values().order_by("id"))
        strip = [{k: v for k, v in r.items() if k != "id"} for r in before]
        self.assertEqual(strip, [{k: v for k, v in r.items() if k != "id"} for r in after])

    def test_it_catches_up_when_a_day_is_recomputed(self) -> None:
        start, end = datetime(2025, 2, 2, tzinfo=UTC), datetime(2025, 2, 5, tzinfo=UTC)
        rollup_days(days_between(date(2025, 2, 2), date(2025, 2, 4)))
        make_attempts(self.alpha, [Spec(datetime(2025, 2, 3, 9, tzinfo=UTC))])
        # The rollup is a snapshot: the late row shows only once the day is recomputed.
        self.assertEqual(
            card(self.root, start, end)["total"] + 1,
            card(self.root, start, end, use_rollup=False)["total"],
        )
        rollup_day(date(2025, 2, 3))
        self.assertEqual(card(self.root, start, end), card(self.root, start, end, use_rollup=False))

    def test_it_never_rolls_up_today(self) -> None:
        now = datetime(2025, 2, 10, 12, tzinfo=UTC)
        with self.assertRaises(ValueError):
            rollup_day(date(2025, 2, 10), now=now)
        # And a month still running gets no month row.
        rollup_days(days_between(date(2025, 2, 1), date(2025, 2, 9)), now=now)
        self.assertFalse(RollupPeriod.objects.filter(span=Span.MONTH).exists())
        start, end = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 11, tzinfo=UTC)
        used = retractions_card(user=self.root, start=start, end=end, now=now)
        self.assertEqual(len(used.plan.rolled_days), 9)
        self.assertEqual(used.plan.live, ((datetime(2025, 2, 10, tzinfo=UTC), end),))

    def test_the_nightly_run_fills_gaps_and_rechecks_recent_days(self) -> None:
        now = datetime(2025, 3, 8, 0, 30, tzinfo=UTC)
        rollup_days(days_between(date(2025, 2, 1), date(2025, 2, 20)), now=now)
        with mock.patch("django.utils.timezone.now", return_value=now):
            days = days_to_roll_up()
            self.assertEqual(days[:3], [date(2025, 3, 7), date(2025, 3, 6), date(2025, 3, 5)])
            self.assertIn(date(2025, 1, 27), days)  # the first finished attempt's day
            self.assertIn(date(2025, 2, 21), days)  # a gap
            self.assertNotIn(date(2025, 2, 10), days)  # already rolled up
            self.assertEqual(rollup_nightly(), len(days))
            self.assertEqual(days_to_roll_up(), days[:3])  # only the recent recheck is left

    def test_the_nightly_run_continues_in_a_new_task_past_its_budget(self) -> None:
        now = datetime(2025, 3, 8, 0, 30, tzinfo=UTC)
        q_cluster = {**django_settings.Q_CLUSTER, "timeout": 0}
        with (
            mock.patch("django.utils.timezone.now", return_value=now),
            self.settings(Q_CLUSTER=q_cluster),
            mock.patch("django_q.tasks.async_task") as async_task,
        ):
            self.assertEqual(rollup_nightly(), 1)
        async_task.assert_called_once_with("metrics.tasks.rollup_nightly", group="metrics")

    def test_the_command_recomputes_days_since_a_date(self) -> None:
        out, err = io.StringIO(), io.StringIO()
        call_command(
            "rollup_metrics",
            "--since",
            "2025-02-25",
            "--until",
            "2025-03-02",
            stdout=out,
            stderr=err,
        )
        self.assertIn("Rolled up 6 day(s)", out.getvalue())
        self.assertIn("6/6", err.getvalue())  # the progress bar
        self.assertEqual(RollupPeriod.objects.filter(span=Span.DAY).count(), 6)
        with self.assertRaises(CommandError):
            call_command("rollup_metrics", "--since", "2025-02-30", stdout=out, stderr=err)

    def test_the_hourly_run_rolls_up_todays_past_hours_and_finishes_yesterday(self) -> None:
        now = datetime(2025, 2, 10, 14, 7, tzinfo=UTC)
        rollup_days(days_between(date(2025, 1, 27), date(2025, 2, 5)))
        with mock.patch("django.utils.timezone.now", return_value=now):
            # Today's hours, yesterday, and the days missing before it (6 to 8).
            self.assertEqual(rollup_hourly(), 2 + 3)
        marks = dict(RollupPeriod.objects.filter(span=Span.DAY).values_list("day", "hours"))
        # 14:00-14:07 is not over long enough to be settled.
        self.assertEqual(marks[date(2025, 2, 10)], 14)
        self.assertEqual(set(marks.values()) - {14}, {24})
        self.assertEqual(len(marks), 15)  # January 27 to February 10
        start = datetime(2025, 2, 9, 7, 30, tzinfo=UTC)
        used = retractions_card(user=self.root, start=start, end=now, now=now)
        self.assertEqual(
            used.plan.hours,
            ((date(2025, 2, 9), 24, 1), (date(2025, 2, 9), 8, -1), (date(2025, 2, 10), 14, 1)),
        )
        self.assertEqual(
            used.plan.live,
            (
                (start, datetime(2025, 2, 9, 8, tzinfo=UTC)),
                (datetime(2025, 2, 10, 14, tzinfo=UTC), now),
            ),
        )
        self.assertGreater(used.total, 0)
        self.assertEqual(
            card(self.root, start, now, now=now),
            card(self.root, start, now, now=now, use_rollup=False),
        )
        # Later in the day: today again, further; yesterday (whole) is left alone.
        later = now + timedelta(hours=3)
        self.assertEqual(rollup_recent(now=later), [(date(2025, 2, 10), 17)])
        # Just after midnight: yesterday's last hours wait for the nightly run or the
        # next hour; a day rolled up whole is never rolled back to fewer hours.
        rollup_day(date(2025, 2, 10), now=later + DAY)
        self.assertEqual(rollup_recent(now=datetime(2025, 2, 11, 0, 2, tzinfo=UTC)), [])

    def test_the_nightly_schedule_exists(self) -> None:
        schedule = Schedule.objects.get(func="metrics.tasks.rollup_nightly")
        self.assertEqual(schedule.schedule_type, Schedule.DAILY)
        self.assertEqual(schedule.repeats, -1)
        self.assertEqual((schedule.next_run.hour, schedule.next_run.minute), (0, 30))
        schedule = Schedule.objects.get(func="metrics.tasks.rollup_hourly")
        self.assertEqual(schedule.schedule_type, Schedule.HOURLY)
        self.assertEqual(schedule.repeats, -1)
        self.assertEqual(schedule.next_run.minute, 5)


# --- Property: rollup + live == live -------------------------------------------------------

STATUSES = (
    [AttemptStatus.SUCCEEDED] * 3
    + [AttemptStatus.FAILED] * 2
    + [
        AttemptStatus.CANCELLED,
        AttemptStatus.QUEUED,
    ]
)
WINDOW_SECONDS = WINDOW_DAYS * 86400


def moment(first_day: int = 0, last_day: int = WINDOW_DAYS - 1) -> st.SearchStrategy[int]:
    """Seconds from WINDOW_START: a day, then a time of day (so examples spread over the
    window instead of crowding its first minutes, where small integers lie)."""
    return st.builds(
        lambda day, second: day * 86400 + second,
        st.integers(first_day, last_day),
        st.integers(0, 86399),
    )


attempt_specs = st.lists(
    st.tuples(
        st.integers(0, 1),  # tenant: alpha or beta
        moment(),  # completed (or requested) at
        st.sampled_from(STATUSES),
        st.sampled_from(FailureReason.values),
        st.sampled_from(Mode.values),
        st.sampled_from([*ReadState.values, ""]),
        st.sampled_from(["trash", "junk", "inbox"]),
        st.integers(-60, 90 * 86400),  # from delivery, seconds (skew allowed)
        st.integers(0, 86400),  # from verdict (requested_at), seconds
        st.booleans(),  # reclassified after the attempt was queued
        st.integers(1, 6),  # a burst: that many attempts like it,
        st.sampled_from([47, 3599, 4 * 3600 + 7]),  # this many seconds apart
    ),
    max_size=30,
)
offsets = st.sampled_from([-12 * 60, -5 * 60, -150, 0, 60, 330, 9 * 60, 14 * 60])  # minutes


class RollupPropertyTests(HypothesisTestCase, TwoTenantsTestCase):
    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        specs=attempt_specs,
        rolled=st.one_of(
            st.just(frozenset(range(WINDOW_DAYS))), st.sets(st.integers(0, WINDOW_DAYS - 1))
        ),
        whole_february=st.booleans(),
        start_at=moment(-2, WINDOW_DAYS),
        length=st.one_of(st.integers(1, 7200), moment(0, 2), moment()).map(lambda n: n or 1),
        start_offset=offsets,
        end_offset=offsets,
        now_at=st.one_of(st.none(), moment()),
        hourly_before=st.one_of(st.none(), st.integers(0, 2 * 86400)),
        who=st.sampled_from(["root", "vera", "charlie"]),
        pick_tenant=st.sampled_from([None, "alpha", "beta"]),
    )
    def test_rollup_plus_live_equals_live(
        self, specs, rolled, whole_february, start_at, length, start_offset, end_offset, now_at,
        hourly_before, who, pick_tenant,
    ) -> None:  # fmt: skip
        tenants = [self.alpha, self.beta]
        for tenant_index in (0, 1):
            batch = []
            for t, at, status, reason, mode, read, action, ttd, ttv, later, n, gap in specs:
                if t != tenant_index:
                    continue
                for i in range(n):
                    when = WINDOW_START + timedelta(seconds=at + i * gap)
                    finished = status not in (AttemptStatus.QUEUED,)
                    requested = when - timedelta(seconds=ttv)
                    batch.append(
                        Spec(
                            when if finished else None,
                            status=status,
                            reason=reason if status == AttemptStatus.FAILED else "",
                            mode=mode,
                            read_state=read,
                            action=action,
                            received_at=when - timedelta(seconds=ttd),
                            requested_at=requested,
                            verdict_at=requested + timedelta(seconds=5)
                            if later
                            else requested - timedelta(seconds=ttv // 3),
                        )
                    )
            if batch:
                make_attempts(tenants[tenant_index], batch)
        now = None if now_at is None else WINDOW_START + timedelta(seconds=now_at)
        today = (now or datetime.now(UTC)).date()
        days = {WINDOW_START.date() + timedelta(days=i) for i in rolled}
        if whole_february:
            days |= set(FEBRUARY)
        rollup_days(sorted(d for d in days if d < today), now=now)
        if now is not None and hourly_before is not None:
            # The hourly run, some time before now: today's (or yesterday's) first hours.
            rollup_recent(now=now - timedelta(seconds=hourly_before))

        start = (WINDOW_START + timedelta(seconds=start_at)).astimezone(
            timezone(timedelta(minutes=start_offset))
        )
        end = (start + timedelta(seconds=length)).astimezone(
            timezone(timedelta(minutes=end_offset))
        )
        user = getattr(self, who)
        tenant = getattr(self, pick_tenant) if pick_tenant else None
        plan = retractions_card(user=user, start=start, end=end, tenant=tenant, now=now).plan
        event(f"rolled-up days: {bool(plan.rolled_days)}, hour rows: {len(plan.hours)}")
        self.assertEqual(
            card(user, start, end, tenant=tenant, now=now),
            card(user, start, end, tenant=tenant, now=now, use_rollup=False),
        )
