"""Fixtures of the fault tests: tenants on the emulator, inline django-q2, fast retries, the spy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_q.conf import Conf

from mailboxes.access import Role
from mailboxes.providers.emulator import Emulator
from tests.emulated import EmulatedTenants, connect_tenants
from tests.factories import grant, make_user
from tests.faults.helpers import WriteSpy
from tests.sleeps import fast_sleeps

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
    return fast_sleeps(monkeypatch, MAX_SLEEP)


@pytest.fixture
def spy(shared_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> WriteSpy:
    return WriteSpy(shared_emulator, monkeypatch)
