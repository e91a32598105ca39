"""The shared base test case: two tenants and the people around them.

- alpha (Microsoft 365) and beta (Google Workspace), each with users, a shared
  mailbox, a distribution list with members and a message delivered to them;
- alice: tenant admin of alpha; bob: analyst on alpha; vera: viewer on alpha;
- charlie: admin of beta only — the outsider for everything in alpha;
- root: a superuser (the MSP's owner), sees every tenant.
"""

from __future__ import annotations

from django.test import TestCase

from mailboxes.access import Role
from mailboxes.models import MailboxKind, Provider
from retraction.models import AttemptStatus, Mode, RetractionAttempt
from tests.factories import grant, make_group, make_mailbox, make_message, make_tenant, make_user


class TwoTenantsTestCase(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.alpha = make_tenant("Alpha Corp", Provider.MICROSOFT, domains=["alpha.example"])
        cls.beta = make_tenant("Beta Ltd", Provider.GOOGLE, domains=["beta.example"])

        cls.alice = make_user("alice")
        cls.bob = make_user("bob")
        cls.vera = make_user("vera")
        cls.charlie = make_user("charlie")
        cls.root = make_user("root", superuser=True)
        grant(cls.alice, cls.alpha, Role.ADMIN)
        grant(cls.bob, cls.alpha, Role.ANALYST)
        grant(cls.vera, cls.alpha, Role.VIEWER)
        grant(cls.charlie, cls.beta, Role.ADMIN)

        for tenant, prefix in ((cls.alpha, "a"), (cls.beta, "b")):
            u1 = make_mailbox(tenant, f"{prefix}-user1")
            u2 = make_mailbox(tenant, f"{prefix}-user2")
            shared = make_mailbox(tenant, f"{prefix}-shared", MailboxKind.SHARED)
            group = make_group(tenant, f"{prefix}-all", [u1, u2])
            message = make_message(
                tenant,
                [u1, shared, group, (u2, group)],
                subject=f"{prefix.upper()}-secret-subject",
                internet_message_id=f"<{prefix}-msg@evil.example>",
                sender=f"{prefix}-sender@evil.example",
            )
            attempt = RetractionAttempt.objects.create(
                tenant=tenant,
                message=message,
                delivery=message.deliveries.get(recipient=u1.address),
                mode=Mode.MANUAL,
                action="trash",
                status=AttemptStatus.SUCCEEDED,
            )
            setattr(
                cls,
                f"{tenant.slug.split('-')[0]}_objects",
                {
                    "mailbox": u1,
                    "shared": shared,
                    "group": group,
                    "message": message,
                    "delivery": message.deliveries.get(recipient=u1.address),
                    "attempt": attempt,
                    "policy": tenant.policies.first(),
                },
            )
