"""Fixtures for engine tests: the emulator, tenants wired to it, sync-mode django-q2."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_q.conf import Conf

from mailboxes.providers.emulator import Emulator
from tests.emulated import EmulatedTenants, connect_tenants


@pytest.fixture
def sync_queue() -> Iterator[None]:
    """Run django-q2 tasks inline (async_task executes at once) for this test."""
    before = Conf.SYNC
    Conf.SYNC = True
    yield
    Conf.SYNC = before


@pytest.fixture
def tenants(db, shared_emulator: Emulator, settings) -> EmulatedTenants:
    settings.PROVIDER_EMULATOR_CA = str(shared_emulator.ca_path)
    settings.ALLOW_PROVIDER_EMULATOR = True
    return connect_tenants(shared_emulator)
