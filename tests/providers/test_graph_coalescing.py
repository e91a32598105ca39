"""Mailboxes share $batch calls: the coalescer alone, then the client against the emulator."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from mailboxes.providers.base import ProviderError, WorkItem
from mailboxes.providers.graph.transport import Coalescer, RawReply, Sub
from mailboxes.vocabulary import Action
from tests.providers.test_graph_emulator import make_graph
from tests.retraction.helpers import folder_of


class Recorder:
    """A fake `send`: answers each sub with its own path, records the batches."""

    def __init__(self, fail_on: str = "") -> None:
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()
        self.fail_on = fail_on

    def __call__(self, subs: Sequence[Sub]) -> list[RawReply]:
        paths = [s.path for s in subs]
        with self.lock:
            self.batches.append(paths)
        if self.fail_on and self.fail_on in paths:
            raise RuntimeError("the wire broke")
        return [RawReply(200, {"path": p}) for p in paths]


def submit_from_threads(coalescer: Coalescer, chunks: list[list[str]]) -> list[list[RawReply]]:
    answers: list[list[RawReply]] = [[] for _ in chunks]
    start = threading.Barrier(len(chunks))

    def caller(n: int) -> None:
        start.wait()
        answers[n] = coalescer.submit([Sub("GET", path) for path in chunks[n]])

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(len(chunks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a caller never got its answers"
    return answers


def test_each_caller_gets_its_own_answers_in_order():
    send = Recorder()
    coalescer = Coalescer(send, size=20, linger=0.05)
    chunks = [[f"/users/u{n}/{i}" for i in range(1 + n % 5)] for n in range(40)]

    answers = submit_from_threads(coalescer, chunks)

    for chunk, got in zip(chunks, answers, strict=True):
        assert [a.body["path"] for a in got] == chunk
    sent = [path for batch in send.batches for path in batch]
    assert sorted(sent) == sorted(p for chunk in chunks for p in chunk)  # each sent once
    assert all(len(batch) <= 20 for batch in send.batches)
    # Chunks are never split between batches, and mailboxes share them.
    for batch in send.batches:
        for chunk in chunks:
            inside = [p for p in chunk if p in batch]
            assert inside in ([], chunk)
    assert len(send.batches) < len(chunks)


def test_a_lone_caller_is_sent_after_the_linger():
    send = Recorder()
    coalescer = Coalescer(send, size=20, linger=0.001)

    [answer] = coalescer.submit([Sub("GET", "/users/solo/messages")])

    assert answer.body == {"path": "/users/solo/messages"}
    assert send.batches == [["/users/solo/messages"]]


def test_a_failing_send_answers_every_waiting_caller_with_an_error():
    send = Recorder(fail_on="/users/u3/0")
    coalescer = Coalescer(send, size=20, linger=0.05)
    chunks = [[f"/users/u{n}/0"] for n in range(6)]

    answers = submit_from_threads(coalescer, chunks)

    failed = [got[0] for got in answers if got[0].error is not None]
    assert failed, "the broken batch's callers must hear about it"
    assert all(isinstance(a.error, ProviderError) and not a.sent for a in failed)
    assert all(got[0].body for got in answers if got[0].error is None)


def test_one_copy_in_each_of_many_mailboxes_shares_batches(shared_emulator):
    """30 mailboxes, one copy each: 90 requests (inbox id, look-up, move) in few batches."""
    emu = shared_emulator
    mailboxes = emu.state.add_mailboxes(
        "alpha", [{"address": f"share{n:02d}@alpha.example", "kind": "user"} for n in range(30)]
    )
    msgid = "<shared-batches@evil.example>"
    emu.state.deliver("alpha", msgid, mailboxes, "Invoice", "attacker@evil.example")
    emu.state.clear_stats()
    graph = make_graph(emu, linger=0.05)

    try:
        outcomes = graph.perform_many(
            [
                WorkItem(mailbox=m, internet_message_id=msgid, action=Action.TRASH, key=n)
                for n, m in enumerate(mailboxes)
            ]
        )
    finally:
        graph.close()

    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    kinds = emu.state.stats()["by_kind"]
    assert kinds["graph.batch"] < len(mailboxes)  # shared: not one or two per mailbox
    for mailbox in mailboxes:
        assert folder_of(emu, mailbox, msgid) == "trash"
