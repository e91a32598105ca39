"""Run the SMTP journal/BCC receiver in the foreground."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailboxes.ingest.smtpd import JournalServer
from mailboxes.models import Tenant


class Command(BaseCommand):
    help = (
        "Receive Exchange journal reports and BCC copies by SMTP for the tenants' journal "
        "addresses, and record them. Runs until Ctrl-C (or SIGTERM)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=2525, help="Port (0: any free port).")
        parser.add_argument(
            "--workers",
            type=int,
            default=0,
            help="Threads writing to the database (default JOURNAL_SMTPD_WORKERS).",
        )

    def handle(self, *args: Any, host: str, port: int, workers: int, **options: Any) -> None:
        if not 0 <= port <= 65535:
            raise CommandError("--port must be between 0 and 65535.")
        if options["verbosity"] < 2:
            # aiosmtpd logs every connection at INFO; our own log lines say what matters.
            logging.getLogger("mail.log").setLevel(logging.WARNING)
        addresses = (
            Tenant.objects.all_tenants()
            .exclude(journal_address__isnull=True)
            .exclude(journal_address="")
        ).count()
        server = JournalServer(host, port, workers=workers)

        def ready(address: tuple[str, int]) -> None:
            self.stdout.write(
                f"Journal receiver listening on {address[0]}:{address[1]} "
                f"({addresses} journal address(es) configured). Ctrl-C stops it."
            )
            self.stdout.flush()

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await server.serve(stop, ready)

        try:
            asyncio.run(main())
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write("Journal receiver stopped.")
