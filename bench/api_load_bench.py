"""The API under load on gunicorn (2 workers): requests/s held, latency percentiles, errors.

    .venv/bin/python bench/api_load_bench.py [--setup sqlite|postgres] [--seconds 60]
        [--connections 16] [--client auto|wrk|python] [--quick]

Seeds a throwaway database (bench/_setup.py: a SQLite file, or a PostgreSQL database
with Redis as cache and broker): `--tenants` tenants (20) with `--mailboxes` user
mailboxes each (2,000), and `--attempts` retraction attempts (300,000) over `--days` days
(365), one per delivered copy, three copies a message, so 100,000 messages by default
(bench/metrics_bench.py's generator, with mixed dispositions and recipients that are the
seeded mailboxes), rolled up as the nightly task does. `--quick`: 100,000 attempts,
500 mailboxes a tenant, 10 s scenarios after 2 s of warm-up. Then
issues an API key (mailboxes.services.api_key_issue) for an MSP-wide user: tenant admin
of every tenant (`--key-user admin`, the default) or a superuser.

Starts `gunicorn config.wsgi --workers 2` on 127.0.0.1 with the production settings
(DEBUG unset, SECRET_KEY, CLAWBACK_CREDENTIALS_KEYS, ALLOWED_HOSTS=127.0.0.1, HTTPS
redirect and HSTS on) as behind the TLS-terminating proxy README.md documents:
BEHIND_PROXY=1, and every request carries `X-Forwarded-Proto: https` and
`X-Forwarded-For`, as the proxy would add. The API rate limits are raised for the run
(API_RATE_LIMIT, API_INGEST_RATE_LIMIT, API_WRITE_RATE_LIMIT = `--rate-limit`, default
1000000/s): the throttle still reads and writes its counters on every request, but the
limit is out of reach, so the figures are capacity; any 429 is reported apart.

Load comes from another process, closed loop (bench/_load_client.py): wrk with a Lua
script when installed (Debian: `apt-get install wrk`), else Python threads with
http.client. The machine's cores are shared by gunicorn, the database and the load
generator: every result says how much CPU each used (`cpu_cores_used`).

Scenarios, each `--seconds` long after `--warmup` seconds whose results are dropped:

- search: GET /api/v1/messages/ with varied filters (tenant, disposition, sender,
  subject, recipient, Message-ID, received interval, retracted), first pages (100
  messages with their copies) and, for a third of the queries, the second page by its
  cursor;
- metrics: GET /api/v1/metrics/retractions/ for 24 h, 7/30/90 days, 12 months and a
  ragged interval, every tenant or one;
- ingest_single: POST /api/v1/messages/ one verdict, 3 recipients, disposition NONE
  (nothing to retract, so no task is queued and no worker is needed), a new Message-ID
  each time;
- ingest_batch: the same with lists of `--batch` verdicts (default 100).

One JSON line per scenario on stdout: responses/s held (overall and per 10 s window,
with the slowest window), p50/p95/p99/max latency, errors by kind (an unexpected status,
connect/read/write/timeout), 429s, the CPU cores used by gunicorn, PostgreSQL, the load
client and the whole machine, and CPU milliseconds per request (what the figures would
be on an otherwise idle machine); ingest adds verdicts/s and how many were stored. A
summary table goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load_client import run_load, wrk_path  # noqa: E402
from _setup import ROOT, django_setup, throwaway_environment  # noqa: E402

GUNICORN_WORKERS = 2
WINDOW_S = 10
SETUPS = {"sqlite": "sqlite-orm", "postgres": "postgres-redis"}
SCENARIOS = ("search", "metrics", "ingest_single", "ingest_batch")
# A 2xx other than these is still a surprise worth counting as an error.
EXPECTED = {"search": {200}, "metrics": {200}, "ingest_single": {201}, "ingest_batch": {200}}
# Seeded messages all have retraction attempts, so all carry a disposition a policy covers.
DISPOSITIONS = {"MALICIOUS": 50, "SUSPICIOUS": 20, "SPAM": 15, "SPOOF": 10, "BULK": 5}


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- Seeding -------------------------------------------------------------------------------


def domain(run: str, index: int) -> str:
    return f"t{index}.{run}.example"


def make_tenants(run: str, count: int) -> list[Any]:
    from mailboxes.models import Provider
    from mailboxes.services import tenant_create

    return [
        tenant_create(
            actor=None,
            name=f"Load {run} {i:02d}",
            slug=f"load-{run}-{i:02d}",
            provider=Provider.MICROSOFT if i % 2 else Provider.GOOGLE,
            domains=[domain(run, i)],
        )
        for i in range(count)
    ]


def make_key(run: str, tenants: list[Any], who: str) -> tuple[Any, str]:
    """An API key for an MSP-wide user: admin of every tenant, or a superuser."""
    from django.contrib.auth import get_user_model

    from mailboxes.access import Role
    from mailboxes.models import Membership
    from mailboxes.services import api_key_issue

    user = get_user_model().objects.create_user(username=f"loadbench-{run}", password=None)
    if who == "superuser":
        user.is_superuser = user.is_staff = True
        user.save(update_fields=["is_superuser", "is_staff"])
    else:
        Membership.objects.bulk_create(
            Membership(user=user, tenant=t, role=Role.ADMIN) for t in tenants
        )
    _, raw = api_key_issue(user=user, name="api load bench", actor=user, via="bench")
    return user, raw


def seed(
    run: str, tenants: list[Any], attempts: int, days: int, pool: int, now: datetime
) -> dict[str, Any]:
    """Mailboxes, then messages, copies and attempts (metrics_bench's generator), in bulk."""
    import metrics_bench
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from mailboxes.models import Delivery, Mailbox, Message
    from retraction.models import RetractionAttempt

    started = time.perf_counter()
    first_mailbox = metrics_bench.next_ids(Mailbox)[0]
    mailbox_writer = metrics_bench.Writer(Mailbox)
    rows = [
        {
            "id": first_mailbox + i * pool + x,
            "tenant_id": tenant.pk,
            "address": f"user{x}@{domain(run, i)}",
            "kind": "user",
            "created_at": now - timedelta(days=days + 30),
        }
        for i, tenant in enumerate(tenants)
        for x in range(pool)
    ]
    for chunk in range(0, len(rows), metrics_bench.BATCH):
        with transaction.atomic():
            mailbox_writer.write(rows[chunk : chunk + metrics_bench.BATCH])

    index = {t.pk: i for i, t in enumerate(tenants)}
    rng = random.Random(5)
    names, weights = list(DISPOSITIONS), list(DISPOSITIONS.values())
    writers = [metrics_bench.Writer(m) for m in (Message, Delivery, RetractionAttempt)]
    counts = {"messages": 0, "deliveries": 0, "attempts": 0}
    for messages, deliveries, made in metrics_bench.generate(
        run,
        [t.pk for t in tenants],
        attempts,
        days,
        now,
        metrics_bench.next_ids(Message, Delivery, RetractionAttempt),
    ):
        for message in messages:
            message["disposition"] = rng.choices(names, weights)[0]
        for delivery in deliveries:
            # Consecutive ids, so the copies of one message go to different people.
            i, x = index[delivery["tenant_id"]], delivery["id"] % pool
            delivery["recipient"] = f"user{x}@{domain(run, i)}"
            delivery["mailbox_id"] = first_mailbox + i * pool + x
        with transaction.atomic():
            for writer, batch in zip(writers, (messages, deliveries, made), strict=True):
                writer.write(batch)
        counts["messages"] += len(messages)
        counts["deliveries"] += len(deliveries)
        counts["attempts"] += len(made)
        print(f"\rseeded {counts['attempts']:,}/{attempts:,} attempts", end="", file=sys.stderr)
    print(file=sys.stderr)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(
            no_style(), [Mailbox, Message, Delivery, RetractionAttempt]
        ):
            cursor.execute(sql)
    return {
        **counts,
        "mailboxes": len(rows),
        "seed_seconds": round(time.perf_counter() - started, 1),
    }


def roll_up(days: int) -> float:
    from django.db import connection

    from metrics.services.card import ONE_DAY, utc_today
    from metrics.services.rollup import days_between, rollup_days

    started = time.perf_counter()
    yesterday = utc_today() - ONE_DAY
    rollup_days(days_between(yesterday - timedelta(days=days), yesterday))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would have
    return round(time.perf_counter() - started, 1)


# --- The server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`gunicorn config.wsgi --workers 2` in its own process group, production settings."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.env = env
        self.log_path = log_path
        self.command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi",
            "--workers",
            str(GUNICORN_WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
        ]
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        self.log = open(self.log_path, "w+b")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, headers: dict[str, str], timeout: float = 60) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.output()}")
            try:
                status, _ = get(self.port, "/api/v1/tenants/", headers)
            except OSError:
                status = 0
            if status == 200:
                return
            if status:
                raise RuntimeError(f"GET /api/v1/tenants/ answered {status}:\n{self.output()}")
            time.sleep(0.2)
        raise TimeoutError(f"gunicorn not ready after {timeout}s:\n{self.output()}")

    def output(self, tail: int = 4000) -> str:
        self.log.flush()
        return self.log_path.read_bytes().decode(errors="replace")[-tail:]

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its workers (those alive now)."""
        assert self.process is not None
        out = subprocess.run(
            ["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout
        return sum(process_cpu_seconds(int(pid)) for pid in out.split())

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, over every core."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def database_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the bench database (none on SQLite,
    which runs inside the gunicorn workers and is counted with them)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    import psycopg
    from _setup import POSTGRES_ADMIN_URL

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s",
            [connection.settings_dict["NAME"]],
        ).fetchall()
    return {pid: process_cpu_seconds(pid) for (pid,) in rows}


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


# --- Scenarios -----------------------------------------------------------------------------


def search_queries(
    run: str, tenants: list[Any], messages: int, pool: int, days: int, now: datetime
) -> list[dict[str, str]]:
    """Varied searches an integrator or analyst would run, with values that exist."""
    rng = random.Random(11)
    iso = lambda moment: moment.replace(microsecond=0).isoformat()  # noqa: E731

    def tenant() -> str:
        return str(rng.choice(tenants).pk)

    def recipient() -> str:
        return f"user{rng.randrange(pool)}@{domain(run, rng.randrange(len(tenants)))}"

    def day() -> tuple[str, str]:
        start = now - timedelta(days=rng.uniform(1, days))
        return iso(start), iso(start + timedelta(days=1))

    shapes = [
        lambda: {},
        lambda: {"tenant": tenant()},
        lambda: {"tenant": tenant(), "disposition": rng.choice(list(DISPOSITIONS))},
        lambda: {"sender": f"s{rng.randrange(97)}@sender.example"},
        lambda: {"tenant": tenant(), "sender": f"s{rng.randrange(97)}@sender.example"},
        lambda: {"subject": f"Invoice {rng.randrange(messages)}"},
        lambda: {"tenant": tenant(), "subject": f"invoice {rng.randrange(10, 99)}"},
        lambda: {"recipient": recipient()},
        lambda: dict(zip(("received_after", "received_before"), day(), strict=True)),
        lambda: {"tenant": tenant(), "received_after": iso(now - timedelta(days=7))},
        lambda: {"tenant": tenant(), "retracted": "true"},
        lambda: {"tenant": tenant(), "retracted": "false"},
        lambda: {"internet_message_id": f"bench-{run}-{rng.randrange(messages)}@sender.example"},
    ]
    return [shape() for _ in range(3) for shape in shapes]


def search_requests(
    port: int, headers: dict[str, str], queries: list[dict[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """First pages, and the second page of every third query by its cursor.

    Fetching each first page once here also warms both workers up.
    """
    requests, hits, second = [], [], 0
    for n, query in enumerate(queries):
        path = "/api/v1/messages/" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        status, body = get(port, path, headers)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        requests.append({"method": "GET", "path": path})
        hits.append(len(body["results"]))
        if n % 3 == 0 and body.get("next"):
            parts = urllib.parse.urlsplit(body["next"])
            requests.append({"method": "GET", "path": f"{parts.path}?{parts.query}"})
            second += 1
    return requests, {
        "queries": len(queries),
        "second_pages": second,
        "first_page_rows_median": sorted(hits)[len(hits) // 2],
        "empty_first_pages": hits.count(0),
    }


def metrics_requests(tenants: list[Any], now: datetime) -> list[dict[str, Any]]:
    import metrics_bench

    rng = random.Random(13)
    requests = []
    for start, end in metrics_bench.intervals(now).values():
        for tenant in [None, *rng.sample(tenants, 3)]:
            query = {"start": start.isoformat(), "end": end.isoformat()}
            if tenant is not None:
                query["tenant"] = str(tenant.pk)
            path = f"/api/v1/metrics/retractions/?{urllib.parse.urlencode(query)}"
            requests.append({"method": "GET", "path": path})
    return requests


def verdict(tenant: Any, tenant_index: int, run: str, pool: int, n: int, suffix: str) -> dict:
    """One verdict; "@ID@" in the Message-ID is made unique per request by the client."""
    rng = random.Random(n)
    return {
        "tenant": tenant.pk,
        "internet_message_id": f"<lb-@ID@{suffix}@loadbench.example>",
        "sender": f"alerts{n % 97}@sender.example",
        "subject": f"Quarterly report {n}",
        "received_at": "2025-01-14T09:30:00Z",
        "recipients": [f"user{x}@{domain(run, tenant_index)}" for x in rng.sample(range(pool), 3)],
        "disposition": "NONE",
    }


def ingest_requests(tenants: list[Any], run: str, pool: int, batch: int) -> list[dict[str, Any]]:
    if batch == 1:
        bodies = [verdict(t, i, run, pool, i, "") for i, t in enumerate(tenants)]
    else:
        # One tenant per list: a detection system posts for the tenant it protects.
        bodies = [
            [verdict(t, i, run, pool, i * batch + k, f"-{k}") for k in range(batch)]
            for i, t in enumerate(tenants)
        ]
    return [{"method": "POST", "path": "/api/v1/messages/", "body": json.dumps(b)} for b in bodies]


# --- Measuring -----------------------------------------------------------------------------


def windows(per_second: list[int], seconds: float) -> list[dict[str, float]]:
    """Responses/s in consecutive WINDOW_S windows from the start (the last may be shorter)."""
    out = []
    for start in range(0, len(per_second), WINDOW_S):
        length = min(WINDOW_S, seconds - start)
        if length <= 0.5:
            continue
        count = sum(per_second[start : start + WINDOW_S])
        out.append({"from_s": start, "seconds": round(length, 2), "rps": round(count / length, 1)})
    return out


def measure(
    name: str,
    requests: list[dict[str, Any]],
    *,
    args: argparse.Namespace,
    spec_base: dict[str, Any],
    server: Gunicorn,
    workdir: str,
    items_per_request: int = 0,
) -> dict[str, Any]:
    """Warm up, then one measured closed-loop run; the result line for `name`."""
    import resource

    from django.db import connections

    connections.close_all()  # the bench process holds no database connection meanwhile
    nonce = f"{spec_base['nonce']}{name.replace('_', '')}"
    if args.warmup > 0:
        run_load(
            {**spec_base, "requests": requests, "nonce": f"{nonce}w"},
            seconds=args.warmup,
            connections=args.connections,
            client=args.client,
            workdir=workdir,
        )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = server.cpu_seconds()
    database = database_cpu()
    busy, total = machine_cpu()
    load = run_load(
        {**spec_base, "requests": requests, "nonce": f"{nonce}m"},
        seconds=args.seconds,
        connections=args.connections,
        client=args.client,
        workdir=workdir,
    )
    busy2, total2 = machine_cpu()
    database_cpu_s = sum(cpu - database.get(pid, 0.0) for pid, cpu in database_cpu().items())
    server_cpu = server.cpu_seconds() - server_cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)

    seconds = load["seconds"]
    statuses = load["statuses"]
    ok = sum(n for code, n in statuses.items() if code in EXPECTED[name])
    errors = {f"http_{code}": n for code, n in statuses.items() if code not in EXPECTED[name]}
    throttled = errors.pop("http_429", 0)
    errors.update({k: v for k, v in load["transport_errors"].items() if v})
    per_window = windows(load["per_second"], seconds)
    full = [w["rps"] for w in per_window if w["seconds"] >= WINDOW_S - 0.5] or [
        w["rps"] for w in per_window
    ]
    cores = os.cpu_count() or 1
    result: dict[str, Any] = {
        "bench": "load",
        "scenario": name,
        "client": load["client"],
        "connections": args.connections,
        "gunicorn_workers": GUNICORN_WORKERS,
        "seconds": round(seconds, 2),
        "requests_ok": ok,
        "rps": round(ok / seconds, 1),
        "rps_windows": per_window,
        "rps_min_window": min(full) if full else 0,
        "latency_ms": {k: round(v, 1) for k, v in load["latency_ms"].items()},
        "errors": errors,
        "error_count": sum(errors.values()),
        "throttled_429": throttled,
        "distinct_requests": len(requests),
        "cpu_cores_used": {
            "gunicorn": round(server_cpu / seconds, 2),
            **({"postgresql": round(database_cpu_s / seconds, 2)} if database else {}),
            "load_client": round(client_cpu / seconds, 2),
            "whole_machine": round(cores * (busy2 - busy) / max(total2 - total, 1e-9), 2),
            "cores": cores,
        },
        # CPU per answered request: what the figures would be without the neighbours
        # (cores / this = the most requests/s CPU allows, if nothing else limits).
        "cpu_ms_per_request": {
            "gunicorn": round(1000 * server_cpu / max(ok, 1), 1),
            **({"postgresql": round(1000 * database_cpu_s / max(ok, 1), 1)} if database else {}),
        },
        "load1_after": round(os.getloadavg()[0], 2),
    }
    if load.get("clock") == "seconds":
        result["note"] = "per-second counts from wrk's os.time(): windows are +/- 1 s"
    if items_per_request:
        result["verdicts_per_request"] = items_per_request
        result["verdicts_per_s"] = round(ok * items_per_request / seconds, 1)
        result["verdicts_acknowledged"] = ok * items_per_request
        result["verdicts_stored"] = stored_since(f"<lb-{nonce}m-")
    return result


def stored_since(prefix: str) -> int:
    """Messages recorded by the measured run (answers cut off at the end may add a few)."""
    from django.db import connections

    from mailboxes.models import Message

    count = Message.objects.all_tenants().filter(internet_message_id__startswith=prefix).count()
    connections.close_all()
    return count


def cpu_ms(result: dict[str, Any]) -> str:
    """Gunicorn's CPU per request, "+ PostgreSQL's" when it runs apart."""
    per = result["cpu_ms_per_request"]
    return f"{per['gunicorn']}" + (f"+{per['postgresql']}" if "postgresql" in per else "")


