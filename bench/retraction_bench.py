"""Retraction figures: campaigns, the naive way, the emulator's floor, automatic latency.

    DEBUG=1 .venv/bin/python bench/retraction_bench.py [--setup sqlite-orm|postgres-redis|both]
        [--quick] [--workers 2] [--naive-sample 300 | --naive-full] [--only campaigns,latency]

Each set-up runs in a subprocess of this script (Django settings are module-level):

- sqlite-orm (the default set-up): a fresh SQLite file in a temporary directory and
  django-q2's ORM broker (polled every Q_CLUSTER["poll"] = 0.1 s);
- postgres-redis: a throwaway database on postgres://postgres@127.0.0.1:5432 (created
  and dropped here) and Redis db 14 (the cluster's keys are deleted afterwards).

The provider emulator runs in a process of its own (bench/_emulator_proc.py) with
latency_ms=50 and Graph's default concurrency limit of 4 calls in flight per mailbox;
one Microsoft 365 tenant in Django points at it. A real `manage.py qcluster`
(Q_WORKERS=--workers) is started and warmed up before any verdict.

One JSON line per measurement:

- setup: database, broker, workers, load average;
- latency_idle: N single-copy verdicts one after the other (each retracted before the
  next is posted); latency = attempt.completed_at - message.disposition_changed_at;
- latency_load: single-copy verdicts posted by a thread at 50/s for ~20 s, same measure;
- campaign: A = one message in 10,000 mailboxes, B = 10 messages in the same 1,000
  mailboxes (reclassified in one transaction); wall time from the verdict to the last
  completed_at, the attempts' outcomes, and the emulator's folders for every copy;
- naive: the same kind of work as public purge scripts do it (msal token, requests:
  GET messages?$filter=internetMessageId eq '...' then POST move, one mailbox after
  another) on a sample of copies, extrapolated linearly to the campaign's size;
- floor: what the emulator's limits allow, with the formula.

Targets (issue 4): campaigns under 20 s on sqlite-orm and >= 50x faster than naive;
automatic latency p95 under 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import QClusterProcess, django_setup, throwaway_environment  # noqa: E402

TENANT_KEY = "bench"
DOMAIN = "bench.example"
CLIENT_ID = "b0000000-0000-4000-8000-00000000c1a0"
CLIENT_SECRET = "bench-secret"  # noqa: S105 - the emulator's throwaway app
LATENCY_MS = 50
MAILBOX_CONCURRENCY = 4  # the emulator's Graph default, stated here for the floor
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

SIZES = {
    "full": {
        "a_mailboxes": 10_000,
        "b_mailboxes": 1_000,
        "b_messages": 10,
        "idle": 100,
        "load_rate": 50,
        "load_seconds": 20,
    },
    "quick": {
        "a_mailboxes": 1_000,
        "b_mailboxes": 100,
        "b_messages": 10,
        "idle": 20,
        "load_rate": 50,
        "load_seconds": 5,
    },
}


def emit(**fields: Any) -> None:
    print(json.dumps(fields, default=str), flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_s": _r(percentile(values, 50)),
        "p95_s": _r(percentile(values, 95)),
        "p99_s": _r(percentile(values, 99)),
        "max_s": _r(max(values) if values else None),
        "mean_s": _r(sum(values) / len(values) if values else None),
    }


def python_speed() -> float:
    """µs for sum(range(1000)), best of 5: how fast this machine runs Python right now
    (a current laptop: about 10)."""
    import timeit

    return round(min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6, 1)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (and of their reaped children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


class CpuMeter:
    """CPU seconds spent by the emulator and by the qcluster's processes during a phase."""

    def __init__(self, emu: Any, cluster: Any) -> None:
        self.emu, self.cluster = emu, cluster
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        return {
            "emulator": cpu_seconds([self.emu.process.pid]),
            "qcluster": cpu_seconds(self.cluster.pids()),
            "bench": time.process_time(),
        }

    def used(self) -> dict[str, float]:
        now = self._now()
        return {k: round(now[k] - self.start[k], 2) for k in now}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


# --- the emulator process ----------------------------------------------------------------


