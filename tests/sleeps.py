"""Fast provider retries in tests: every retry sleep is recorded, then slept briefly for real."""

from __future__ import annotations

import threading
import time

import pytest

from mailboxes.providers import retry


def fast_sleeps(monkeypatch: pytest.MonkeyPatch, max_sleep: float) -> list[float]:
    """Patch the retry module's sleep; returns the list the asked-for delays go into.

    Sleeps keep their order (each really pauses, up to `max_sleep`), so retries
    still come after the answers they wait for.
    """
    recorded: list[float] = []
    lock = threading.Lock()
    real_sleep = time.sleep

    def fast_sleep(seconds: float) -> None:
        with lock:
            recorded.append(seconds)
        real_sleep(min(max(seconds, 0.0), max_sleep))

    monkeypatch.setattr(retry, "sleep", fast_sleep)
    return recorded
