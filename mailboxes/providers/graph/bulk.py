"""Locating and acting on many copies: batched per mailbox, mailboxes concurrently.

Per mailbox one worker runs: one round of look-ups (a filtered GET per Message-ID,
plus the inbox id the first time the process meets the mailbox), a second look-up
round only for what the first did not settle (Recoverable Items for a Message-ID
not found; the junk and deleted-items ids for a copy outside the inbox), then one
round of moves or deletes. Each round is cut into `$batch` calls of at most 20
items, sent one after the other: a batch of 4 or more items already fills the
mailbox's 4 concurrent requests, so two in flight would only earn 429s. A mailbox
with one copy in its inbox costs 3 requests in two rounds; the transport packs
the rounds of many mailboxes into shared batches. Mailboxes run in a thread pool
of `concurrency` workers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from mailboxes.providers.base import (
    ACTION_TARGET_FOLDER,
    LocatedCopy,
    Outcome,
    ProviderError,
    WorkItem,
)
from mailboxes.providers.graph import ops
from mailboxes.providers.graph.transport import Reply, RunControl, Transport
from mailboxes.vocabulary import Action, FailureReason

log = logging.getLogger(__name__)


@dataclass
class Located:
    copies: list[LocatedCopy] = field(default_factory=list)
    error: ProviderError | None = None
    requests: int = 0


def locate_many(
    transport: Transport,
    mailbox: str,
    message_ids: Sequence[str],
    run: RunControl | None = None,
    *,
    thorough: bool = False,
) -> list[Located]:
    """Every copy of each Message-ID in one mailbox, with the folder each sits in.

    First round: one filtered GET over the mailbox per Message-ID, and the inbox id
    the first time the process meets the mailbox. That settles the usual case, a
    copy in the inbox. A second round only when needed: Recoverable Items for the
    Message-IDs the first did not find, and the junk and deleted-items ids when a
    copy sits outside the inbox. `thorough` asks Recoverable Items for every
    Message-ID (a report of every copy; an undo brings back every hidden copy).
    """
    slots = transport.slots(mailbox)
    known = dict(slots.folders or {})
    out = [Located() for _ in message_ids]
    mains: list[list[Mapping[str, Any]]] = [[] for _ in message_ids]

    def learn(names: list[str], replies: Sequence[Reply]) -> ProviderError | None:
        found, error = ops.folder_map(names, replies)
        if found:
            known.update(found)
            slots.folders = {**(slots.folders or {}), **found}
        return error

    wanted = ops.missing_folders(known, ops.FIRST_FOLDERS)
    subs = ops.folder_subs(mailbox, wanted)
    subs += [ops.locate_sub(mailbox, message_id) for message_id in message_ids]
    replies = transport.execute(subs, mailbox=mailbox, run=run)
    folder_error = learn(wanted, replies[: len(wanted)]) if wanted else None
    if out and wanted:  # the folder look-ups are charged to the first item
        out[0].requests += sum(r.tries for r in replies[: len(wanted)])
    for n, (message_id, reply) in enumerate(zip(message_ids, replies[len(wanted) :], strict=True)):
        out[n].requests += reply.tries
        try:
            mains[n] = ops.messages_found(reply, message_id)
        except ProviderError as exc:
            out[n].error = exc

    live = [n for n in range(len(message_ids)) if out[n].error is None]
    missed = [n for n in live if thorough or not mains[n]]
    elsewhere = any(ops.parent_ids(mains[n]) - set(known) for n in live)
    wanted = ops.missing_folders(known, ops.DECISION_FOLDERS) if elsewhere else []
    recoverable: dict[int, list[Mapping[str, Any]]] = {}
    if missed or wanted:
        subs = ops.folder_subs(mailbox, wanted)
        subs += [ops.recoverable_sub(mailbox, message_ids[n]) for n in missed]
        replies = transport.execute(subs, mailbox=mailbox, run=run)
        if wanted:
            folder_error = learn(wanted, replies[: len(wanted)]) or folder_error
            owner = next((n for n in live if ops.parent_ids(mains[n]) - set(known)), live[0])
            out[owner].requests += sum(r.tries for r in replies[: len(wanted)])
        for n, reply in zip(missed, replies[len(wanted) :], strict=True):
            out[n].requests += reply.tries
            try:
                recoverable[n] = ops.messages_found(reply, message_ids[n])
            except ProviderError as exc:
                out[n].error = exc
    for n in live:
        if out[n].error is not None:
            continue
        try:
            out[n].copies = ops.copies_from(
                message_ids[n], mains[n], recoverable.get(n, []), known, folder_error
            )
        except ProviderError as exc:
            out[n].error = exc
    return out


@dataclass(eq=False)
class _Job:
    item: WorkItem
    copies: list[LocatedCopy] = field(default_factory=list)  # as first located
    todo: list[LocatedCopy] = field(default_factory=list)  # copies still to act on
    new_ids: dict[str, str] = field(default_factory=dict)  # copy id -> id after the action
    first_new_id: str | None = None
    error: ProviderError | None = None
    detail: str = ""
    requests: int = 0

    @property
    def action(self) -> Action:
        return Action(self.item.action)


class BulkRun:
    def __init__(self, transport: Transport, concurrency: int) -> None:
        self.transport = transport
        self.concurrency = max(1, concurrency)
        self.control = RunControl()

    def run(self, items: Sequence[WorkItem]) -> list[Outcome]:
        jobs = [_Job(item) for item in items]
        if not jobs:
            return []
        try:
            self.transport.token()  # one token request, not one per worker; fail fast
        except ProviderError as exc:
            for job in jobs:
                job.error = exc
            return [self._outcome(job) for job in jobs]
        by_mailbox: dict[str, list[_Job]] = {}
        for job in jobs:
            by_mailbox.setdefault(job.item.mailbox.strip().lower(), []).append(job)
        workers = min(self.concurrency, len(by_mailbox))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="graph") as pool:
            futures = {
                pool.submit(self._mailbox, group[0].item.mailbox.strip(), group): group
                for group in by_mailbox.values()
            }
            for future in as_completed(futures):
                try:
                    future.result()
                except Exception as exc:  # a bug: record it on the items, don't lose them
                    log.exception("graph bulk work failed for a mailbox")
                    for job in futures[future]:
                        if job.error is None and not job.new_ids:
                            job.error = ProviderError(
                                FailureReason.PROVIDER_ERROR, f"{type(exc).__name__}: {exc}"
                            )
        return [self._outcome(job) for job in jobs]

    def _mailbox(self, mailbox: str, jobs: list[_Job]) -> None:
        # The same Message-ID twice in a mailbox (two actions): one after the other.
        by_message: dict[str, list[_Job]] = {}
        for job in jobs:
            by_message.setdefault(job.item.internet_message_id.strip(), []).append(job)
        depth = max(len(group) for group in by_message.values())
        for wave in range(depth):
            self._wave(mailbox, [group[wave] for group in by_message.values() if len(group) > wave])

    def _wave(self, mailbox: str, jobs: list[_Job]) -> None:
        ids = [job.item.internet_message_id.strip() for job in jobs]
        acting = []
        undo = any(job.action == Action.INBOX for job in jobs)
        found = locate_many(self.transport, mailbox, ids, self.control, thorough=undo)
        for job, located in zip(jobs, found, strict=True):
            job.requests += located.requests
            if located.error is not None:
                job.error = located.error
                continue
            job.copies = located.copies
            if not job.copies:
                job.error = ProviderError(
                    FailureReason.NOT_FOUND, "no copy with this Message-ID in the mailbox"
                )
                continue
            job.todo = [c for c in job.copies if ops.needs_action(c.folder, job.action)]
            if job.todo:
                acting.append(job)
        self._act(mailbox, acting, final=False)

    def _act(self, mailbox: str, jobs: list[_Job], *, final: bool) -> None:
        """Move or delete every copy in the jobs' todo."""
        tasks = [(job, copy) for job in jobs for copy in job.todo]
        if not tasks:
            return
        subs = [ops.action_sub(mailbox, copy.provider_id, job.action) for job, copy in tasks]
        replies = self.transport.execute(subs, mailbox=mailbox, run=self.control)
        recheck: dict[int, _Job] = {}
        unsure: list[tuple[_Job, LocatedCopy, ProviderError]] = []
        for (job, copy), reply in zip(tasks, replies, strict=True):
            job.requests += reply.tries
            hard = job.action == Action.HARD_DELETE
            if reply.ok:
                new_id = "" if hard else ops.moved_id(reply, copy.provider_id)
                job.new_ids[copy.provider_id] = new_id
                if job.first_new_id is None:
                    job.first_new_id = new_id
                continue
            assert reply.error is not None
            if reply.error.reason == FailureReason.NOT_FOUND:
                if hard and reply.tries > 1:
                    # An earlier try timed out or failed after the delete went through.
                    job.new_ids[copy.provider_id] = ""
                    job.first_new_id = job.first_new_id if job.first_new_id is not None else ""
                    continue
                if not final:
                    recheck[id(job)] = job
                    continue
                if not job.new_ids and job.error is None:
                    job.error = ProviderError(
                        FailureReason.NOT_FOUND,
                        "the copy went away before it could be acted on (moved or deleted)",
                        status=reply.status,
                    )
                continue
            if reply.unsure:
                unsure.append((job, copy, reply.error))
                continue
            if job.error is None:
                job.error = reply.error
        self._settle(mailbox, unsure)
        self._recheck(mailbox, [j for j in recheck.values() if j.error is None])

    def _settle(self, mailbox: str, unsure: list[tuple[_Job, LocatedCopy, ProviderError]]) -> None:
        """Writes whose retries ran out: done if a fresh look-up finds the copy moved.

        A try that timed out (or got a 5xx) may have been applied all the same: only
        the copy's folder tells, and an attempt must not say "failed" of a moved copy.
        """
        if not unsure:
            return
        jobs = list({id(job): job for job, _, _ in unsure}.values())
        ids = [job.item.internet_message_id.strip() for job in jobs]
        found: dict[int, Located] = {}
        again = locate_many(self.transport, mailbox, ids, self.control)
        for job, located in zip(jobs, again, strict=True):
            job.requests += located.requests
            found[id(job)] = located
        for job, copy, error in unsure:
            located = found[id(job)]
            fresh = next((c for c in located.copies if c.provider_id == copy.provider_id), None)
            if located.error is not None:
                moved = False
            elif fresh is None:
                moved = job.action == Action.HARD_DELETE  # gone for good
            else:
                moved = fresh.folder == ACTION_TARGET_FOLDER.get(job.action)
            if moved:
                job.new_ids[copy.provider_id] = fresh.provider_id if fresh is not None else ""
                if job.first_new_id is None:
                    job.first_new_id = job.new_ids[copy.provider_id]
            elif job.error is None:
                job.error = error

    def _recheck(self, mailbox: str, jobs: list[_Job]) -> None:
        """After a 404 on the action: look the Message-ID up afresh, act once more."""
        if not jobs:
            return
        ids = [job.item.internet_message_id.strip() for job in jobs]
        again = []
        found = locate_many(self.transport, mailbox, ids, self.control)
        for job, located in zip(jobs, found, strict=True):
            job.requests += located.requests
            if located.error is not None:
                job.error = located.error
                continue
            job.todo = [
                c
                for c in located.copies
                if c.provider_id not in job.new_ids and ops.needs_action(c.folder, job.action)
            ]
            if job.todo:
                job.detail = "the copy had moved; acted on it where a fresh look-up found it"
                again.append(job)
            elif not located.copies and not job.new_ids:
                job.error = ProviderError(
                    FailureReason.NOT_FOUND,
                    "the copy went away before it could be acted on (deleted by the user?)",
                )
            elif not job.new_ids:
                job.detail = "the copy had been moved there meanwhile"
        self._act(mailbox, again, final=True)

    def _outcome(self, job: _Job) -> Outcome:
        action = job.action
        needing = [c for c in job.copies if ops.needs_action(c.folder, action)]
        primary = (needing or job.copies or [None])[0]
        common = {
            "key": job.item.key,
            "read_state": ops.read_state(job.copies),
            "folder_before": primary.folder if primary is not None else "",
            "requests": job.requests,
        }
        if job.error is not None:
            return Outcome(
                ok=False, reason=job.error.reason, detail=job.error.detail[:2000], **common
            )
        if action == Action.HARD_DELETE:
            provider_id = ""
        elif job.first_new_id is not None:
            provider_id = job.new_ids.get(primary.provider_id, job.first_new_id)
        else:
            provider_id = primary.provider_id if primary is not None else ""
        return Outcome(
            ok=True,
            provider_message_id=provider_id,
            already_there=not job.new_ids,
            detail=job.detail,
            **common,
        )
