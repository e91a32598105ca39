"""python manage.py retract --tenant T --message-id '<id>' --action junk"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mailboxes.vocabulary import Action
from retraction.services.manual import retraction_request

from ._common import add_target_arguments, resolve_target, run_and_report


class Command(BaseCommand):
    help = "Retract every delivered copy of the given message(s)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_target_arguments(parser)
        parser.add_argument(
            "--action",
            required=True,
            choices=[a for a in Action.values if a != Action.INBOX],
        )
        parser.add_argument(
            "--confirm-hard-delete",
            action="store_true",
            help="Needed with --action hard_delete (irreversible on Gmail).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor, tenant, messages = resolve_target(options)
        run_and_report(
            self,
            lambda: retraction_request(
                actor=actor,
                tenant=tenant,
                action=options["action"],
                messages=messages,
                confirm_hard_delete=options["confirm_hard_delete"],
                via="command",
            ),
            options,
        )
