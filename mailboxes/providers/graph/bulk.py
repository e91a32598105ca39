"""Locating and acting on many copies: batched per mailbox, mailboxes concurrently.

Per mailbox one worker runs: one round of look-ups (two filtered GETs per
Message-ID, plus the junk and deleted-items folder ids the first time the process
sees the mailbox: 4 items, one parallel round at Outlook), then one round of moves
or deletes (with the inbox id riding along when a report needs it). Each round is cut into
`$batch` calls of at most 20 items, sent one after the other: a batch of 4 or
more items already fills the mailbox's 4 concurrent requests, so two in flight
would only earn 429s. A mailbox with one copy costs two round trips; 100 copies
in one mailbox cost ceil(200/20) + ceil(100/20) batches. Mailboxes run in a
thread pool of `concurrency` workers, one HTTP request in flight each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

from mailboxes.providers.base import Folder, LocatedCopy, Outcome, ProviderError, WorkItem
from mailboxes.providers.graph import ops
from mailboxes.providers.graph.transport import Reply, RunControl, Sub, Transport
from mailboxes.vocabulary import Action, FailureReason

log = logging.getLogger(__name__)


@dataclass
class Located:
    copies: list[LocatedCopy] = field(default_factory=list)
    error: ProviderError | None = None
    requests: int = 0
    parents: dict[str, str] = field(default_factory=dict)  # copy id -> parentFolderId


def locate_many(
    transport: Transport,
    mailbox: str,
    message_ids: Sequence[str],
    run: RunControl | None = None,
    *,
    defer_inbox: bool = False,
) -> list[Located]:
    """Every copy of each Message-ID in one mailbox, with the folder each sits in.

    The first time the process meets a mailbox, the well-known folder ids ride in
    the same batch. With `defer_inbox` only junk and deleted items are asked for
    (the decisions need no more: 2 look-ups + 2 ids = 4 items, one parallel round
    at Outlook); a copy elsewhere is OTHER until resolve_inbox() tells the inbox apart.
    """
    slots = transport.slots(mailbox)
    names = ops.DECISION_FOLDERS + (() if defer_inbox else ops.REPORT_FOLDERS)
    wanted = ops.missing_folders(slots.folders, names)
    subs = ops.folder_subs(mailbox, wanted)
    first = len(subs)
    for message_id in message_ids:
        subs.extend(ops.locate_subs(mailbox, message_id))
    replies = transport.execute(subs, mailbox=mailbox, run=run)
    known = dict(slots.folders or {})
    folder_error = None
    if wanted:
        found, folder_error = ops.folder_map(wanted, replies[:first])
        known.update(found)
        if found:
            slots.folders = {**(slots.folders or {}), **found}
    out = []
    for n, message_id in enumerate(message_ids):
        main, recoverable = replies[first + 2 * n], replies[first + 2 * n + 1]
        located = Located(requests=main.tries + recoverable.tries)
        try:
            located.copies = ops.copies_from(
                message_id, main, recoverable, known, folder_error, located.parents
            )
        except ProviderError as exc:
            located.error = exc
        out.append(located)
    if out and first:  # the folder look-ups are charged to the first item
        out[0].requests += sum(r.tries for r in replies[:first])
    return out


@dataclass(eq=False)
class _Job:
    item: WorkItem
    copies: list[LocatedCopy] = field(default_factory=list)  # as first located
    todo: list[LocatedCopy] = field(default_factory=list)  # copies still to act on
    parents: dict[str, str] = field(default_factory=dict)  # copy id -> parentFolderId
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
        found = locate_many(self.transport, mailbox, ids, self.control, defer_inbox=True)
        for job, located in zip(jobs, found, strict=True):
            job.requests += located.requests
            if located.error is not None:
                job.error = located.error
                continue
            job.copies = located.copies
            job.parents = located.parents
            if not job.copies:
                job.error = ProviderError(
                    FailureReason.NOT_FOUND, "no copy with this Message-ID in the mailbox"
                )
                continue
            job.todo = [c for c in job.copies if ops.needs_action(c.folder, job.action)]
            if job.todo:
                acting.append(job)
        # Inbox or another folder? Only the report needs to know: ask in the action round.
        slots = self.transport.slots(mailbox)
        unsure = [j for j in jobs if any(c.folder == Folder.OTHER for c in j.copies)]
        ask = ops.missing_folders(slots.folders, ops.REPORT_FOLDERS) if unsure else []
        extra = self._act(mailbox, acting, final=False, extra=ops.folder_subs(mailbox, ask))
        if ask:
            unsure[0].requests += sum(r.tries for r in extra)
            found, _ = ops.folder_map(ask, extra)
            if found:
                slots.folders = {**(slots.folders or {}), **found}
        inbox = {i for i, f in (slots.folders or {}).items() if f == Folder.INBOX}
        for job in unsure:
            job.copies = [
                replace(c, folder=Folder.INBOX)
                if c.folder == Folder.OTHER and job.parents.get(c.provider_id) in inbox
                else c
                for c in job.copies
            ]

    def _act(
        self, mailbox: str, jobs: list[_Job], *, final: bool, extra: Sequence[Sub] = ()
    ) -> list[Reply]:
        """Move or delete every copy in the jobs' todo; `extra` requests ride along."""
        tasks = [(job, copy) for job in jobs for copy in job.todo]
        if not tasks and not extra:
            return []
        subs = [ops.action_sub(mailbox, copy.provider_id, job.action) for job, copy in tasks]
        replies = self.transport.execute([*subs, *extra], mailbox=mailbox, run=self.control)
        extra_replies, replies = replies[len(subs) :], replies[: len(subs)]
        recheck: dict[int, _Job] = {}
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
            if job.error is None:
                job.error = reply.error
        self._recheck(mailbox, [j for j in recheck.values() if j.error is None])
        return extra_replies

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
