"""Fixtures shared by every test folder: the provider emulator over the wire."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from mailboxes.providers.emulator import EXAMPLE_SEED_PATH, Emulator, load_seed


@pytest.fixture
def emulator(tmp_path) -> Iterator[Emulator]:
    """A fresh emulator per test: example seed, free ports, its CA in tmp_path."""
    with Emulator(seed=EXAMPLE_SEED_PATH, ca_path=tmp_path / "emulator-ca.pem") as emu:
        yield emu


@pytest.fixture(scope="session")
def _shared_emulator(tmp_path_factory) -> Iterator[Emulator]:
    ca_path = tmp_path_factory.mktemp("emulator") / "emulator-ca.pem"
    with Emulator(seed=EXAMPLE_SEED_PATH, ca_path=ca_path) as emu:
        yield emu


@pytest.fixture
def shared_emulator(_shared_emulator: Emulator) -> Emulator:
    """One server for the session, its state reset to the example seed for each test.

    Faster than `emulator` when a module has many tests; tokens issued by an earlier
    test are gone after the reset, so build fresh clients (msal caches tokens per app).
    """
    _shared_emulator.state.reset(load_seed(EXAMPLE_SEED_PATH))
    return _shared_emulator


@pytest.fixture
def emulator_session(emulator: Emulator) -> Iterator[requests.Session]:
    """A requests session that trusts the emulator's CA (and ignores *_CA_BUNDLE)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(emulator.ca_path)
    yield session
    session.close()


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing(django_test_environment) -> Iterator[None]:
    """Test users need passwords, not their cost: a real hasher takes seconds per class."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True, scope="session")
def _private_cache(django_test_environment, tmp_path_factory) -> Iterator[None]:
    """The default file cache, in a directory of this test run's own.

    var/cache (or Redis, with REDIS_URL) is shared by every test run on the machine and
    by the demo: API rate limit counters from elsewhere would count here, and clearing
    a Redis cache would flush the task queue's keys too.
    """
    from django.test import override_settings

    location = str(tmp_path_factory.mktemp("cache"))
    backend = "django.core.cache.backends.filebased.FileBasedCache"
    with override_settings(CACHES={"default": {"BACKEND": backend, "LOCATION": location}}):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache(_private_cache) -> Iterator[None]:
    """Every test starts with no cached state (API rate limit counters included)."""
    from django.core.cache import cache

    cache.clear()
    yield
