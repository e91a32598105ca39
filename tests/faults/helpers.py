"""A realistic campaign, a spy on the emulator's writes, and the check that outcomes are true."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db.models import QuerySet

from mailboxes.models import Delivery, Mailbox, MailboxKind, Message, Tenant
from mailboxes.providers.emulator import Emulator
from mailboxes.providers.emulator.google import gmail as gmail_emulator
from retraction.models import FINISHED_STATUSES, AttemptStatus, RetractionAttempt

# Where a copy sits once the action succeeded (the emulator's neutral folder names).
TARGET = {"trash": "trash", "junk": "junk", "inbox": "inbox"}


@dataclass
class Campaign:
    """One phish delivered to many mailboxes of one tenant, in the emulator and in Clawback."""

    tenant: Tenant
    messages: list[Message]
    addresses: list[str]

    @property
    def copies(self) -> int:
        return len(self.messages) * len(self.addresses)

    def attempts(self) -> QuerySet[RetractionAttempt]:
        return RetractionAttempt.objects.for_tenant(self.tenant).filter(message__in=self.messages)


def campaign(
    emu: Emulator, tenant: Tenant, *, mailboxes: int, per_mailbox: int, tag: str
) -> Campaign:
    """`per_mailbox` messages delivered to each of `mailboxes` new user mailboxes."""
    domain = f"{tenant.slug}.example"
    addresses = [f"{tag}{i:03d}@{domain}" for i in range(mailboxes)]
    emu.state.add_mailboxes(tenant.slug, [{"address": a, "kind": "user"} for a in addresses])
    Mailbox.objects.bulk_create(
        [Mailbox(tenant=tenant, address=a, kind=MailboxKind.USER) for a in addresses]
    )
    boxes = {m.address: m for m in Mailbox.objects.for_tenant(tenant).filter(address__in=addresses)}
    messages = []
    for n in range(per_mailbox):
        msgid = f"<{tag}-{n}@evil.test>"
        emu.state.deliver(tenant.slug, msgid, addresses, f"Invoice {n}", "x@evil.test")
        message = Message.objects.create(
            tenant=tenant, internet_message_id=msgid, sender="x@evil.test", subject=f"Invoice {n}"
        )
        Delivery.objects.bulk_create(
            [
                Delivery(tenant=tenant, message=message, recipient=a, mailbox=boxes[a])
                for a in addresses
            ]
        )
        messages.append(message)
    return Campaign(tenant=tenant, messages=messages, addresses=addresses)


class WriteSpy:
    """Every write the emulator applied to a copy, and how many of them moved it.

    Wraps the emulator's own state changes (Graph moves and deletes, Gmail trash,
    untrash, delete and label changes), so it sees the writes of batch items, of
    retries and of requests whose answer the client never read.
    """

    def __init__(self, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes: Counter[tuple[str, str]] = Counter()
        self.moves: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        state = emu.state
        for name in ("graph_move", "gmail_trash", "gmail_untrash", "gmail_delete"):
            monkeypatch.setattr(state, name, self._wrap(getattr(state, name), first=0))
        monkeypatch.setattr(
            gmail_emulator, "_apply_labels", self._wrap(gmail_emulator._apply_labels, first=1)
        )

    def _wrap(self, fn: Callable[..., Any], *, first: int) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            copy = args[first]
            before = copy.neutral_folder
            result = fn(*args, **kwargs)
            key = (copy.mailbox.address, copy.internet_message_id)
            with self._lock:
                self.writes[key] += 1
                if copy.neutral_folder != before:
                    self.moves[key] += 1
            return result

        return spy

    def clear(self) -> None:
        with self._lock:
            self.writes.clear()
            self.moves.clear()


def folder(emu: Emulator, address: str, internet_message_id: str) -> str:
    """The emulator's neutral folder of the copy ("purged" once gone)."""
    copies = [
        c
        for c in emu.state.mailbox_dump(address)["copies"]
        if c["internet_message_id"] == internet_message_id
    ]
    assert len(copies) == 1, f"{address} holds {len(copies)} copies of {internet_message_id}"
    return "purged" if copies[0]["gone"] else copies[0]["folder"]


def check_outcomes(
    emu: Emulator,
    spy: WriteSpy,
    attempts: Iterable[RetractionAttempt] | QuerySet[RetractionAttempt],
    *,
    target: str,
    moves_before: int = 0,
    resends: bool = False,
) -> Counter[tuple[str, str]]:
    """Assert each attempt finished with the outcome the emulator shows; count (status, reason).

    Succeeded ⇔ the copy sits in `target` and the emulator moved it exactly once
    (`moves_before` moves of earlier attempts aside); failed ⇔ it is still in the
    inbox and nothing moved it. Unless `resends`, no write reached a copy twice
    (a write re-sent after a timeout moves nothing, but is a write).
    """
    if isinstance(attempts, QuerySet):
        attempts = attempts.select_related("delivery", "message")
    emu_settle(emu)
    problems = []
    summary: Counter[tuple[str, str]] = Counter()
    for attempt in attempts:
        key = (attempt.delivery.recipient, attempt.message.internet_message_id)
        where = folder(emu, *key)
        moved = spy.moves[key] - moves_before
        summary[(attempt.status, attempt.reason)] += 1
        if attempt.status == AttemptStatus.SUCCEEDED:
            true = where == target and moved == 1
        elif attempt.status == AttemptStatus.FAILED:
            true = where == "inbox" and moved == 0
        else:
            true = False  # lost: still queued or running
        if true and not resends and spy.writes[key] > moves_before + 1:
            true = False
        if not true:
            problems.append(
                f"{key[0]} {key[1]}: recorded {attempt.status}/{attempt.reason or '-'} "
                f"after {attempt.tries} tries ({attempt.detail[:120]!r}); emulator: {where}, "
                f"moved {moved}x by {spy.writes[key]} writes"
            )
    assert not problems, f"{len(problems)} untrue outcomes:\n" + "\n".join(problems[:20])
    return summary


def emu_settle(emu: Emulator, timeout: float = 30) -> None:
    """Wait until no call is in flight in the emulator (slow answers still sleeping)."""
    deadline = time.monotonic() + timeout
    while emu.state.stats()["in_flight"]:
        assert time.monotonic() < deadline, f"emulator still busy: {emu.state.stats()['in_flight']}"
        time.sleep(0.05)


def unfinished(attempts: QuerySet[RetractionAttempt]) -> QuerySet[RetractionAttempt]:
    return attempts.exclude(status__in=FINISHED_STATUSES)
