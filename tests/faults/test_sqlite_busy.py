"""SQLite busy: another process holds the write lock while the engine records outcomes."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from retraction.models import AttemptStatus
from retraction.services.manual import retraction_request
from retraction.services.sweep import attempts_sweep
from tests.faults.helpers import campaign, check_outcomes

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's single writer lock"),
]


class WriteLock:
    """A write transaction of another process on the database file, held for `seconds`.

    Taken from inside the emulator at the first write it applies: the engine has
    claimed its attempts and is busy with the provider when the lock comes, so
    it meets the lock when it records the outcomes.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.taken = False
        self.released = False
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def take(self) -> None:
        with self._start:
            if self._thread is not None:
                return
            held = threading.Event()
            self._thread = threading.Thread(target=self._hold, args=(held,), daemon=True)
            self._thread.start()
        held.wait()

    def _hold(self, held: threading.Event) -> None:
        other = sqlite3.connect(connection.settings_dict["NAME"], timeout=30, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            self.taken = True
            held.set()
            time.sleep(self.seconds)
            self.released = True
            other.execute("ROLLBACK")
        finally:
            other.close()

    def join(self) -> None:
        assert self._thread is not None, "the lock was never taken"
        self._thread.join()


def lock_at_first_write(emu, monkeypatch, lock: WriteLock) -> None:
    for name in ("graph_move", "gmail_trash"):
        write = getattr(emu.state, name)

        def locking(*args, write=write, **kwargs):
            lock.take()
            return write(*args, **kwargs)

        monkeypatch.setattr(emu.state, name, locking)


def retract_both(analyst, graph, gmail) -> None:
    """One request for both tenants, in one transaction: one task performs both."""
    with transaction.atomic():
        for run in (graph, gmail):
            retraction_request(
                actor=analyst, tenant=run.tenant, action="trash", messages=run.messages
            )


@pytest.fixture
def campaigns(tenants, shared_emulator):
    return (
        campaign(shared_emulator, tenants.alpha, mailboxes=50, per_mailbox=3, tag="busy"),
        campaign(shared_emulator, tenants.beta, mailboxes=25, per_mailbox=2, tag="busy"),
    )


def test_it_waits_for_the_lock_and_records_every_outcome(
    shared_emulator, campaigns, analyst, sync_queue, spy, monkeypatch
):
    emu = shared_emulator
    graph, gmail = campaigns
    lock = WriteLock(seconds=3)  # well inside the busy timeout (SQLITE_BUSY_TIMEOUT, 20 s)
    lock_at_first_write(emu, monkeypatch, lock)

    retract_both(analyst, graph, gmail)

    assert lock.taken and lock.released  # the engine was done only once the lock was gone
    for run in (graph, gmail):
        assert check_outcomes(emu, spy, run.attempts(), target="trash") == {
            (AttemptStatus.SUCCEEDED, ""): run.copies
        }


def test_the_sweeper_recovers_outcomes_the_lock_kept_out_and_nothing_moves_twice(
    shared_emulator, campaigns, analyst, sync_queue, spy, monkeypatch, settings
):
    emu = shared_emulator
    graph, gmail = campaigns
    # A lock held longer than the engine waits: recording fails ("database is locked").
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 1)
    connection.close()
    lock = WriteLock(seconds=3)
    lock_at_first_write(emu, monkeypatch, lock)

    # In sync mode the task's error reaches the caller; in a worker it ends the task.
    with pytest.raises(OperationalError, match="locked"):
        retract_both(analyst, graph, gmail)
    lock.join()

    attempts = graph.attempts() | gmail.attempts()
    assert attempts.count() == graph.copies + gmail.copies
    stuck = attempts.filter(status=AttemptStatus.RUNNING).count()
    assert stuck > 0  # the copies moved, their outcomes could not be written
    assert sum(spy.moves.values()) == graph.copies + gmail.copies

    # The sweeper (every minute) finds them once the worker is surely gone.
    settings.RETRACTION_STALE_AFTER = 0
    settings.RETRACTION_REDISPATCH_AFTER = 0
    assert attempts_sweep() >= stuck

    for run in (graph, gmail):
        assert check_outcomes(emu, spy, run.attempts(), target="trash") == {
            (AttemptStatus.SUCCEEDED, ""): run.copies
        }
    assert set(attempts.values_list("tries", flat=True)) <= {1, 2}
