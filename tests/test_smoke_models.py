from __future__ import annotations

from mailboxes.models import Message, Tenant
from retraction.models import RetractionPolicy
from tests.base import TwoTenantsTestCase


class ScopingTests(TwoTenantsTestCase):
    def test_it_scopes_tenants_by_membership(self) -> None:
        self.assertEqual(list(Tenant.objects.for_user(self.alice)), [self.alpha])
        self.assertEqual(list(Tenant.objects.for_user(self.charlie)), [self.beta])
        self.assertEqual(Tenant.objects.for_user(self.root).count(), 2)

    def test_it_scopes_messages_by_membership(self) -> None:
        self.assertEqual(
            list(Message.objects.for_user(self.charlie)), [self.beta_objects["message"]]
        )

    def test_it_creates_default_policies(self) -> None:
        self.assertEqual(RetractionPolicy.objects.for_tenant(self.alpha).count(), 5)


class AuditTrailTests(TwoTenantsTestCase):
    def test_it_refuses_to_change_or_delete_audit_events(self) -> None:
        from mailboxes.audit import audit_record
        from mailboxes.models import AppendOnlyError, AuditEvent

        event = audit_record(actor=self.alice, action="test.done", tenant=self.alpha)
        event.action = "test.undone"
        with self.assertRaises(AppendOnlyError):
            event.save()
        with self.assertRaises(AppendOnlyError):
            AuditEvent.objects.filter(pk=event.pk).update(action="x")
        with self.assertRaises(AppendOnlyError):
            AuditEvent.objects.filter(pk=event.pk).delete()

    def test_it_keeps_the_trail_when_a_tenant_or_user_is_deleted(self) -> None:
        from mailboxes.audit import audit_record
        from mailboxes.models import AuditEvent

        event = audit_record(actor=self.charlie, action="test.done", tenant=self.beta)
        self.beta.delete()
        self.charlie.delete()
        event = AuditEvent.objects.get(pk=event.pk)
        self.assertEqual((event.tenant_id, event.actor_id), (None, None))
        self.assertEqual((event.tenant_label, event.actor_label), ("Beta Ltd", "charlie"))
