"""The Retractions card and View details at volume: seed, roll up, time.

    DEBUG=1 .venv/bin/python bench/metrics_bench.py [--attempts 1000000] [--tenants 20]
        [--days 365] [--repeat 30]

Uses a throwaway SQLite file in a temporary directory, or the database named by
DATABASE_URL (migrated here; use an empty database: `createdb clawback_bench`).
Seeds `--attempts` retraction attempts (one per delivered copy, three copies a
message) spread evenly over the last `--days` days across `--tenants` tenants,
with raw multi-row inserts (SQLite) or COPY (PostgreSQL); rolls the days up with
the service the nightly task runs; then prints one JSON line per measurement:

- seed, rollup: how long those took;
- card: `retractions_card` (the service behind the admin card and the API), p50/p95
  over `--repeat` runs, for 24 h, 7/30/90 days, 12 months and an interval with
  ragged edges, as the owner (every tenant), for one tenant, and for a member of
  half the tenants; `live` is the same 12 months computed without the rollup;
- api: GET /api/v1/metrics/retractions/ through Django's test client (a request,
  authentication, a new SQLite connection as in production);
- details: the first page of View details (the attempts changelist for the card's
  interval, newest first), through the test client, as the owner.

Targets: card < 50 ms p95 for any interval up to 12 months; View details < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
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


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Wall-clock p50/p95 (what a user waits), and this process's CPU time (SQLite runs
    in-process: its CPU time is the work itself, whatever else the machine is doing)."""
    fn()  # warm-up (statement and page caches)
    wall, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return {
        "p50_ms": round(statistics.median(wall) * 1000, 2),
        "p95_ms": round(p95(wall) * 1000, 2),
        "cpu_p50_ms": round(statistics.median(cpu) * 1000, 2),
        "cpu_p95_ms": round(p95(cpu) * 1000, 2),
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


def seed(run: str, tenant_ids: list[int], attempts: int, days: int, now: datetime) -> None:
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from mailboxes.models import Delivery, Message
    from retraction.models import RetractionAttempt

    models = (Message, Delivery, RetractionAttempt)
    writers = [Writer(m) for m in models]
    started = time.perf_counter()
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
        **timed(
            lambda: retractions_card(user=owner, start=start, end=end, use_rollup=False),
            max(1, min(3, repeat)),
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
                    **timed(lambda url=url: details(url), max(5, repeat // 2)),
                )
    attempts_admin.list_per_page = pages[0]

    def index() -> None:
        assert client.get("/admin/").status_code == 200

    emit(
        bench="admin_index_with_card",
        vendor=connection.vendor,
        interval="7d",
        **timed(index, max(5, repeat // 2)),
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
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clawback-metrics-bench-") as tmp:
        run_bench(args, args.dir or tmp)


def run_bench(args: argparse.Namespace, directory: str) -> None:
    setup_django(directory)
    from django.contrib.auth import get_user_model
    from django.db import connection

    from mailboxes.models import Tenant
    from metrics.services.card import ONE_DAY, utc_today
    from metrics.services.rollup import days_between, rollup_days

    seeded = Path(directory) / "metrics-bench-seeded.json"
    if seeded.exists():  # --dir with a database seeded by an earlier run: measure again
        state = json.loads(seeded.read_text())
        users = get_user_model().objects
        owner, member = users.get(pk=state["owner"]), users.get(pk=state["member"])
        tenant, now = Tenant.objects.get(pk=state["tenant"]), datetime.fromisoformat(state["now"])
    else:
        run = datetime.now(UTC).strftime("%H%M%S")
        now = datetime.now(UTC)
        owner, member, tenants = make_people(run, args.tenants)
        tenant = tenants[0]
        seed(run, [t.pk for t in tenants], args.attempts, args.days, now)

        started = time.perf_counter()
        yesterday = utc_today() - ONE_DAY
        days = days_between(yesterday - timedelta(days=args.days), yesterday)
        rollup_days(days)
        emit(bench="rollup", days=len(days), seconds=round(time.perf_counter() - started, 1))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics, as autovacuum / a nightly would have
        if args.dir:
            seeded.write_text(
                json.dumps(
                    {
                        "owner": owner.pk,
                        "member": member.pk,
                        "tenant": tenant.pk,
                        "now": now.isoformat(),
                    }
                )
            )
    measure(owner, member, tenant, args.repeat, now, args.details_per_page)


if __name__ == "__main__":
    main()
