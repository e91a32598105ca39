"""Fill the database with the demo world (two tenants, their mail, an admin and an analyst)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailboxes.demo import demo_seed


class Command(BaseCommand):
    help = (
        "Create the demo tenants Contoso (Microsoft 365) and Fabrikam (Google Workspace) "
        "with mailboxes, lists and mail; set a new password for the users admin and "
        "analyst and issue a new demo API key. Safe to run again. Demo mode (DEBUG=1) only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            help="Password for the demo users (default: $CLAWBACK_DEMO_PASSWORD, else random).",
        )
        parser.add_argument(
            "--base-url",
            default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}",
            help="Where the server answers, for the printed links (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO:
            # The demo users have well-known names; they have no place in production.
            raise CommandError("seed_demo only runs in demo mode (DEBUG=1).")
        result = demo_seed(password=options["password"])
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(result.summary(options["base_url"].rstrip("/")))
