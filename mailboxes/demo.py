"""The demo world: two customer tenants as plain data, and the function that builds it.

The data below is the single definition of the demo. `demo_seed()` turns it into
database rows (tenants, mailboxes, lists, messages, deliveries, users, an API key);
the provider emulator can fill its mailboxes from the same `DEMO_TENANTS`, so the
copies Clawback knows about are the copies the emulator holds.

Everything is keyed by stable names (tenant slug, mailbox local part, Message-ID),
so seeding again finds the rows it made before instead of adding new ones.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from mailboxes.access import Role
from mailboxes.models import (
    ApiKey,
    Delivery,
    DispositionChange,
    GroupMembership,
    Mailbox,
    MailboxKind,
    Membership,
    Message,
    MessageSource,
    Provider,
    Tenant,
)
from mailboxes.services import (
    api_key_issue,
    api_key_revoke,
    tenant_create,
    tenant_set_credentials,
)
from mailboxes.vocabulary import Disposition

ADMIN_USERNAME = "admin"
ANALYST_USERNAME = "analyst"
ANALYST_TENANT = "contoso"
API_KEY_NAME = "demo"
VIA = "seed_demo"


@dataclass(frozen=True)
class MailboxSpec:
    local: str
    display_name: str
    kind: str = MailboxKind.USER
    members: tuple[str, ...] = ()  # local parts, for kind=group


@dataclass(frozen=True)
class MessageSpec:
    """One message and who it went to.

    `to` lists local parts of the tenant's mailboxes; a group address also delivers a
    copy to each member (linked through via_group), unless that member is addressed
    directly too. `history` is the disposition's path from NONE, oldest first, as
    (disposition, note) pairs; the message ends with the last one (NONE when empty).
    `read_by` is for the emulator: the copies that have been opened.
    """

    key: str
    sender: str
    subject: str
    to: tuple[str, ...]
    hours_ago: float
    body: str = ""
    history: tuple[tuple[str, str], ...] = ()
    read_by: tuple[str, ...] = ()

    @property
    def disposition(self) -> str:
        return self.history[-1][0] if self.history else Disposition.NONE

    def internet_message_id(self, tenant_slug: str) -> str:
        return f"<{self.key}.{tenant_slug}@{self.sender.rpartition('@')[2]}>"


@dataclass(frozen=True)
class TenantSpec:
    name: str
    slug: str
    provider: str
    domain: str
    mailboxes: tuple[MailboxSpec, ...]
    messages: tuple[MessageSpec, ...] = field(default=())

    def address(self, local: str) -> str:
        return f"{local}@{self.domain}"

    def mailbox(self, local: str) -> MailboxSpec:
        return next(m for m in self.mailboxes if m.local == local)

    def recipients(self, message: MessageSpec) -> list[tuple[str, str | None]]:
        """(local part, group local part or None) for every copy the message left."""
        copies: dict[str, str | None] = {local: None for local in message.to}
        for local in message.to:
            for member in self.mailbox(local).members:
                copies.setdefault(member, local)
        return list(copies.items())


_S, _G = MailboxKind.SHARED, MailboxKind.GROUP
_SUSPICIOUS, _MALICIOUS = Disposition.SUSPICIOUS, Disposition.MALICIOUS
_SPAM, _SPOOF, _BULK = Disposition.SPAM, Disposition.SPOOF, Disposition.BULK

CONTOSO = TenantSpec(
    name="Contoso",
    slug="contoso",
    provider=Provider.MICROSOFT,
    domain="contoso.example",
    mailboxes=(
        MailboxSpec("adele.vance", "Adele Vance"),
        MailboxSpec("alex.wilber", "Alex Wilber"),
        MailboxSpec("megan.bowen", "Megan Bowen"),
        MailboxSpec("lee.gu", "Lee Gu"),
        MailboxSpec("nestor.wilke", "Nestor Wilke"),
        MailboxSpec("finance", "Finance (shared)", _S),
        MailboxSpec("sales", "Sales team", _G, members=("alex.wilber", "megan.bowen", "lee.gu")),
    ),
    messages=(
        MessageSpec(
            key="c01",
            sender="newsletter@northwind.example",
            subject="Northwind monthly digest",
            to=("sales",),
            hours_ago=70,
            body="What is new at Northwind this month.",
            read_by=("megan.bowen",),
        ),
        MessageSpec(
            key="c02",
            sender="ap@fourthcoffee.example",
            subject="Invoice 4471 for October",
            to=("finance",),
            hours_ago=52,
            body="Please find the invoice attached.",
            read_by=("finance",),
        ),
        MessageSpec(
            key="c03",
            sender="it-support@c0ntoso.example",
            subject="Your mailbox is almost full",
            to=("adele.vance", "nestor.wilke", "sales"),
            hours_ago=30,
            body="Sign in within 24 hours to keep your mail: https://c0ntoso.example/login",
            history=(
                (_SUSPICIOUS, "Look-alike sender domain"),
                (_MALICIOUS, "Credential phishing confirmed by an analyst"),
            ),
            read_by=("nestor.wilke", "lee.gu"),
        ),
        MessageSpec(
            key="c04",
            sender="jordan@litware.example",
            subject="Meeting notes: Q3 pipeline review",
            to=("alex.wilber", "megan.bowen"),
            hours_ago=26,
            body="Notes from today's call.",
        ),
        MessageSpec(
            key="c05",
            sender="deals@bestprices.example",
            subject="80% off printer toner, today only",
            to=("sales", "finance"),
            hours_ago=20,
            body="Limited offer.",
            history=((_SPAM, "Reported as spam by two users"),),
        ),
        MessageSpec(
            key="c06",
            sender="ceo@contoso-mail.example",
            subject="Urgent wire transfer before 3pm",
            to=("finance",),
            hours_ago=8,
            body="I need you to process a payment discreetly.",
            history=((_SPOOF, "Display name impersonates the CEO"),),
        ),
        MessageSpec(
            key="c07",
            sender="hr@contoso.example",
            subject="Updated holiday calendar",
            to=("adele.vance", "alex.wilber", "megan.bowen", "lee.gu", "nestor.wilke"),
            hours_ago=6,
            body="The holiday calendar is on the intranet.",
        ),
        MessageSpec(
            key="c08",
            sender="orders@adventure-works.example",
            subject="Order 88213 shipped",
            to=("lee.gu",),
            hours_ago=4,
            body="Your order is on its way.",
            read_by=("lee.gu",),
        ),
        MessageSpec(
            key="c09",
            sender="events@fabrikam.example",
            subject="Invitation: partner summit",
            to=("sales",),
            hours_ago=3,
            body="Save the date.",
        ),
        MessageSpec(
            key="c10",
            sender="noreply@tailspin.example",
            subject="Your flight itinerary",
            to=("nestor.wilke",),
            hours_ago=1,
            body="Booking reference TSX42Q.",
        ),
    ),
)

FABRIKAM = TenantSpec(
    name="Fabrikam",
    slug="fabrikam",
    provider=Provider.GOOGLE,
    domain="fabrikam.example",
    mailboxes=(
        MailboxSpec("diego.siciliani", "Diego Siciliani"),
        MailboxSpec("isaiah.langer", "Isaiah Langer"),
        MailboxSpec("johanna.lorenz", "Johanna Lorenz"),
        MailboxSpec("lynne.robbins", "Lynne Robbins"),
        MailboxSpec("pradeep.gupta", "Pradeep Gupta"),
        MailboxSpec("support", "Customer support (shared)", _S),
        MailboxSpec(
            "engineering",
            "Engineering",
            _G,
            members=("isaiah.langer", "johanna.lorenz", "pradeep.gupta"),
        ),
    ),
    messages=(
        MessageSpec(
            key="f01",
            sender="builds@ci.example",
            subject="Nightly build passed",
            to=("engineering",),
            hours_ago=60,
            body="All 412 checks passed.",
            read_by=("johanna.lorenz",),
        ),
        MessageSpec(
            key="f02",
            sender="customer@wingtip.example",
            subject="Question about my subscription",
            to=("support",),
            hours_ago=44,
            body="Can I move to the yearly plan?",
            read_by=("support",),
        ),
        MessageSpec(
            key="f03",
            sender="security@g00gle-workspace.example",
            subject="Action required: verify your account",
            to=("diego.siciliani", "engineering"),
            hours_ago=28,
            body="Verify now or lose access: https://g00gle-workspace.example/verify",
            history=(
                (_SUSPICIOUS, "Newly registered sender domain"),
                (_MALICIOUS, "URL on a phishing block list"),
            ),
            read_by=("isaiah.langer",),
        ),
        MessageSpec(
            key="f04",
            sender="lynne.robbins@fabrikam.example",
            subject="Design review on Thursday",
            to=("engineering", "diego.siciliani"),
            hours_ago=24,
            body="Agenda inside.",
        ),
        MessageSpec(
            key="f05",
            sender="promo@cloudstore.example",
            subject="Your cart misses you",
            to=("lynne.robbins", "pradeep.gupta"),
            hours_ago=18,
            body="Complete your purchase.",
            history=((_BULK, "Marketing sender"),),
        ),
        MessageSpec(
            key="f06",
            sender="payroll@fabrikam-hr.example",
            subject="Payslip correction: confirm bank details",
            to=("johanna.lorenz", "lynne.robbins"),
            hours_ago=9,
            body="Reply with your IBAN.",
            history=((_SUSPICIOUS, "Reply-to differs from sender"),),
        ),
        MessageSpec(
            key="f07",
            sender="office@fabrikam.example",
            subject="Parking garage closed on Friday",
            to=(
                "diego.siciliani",
                "isaiah.langer",
                "johanna.lorenz",
                "lynne.robbins",
                "pradeep.gupta",
            ),
            hours_ago=7,
            body="Please use the street parking.",
        ),
        MessageSpec(
            key="f08",
            sender="vendor@proseware.example",
            subject="Renewal quote",
            to=("diego.siciliani",),
            hours_ago=5,
            body="Quote attached.",
            read_by=("diego.siciliani",),
        ),
        MessageSpec(
            key="f09",
            sender="alerts@monitoring.example",
            subject="Disk usage above 80% on db-2",
            to=("engineering",),
            hours_ago=2,
            body="Threshold exceeded.",
        ),
        MessageSpec(
            key="f10",
            sender="customer@contoso.example",
            subject="Thanks for the quick fix",
            to=("support",),
            hours_ago=1,
            body="Works now.",
        ),
    ),
)

DEMO_TENANTS: tuple[TenantSpec, ...] = (CONTOSO, FABRIKAM)


@dataclass(frozen=True)
class DemoSeedResult:
    tenants: list[Tenant]
    admin_username: str
    analyst_username: str
    password: str
    api_key: str

    def summary(self, base_url: str) -> str:
        """What a person needs to try the demo: where to go and how to sign in."""
        tenants = ", ".join(f"{t.name} ({t.get_provider_display()})" for t in self.tenants)
        return "\n".join(
            [
                f"Tenants:  {tenants}",
                f"Admin:    {base_url}/admin/",
                f"API:      {base_url}/api/v1/  (docs: {base_url}/api/docs/)",
                f"User:     {self.admin_username}  (superuser: every tenant)",
                f"User:     {self.analyst_username}  (analyst on {ANALYST_TENANT.title()} only)",
                f"Password: {self.password}  (both users)",
                f"API key:  {self.api_key}",
                f"          (as {self.admin_username}: 'Authorization: Bearer <key>')",
            ]
        )


def demo_seed(*, password: str | None = None) -> DemoSeedResult:
    """Create (or complete) the demo world; safe to run again.

    The users' password is `password`, else $CLAWBACK_DEMO_PASSWORD, else a new random
    one; earlier demo API keys are revoked and a new one is issued (it is only ever
    shown once, so a rerun is the way to see one again).
    """
    password = password or os.environ.get("CLAWBACK_DEMO_PASSWORD") or secrets.token_urlsafe(12)
    now = timezone.now()
    with transaction.atomic():
        tenants = [_seed_tenant(spec, now) for spec in DEMO_TENANTS]
        admin = _seed_user(ADMIN_USERNAME, password, superuser=True)
        analyst = _seed_user(ANALYST_USERNAME, password, superuser=False)
        Membership.objects.update_or_create(
            user=analyst,
            tenant=next(t for t in tenants if t.slug == ANALYST_TENANT),
            defaults={"role": Role.ANALYST},
        )
        for key in ApiKey.objects.active().filter(user=admin, name=API_KEY_NAME):
            api_key_revoke(key=key, actor=None, via=VIA)
        _, raw_key = api_key_issue(user=admin, name=API_KEY_NAME, actor=None, via=VIA)
    return DemoSeedResult(
        tenants=tenants,
        admin_username=admin.get_username(),
        analyst_username=analyst.get_username(),
        password=password,
        api_key=raw_key,
    )


def _seed_tenant(spec: TenantSpec, now: datetime) -> Tenant:
    tenant = Tenant.objects.filter(slug=spec.slug).first()
    if tenant is None:
        tenant = tenant_create(
            actor=None,
            via=VIA,
            name=spec.name,
            slug=spec.slug,
            provider=spec.provider,
            domains=[spec.domain],
        )
    mailboxes: dict[str, Mailbox] = {}
    for box in spec.mailboxes:
        mailboxes[box.local], _ = Mailbox.objects.get_or_create(
            tenant=tenant,
            address=spec.address(box.local),
            defaults={"kind": box.kind, "display_name": box.display_name},
        )
    for box in spec.mailboxes:
        for member in box.members:
            GroupMembership.objects.get_or_create(
                tenant=tenant, group=mailboxes[box.local], member=mailboxes[member]
            )
    for message_spec in spec.messages:
        _seed_message(tenant, spec, message_spec, mailboxes, now)
    return tenant


def _seed_message(
    tenant: Tenant,
    spec: TenantSpec,
    message_spec: MessageSpec,
    mailboxes: dict[str, Mailbox],
    now: datetime,
) -> None:
    received_at = now - timedelta(hours=message_spec.hours_ago)
    # The history is spread over the hour after delivery, as a verdict and a later review.
    steps = [
        (received_at + timedelta(minutes=7 * (i + 1)), disposition, note)
        for i, (disposition, note) in enumerate(message_spec.history)
    ]
    message, created = Message.objects.get_or_create(
        tenant=tenant,
        internet_message_id=message_spec.internet_message_id(spec.slug),
        defaults={
            "sender": message_spec.sender,
            "subject": message_spec.subject,
            "received_at": received_at,
            "disposition": message_spec.disposition,
            "disposition_changed_at": steps[-1][0] if steps else None,
            "source": MessageSource.DEMO,
        },
    )
    if created:
        previous = Disposition.NONE
        for changed_at, disposition, note in steps:
            DispositionChange.objects.create(
                tenant=tenant,
                message=message,
                previous=previous,
                disposition=disposition,
                source="demo",
                note=note,
                changed_at=changed_at,
            )
            previous = disposition
    for local, group in spec.recipients(message_spec):
        Delivery.objects.get_or_create(
            message=message,
            recipient=spec.address(local),
            defaults={
                "tenant": tenant,
                "mailbox": mailboxes[local],
                "via_group": mailboxes[group] if group else None,
            },
        )


def _seed_user(username: str, password: str, *, superuser: bool) -> Any:
    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"email": f"{username}@msp.example"}
    )
    user.set_password(password)
    user.is_active = user.is_staff = True
    user.is_superuser = superuser
    user.save(update_fields=["password", "is_active", "is_staff", "is_superuser"])
    return user


def demo_connect_emulator(*, https_url: str, http_url: str) -> list[Tenant]:
    """Point the demo tenants at the provider emulator (and give each a journal address).

    Runs on every start: the emulator's ports and its throwaway keys are per run.
    """
    from mailboxes.providers.emulator.credentials import service_account_info
    from mailboxes.providers.emulator.demo import (
        DEMO_GOOGLE_SERVICE_ACCOUNT,
        DEMO_MS_CLIENT_ID,
        DEMO_MS_CLIENT_SECRET,
        demo_directory_id,
    )

    tenants = []
    for spec in DEMO_TENANTS:
        tenant = Tenant.objects.get(slug=spec.slug)
        if tenant.provider == Provider.MICROSOFT:
            tenant.ms_directory_tenant_id = demo_directory_id(spec.slug)
            tenant.ms_client_id = DEMO_MS_CLIENT_ID
            tenant.provider_endpoint = https_url
            tenant_set_credentials(
                tenant=tenant,
                actor=None,
                credentials={"client_secret": DEMO_MS_CLIENT_SECRET},
                via=VIA,
            )
        else:
            tenant.google_admin_subject = spec.address(spec.mailboxes[0].local)
            tenant.provider_endpoint = http_url
            info = service_account_info(DEMO_GOOGLE_SERVICE_ACCOUNT, f"{http_url}/token")
            tenant_set_credentials(
                tenant=tenant,
                actor=None,
                credentials={"service_account_info": info},
                via=VIA,
            )
        tenant.journal_address = f"journal@{spec.slug}.clawback.test"
        tenant.save(
            update_fields=[
                "ms_directory_tenant_id",
                "ms_client_id",
                "google_admin_subject",
                "provider_endpoint",
                "journal_address",
            ]
        )
        tenants.append(tenant)
    return tenants