class EmulatorProcess:
    def __init__(self, tmp: str) -> None:
        seed = {
            "tenants": [
                {
                    "id": TENANT_KEY,
                    "name": "Bench Corp",
                    "provider": "microsoft",
                    "domains": [DOMAIN],
                    "apps": [{"client_id": CLIENT_ID, "secrets": [CLIENT_SECRET]}],
                    "mailboxes": [],
                }
            ]
        }
        self.stderr = open(Path(tmp) / "emulator.log", "w+b")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "_emulator_proc.py"),
                json.dumps(seed),
                os.environ["PROVIDER_EMULATOR_CA"],
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
        )
        line = self.process.stdout.readline()
        if not line:
            self.stderr.flush()
            raise RuntimeError(f"emulator did not start: {Path(self.stderr.name).read_text()}")
        self.info = json.loads(line)

    def call(self, op: str, **fields: Any) -> Any:
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if isinstance(answer, dict) and answer.get("error"):
            raise RuntimeError(f"emulator {op}: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("quit")
                self.process.wait(timeout=10)
            except Exception:
                self.process.kill()
        self.stderr.close()


# --- data ----------------------------------------------------------------------------------


class World:
    """The Django tenant and its mailboxes, mirrored in the emulator."""

    def __init__(self, emu: EmulatorProcess) -> None:
        from django.contrib.auth import get_user_model

        from mailboxes.models import Provider
        from mailboxes.services import tenant_create

        self.emu = emu
        self.tenant = tenant_create(
            actor=None,
            name="Bench Corp",
            slug="bench",
            provider=Provider.MICROSOFT,
            domains=[DOMAIN],
            ms_directory_tenant_id=emu.info["authority"].rsplit("/", 1)[1],
            ms_client_id=CLIENT_ID,
            provider_endpoint=emu.info["https_url"],
            credentials={"client_secret": CLIENT_SECRET},
        )
        user = get_user_model().objects.create_user(username="bench-analyst", password=None)
        user.is_superuser = user.is_staff = True
        user.save(update_fields=["is_superuser", "is_staff"])
        self.actor = user
        self.boxes: dict[str, Any] = {}
        self._seq = 0

    def mailboxes(self, prefix: str, count: int) -> list[str]:
        from mailboxes.models import Mailbox, MailboxKind

        addresses = [f"{prefix}{i:05d}@{DOMAIN}" for i in range(count)]
        self.emu.call("add_mailboxes", tenant=TENANT_KEY, addresses=addresses)
        Mailbox.objects.bulk_create(
            [Mailbox(tenant=self.tenant, address=a, kind=MailboxKind.USER) for a in addresses],
            batch_size=1000,
        )
        for box in Mailbox.objects.for_tenant(self.tenant).filter(address__startswith=prefix):
            self.boxes[box.address] = box
        return addresses

    def message(self, tag: str, recipients: list[str], *, in_db: bool = True) -> Any:
        """Deliver a clean message to `recipients` (emulator), and record it (Django)."""
        from django.utils import timezone

        from mailboxes.models import Delivery, Message

        self._seq += 1
        msgid = f"<{tag}-{self._seq}@evil.example>"
        result = self.emu.call(
            "deliver", tenant=TENANT_KEY, internet_message_id=msgid, recipients=recipients
        )
        if result["delivered"] != len(recipients):
            raise RuntimeError(f"emulator delivered {result} of {len(recipients)}")
        if not in_db:
            return msgid
        message = Message.objects.create(
            tenant=self.tenant,
            internet_message_id=msgid,
            sender="attacker@evil.example",
            subject=f"Invoice {self._seq}",
            received_at=timezone.now(),
        )
        Delivery.objects.bulk_create(
            [
                Delivery(tenant=self.tenant, message=message, recipient=a, mailbox=self.boxes[a])
                for a in recipients
            ],
            batch_size=1000,
        )
        return message


def verdict(world: World, message: Any) -> None:
    from mailboxes.vocabulary import Disposition
    from retraction.services.decide import message_reclassify

    message_reclassify(
        actor=world.actor, message=message, disposition=Disposition.MALICIOUS, via="bench"
    )


def attempts_of(messages: list[Any]) -> Any:
    from retraction.models import RetractionAttempt

    return RetractionAttempt.objects.all_tenants().filter(message__in=[m.pk for m in messages])


def wait_finished(messages: list[Any], expected: int, timeout: float, poll: float = 0.05) -> bool:
    from retraction.models import FINISHED_STATUSES

    qs = attempts_of(messages)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if qs.filter(status__in=FINISHED_STATUSES).count() >= expected:
            return True
        time.sleep(poll)
    return False


def outcomes(messages: list[Any]) -> dict[str, int]:
    from django.db.models import Count

    rows = attempts_of(messages).values("status", "reason").annotate(n=Count("pk"))
    return {f"{r['status']}{'/' + r['reason'] if r['reason'] else ''}": r["n"] for r in rows}


def runs(messages: list[Any]) -> dict[str, Any]:
    """How the attempts were performed: runs (one claim each), their sizes and durations."""
    from django.db.models import Count, Max, Min

    rows = list(
        attempts_of(messages)
        .values("claim_token")
        .annotate(n=Count("pk"), start=Min("started_at"), end=Max("completed_at"))
    )
    sizes = [r["n"] for r in rows]
    durations = [(r["end"] - r["start"]).total_seconds() for r in rows if r["end"] and r["start"]]
    return {
        "runs": len(rows),
        "attempts_per_run_max": max(sizes, default=0),
        "attempts_per_run_mean": round(sum(sizes) / len(sizes), 1) if sizes else 0,
        "run_seconds_p50": _r(percentile(durations, 50)),
        "run_seconds_max": _r(max(durations, default=0)),
    }


def latencies(messages: list[Any], window: float = 0) -> Any:
    """completed_at - disposition_changed_at per attempt (single-copy messages).

    With `window`, also the p95 of each `window` seconds of verdicts, in order.
    """
    from mailboxes.models import Message

    changed = dict(
        Message.objects.filter(pk__in=[m.pk for m in messages]).values_list(
            "pk", "disposition_changed_at"
        )
    )
    pairs = []
    for message_id, completed in attempts_of(messages).values_list("message_id", "completed_at"):
        if completed is not None and changed.get(message_id) is not None:
            pairs.append((changed[message_id], (completed - changed[message_id]).total_seconds()))
    out = [lat for _, lat in pairs]
    if not window:
        return out
    first = min((when for when, _ in pairs), default=None)
    windows: dict[int, list[float]] = {}
    for when, lat in pairs:
        windows.setdefault(int((when - first).total_seconds() // window), []).append(lat)
    return out, [_r(percentile(windows[k], 95)) for k in sorted(windows)]


# --- measurements ------------------------------------------------------------------------


def warm_up(world: World, workers: int) -> None:
    """Every worker builds its client and gets a token before anything is measured."""
    boxes = world.mailboxes("w", workers * 4)
    messages = [world.message("warm", [b]) for b in boxes]
    for message in messages:
        verdict(world, message)
    if not wait_finished(messages, len(messages), timeout=60):
        raise RuntimeError("warm-up retractions did not finish")


def bench_latency_idle(world: World, setup: str, count: int) -> None:
    boxes = world.mailboxes("i", count)
    messages = [world.message("idle", [b]) for b in boxes]
    world.emu.call("clear_stats")
    cpu = CpuMeter(world.emu, world.cluster)
    before = load()
    for message in messages:
        verdict(world, message)
        wait_finished([message], 1, timeout=30, poll=0.01)
        time.sleep(0.05)
    lat = latencies(messages)
    emit(
        bench="latency_idle",
        setup=setup,
        verdicts=count,
        posting="one at a time, each retracted before the next (+50 ms)",
        **summary(lat),
        target_p95_s=1.5,
        outcomes=outcomes(messages),
        emulator=world.emu.call("stats"),
        cpu_seconds=cpu.used(),
        load_before=before,
        load_after=load(),
    )


def bench_latency_load(world: World, setup: str, rate: int, seconds: int, posters: int = 4) -> None:
    count = rate * seconds
    boxes = world.mailboxes("l", count)
    messages = [world.message("load", [b]) for b in boxes]
    world.emu.call("clear_stats")
    cpu = CpuMeter(world.emu, world.cluster)
    before = load()
    posted: list[float] = []
    errors: list[str] = []
    schedule = iter(enumerate(messages))
    lock = threading.Lock()
    start = time.monotonic()

    def poster() -> None:
        """Post the next verdict when its time comes (n / rate s after the start)."""
        from django.db import connection

        while True:
            with lock:
                n, message = next(schedule, (None, None))
            if message is None:
                break
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                verdict(world, message)
            except Exception as exc:  # reported, not raised
                errors.append(repr(exc))
            with lock:
                posted.append(time.monotonic() - start)
        connection.close()

    # Verdicts come from many API clients at once: a few posting threads keep to the
    # schedule even when one reclassification takes longer than 1/rate.
    threads = [threading.Thread(target=poster) for _ in range(posters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = wait_finished(messages, count, timeout=180)
    lat, by_window = latencies(messages, window=5)
    post_seconds = max(posted) if posted else 0.0
    emit(
        bench="latency_load",
        setup=setup,
        verdicts=count,
        target_rate_per_s=rate,
        posting_threads=posters,
        achieved_rate_per_s=round(count / post_seconds, 1) if post_seconds else None,
        posting_seconds=round(post_seconds, 2),
        all_finished=finished,
        **summary(lat),
        target_p95_s=1.5,
        p95_s_per_5s_of_verdicts=by_window,
        outcomes=outcomes(messages),
        performed=runs(messages),
        errors=errors[:3],
        emulator=world.emu.call("stats"),
        cpu_seconds=cpu.used(),
        load_before=before,
        load_after=load(),
    )


class Profiler:
    """py-spy record on the cluster (with its subprocesses) and the emulator, raw stacks."""

    def __init__(self, folder: str, tag: str, pids: dict[str, int]) -> None:
        self.procs = []
        if not folder:
            return
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        Path(folder).mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            out = Path(folder) / f"{tag}-{name}.txt"
            self.procs.append(
                subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--subprocesses",
                        "--format",
                        "raw",
                        "--rate",
                        "50",
                        "--nonblocking",
                        "-o",
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(1.0)  # py-spy attaches

    def stop(self) -> None:
        import signal

        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def bench_campaign(
    world: World,
    setup: str,
    name: str,
    mailboxes: int,
    per_mailbox: int,
    workers: int,
    profile: dict[str, int] | None = None,
    profile_dir: str = "",
) -> dict[str, Any]:
    from django.db import transaction
    from django.db.models import Max, Min
    from django.utils import timezone

    boxes = world.mailboxes(name.lower(), mailboxes)
    messages = [world.message(f"campaign-{name}", boxes) for _ in range(per_mailbox)]
    copies = mailboxes * per_mailbox
    world.emu.call("clear_stats")
    cpu = CpuMeter(world.emu, world.cluster)
    profiler = Profiler(profile_dir, f"{setup}-{name}", profile or {})
    before = load()
    started_wall: datetime = timezone.now()
    started = time.perf_counter()
    with transaction.atomic():
        for message in messages:
            verdict(world, message)
    committed = time.perf_counter() - started
    finished = wait_finished(messages, copies, timeout=600, poll=0.1)
    observed = time.perf_counter() - started
    profiler.stop()
    span = attempts_of(messages).aggregate(
        first_claim=Min("started_at"), last_claim=Max("started_at"), last=Max("completed_at")
    )
    wall = (span["last"] - started_wall).total_seconds() if span["last"] else None
    folders = world.emu.call("folders", message_ids=[m.internet_message_id for m in messages])
    stats = world.emu.call("stats")
    result = {
        "bench": "campaign",
        "setup": setup,
        "campaign": name,
        "copies": copies,
        "mailboxes": mailboxes,
        "messages": per_mailbox,
        "workers": workers,
        "seconds": _r(wall),
        "target_s": 20,
        "verdict_commit_s": _r(committed),
        "first_claim_after_s": _r((span["first_claim"] - started_wall).total_seconds())
        if span["first_claim"]
        else None,
        "observed_by_poll_s": _r(observed),
        "copies_per_s": round(copies / wall, 1) if wall else None,
        "all_finished": finished,
        "outcomes": outcomes(messages),
        "performed": runs(messages),
        "emulator_folders": folders["folders"],
        "all_in_deleted_items": folders["folders"].get("deleteditems") == copies,
        "emulator": stats,
        "cpu_seconds": cpu.used(),
        "load_before": before,
        "load_after": load(),
    }
    emit(**result)
    return result


def naive_run(world: World, setup: str, name: str, pairs: list[tuple[str, str]], total: int):
    """Public purge-script style: one mailbox after another, locate then move, one request
    at a time (msal client credentials + requests; one kept-alive session, the kindest case)."""
    import msal
    import requests

    info = world.emu.info
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_path"]
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=CLIENT_SECRET,
        authority=info["authority"],
        http_client=session,
        instance_discovery=False,
    )
    graph = f"{info['https_url']}/v1.0"
    world.emu.call("clear_stats")
    cpu = CpuMeter(world.emu, world.cluster)
    before = load()
    moved = failed = 0
    started = time.perf_counter()
    for mailbox, msgid in pairs:
        token = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        escaped = msgid.replace("'", "''")
        found = session.get(
            f"{graph}/users/{mailbox}/messages",
            params={"$filter": f"internetMessageId eq '{escaped}'", "$select": "id"},
            headers=headers,
            timeout=30,
        )
        if found.status_code != 200:
            failed += 1
            continue
        for item in found.json().get("value", []):
            r = session.post(
                f"{graph}/users/{mailbox}/messages/{item['id']}/move",
                json={"destinationId": "deleteditems"},
                headers=headers,
                timeout=30,
            )
            moved += r.status_code == 201
            failed += r.status_code != 201
    elapsed = time.perf_counter() - started
    session.close()
    folders = world.emu.call("folders", message_ids=sorted({m for _, m in pairs}))
    per_copy = elapsed / len(pairs)
    result = {
        "bench": "naive",
        "setup": setup,
        "campaign": name,
        "sample_copies": len(pairs),
        "sample_seconds": _r(elapsed),
        "per_copy_s": round(per_copy, 4),
        "copies": total,
        "seconds": _r(per_copy * total),
        "extrapolated": len(pairs) < total,
        "how": "sequential GET messages?$filter=internetMessageId eq '...' then POST move, "
        "mailbox after mailbox; seconds = per_copy_s x copies"
        + (" (linear extrapolation from the sample)" if len(pairs) < total else ""),
        "moved": moved,
        "failed": failed,
        "emulator_folders": folders["folders"],
        "emulator": world.emu.call("stats"),
        "cpu_seconds": cpu.used(),
        "load_before": before,
        "load_after": load(),
    }
    emit(**result)
    return result


def floor(name: str, mailboxes: int, per_mailbox: int, engine_calls_max: int) -> dict[str, Any]:
    """What the emulator's limits allow: mailboxes are independent, so the floor is the
    slowest mailbox; in a mailbox at most 4 calls run at once, each 50 ms, and a copy's
    move needs its look-up first."""
    minimal_calls = 2 * per_mailbox  # one look-up and one move per copy
    rounds = max(2, math.ceil(minimal_calls / MAILBOX_CONCURRENCY))
    result = {
        "bench": "floor",
        "campaign": name,
        "copies": mailboxes * per_mailbox,
        "mailboxes": mailboxes,
        "calls_per_mailbox": minimal_calls,
        "seconds": rounds * LATENCY_MS / 1000,
        "formula": "max over mailboxes of max(2, ceil(2 x copies_in_mailbox / 4)) x 50 ms "
        "(look-up + move per copy, <= 4 concurrent calls per mailbox, a move after its "
        "look-up; mailboxes in parallel without limit; + one 50 ms token call once)",
    }
    if engine_calls_max:
        engine_rounds = math.ceil(engine_calls_max / MAILBOX_CONCURRENCY)
        result["engine_calls_per_mailbox_max"] = engine_calls_max
        result["engine_pattern_seconds"] = max(2, engine_rounds) * LATENCY_MS / 1000
    return result


# --- one set-up --------------------------------------------------------------------------


def run_setup(args: argparse.Namespace) -> None:
    setup = args.child
    sizes = SIZES["quick" if args.quick else "full"]
    only = set(args.only.split(",")) if args.only else {"latency", "campaigns", "naive"}
    tmp = tempfile.mkdtemp(prefix="clawback-retraction-bench-")
    env = throwaway_environment(setup, tmp)
    emu = cluster = None
    try:
        emu = EmulatorProcess(tmp)
        emu.call("knobs", body={"global": {"latency_ms": LATENCY_MS, "concurrency_limit": 4}})
        django_setup()
        from django.conf import settings
        from django.db import connection

        world = World(emu)
        cluster = QClusterProcess(workers=args.workers).start().wait_ready()
        world.cluster = cluster
        emit(
            bench="setup",
            setup=setup,
            database=connection.vendor,
            broker="redis" if env.redis_url else f"orm (poll {settings.Q_CLUSTER.get('poll')} s)",
            workers=args.workers,
            emulator={"latency_ms": LATENCY_MS, "concurrency_limit": MAILBOX_CONCURRENCY},
            sizes=sizes,
            cpus=os.cpu_count(),
            python_speed_us=python_speed(),
            load=load(),
            python=sys.version.split()[0],
        )
        warm_up(world, args.workers)
        if "latency" in only:
            bench_latency_idle(world, setup, sizes["idle"])
            bench_latency_load(
                world, setup, sizes["load_rate"], sizes["load_seconds"], args.posters
            )
        results: dict[str, dict[str, Any]] = {}
        campaigns = {
            "A": (sizes["a_mailboxes"], 1),
            "B": (sizes["b_mailboxes"], sizes["b_messages"]),
        }
        if "campaigns" in only:
            for name, (mailboxes, per_mailbox) in campaigns.items():
                results[name] = bench_campaign(
                    world,
                    setup,
                    name,
                    mailboxes,
                    per_mailbox,
                    args.workers,
                    profile={"cluster": cluster.process.pid, "emulator": emu.process.pid},
                    profile_dir=args.profile,
                )
        if "naive" in only:
            for name, (mailboxes, per_mailbox) in campaigns.items():
                total = mailboxes * per_mailbox
                sample = total if args.naive_full else min(args.naive_sample, total)
                boxes_needed = math.ceil(sample / per_mailbox)
                boxes = world.mailboxes(f"n{name.lower()}", boxes_needed)
                msgids = [
                    world.message(f"naive-{name}", boxes, in_db=False) for _ in range(per_mailbox)
                ]
                pairs = [(b, m) for b in boxes for m in msgids][:sample]
                naive = naive_run(world, setup, name, pairs, total)
                engine = results.get(name)
                calls_max = engine["emulator"]["mailbox_calls_max"] if engine else 0
                fl = floor(name, mailboxes, per_mailbox, calls_max)
                fl["setup"] = setup
                emit(**fl)
                if engine and engine["seconds"]:
                    emit(
                        bench="speedup",
                        setup=setup,
                        campaign=name,
                        engine_s=engine["seconds"],
                        naive_s=naive["seconds"],
                        naive_extrapolated=naive["extrapolated"],
                        speedup=round(naive["seconds"] / engine["seconds"], 1),
                        target_speedup=50,
                        floor_s=fl["seconds"],
                        engine_over_floor=round(engine["seconds"] / fl["seconds"], 1),
                    )
    finally:
        if cluster is not None:
            cluster.stop()
            if args.keep_logs:
                shutil.copy(cluster.log_path, Path(args.keep_logs) / f"qcluster-{setup}.log")
        if emu is not None:
            emu.stop()
        env.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--setup", choices=["sqlite-orm", "postgres-redis", "both"], default="sqlite-orm"
    )
    parser.add_argument("--quick", action="store_true", help="Smaller numbers, to iterate.")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of the qcluster.")
    parser.add_argument("--naive-sample", type=int, default=300, help="Copies done the naive way.")
    parser.add_argument("--naive-full", action="store_true", help="All copies the naive way.")
    parser.add_argument("--only", default="", help="Comma list of latency,campaigns,naive.")
    parser.add_argument("--keep-logs", default="", help="Copy the qcluster log to this folder.")
    parser.add_argument("--posters", type=int, default=4, help="Threads posting verdicts.")
    parser.add_argument("--profile", default="", help="py-spy raw stacks of campaigns here.")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_setup(args)
        return
    setups = ["sqlite-orm", "postgres-redis"] if args.setup == "both" else [args.setup]
    passthrough = [a for a in sys.argv[1:] if not a.startswith("--setup")]
    if "--setup" in sys.argv:
        i = sys.argv.index("--setup")
        passthrough = sys.argv[1:i] + sys.argv[i + 2 :]
    status = 0
    for setup in setups:
        rc = subprocess.call([sys.executable, __file__, "--child", setup, *passthrough])
        if rc:
            emit(bench="error", setup=setup, exit_code=rc)
            status = rc
    sys.exit(status)


if __name__ == "__main__":
    main()
