"""python manage.py undo --tenant T --message-id '<id>'"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from retraction.services.manual import retraction_undo

from ._common import add_target_arguments, resolve_target, run_and_report


class Command(BaseCommand):
    help = "Bring retracted copies of the given message(s) back to the inbox."

    def add_arguments(self, parser: CommandParser) -> None:
        add_target_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        actor, tenant, messages = resolve_target(options)
        run_and_report(
            self,
            lambda: retraction_undo(actor=actor, tenant=tenant, messages=messages, via="command"),
            options,
        )
