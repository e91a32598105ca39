"""Ingest .eml files (plain messages or journal reports) into a tenant from a shell."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailboxes.access import ShellOperator
from mailboxes.ingest.service import ingest_raw
from mailboxes.models import MessageSource


class Command(BaseCommand):
    help = (
        "Record raw RFC 822 messages (.eml, or '-' for standard input) for a tenant, as an "
        "upload would; prints one JSON result per file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help=".eml files, or - for standard input.")
        parser.add_argument("--tenant", required=True, help="Tenant id or slug.")
        parser.add_argument(
            "--recipient",
            action="append",
            dest="recipients",
            default=None,
            help="Envelope recipient (repeat); default: from the headers.",
        )

    def handle(self, *args: Any, files: list[str], tenant: str, **options: Any) -> None:
        actor = ShellOperator(f"shell:{getpass.getuser()}")
        failed = 0
        for name in files:
            try:
                raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
            except OSError as exc:
                raise CommandError(f"Cannot read {name}: {exc}") from exc
            result = ingest_raw(
                tenant=tenant,
                raw=raw,
                envelope_recipients=options["recipients"],
                actor=actor,
                source=MessageSource.UPLOAD,
                via="command",
            )
            failed += not result.ok
            self.stdout.write(json.dumps({"file": name, **result.as_dict()}, ensure_ascii=False))
        if failed:
            raise CommandError(f"{failed} of {len(files)} file(s) could not be recorded.")
