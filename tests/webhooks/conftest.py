"""Fixtures for webhook tests: a SIEM on 127.0.0.1, sync-mode django-q2, emulated tenants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.retraction.conftest import sync_queue, tenants  # noqa: F401 - shared fixtures
from tests.webhooks.receiver import Siem
from webhooks import events


@pytest.fixture
def siem() -> Iterator[Siem]:
    with Siem() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_endpoint_cache() -> Iterator[None]:
    """Each test starts without the previous test's idea of who has a webhook."""
    events.forget_endpoints()
    yield
    events.forget_endpoints()
