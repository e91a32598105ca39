"""API rate limits: a budget per API key (or signed-in user), per kind of request, with 429.

Rates are made tiny with override_settings; the cache is emptied before every test
(tests/conftest.py), so no test inherits another's counters.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache.backends.filebased import FileBasedCache
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from config.env import env_rate
from mailboxes.services import api_key_issue
from tests.api.helpers import ApiTestCase
from tests.test_settings import PRODUCTION, load

TENANTS = "/api/v1/tenants/"
UNLIMITED = {"API_RATE_LIMIT": None, "API_INGEST_RATE_LIMIT": None, "API_WRITE_RATE_LIMIT": None}


class RateLimitTests(ApiTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        _, cls.key1 = api_key_issue(user=cls.bob, name="siem", actor=None)
        _, cls.key2 = api_key_issue(user=cls.bob, name="soar", actor=None)

    def get(self, key: str, url: str = TENANTS) -> Any:
        self.client.logout()
        return self.client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}")

    def ingest(self, key: str, n: int) -> Any:
        verdict = {
            "tenant": self.alpha.pk,
            "internet_message_id": f"<burst-{n}@evil.example>",
            "recipients": ["a-user1@alpha.example"],
        }
        return self.client.post(
            "/api/v1/messages/", verdict, format="json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )

    def assert_throttled(self, response: Any) -> None:
        self.assertEqual(response.status_code, 429, response.content)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertIn("throttled", response.json()["detail"])
        wait = int(response["Retry-After"])
        self.assertTrue(1 <= wait <= 60, wait)

    @override_settings(**{**UNLIMITED, "API_RATE_LIMIT": "3/min"})
    def test_it_answers_429_with_retry_after_past_the_limit(self) -> None:
        for _ in range(3):
            self.assertEqual(self.get(self.key1).status_code, 200)
        self.assert_throttled(self.get(self.key1))

    @override_settings(**{**UNLIMITED, "API_RATE_LIMIT": "2/min"})
    def test_it_gives_each_key_of_a_user_its_own_budget(self) -> None:
        for _ in range(2):
            self.get(self.key1)
        self.assert_throttled(self.get(self.key1))
        self.assertEqual(self.get(self.key2).status_code, 200)

    @override_settings(**{**UNLIMITED, "API_RATE_LIMIT": "2/min"})
    def test_it_counts_a_signed_in_user_apart_from_their_keys(self) -> None:
        for _ in range(2):
            self.get(self.key1)
        self.client.force_login(self.bob)
        self.assertEqual(self.client.get(TENANTS).status_code, 200)
        self.assertEqual(self.client.get(TENANTS).status_code, 200)
        self.assert_throttled(self.client.get(TENANTS))
        self.client.force_login(self.alice)
        self.assertEqual(self.client.get(TENANTS).status_code, 200)

    @override_settings(**{**UNLIMITED, "API_RATE_LIMIT": "1/min", "API_INGEST_RATE_LIMIT": "3/min"})
    def test_it_gives_ingest_a_budget_of_its_own(self) -> None:
        self.assertEqual(self.get(self.key1).status_code, 200)
        self.assert_throttled(self.get(self.key1))
        for n in range(3):
            self.assertEqual(self.ingest(self.key1, n).status_code, 201)
        self.assert_throttled(self.ingest(self.key1, 3))

    @override_settings(**{**UNLIMITED, "API_WRITE_RATE_LIMIT": "1/min"})
    def test_it_limits_other_writes_apart_from_ingest(self) -> None:
        url = f"/api/v1/messages/{self.alpha_objects['message'].pk}/reclassify/"
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.key1}"}
        first = self.client.post(url, {"disposition": "SPAM"}, format="json", **headers)
        self.assertEqual(first.status_code, 200, first.content)
        self.assert_throttled(
            self.client.post(url, {"disposition": "SPAM"}, format="json", **headers)
        )
        self.assertEqual(self.ingest(self.key1, 0).status_code, 201)
        self.assertEqual(self.get(self.key1).status_code, 200)

    @override_settings(**UNLIMITED)
    def test_it_lets_everything_through_when_limits_are_off(self) -> None:
        for _ in range(20):
            self.assertEqual(self.get(self.key1).status_code, 200)


def test_the_file_cache_is_shared_by_every_process_on_the_machine(tmp_path: Any) -> None:
    """Two web processes have two cache objects on one directory: each sees the other's counts."""
    first = FileBasedCache(str(tmp_path), {})
    second = FileBasedCache(str(tmp_path), {})
    first.set("throttle_read_key1", [1.0, 2.0], 60)
    assert second.get("throttle_read_key1") == [1.0, 2.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("600/min", "600/m"),
        ("120/minute", "120/m"),
        ("10/s", "10/s"),
        ("5/hours", "5/h"),
        ("off", None),
    ],
)
def test_rates_are_read_from_the_environment(monkeypatch: Any, value: str, expected: Any) -> None:
    monkeypatch.setenv("X_RATE", value)
    assert env_rate("X_RATE", "1/s") == expected


@pytest.mark.parametrize("value", ["many", "10/fortnight", "-1/min", "²/min", "/min"])
def test_a_bad_rate_stops_the_start(monkeypatch: Any, value: str) -> None:
    monkeypatch.setenv("X_RATE", value)
    with pytest.raises(ImproperlyConfigured, match="X_RATE"):
        env_rate("X_RATE", "1/s")


def test_the_cache_is_redis_with_redis_url_and_files_under_var_otherwise(tmp_path: Any) -> None:
    import json

    files = json.loads(load(PRODUCTION, tmp_path, "CACHES").stdout)["CACHES"]["default"]
    assert files["BACKEND"].endswith("FileBasedCache")
    assert files["LOCATION"] == str(tmp_path / "var" / "cache")
    redis_env = {**PRODUCTION, "REDIS_URL": "redis://127.0.0.1:6379/0"}
    redis = json.loads(load(redis_env, tmp_path, "CACHES").stdout)["CACHES"]["default"]
    assert redis["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert redis["LOCATION"] == "redis://127.0.0.1:6379/0"
