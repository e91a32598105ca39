"""Real qcluster runs for the fault tests: a private cluster name, a job, the sweeper's rounds."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from django.conf import settings
from django.db.models import QuerySet
from django_q.conf import Conf

from retraction.models import AttemptStatus, RetractionAttempt
from retraction.services.sweep import attempts_sweep
from tests.faults.helpers import unfinished
from tests.qcluster import QCluster

# Short enough for a test, long enough that no live run is taken for a dead one: a
# run of this test's size (a few hundred copies) takes a second or two.
STALE_AFTER = 10
REDISPATCH_AFTER = 2


def private_cluster(monkeypatch: pytest.MonkeyPatch) -> str:
    """A cluster name (and broker queue) of this test's own; returns it."""
    name = f"clawback-faults-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(Conf, "CLUSTER_NAME", name)
    monkeypatch.setattr(Conf, "PREFIX", name)
    monkeypatch.setitem(settings.Q_CLUSTER, "name", name)
    return name


def wait_until(
    condition: Callable[[], bool], *, timeout: float, process: QCluster, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not after {timeout}s:\n{process.output()}"
        time.sleep(0.05)


def sweep_until_finished(
    attempts: QuerySet[RetractionAttempt],
    *,
    expected: int,
    process: QCluster,
    timeout: float = 60,
) -> int:
    """Run the sweeper every REDISPATCH_AFTER seconds, as its schedule would, until done.

    Done: `expected` attempts exist (discovery may have to be redone) and all finished.
    Returns how many attempts and jobs the sweeper handed out again.
    """
    settings.RETRACTION_STALE_AFTER = STALE_AFTER
    settings.RETRACTION_REDISPATCH_AFTER = REDISPATCH_AFTER
    swept = 0
    deadline = time.monotonic() + timeout
    next_sweep = time.monotonic()
    while attempts.count() < expected or unfinished(attempts).exists():
        now = time.monotonic()
        if now > deadline:
            states = Counter(attempts.values_list("status", flat=True))
            raise AssertionError(
                f"{expected} attempts expected, after {timeout}s: {dict(states)}\n"
                f"{process.output()}"
            )
        if now >= next_sweep:
            swept += attempts_sweep()
            next_sweep = now + REDISPATCH_AFTER
        time.sleep(0.1)
    return swept


def progress(attempts: QuerySet[RetractionAttempt]) -> Callable[[], bool]:
    """True once some attempts succeeded, so the job is under way."""
    return lambda: attempts.filter(status=AttemptStatus.SUCCEEDED).count() >= 20
