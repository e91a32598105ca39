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
