"""The Retractions card and View details at volume: seed, roll up, time.

    DEBUG=1 .venv/bin/python bench/metrics_bench.py [--attempts 1000000] [--tenants 20]
        [--days 365] [--repeat 30] [--details-per-page N] [--dir DIR]

Uses a throwaway SQLite file in a temporary directory (removed at the end), or the
PostgreSQL database named by DATABASE_URL (migrated here and kept: create an empty
one first, `createdb clawback_bench`, and drop it after). With `--dir`, the SQLite
file (or, for PostgreSQL, a note of what was seeded) stays in DIR, and a later run
with the same DIR only rolls up what is missing and measures again.

Seeds `--attempts` retraction attempts (one per delivered copy, three copies a
message) spread evenly over the last `--days` days across `--tenants` tenants:
multi-row INSERTs on SQLite, INSERT … SELECT generate_series on PostgreSQL (10
million in a few minutes). Rolls every past day up as the nightly task does and
today's hours as the hourly one does, refreshes statistics, then measures in a
fresh process (like a server worker) and prints one JSON line per measurement:

- seed, rollup, rollup_recent: how long those took;
- card: `retractions_card` (the service behind the admin card and the API), wall
  p50/p95/p99 and CPU over `--repeat` runs, for 24 h, 7/30/90 days, 12 months, an
  interval with ragged edges and 12 months whose start is one second past a whole
  hour (the most minutes the card scans live), as the owner (every tenant), for one
  tenant, and for a member of half the tenants; `card_live_only` is 12 months
  computed once without the rollup;
- api: GET /api/v1/metrics/retractions/ through Django's test client (a request,
  authentication, a new SQLite connection as in production);
- details_first_page: the first page of View details (the attempts changelist for
  the card's interval, newest first), through the test client, as the owner.

Targets: card < 50 ms p95 for any interval up to 12 months (1 million attempts on
SQLite, 10 million on PostgreSQL); View details < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COPIES_PER_MESSAGE = 3
BATCH = 20_000


def setup_django(tmp: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CLAWBACK_VAR_DIR"] = tmp
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    # DEBUG=1 only supplies the demo secrets; production runs without DEBUG, whose
    # query log would dominate the measurement.
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def rank(samples: list[float], p: int) -> float:
    """The p-th percentile, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def timed(fn: Callable[[], Any], repeat: int, *, warm_up: bool = True) -> dict[str, float]:
    """Wall-clock p50/p95/p99 (what a user waits), and this process's CPU time (SQLite runs
    in-process: its CPU time is the work itself, whatever else the machine is doing)."""
    if warm_up:
        fn()  # statement and page caches
    wall, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return {
        "p50_ms": round(statistics.median(wall) * 1000, 2),
        "p95_ms": round(rank(wall, 95) * 1000, 2),
        "p99_ms": round(rank(wall, 99) * 1000, 2),
        "cpu_p50_ms": round(statistics.median(cpu) * 1000, 2),
        "cpu_p95_ms": round(rank(cpu, 95) * 1000, 2),
        "runs": repeat,
        "load1": round(os.getloadavg()[0], 2),
    }


# --- Seeding -------------------------------------------------------------------------------


