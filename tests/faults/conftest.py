"""Fixtures of the fault tests: tenants on the emulator, inline django-q2, fast retries, the spy."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django_q.conf import Conf

from mailboxes.access import Role
from mailboxes.providers import retry
from mailboxes.providers.emulator import Emulator
from tests.emulated import EmulatedTenants, connect_tenants
from tests.factories import grant, make_user
from tests.faults.helpers import WriteSpy

# The longest real pause of one retry sleep: the order of events is kept, the time is not.
MAX_SLEEP = 0.05


@pytest.fixture
def tenants(transactional_db, shared_emulator: Emulator, settings) -> EmulatedTenants:
    settings.PROVIDER_EMULATOR_CA = str(shared_emulator.ca_path)
    settings.ALLOW_PROVIDER_EMULATOR = True
    return connect_tenants(shared_emulator)


@pytest.fixture
def analyst(tenants: EmulatedTenants):
    user = make_user("ana")
    grant(user, tenants.alpha, Role.ANALYST)
    grant(user, tenants.beta, Role.ANALYST)
    return user


@pytest.fixture
def sync_queue() -> Iterator[None]:
    """django-q2 tasks run inline, at the commit that queues them."""
    before = Conf.SYNC
    Conf.SYNC = True
    yield
    Conf.SYNC = before


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Fast retries in this process: each sleep is recorded, then slept for at most MAX_SLEEP."""
    recorded: list[float] = []
    lock = threading.Lock()
    real_sleep = time.sleep

    def fast_sleep(seconds: float) -> None:
        with lock:
            recorded.append(seconds)
        real_sleep(min(max(seconds, 0.0), MAX_SLEEP))

    monkeypatch.setattr(retry, "sleep", fast_sleep)
    return recorded


@pytest.fixture
def spy(shared_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> WriteSpy:
    return WriteSpy(shared_emulator, monkeypatch)
