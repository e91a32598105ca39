"""Who the API believes: API keys (Bearer), browser sessions, and nobody."""

from __future__ import annotations

from unittest import mock

from django.contrib.auth import get_user_model

from mailboxes.models import ApiKey, AuditEvent
from mailboxes.models.tenancy import hash_api_key
from mailboxes.services import api_key_issue, api_key_revoke
from tests.api.helpers import ApiTestCase

URL = "/api/v1/tenants/"


class ApiKeyTests(ApiTestCase):
    def setUp(self) -> None:
        self.key, self.raw = api_key_issue(user=self.alice, name="siem", actor=self.root)

    def bearer(self, value: str, url: str = URL, method: str = "get", **data: object):
        self.client.logout()
        handler = getattr(self.client, method)
        return handler(url, data or None, format="json", HTTP_AUTHORIZATION=value)

    def test_it_accepts_a_bearer_key_and_acts_as_its_user(self) -> None:
        response = self.bearer(f"Bearer {self.raw}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual([t["id"] for t in response.json()["results"]], [self.alpha.pk])
        self.key.refresh_from_db()
        self.assertIsNotNone(self.key.last_used_at)

    def test_it_lets_a_key_write_without_a_csrf_token(self) -> None:
        policy = self.alpha_objects["policy"]
        response = self.bearer(
            f"Bearer {self.raw}", f"/api/v1/policies/{policy.pk}/", "patch", enabled=False
        )
        self.assertEqual(response.status_code, 200, response.content)
        event = AuditEvent.objects.get(action="policy.updated")
        self.assertEqual(event.actor, self.alice)

    def test_it_keeps_only_a_hash_of_the_key(self) -> None:
        self.assertEqual(self.key.key_hash, hash_api_key(self.raw))
        for row in ApiKey.objects.values():
            self.assertNotIn(self.raw, repr(row))
            self.assertNotIn(self.raw.split("_", 2)[2], repr(row))
        for row in AuditEvent.objects.values():
            self.assertNotIn(self.raw, repr(row))

    def test_it_accepts_a_key_whose_random_part_contains_underscores(self) -> None:
        with mock.patch("mailboxes.models.tenancy.secrets.token_urlsafe", return_value="a_b_c-d"):
            _, raw = api_key_issue(user=self.bob, name="underscores", actor=self.root)
        self.assertEqual(self.bearer(f"Bearer {raw}").status_code, 200)

    def test_it_refuses_a_revoked_key(self) -> None:
        api_key_revoke(key=self.key, actor=self.alice)
        response = self.bearer(f"Bearer {self.raw}")
        self.assertEqual(response.status_code, 401)

    def test_it_refuses_a_key_of_an_inactive_user(self) -> None:
        get_user_model().objects.filter(pk=self.alice.pk).update(is_active=False)
        self.assertEqual(self.bearer(f"Bearer {self.raw}").status_code, 401)

    def test_it_refuses_malformed_and_unknown_keys(self) -> None:
        prefix = self.raw.split("_", 2)[1]
        for header in (
            "Bearer",
            f"Bearer {self.raw} extra",
            "Bearer not-a-key",
            f"Bearer cbk_{prefix}_wrong-secret",
            f"Bearer {self.raw[:-1]}",
            "Bearer cbk_deadbeef_x",
            "Bearer \u00e9\u00e9",
        ):
            with self.subTest(header=header):
                response = self.bearer(header)
                self.assertEqual(response.status_code, 401)
                self.assertEqual(response["WWW-Authenticate"], "Bearer")

    def test_it_answers_anonymous_requests_with_401(self) -> None:
        for url in (URL, f"/api/v1/tenants/{self.alpha.pk}/", "/api/v1/messages/"):
            with self.subTest(url=url):
                response = self.call(None, "get", url)
                self.assertEqual(response.status_code, 401)
                self.assertEqual(response["WWW-Authenticate"], "Bearer")

    def test_it_ignores_other_authorization_schemes(self) -> None:
        response = self.bearer("Basic YWxpY2U6cHctYWxpY2VhbGljZQ==")
        self.assertEqual(response.status_code, 401)


class SessionTests(ApiTestCase):
    def test_it_accepts_a_browser_session(self) -> None:
        rows = self.results(self.vera, URL)
        self.assertEqual([t["id"] for t in rows], [self.alpha.pk])

    def test_it_requires_csrf_for_session_writes(self) -> None:
        from rest_framework.test import APIClient

        client = APIClient(enforce_csrf_checks=True)
        client.force_login(self.alice)
        policy = self.alpha_objects["policy"]
        response = client.patch(f"/api/v1/policies/{policy.pk}/", {"enabled": False}, format="json")
        self.assertEqual(response.status_code, 403)
        self.assertIn("CSRF", response.json()["detail"])

    def test_it_sees_nothing_as_a_user_without_memberships(self) -> None:
        nobody = get_user_model().objects.create_user("nobody", password="pw-nobody-nobody")
        for url in (URL, "/api/v1/messages/", "/api/v1/retractions/", "/api/v1/policies/"):
            with self.subTest(url=url):
                self.assertEqual(self.results(nobody, url), [])
