"""Policy changes through the API: the role matrix, hard-delete confirmation, the audit trail."""

from __future__ import annotations

from mailboxes.models import AuditEvent
from mailboxes.vocabulary import PolicyAction
from retraction.models import RetractionPolicy
from tests.api.helpers import ApiTestCase
from tests.two_factor import VerifiedApiCalls


class PolicyWriteTests(VerifiedApiCalls, ApiTestCase):
    def setUp(self) -> None:
        self.policy = self.alpha_objects["policy"]
        self.url = f"/api/v1/policies/{self.policy.pk}/"

    def reload(self) -> RetractionPolicy:
        return RetractionPolicy.objects.all_tenants().get(pk=self.policy.pk)

    def audit_events(self) -> list[AuditEvent]:
        return list(
            AuditEvent.objects.filter(action="policy.updated", target_id=str(self.policy.pk))
        )

    def test_it_enforces_the_role_matrix_on_patch(self) -> None:
        expected = [
            (self.vera, 403),
            (self.bob, 403),
            (self.charlie, 404),
            (self.alice, 200),
            (self.root, 200),
        ]
        enabled = self.policy.enabled
        for user, status in expected:
            with self.subTest(user=user.username):
                enabled = not enabled if status == 200 else enabled
                response = self.call(
                    user, "patch", self.url, {"enabled": not self.reload().enabled}
                )
                self.assertEqual(response.status_code, status, response.content)
                self.assertEqual(self.reload().enabled, enabled)
        self.assertEqual([e.actor for e in reversed(self.audit_events())], [self.alice, self.root])

    def test_it_records_who_changed_a_policy_through_the_api(self) -> None:
        response = self.call(self.alice, "patch", self.url, {"action": PolicyAction.JUNK})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["action"], "junk")
        self.assertEqual(response.json()["updated_by"], "alice")
        (event,) = self.audit_events()
        self.assertEqual(event.actor, self.alice)
        self.assertEqual(event.tenant, self.alpha)
        self.assertEqual(event.data["after"]["action"], "junk")
        self.assertEqual(event.data["via"], "api")

    def test_it_replaces_a_policy_with_put(self) -> None:
        response = self.call(self.alice, "put", self.url, {"action": "junk", "enabled": False})
        self.assertEqual(response.status_code, 200, response.content)
        policy = self.reload()
        self.assertEqual((policy.action, policy.enabled), ("junk", False))

    def test_it_refuses_put_and_patch_to_analysts_and_viewers_before_validating(self) -> None:
        for user in (self.vera, self.bob):
            for method in ("put", "patch"):
                with self.subTest(user=user.username, method=method):
                    response = self.call(user, method, self.url, {"action": "nonsense"})
                    self.assertEqual(response.status_code, 403)
        self.assertEqual(self.audit_events(), [])

    def test_it_requires_confirmation_to_turn_on_hard_delete(self) -> None:
        before = self.reload().action
        response = self.call(self.alice, "patch", self.url, {"action": "hard_delete"})
        self.assertEqual(response.status_code, 400)
        self.assertIn("confirm_hard_delete", response.json())
        self.assertEqual(self.reload().action, before)

        response = self.call(
            self.alice, "patch", self.url, {"action": "hard_delete", "confirm_hard_delete": False}
        )
        self.assertEqual(response.status_code, 400)

        response = self.call_verified(
            self.alice, "patch", self.url, {"action": "hard_delete", "confirm_hard_delete": True}
        )
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(self.reload().action, "hard_delete")
        self.assertNotIn("confirm_hard_delete", response.json())

        # Already live: other changes need no new confirmation.
        response = self.call(
            self.alice, "put", self.url, {"action": "hard_delete", "enabled": True}
        )
        self.assertEqual(response.status_code, 200)

    def test_it_requires_confirmation_to_re_enable_a_hard_delete_policy(self) -> None:
        RetractionPolicy.objects.filter(pk=self.policy.pk).update(
            action="hard_delete", enabled=False
        )
        response = self.call(self.alice, "patch", self.url, {"enabled": True})
        self.assertEqual(response.status_code, 400)
        self.assertIn("confirm_hard_delete", response.json())
        self.assertFalse(self.reload().enabled)
        response = self.call_verified(
            self.alice, "patch", self.url, {"enabled": True, "confirm_hard_delete": True}
        )
        self.assertEqual(response.status_code, 200)
        self.assertTrue(self.reload().enabled)

    def test_it_rejects_an_unknown_action_with_a_field_error(self) -> None:
        response = self.call(self.alice, "patch", self.url, {"action": "explode"})
        self.assertEqual(response.status_code, 400)
        self.assertIn("action", response.json())

    def test_it_ignores_attempts_to_move_a_policy_to_another_tenant(self) -> None:
        response = self.call(
            self.alice,
            "patch",
            self.url,
            {"tenant": self.beta.pk, "disposition": "BULK", "enabled": False},
        )
        self.assertEqual(response.status_code, 200)
        policy = self.reload()
        self.assertEqual(policy.tenant_id, self.alpha.pk)
        self.assertEqual(policy.disposition, self.policy.disposition)

    def test_it_offers_no_create_or_delete(self) -> None:
        self.assertEqual(self.call(self.root, "post", "/api/v1/policies/", {}).status_code, 405)
        self.assertEqual(self.call(self.root, "delete", self.url).status_code, 405)
        self.assertTrue(RetractionPolicy.objects.filter(pk=self.policy.pk).exists())

    def test_it_refuses_writes_to_read_only_endpoints(self) -> None:
        message = self.alpha_objects["message"]
        for url in (f"/api/v1/messages/{message.pk}/", f"/api/v1/tenants/{self.alpha.pk}/"):
            with self.subTest(url=url):
                response = self.call(self.root, "patch", url, {"subject": "x", "name": "x"})
                self.assertEqual(response.status_code, 405)