def make_people(run: str, tenants: int) -> tuple[Any, Any, list[Any]]:
    from django.contrib.auth import get_user_model

    from mailboxes.access import Role
    from mailboxes.models import Membership, Provider
    from mailboxes.services import tenant_create

    made = [
        tenant_create(
            actor=None,
            name=f"Bench {run} {i:02d}",
            slug=f"bench-{run}-{i:02d}",
            provider=Provider.MICROSOFT if i % 2 else Provider.GOOGLE,
            domains=[f"t{i}.{run}.example"],
        )
        for i in range(tenants)
    ]
    users = get_user_model().objects
    owner = users.create_user(username=f"owner-{run}", password=None)
    owner.is_superuser = owner.is_staff = True
    owner.save(update_fields=["is_superuser", "is_staff"])
    member = users.create_user(username=f"member-{run}", password=None)
    Membership.objects.bulk_create(
        Membership(user=member, tenant=t, role=Role.ANALYST) for t in made[: max(1, tenants // 2)]
    )
    return owner, member, made


def next_ids(*models: Any) -> list[int]:
    from django.db.models import Max

    return [(m.objects.aggregate(top=Max("id"))["top"] or 0) + 1 for m in models]


REASONS = (
    ["not_found"] * 50
    + ["not_a_mailbox"] * 15
    + ["not_authorized"] * 15
    + ["throttled"] * 10
    + ["provider_error"] * 8
    + ["unsupported"] * 2
)


def generate(
    run: str, tenant_ids: list[int], attempts: int, days: int, now: datetime, first_ids: list[int]
) -> Iterator[tuple[list[dict], list[dict], list[dict]]]:
    """Batches of (message, delivery, attempt) rows as column-value dicts, in time order."""
    rng = random.Random(7)
    message_id, delivery_id, attempt_id = first_ids
    span = days * 86400
    messages = math.ceil(attempts / COPIES_PER_MESSAGE)
    step = span / messages
    batch: tuple[list, list, list] = ([], [], [])
    made = 0
    for n in range(messages):
        tenant = tenant_ids[n % len(tenant_ids)]
        verdict = now - timedelta(seconds=span - n * step - rng.random() * step)
        received = verdict - timedelta(seconds=rng.lognormvariate(7, 1.6))
        batch[0].append(
            {
                "id": message_id,
                "tenant_id": tenant,
                "internet_message_id": f"<bench-{run}-{n}@sender.example>",
                "sender": f"s{n % 97}@sender.example",
                "subject": f"Invoice {n}",
                "received_at": received,
                "disposition": "MALICIOUS",
                "disposition_changed_at": verdict,
                "source": "api",
                "created_at": received,
            }
        )
        for copy in range(min(COPIES_PER_MESSAGE, attempts - made)):
            roll = rng.random()
            manual = rng.random() < 0.2
            requested = verdict + timedelta(seconds=rng.lognormvariate(5, 1.5) if manual else 0.05)
            finished = requested + timedelta(seconds=rng.lognormvariate(2.5, 1.2))
            status, reason, action = "succeeded", "", "trash"
            if roll < 0.12:
                status, reason = "failed", rng.choice(REASONS)
            elif roll < 0.14:
                status = "cancelled"
            elif roll < 0.15:
                action = "inbox"
            completed: datetime | None = finished
            if finished >= now:  # still running
                status, reason, completed = "running", "", None
            batch[1].append(
                {
                    "id": delivery_id,
                    "tenant_id": tenant,
                    "message_id": message_id,
                    "recipient": f"user{(n * 3 + copy) % 5000}@t{tenant}.{run}.example",
                    "status": "retracted" if status == "succeeded" else "delivered",
                    "created_at": received,
                }
            )
            read = "unknown" if reason == "not_found" else rng.choice(["read", "unread", "unread"])
            batch[2].append(
                {
                    "id": attempt_id,
                    "tenant_id": tenant,
                    "message_id": message_id,
                    "delivery_id": delivery_id,
                    "mode": "manual" if manual else "auto",
                    "action": action,
                    "status": status,
                    "reason": reason,
                    "read_state": read,
                    "requested_at": requested,
                    "started_at": requested,
                    "completed_at": completed,
                    "tries": 1,
                }
            )
            delivery_id += 1
            attempt_id += 1
            made += 1
        message_id += 1
        if len(batch[2]) >= BATCH:
            yield batch
            batch = ([], [], [])
    if batch[2]:
        yield batch


class Writer:
    """Rows into a table: multi-row INSERTs on SQLite, COPY on PostgreSQL."""

    def __init__(self, model: Any) -> None:
        from django.db import connection

        self.connection = connection
        self.table = model._meta.db_table
        self.fields = [f for f in model._meta.concrete_fields]
        self.columns = [f.column for f in self.fields]
        self.defaults = {
            f.attname: (None if f.null and not f.has_default() else f.get_default())
            for f in self.fields
        }
        self.sqlite = connection.vendor == "sqlite"

    def value(self, v: Any) -> Any:
        if self.sqlite and isinstance(v, datetime):
            return str(v.astimezone(UTC).replace(tzinfo=None))  # Django's SQLite format
        return v

    def write(self, rows: list[dict[str, Any]]) -> None:
        tuples = [
            tuple(self.value(row.get(f.attname, self.defaults[f.attname])) for f in self.fields)
            for row in rows
        ]
        columns = ", ".join(f'"{c}"' for c in self.columns)
        with self.connection.cursor() as cursor:
            if self.sqlite:
                row_sql = "(" + ", ".join(["%s"] * len(self.columns)) + ")"
                per = max(1, 32000 // len(self.columns))
                for i in range(0, len(tuples), per):
                    chunk = tuples[i : i + per]
                    # Table and column names come from the models' _meta, values are params.
                    sql = f'INSERT INTO "{self.table}" ({columns}) VALUES ' + ", ".join(  # noqa: S608
                        [row_sql] * len(chunk)
                    )
                    cursor.execute(sql, [v for t in chunk for v in t])
            else:
                with cursor.cursor.copy(f'COPY "{self.table}" ({columns}) FROM STDIN') as copy:
                    for t in tuples:
                        copy.write_row(t)


# The same distributions as generate(), drawn by PostgreSQL itself: no row crosses the wire.
# (Constant SQL around %(name)s parameters: S608 has nothing to find.)
GAUSS = "(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))"
PG_MESSAGES = f"""
INSERT INTO mailboxes_message (id, tenant_id, internet_message_id, sender, subject,
    received_at, disposition, disposition_changed_at, source, created_at)
SELECT %(m0)s + n, (%(tenants)s::bigint[])[1 + n %% %(n_tenants)s],
    '<bench-' || %(run)s || '-' || n || '@sender.example>', 's' || (n %% 97) || '@sender.example',
    'Invoice ' || n, received, 'MALICIOUS', verdict, 'api', received
FROM (
    SELECT n, verdict, verdict - make_interval(secs => exp(7 + 1.6 * {GAUSS})) AS received
    FROM (
        SELECT n, %(now)s::timestamptz
            - make_interval(secs => %(span)s - n * %(step)s - random() * %(step)s) AS verdict
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS n
    ) AS v
) AS m
"""  # noqa: S608
PG_COPIES = f"""
CREATE TEMP TABLE bench_copy ON COMMIT DROP AS
SELECT k, message_id, tenant_id, received_at,
    CASE WHEN finished >= %(now)s THEN 'running' ELSE status END AS status,
    CASE WHEN finished >= %(now)s OR status <> 'failed' THEN ''
        ELSE (%(reasons)s::text[])[1 + floor(r_reason * 100)::int] END AS reason,
    CASE WHEN roll >= 0.14 AND roll < 0.15 THEN 'inbox' ELSE 'trash' END AS action,
    CASE WHEN manual THEN 'manual' ELSE 'auto' END AS mode,
    r_read, requested,
    CASE WHEN finished >= %(now)s THEN NULL ELSE finished END AS completed_at
FROM (
    SELECT *, requested + make_interval(secs => exp(2.5 + 1.2 * {GAUSS})) AS finished,
        CASE WHEN roll < 0.12 THEN 'failed' WHEN roll < 0.14 THEN 'cancelled'
            ELSE 'succeeded' END AS status
    FROM (
        SELECT r.n * {COPIES_PER_MESSAGE} + r.c AS k, m.id AS message_id, m.tenant_id,
            m.received_at, r.roll, r.manual, random() AS r_reason, random() AS r_read,
            m.disposition_changed_at + CASE WHEN r.manual
                THEN make_interval(secs => exp(5 + 1.5 * {GAUSS}))
                ELSE interval '50 milliseconds' END AS requested
        FROM (
            SELECT n, c, random() AS roll, random() < 0.2 AS manual
            FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS n,
                generate_series(0, {COPIES_PER_MESSAGE - 1}) AS c
            WHERE n * {COPIES_PER_MESSAGE} + c < %(attempts)s
        ) AS r
        JOIN mailboxes_message AS m ON m.id = %(m0)s + r.n
    ) AS w
) AS a
"""  # noqa: S608
PG_DELIVERIES = """
INSERT INTO mailboxes_delivery (id, tenant_id, message_id, recipient, status,
    provider_message_id, created_at)
SELECT %(d0)s + k, tenant_id, message_id,
    'user' || (k %% 5000) || '@t' || tenant_id || '.' || %(run)s || '.example',
    CASE WHEN status = 'succeeded' THEN 'retracted' ELSE 'delivered' END, '', received_at
FROM bench_copy
"""
PG_ATTEMPTS = """
INSERT INTO retraction_retractionattempt (id, tenant_id, message_id, delivery_id, mode,
    action, status, reason, read_state, detail, requested_at, started_at, completed_at,
    provider_message_id, tries, claim_token)
SELECT %(a0)s + k, tenant_id, message_id, %(d0)s + k, mode, action, status, reason,
    CASE WHEN reason = 'not_found' THEN 'unknown'
        WHEN r_read < 1.0 / 3 THEN 'read' ELSE 'unread' END,
    '', requested, requested, completed_at, '', 1, ''
FROM bench_copy
"""


def seed_postgresql(
    run: str, tenant_ids: list[int], attempts: int, days: int, now: datetime, first_ids: list[int]
) -> None:
    """generate()'s rows, written by INSERT … SELECT generate_series, a chunk a transaction."""
    from django.db import connection, transaction

    from mailboxes.models import Delivery, Message
    from retraction.models import RetractionAttempt

    span = days * 86400
    messages = math.ceil(attempts / COPIES_PER_MESSAGE)
    chunk = 200_000
    params: dict[str, Any] = {
        "m0": first_ids[0],
        "d0": first_ids[1],
        "a0": first_ids[2],
        "tenants": tenant_ids,
        "n_tenants": len(tenant_ids),
        "run": run,
        "now": now,
        "span": float(span),
        "step": span / messages,
        "attempts": attempts,
        "reasons": REASONS,
    }
    tables = [m._meta.db_table for m in (Message, Delivery, RetractionAttempt)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.7)")
        # Building an index once is far cheaper than maintaining it row by row: drop the
        # plain indexes (not those behind a constraint) for the load, rebuild them after.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            [tables],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        for lo in range(0, messages, chunk):
            hi = min(messages, lo + chunk)
            with transaction.atomic(), connection.cursor() as cursor:
                # Every row is consistent by construction: skip the foreign-key triggers.
                cursor.execute("SET LOCAL session_replication_role = replica")
                for sql in (PG_MESSAGES, PG_COPIES, PG_DELIVERIES, PG_ATTEMPTS):
                    cursor.execute(sql, {**params, "lo": lo, "hi": hi})
            done = min(attempts, hi * COPIES_PER_MESSAGE)
            print(f"\rseeded {done:,}/{attempts:,} attempts", end="", file=sys.stderr, flush=True)
    finally:
        print("\nrebuilding indexes", end="", file=sys.stderr, flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for _, definition in indexes:
                cursor.execute(definition)


def seed(run: str, tenant_ids: list[int], attempts: int, days: int, now: datetime) -> None:
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from mailboxes.models import Delivery, Message
    from retraction.models import RetractionAttempt

    models = (Message, Delivery, RetractionAttempt)
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        seed_postgresql(run, tenant_ids, attempts, days, now, next_ids(*models))
    else:
        writers = [Writer(m) for m in models]
        done = 0
        for messages, deliveries, rows in generate(
            run, tenant_ids, attempts, days, now, next_ids(*models)
        ):
            with transaction.atomic():
                writers[0].write(messages)
                writers[1].write(deliveries)
                writers[2].write(rows)
            done += len(rows)
            print(f"\rseeded {done:,}/{attempts:,} attempts", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)
        cursor.execute("ANALYZE")
    emit(
        bench="seed",
        vendor=connection.vendor,
        attempts=attempts,
        tenants=len(tenant_ids),
        days=days,
        seconds=round(time.perf_counter() - started, 1),
    )


# --- Measuring -----------------------------------------------------------------------------


def intervals(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    end = now.replace(microsecond=0)
    return {
        "24h": (end - timedelta(hours=24), end),
        "7d": (end - timedelta(days=7), end),
        "30d": (end - timedelta(days=30), end),
        "90d": (end - timedelta(days=90), end),
        "12mo": (end - timedelta(days=365), end),
        "ragged_200d": (
            end - timedelta(days=260, hours=7, minutes=13),
            end - timedelta(days=60, hours=2, minutes=41),
        ),
        # The most the card scans live: a start one second past a whole hour (the next
        # 59:59 live), and the current hour up to now.
        "12mo_worst_edges": (
            (end - timedelta(days=365)).replace(minute=0, second=1),
            end,
        ),
    }


def measure(
    owner: Any, member: Any, tenant: Any, repeat: int, now: datetime, per_page: int | None
) -> None:
    from django.db import connection
    from django.test import Client, RequestFactory

    from metrics.admin import details_url
    from metrics.services.card import retractions_card

    spans = intervals(now)
    for who, user, pick in (
        ("owner_all", owner, None),
        ("owner_one_tenant", owner, tenant),
        ("member_half_tenants", member, None),
    ):
        for name, (start, end) in spans.items():
            total = retractions_card(user=user, start=start, end=end, tenant=pick).total
            result = timed(
                lambda u=user, s=start, e=end, p=pick: retractions_card(
                    user=u, start=s, end=e, tenant=p
                ),
                repeat,
            )
            emit(
                bench="card",
                vendor=connection.vendor,
                who=who,
                interval=name,
                total=total,
                **result,
            )

    start, end = spans["12mo"]
    emit(
        bench="card_live_only",
        vendor=connection.vendor,
        who="owner_all",
        interval="12mo",
        # Once, cold: a year of attempts scanned live (what the rollup saves).
        **timed(
            lambda: retractions_card(user=owner, start=start, end=end, use_rollup=False),
            1,
            warm_up=False,
        ),
    )

    client = Client()
    client.force_login(owner)
    for name in ("7d", "12mo"):
        start, end = spans[name]
        params = {"start": start.isoformat(), "end": end.isoformat()}

        def api(params: dict[str, str] = params) -> None:
            response = client.get("/api/v1/metrics/retractions/", params)
            assert response.status_code == 200, response.content[:300]

        emit(
            bench="api",
            vendor=connection.vendor,
            who="owner_all",
            interval=name,
            **timed(api, repeat),
        )

    from django.contrib import admin

    from retraction.models import RetractionAttempt

    request = RequestFactory().get("/admin/")
    request.user = owner
    attempts_admin = admin.site.get_model_admin(RetractionAttempt)
    pages = [attempts_admin.list_per_page] + ([per_page] if per_page else [])

    def details(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        assert b'id="result_list"' in response.content

    for size in pages:
        attempts_admin.list_per_page = size
        for name in ("24h", "7d", "12mo"):
            start, end = spans[name]
            for who, pick in (("owner_all", None), ("owner_one_tenant", tenant)):
                url = details_url(
                    request, start=start, end=end, tenant_id=getattr(pick, "pk", None)
                )
                emit(
                    bench="details_first_page",
                    vendor=connection.vendor,
                    who=who,
                    interval=name,
                    rows_per_page=size,
                    **timed(lambda url=url: details(url), repeat),
                )
    attempts_admin.list_per_page = pages[0]

    def index() -> None:
        assert client.get("/admin/").status_code == 200

    emit(
        bench="admin_index_with_card",
        vendor=connection.vendor,
        interval="7d",
        **timed(index, repeat),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--details-per-page",
        type=int,
        default=None,
        help="What-if: also time View details with the attempts admin at this page size.",
    )
    parser.add_argument(
        "--dir",
        help="Keep the SQLite database here; a later run with the same --dir only measures.",
    )
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clawback-metrics-bench-") as tmp:
        directory = args.dir or tmp
        if args.measure_only:
            measure_bench(args, directory)
            return
        prepare_bench(args, directory)
        # Measure in a process of its own, like a server worker: not one whose heap
        # still carries the seeding and a year of rollups (it makes every garbage
        # collection, and so the tail of the timings, slower).
        child = [sys.executable, __file__, *sys.argv[1:], "--dir", directory, "--measure-only"]
        subprocess.run(child, check=True)


SEEDED = "metrics-bench-seeded.json"


def prepare_bench(args: argparse.Namespace, directory: str) -> None:
    """Seed (unless `directory` holds a seeded database), roll up, refresh statistics."""
    setup_django(directory)
    from django.db import connection

    from metrics.models import WHOLE, RollupPeriod, Span
    from metrics.services.card import ONE_DAY, utc_today
    from metrics.services.rollup import days_between, rollup_days, rollup_recent

    seeded = Path(directory) / SEEDED
    if not seeded.exists():
        run = datetime.now(UTC).strftime("%H%M%S")
        now = datetime.now(UTC)
        owner, member, tenants = make_people(run, args.tenants)
        seed(run, [t.pk for t in tenants], args.attempts, args.days, now)
        state = {"owner": owner.pk, "member": member.pk, "tenant": tenants[0].pk}
        seeded.write_text(json.dumps({**state, "now": now.isoformat()}))

    # What the nightly schedule keeps rolled up (every past day; again if the rollup's
    # shape changed since an earlier run with --dir), then the hourly run's today.
    yesterday = utc_today() - ONE_DAY
    marked = set(
        RollupPeriod.objects.filter(span=Span.DAY, hours=WHOLE).values_list("day", flat=True)
    )
    days = [
        d for d in days_between(yesterday - timedelta(days=args.days), yesterday) if d not in marked
    ]
    if days:
        started = time.perf_counter()
        rollup_days(days)
        emit(bench="rollup", days=len(days), seconds=round(time.perf_counter() - started, 1))
    started = time.perf_counter()
    done = rollup_recent()
    emit(
        bench="rollup_recent",
        hours=[[str(day), hours] for day, hours in done],
        seconds=round(time.perf_counter() - started, 2),
    )
    with connection.cursor() as cursor:
        # Fresh statistics and visibility map, as autovacuum would have by now.
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "VACUUM ANALYZE")


def measure_bench(args: argparse.Namespace, directory: str) -> None:
    setup_django(directory)
    from django.contrib.auth import get_user_model

    from mailboxes.models import Tenant

    state = json.loads((Path(directory) / SEEDED).read_text())
    users = get_user_model().objects
    owner, member = users.get(pk=state["owner"]), users.get(pk=state["member"])
    tenant, now = Tenant.objects.get(pk=state["tenant"]), datetime.fromisoformat(state["now"])
    measure(owner, member, tenant, args.repeat, now, args.details_per_page)


if __name__ == "__main__":
    main()
