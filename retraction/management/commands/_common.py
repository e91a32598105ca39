"""What the retract and undo commands share: finding the target, running it, reporting."""

from __future__ import annotations

import getpass
import time
from collections import Counter
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.db.models import Q
from tqdm import tqdm

from mailboxes.access import AccessDenied, ShellOperator
from mailboxes.models import Message, Tenant
from retraction.models import FINISHED_STATUSES, RetractionAttempt
from retraction.services.perform import attempts_perform
from retraction.tasks import CHUNK


def add_target_arguments(parser: CommandParser) -> None:
    parser.add_argument("--tenant", required=True, help="Tenant slug or id.")
    parser.add_argument(
        "--message-id",
        action="append",
        required=True,
        dest="message_ids",
        help="Internet Message-ID with its angle brackets; repeat for several.",
    )
    parser.add_argument("--user", help="Act as this user (their roles apply); default: shell.")
    parser.add_argument(
        "--queue",
        action="store_true",
        help="Leave the work to the qcluster workers and wait, instead of running it here.",
    )
    parser.add_argument("--wait", type=int, default=600, help="Seconds to wait for completion.")


def resolve_target(options: dict[str, Any]) -> tuple[Any, Tenant, list[Message]]:
    key = options["tenant"]
    tenant = (
        Tenant.objects.all_tenants()
        .filter(Q(slug=key) | Q(pk=int(key)) if key.isdigit() else Q(slug=key))
        .first()
    )
    if tenant is None:
        raise CommandError(f"No tenant {key!r}.")
    if options.get("user"):
        actor = get_user_model().objects.filter(username=options["user"], is_active=True).first()
        if actor is None:
            raise CommandError(f"No active user {options['user']!r}.")
    else:
        actor = ShellOperator(f"{getpass.getuser()} (manage.py)")
    ids = [m.strip() for m in options["message_ids"]]
    messages = list(Message.objects.for_tenant(tenant).filter(internet_message_id__in=ids))
    missing = sorted(set(ids) - {m.internet_message_id for m in messages})
    if missing:
        raise CommandError(f"No message in {tenant.slug} with Message-ID {', '.join(missing)}.")
    return actor, tenant, messages


def run_and_report(command: Any, request: Any, options: dict[str, Any]) -> None:
    """Call the service, perform (or wait for) its attempts with a progress bar, summarise."""
    try:
        attempts = request()
    except ValidationError as exc:
        raise CommandError("; ".join(exc.messages)) from exc
    except AccessDenied as exc:
        raise CommandError(str(exc)) from exc
    ids = [a.pk for a in attempts]
    if not ids:
        command.stdout.write("Nothing to do: no copy matches.")
        return
    finished = RetractionAttempt.objects.all_tenants().filter(
        pk__in=ids, status__in=FINISHED_STATUSES
    )
    deadline = time.monotonic() + options["wait"]
    with tqdm(total=len(ids), unit="copy", file=command.stderr, disable=None) as bar:
        if not options["queue"]:
            for start in range(0, len(ids), CHUNK):
                attempts_perform(ids[start : start + CHUNK])
                bar.update(finished.count() - bar.n)
        while (done := finished.count()) < len(ids) and time.monotonic() < deadline:
            bar.update(done - bar.n)
            time.sleep(0.5)
        bar.update(finished.count() - bar.n)
    rows = RetractionAttempt.objects.all_tenants().filter(pk__in=ids)
    statuses = Counter(rows.values_list("status", flat=True))
    reasons = Counter(r for r in rows.values_list("reason", flat=True) if r)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    command.stdout.write(f"{len(ids)} copies: {summary}")
    for reason, n in reasons.most_common():
        command.stdout.write(f"  {n} failed: {reason}")
    if statuses.get("queued") or statuses.get("running"):
        command.stdout.write("Some copies are still in progress (is a qcluster running?).")
