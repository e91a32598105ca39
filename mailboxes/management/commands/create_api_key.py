"""Issue an API key for a user and print it once."""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailboxes.access import ShellOperator
from mailboxes.services import api_key_issue


class Command(BaseCommand):
    help = "Issue an API key acting as USERNAME; the key is printed once and only its hash is kept."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, metavar="USERNAME")
        parser.add_argument("--name", required=True, help="What the key is for (shown in admin).")

    def handle(self, *args: Any, user: str, name: str, **options: Any) -> None:
        user_model = get_user_model()
        try:
            owner = user_model.objects.get(**{user_model.USERNAME_FIELD: user})
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {user!r}.") from None
        if not owner.is_active:
            raise CommandError(f"User {user!r} is inactive; a key for them would be refused.")
        name = name.strip()
        if not name:
            raise CommandError("--name must not be empty.")
        try:
            operator = getpass.getuser()
        except (KeyError, OSError):  # no login name in some containers
            operator = "unknown"
        actor = ShellOperator(f"{operator} (manage.py)")
        key, raw = api_key_issue(user=owner, name=name, actor=actor, via="command")
        self.stderr.write(
            f"API key {key.name!r} ({key.prefix}) for {owner.get_username()}. "
            "Store it now: it is not shown again."
        )
        # The key alone on stdout, so scripts can capture it.
        self.stdout.write(raw)
