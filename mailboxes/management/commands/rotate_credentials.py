"""Re-encrypt stored tenant credentials with the newest key of CLAWBACK_CREDENTIALS_KEYS."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from mailboxes.access import ShellOperator
from mailboxes.credentials_rotation import credentials_rotate, credentials_to_check


class Command(BaseCommand):
    help = (
        "Re-encrypt every tenant's stored credentials with the newest (first) key of "
        "CLAWBACK_CREDENTIALS_KEYS, so older keys can be removed afterwards. Safe to run "
        "while Clawback runs, and again. --dry-run only counts the rows on an older key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count rows on an older key; change nothing."
        )
        parser.add_argument(
            "--batch-size", type=int, default=100, help="Rows read per query (default: 100)."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        dry_run = options["dry_run"]
        try:
            operator = getpass.getuser()
        except (KeyError, OSError):  # no login name in some containers
            operator = "unknown"
        try:
            total = credentials_to_check()
            with tqdm(
                total=total, unit="row", disable=options["no_progress"], file=self.stderr._out
            ) as bar:
                report = credentials_rotate(
                    actor=ShellOperator(f"{operator} (manage.py)"),
                    dry_run=dry_run,
                    batch_size=options["batch_size"],
                    progress=lambda row: bar.update(1),
                    via="command",
                )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc

        for row in report.unreadable:
            self.stderr.write(
                f"Tenant {row}: its credentials cannot be decrypted with any key in "
                "CLAWBACK_CREDENTIALS_KEYS; left as they are."
            )
        if dry_run:
            self.stdout.write(
                f"Dry run: {report.older} of {report.checked} stored credentials are on an "
                f"older key, {report.current} on the newest. Nothing was changed."
            )
        else:
            self.stdout.write(
                f"Rotated {report.rotated} of {report.checked} stored credentials to the newest "
                f"key; {report.current} already used it."
            )
            if report.older > report.rotated:
                self.stdout.write(
                    f"{report.older - report.rotated} changed while this ran and already use "
                    "the newest key."
                )
        if report.unreadable:
            raise CommandError(
                f"{len(report.unreadable)} tenant(s) could not be decrypted: "
                + ", ".join(row.slug for row in report.unreadable)
                + ". Add the key they were encrypted with to CLAWBACK_CREDENTIALS_KEYS (after "
                "the newest) and run again, or enter new credentials for them in the admin."
            )
        if not dry_run:
            self.stdout.write(
                "Every stored credential now uses the newest key: the older keys can be removed."
            )
