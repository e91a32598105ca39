"""Ingest throughput: verdicts through the service, and the SMTP journal receiver.

    DEBUG=1 .venv/bin/python bench/ingest_bench.py [--messages N] [--smtp-messages N]

Uses a throwaway SQLite file in a temporary directory, or the database named by
DATABASE_URL (migrated here; each run works in a tenant of its own). Prints one
JSON line per measurement:

- verdicts_new: lists of 1,000 new verdicts, 3 recipients each, no verdict (NONE);
- verdicts_repeat: the same lists again (idempotent: nothing changes);
- verdicts_malicious: new verdicts marked MALICIOUS, so the default policy queues
  one auto retraction per copy and hands it to django-q2 on commit;
- smtp: BCC copies sent by concurrent smtplib clients (one process each, like
  separate MTA connections) to the real receiver (`journal_smtpd`'s server), each
  stored before its 250; server_cpu_seconds is this process's CPU time.

Targets: >= 1,000 messages/s for verdicts, >= 100 messages/s over SMTP.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import smtplib
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


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
    # query log (every statement formatted and kept) would dominate the measurement.
    settings.DEBUG = False


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def make_tenant(run: str) -> Any:
    from mailboxes.models import Provider
    from mailboxes.services import tenant_create

    return tenant_create(
        actor=None,
        name=f"Bench {run}",
        slug=f"bench-{run}",
        provider=Provider.MICROSOFT,
        domains=[f"{run}.example"],
        journal_address=f"journal-{run}@clawback.example",
    )


def make_owner(run: str) -> Any:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username=f"bench-{run}", password=None)
    user.is_superuser = user.is_staff = True
    user.save(update_fields=["is_superuser", "is_staff"])
    return user


def verdict_lists(
    tenant: Any, run: str, count: int, prefix: str, disposition: str | None
) -> list[list[dict[str, Any]]]:
    domain = f"{run}.example"
    lists: list[list[dict[str, Any]]] = []
    for start in range(0, count, 1000):
        batch = []
        for n in range(start, min(start + 1000, count)):
            item: dict[str, Any] = {
                "tenant": tenant.pk,
                "internet_message_id": f"<{prefix}-{n}@sender.example>",
                "sender": f"sender{n % 97}@sender.example",
                "subject": f"Message {n}",
                "received_at": "2025-01-14T09:30:00Z",
                # 3 recipients from a pool of 2,000 users: mailboxes are mostly known.
                "recipients": [f"user{(n * 3 + k) % 2000}@{domain}" for k in range(3)],
            }
            if disposition:
                item["disposition"] = disposition
            batch.append(item)
        lists.append(batch)
    return lists


def bench_verdicts(name: str, owner: Any, lists: list[list[dict[str, Any]]]) -> None:
    from mailboxes.ingest.service import ingest_verdicts

    count = sum(len(batch) for batch in lists)
    statuses: dict[str, int] = {}
    cpu = time.process_time()
    started = time.perf_counter()
    for batch in lists:
        report = ingest_verdicts(actor=owner, payload=batch)
        for status, n in report.counts.items():
            statuses[status] = statuses.get(status, 0) + n
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    emit(
        bench=name,
        messages=count,
        recipients_each=3,
        seconds=round(elapsed, 3),
        messages_per_s=round(count / elapsed, 1),
        cpu_seconds=round(cpu, 3),
        statuses={k: v for k, v in statuses.items() if v},
    )


def bcc_copy(run: str, n: int) -> bytes:
    domain = f"{run}.example"
    to = ", ".join(f"user{(n * 3 + k) % 2000}@{domain}" for k in range(3))
    return (
        f"Received: by mx.{domain}; Tue, 14 Jan 2025 09:30:00 +0000\r\n"
        f"From: Sender <sender{n % 97}@sender.example>\r\n"
        f"To: {to}\r\n"
        f"Subject: =?utf-8?q?Rechnung_{n}_f=C3=A4llig?=\r\n"
        f"Date: Tue, 14 Jan 2025 09:29:58 +0000\r\n"
        f"Message-ID: <smtp-{run}-{n}@sender.example>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "Please find the invoice attached.\r\n"
        * 40
    ).encode()


def smtp_client(
    host: str, port: int, rcpt: str, run: str, numbers: list[int], start: Any
) -> list[str]:
    """One MTA connection in a process of its own (so it does not share our GIL)."""
    errors: list[str] = []
    try:
        with smtplib.SMTP(host, port, timeout=120) as smtp:
            start.wait()
            for n in numbers:
                smtp.sendmail("exchange@tenant.example", [rcpt], bcc_copy(run, n))
    except Exception as exc:  # reported, not raised: the measurement says what failed
        errors.append(repr(exc))
    return errors


def bench_smtp(run: str, tenant: Any, count: int, clients: int, workers: int) -> None:
    from mailboxes.ingest.smtpd import JournalServer
    from mailboxes.models import Message

    server = JournalServer("127.0.0.1", 0, workers=workers)
    host, port = server.start_in_thread()
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    start = manager.Event()
    errors: list[str] = []
    with ProcessPoolExecutor(clients, mp_context=context) as pool:
        futures = [
            pool.submit(
                smtp_client,
                host,
                port,
                tenant.journal_address,
                run,
                list(range(c, count, clients)),
                start,
            )
            for c in range(clients)
        ]
        time.sleep(3)  # let every client connect (spawning imports this module)
        cpu = time.process_time()
        started = time.perf_counter()
        start.set()
        for future in futures:
            errors.extend(future.result())
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    manager.shutdown()
    batcher = server._batcher
    average_batch = batcher.messages / batcher.batches if batcher and batcher.batches else 0
    server.stop_thread()
    stored = Message.objects.for_tenant(tenant).filter(source="smtp").count()
    emit(
        bench="smtp",
        messages=count,
        clients=clients,
        workers=server.workers,
        seconds=round(elapsed, 3),
        messages_per_s=round(count / elapsed, 1),
        server_cpu_seconds=round(cpu, 3),
        average_batch=round(average_batch, 1),
        stored=stored,
        errors=errors[:3],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="Verdicts per run.")
    parser.add_argument(
        "--malicious-messages",
        type=int,
        default=2_000,
        help="Verdicts marked MALICIOUS (each queues retractions; slower).",
    )
    parser.add_argument("--smtp-messages", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=4, help="Concurrent SMTP clients.")
    parser.add_argument(
        "--workers", type=int, default=0, help="Receiver database threads (default: setting)."
    )
    parser.add_argument("--skip-smtp", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clawback-bench-") as tmp:
        setup_django(tmp)
        from django.db import connection

        run = f"r{int(time.time() * 1000) % 10**10}"
        tenant = make_tenant(run)
        owner = make_owner(run)
        emit(
            bench="setup",
            database=connection.vendor,
            python=sys.version.split()[0],
            tenant=tenant.slug,
        )
        new = verdict_lists(tenant, run, args.messages, "new", None)
        bench_verdicts("verdicts_new", owner, new)
        bench_verdicts("verdicts_repeat", owner, new)
        bad = verdict_lists(tenant, run, args.malicious_messages, "bad", "MALICIOUS")
        bench_verdicts("verdicts_malicious", owner, bad)
        if not args.skip_smtp:
            bench_smtp(run, tenant, args.smtp_messages, args.clients, args.workers)


if __name__ == "__main__":
    main()
