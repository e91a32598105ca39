"""The create_api_key management command."""

from __future__ import annotations

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from mailboxes.models import ApiKey, AuditEvent
from tests.api.helpers import ApiTestCase


class CreateApiKeyTests(ApiTestCase):
    def run_command(self, *args: str) -> tuple[str, str]:
        out, err = StringIO(), StringIO()
        call_command("create_api_key", *args, stdout=out, stderr=err)
        return out.getvalue().strip(), err.getvalue()

    def test_it_prints_a_working_key_once(self) -> None:
        raw, note = self.run_command("--user", "bob", "--name", "SOAR")
        self.assertIn("not shown again", note)
        self.assertNotIn(raw, note)
        key = ApiKey.objects.get()
        self.assertEqual((key.user, key.name), (self.bob, "SOAR"))
        self.assertNotEqual(key.key_hash, raw)
        self.assertEqual(ApiKey.lookup(raw), key)
        response = self.client.get("/api/v1/tenants/", HTTP_AUTHORIZATION=f"Bearer {raw}")
        self.assertEqual(response.status_code, 200)
        event = AuditEvent.objects.get(action="api_key.issued")
        self.assertEqual(event.data["via"], "command")
        self.assertTrue(event.actor_label.endswith("(manage.py)"))
        self.assertIsNone(event.actor)

    def test_it_refuses_an_unknown_user_readably(self) -> None:
        with self.assertRaisesMessage(CommandError, "No user named 'mallory'"):
            self.run_command("--user", "mallory", "--name", "x")
        self.assertFalse(ApiKey.objects.exists())

    def test_it_refuses_an_inactive_user(self) -> None:
        get_user_model().objects.filter(pk=self.bob.pk).update(is_active=False)
        with self.assertRaisesMessage(CommandError, "inactive"):
            self.run_command("--user", "bob", "--name", "x")

    def test_it_requires_a_name(self) -> None:
        with self.assertRaises(CommandError):
            self.run_command("--user", "bob")
