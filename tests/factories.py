"""Small builders for test data; each returns saved rows."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from mailboxes.access import Role
from mailboxes.models import (
    Delivery,
    GroupMembership,
    Mailbox,
    MailboxKind,
    Membership,
    Message,
    Provider,
    Tenant,
)
from mailboxes.services import tenant_create
from mailboxes.vocabulary import Disposition

_seq = itertools.count(1)


def make_tenant(name: str, provider: str = Provider.MICROSOFT, **fields: Any) -> Tenant:
    slug = fields.pop("slug", name.lower().replace(" ", "-"))
    return tenant_create(actor=None, name=name, slug=slug, provider=provider, **fields)


def make_user(username: str, *, superuser: bool = False, **roles: Tenant) -> Any:
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@msp.example", password="pw-" + username * 2
    )
    if superuser:
        user.is_superuser = user.is_staff = True
        user.save(update_fields=["is_superuser", "is_staff"])
    return user


def grant(user: Any, tenant: Tenant, role: Role | str) -> Membership:
    return Membership.objects.create(user=user, tenant=tenant, role=role)


def make_mailbox(tenant: Tenant, local: str, kind: str = MailboxKind.USER) -> Mailbox:
    domain = (tenant.domains or [f"{tenant.slug}.example"])[0]
    return Mailbox.objects.create(tenant=tenant, address=f"{local}@{domain}", kind=kind)


def make_group(tenant: Tenant, local: str, members: list[Mailbox]) -> Mailbox:
    group = make_mailbox(tenant, local, MailboxKind.GROUP)
    GroupMembership.objects.bulk_create(
        GroupMembership(tenant=tenant, group=group, member=m) for m in members
    )
    return group


def make_message(
    tenant: Tenant,
    recipients: list[Mailbox | tuple[Mailbox, Mailbox]] = (),
    *,
    subject: str | None = None,
    disposition: str = Disposition.NONE,
    received_at: datetime | None = None,
    **fields: Any,
) -> Message:
    """A message with one delivery per recipient; (member, group) tuples mark list expansion."""
    n = next(_seq)
    message = Message.objects.create(
        tenant=tenant,
        internet_message_id=fields.pop("internet_message_id", f"<msg-{n}@sender.example>"),
        sender=fields.pop("sender", f"attacker{n}@sender.example"),
        subject=subject if subject is not None else f"Invoice {n}",
        received_at=received_at or timezone.now(),
        disposition=disposition,
        **fields,
    )
    for item in recipients:
        mailbox, group = item if isinstance(item, tuple) else (item, None)
        Delivery.objects.create(
            tenant=tenant,
            message=message,
            recipient=mailbox.address,
            mailbox=mailbox,
            via_group=group,
        )
    return message