def summary(setup_line: dict[str, Any], results: list[dict[str, Any]]) -> None:
    note("")
    note(
        f"API under load: {setup_line['vendor']}, gunicorn {GUNICORN_WORKERS} workers, "
        f"{results[0]['connections'] if results else '?'} connections ({setup_line['client']}), "
        f"{setup_line['messages']:,} messages / {setup_line['attempts']:,} attempts seeded"
    )
    note(
        f"{'scenario':<15}{'resp/s':>9}{'min 10s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}{'errors':>8}{'429':>6}{'cpu ms/req':>12}"
        "  cores srv/cli/all"
    )
    for r in results:
        lat, cpu = r["latency_ms"], r["cpu_cores_used"]
        extra = f"  ({r['verdicts_per_s']:,.0f} verdicts/s)" if "verdicts_per_s" in r else ""
        note(
            f"{r['scenario']:<15}{r['rps']:>9.1f}{r['rps_min_window']:>9.1f}{lat['p50']:>9.1f}"
            f"{lat['p95']:>9.1f}{lat['p99']:>9.1f}{lat['max']:>9.1f}{r['error_count']:>8}"
            f"{r['throttled_429']:>6}{cpu_ms(r):>12}  {cpu['gunicorn']}/{cpu['load_client']}/"
            f"{cpu['whole_machine']} of {cpu['cores']}{extra}"
        )
    note(
        "The load generator, gunicorn and the database share this machine's cores: "
        "cores srv/cli/all = used by gunicorn / the load client / everything on the machine; "
        "cpu ms/req = gunicorn's CPU per answered request (+ PostgreSQL's)."
    )
    if setup_line["load1_before"] > 1:
        note(
            f"Load average was {setup_line['load1_before']} before the run: other processes "
            "competed for the cores; rerun on a quiet machine for capacity figures."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", choices=sorted(SETUPS), default="sqlite")
    parser.add_argument("--seconds", type=float, default=None, help="Per scenario (60).")
    parser.add_argument("--warmup", type=float, default=None, help="Unmeasured seconds (5).")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="Comma separated.")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--attempts", type=int, default=None, help="Seeded, 3 a message (300,000).")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--mailboxes", type=int, default=None, help="Per tenant (2,000).")
    parser.add_argument("--batch", type=int, default=100, help="Verdicts per ingest_batch list.")
    parser.add_argument("--key-user", choices=("admin", "superuser"), default="admin")
    parser.add_argument(
        "--rate-limit", default="1000000/s", help='API rate limits for the run ("off": none).'
    )
    parser.add_argument(
        "--quick", action="store_true", help="10 s scenarios, 2 s warm-up, smaller seed."
    )
    args = parser.parse_args()
    defaults = (10, 2, 100_000, 500) if args.quick else (60, 5, 300_000, 2_000)
    for name, value in zip(("seconds", "warmup", "attempts", "mailboxes"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.client == "wrk" and not wrk_path():
        parser.error("wrk is not installed (apt-get install wrk), use --client python")

    with tempfile.TemporaryDirectory(prefix="clawback-api-load-") as tmp:
        env = throwaway_environment(SETUPS[args.setup], tmp)
        servers: list[Gunicorn] = []
        try:
            run_bench(args, chosen, tmp, servers)
        finally:
            for server in servers:
                server.stop()
            env.cleanup()


def run_bench(
    args: argparse.Namespace, chosen: list[str], tmp: str, servers: list[Gunicorn]
) -> None:
    from cryptography.fernet import Fernet

    # The same secrets for this process (seeding, the API key) and the server.
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
    os.environ["CLAWBACK_CREDENTIALS_KEYS"] = Fernet.generate_key().decode()
    django_setup()
    from django.db import connection

    run = f"r{int(time.time()) % 10**6}"
    now = datetime.now(UTC)
    note(f"seeding {args.attempts:,} attempts, {args.tenants} tenants ...")
    tenants = make_tenants(run, args.tenants)
    volumes = seed(run, tenants, args.attempts, args.days, args.mailboxes, now)
    rollup_seconds = roll_up(args.days)
    user, raw_key = make_key(run, tenants, args.key_user)
    vendor = connection.vendor

    port = free_port()
    server_env = {
        **os.environ,
        "ALLOWED_HOSTS": "127.0.0.1",
        "BEHIND_PROXY": "1",
        "API_RATE_LIMIT": args.rate_limit,
        "API_INGEST_RATE_LIMIT": args.rate_limit,
        "API_WRITE_RATE_LIMIT": args.rate_limit,
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DEBUG", "ALLOW_PROVIDER_EMULATOR", "PROVIDER_EMULATOR_CA", "Q_SYNC"):
        server_env.pop(name, None)
    headers = {
        "Authorization": f"Bearer {raw_key}",
        "Accept": "application/json",
        "Content-Type": "application/json",
        # What the TLS-terminating proxy adds (README: Running in production).
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.7",
    }
    server = Gunicorn(server_env, port, Path(tmp) / "gunicorn.log")
    servers.append(server)
    server.start().wait_ready(headers)

    client = "wrk" if args.client == "wrk" or (args.client == "auto" and wrk_path()) else "python"
    client_version = "python http.client threads"
    if client == "wrk":
        probe = subprocess.run([wrk_path() or "wrk", "--version"], capture_output=True, text=True)
        client_version = (probe.stdout or probe.stderr).splitlines()[0].split(" Copyright")[0]
    setup_line = {
        "bench": "setup",
        "vendor": vendor,
        "setup": args.setup,
        "tenants": args.tenants,
        "mailboxes": volumes["mailboxes"],
        "messages": volumes["messages"],
        "deliveries": volumes["deliveries"],
        "attempts": volumes["attempts"],
        "days": args.days,
        "seed_seconds": volumes["seed_seconds"],
        "rollup_seconds": rollup_seconds,
        "api_key_user": f"{args.key_user} of all {args.tenants} tenants"
        if args.key_user == "admin"
        else "superuser",
        "server": " ".join(["gunicorn", *server.command[1:]]),
        "server_settings": "DEBUG unset, SECRET_KEY, CLAWBACK_CREDENTIALS_KEYS, "
        "ALLOWED_HOSTS=127.0.0.1, BEHIND_PROXY=1 (requests carry X-Forwarded-Proto: https), "
        "SECURE_SSL_REDIRECT and HSTS on",
        "rate_limits": f"raised to {args.rate_limit} (read, ingest, write) for capacity; "
        "429s are counted apart",
        "client": client,
        "client_version": client_version,
        "connections": args.connections,
        "seconds_per_scenario": args.seconds,
        "warmup_seconds": args.warmup,
        "cpu_cores": os.cpu_count(),
        "load1_before": round(os.getloadavg()[0], 2),
        "note": f"one machine: gunicorn's {GUNICORN_WORKERS} workers, the database and the "
        "load generator share its cores (cpu_cores_used in each line)",
    }
    emit(**setup_line)

    spec_base = {"host": "127.0.0.1", "port": port, "headers": headers, "nonce": run}
    common = {"args": args, "spec_base": spec_base, "server": server, "workdir": tmp}
    results = []
    for name in chosen:
        note(f"{name}: {args.warmup:g} s warm-up, {args.seconds:g} s measured ...")
        extra: dict[str, Any] = {}
        if name == "search":
            queries = search_queries(
                run, tenants, volumes["messages"], args.mailboxes, args.days, now
            )
            requests, extra = search_requests(port, headers, queries)
            result = measure(name, requests, **common)
        elif name == "metrics":
            result = measure(name, metrics_requests(tenants, now), **common)
        else:
            batch = 1 if name == "ingest_single" else args.batch
            requests = ingest_requests(tenants, run, args.mailboxes, batch)
            result = measure(name, requests, items_per_request=batch, **common)
        result = {**result, **extra, "vendor": vendor}
        emit(**result)
        results.append(result)
    problems = [
        line
        for line in server.output(tail=200_000).splitlines()
        if "ERROR" in line or "Traceback" in line or "CRITICAL" in line
    ]
    emit(bench="server_log", error_lines=len(problems), first=problems[:5])
    summary(setup_line, results)


if __name__ == "__main__":
    main()
