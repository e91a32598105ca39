"""Django tenants wired to the provider emulator's example seed (alpha: Microsoft, beta: Google)."""

from __future__ import annotations

from dataclasses import dataclass

from mailboxes.models import Mailbox, MailboxKind, Provider, Tenant
from mailboxes.providers import clear_provider_cache
from mailboxes.providers.emulator import Emulator
from mailboxes.providers.emulator.credentials import service_account_info
from mailboxes.providers.gmail import credentials_cache
from mailboxes.providers.graph import clear_caches
from tests.factories import make_tenant

ALPHA_CLIENT_ID = "11111111-2222-3333-4444-555555555555"
ALPHA_SECRET = "alpha-secret"
BETA_SERVICE_ACCOUNT = "clawback@clawback-test.iam.gserviceaccount.com"


@dataclass
class EmulatedTenants:
    alpha: Tenant
    beta: Tenant


def reset_client_caches() -> None:
    """Fresh msal apps, Google credentials and provider objects (tokens die with a reset)."""
    clear_provider_cache()
    clear_caches()
    credentials_cache.clear()


def connect_tenants(emulator: Emulator) -> EmulatedTenants:
    """Create the two seed tenants in Django, with their mailboxes, pointing at `emulator`."""
    reset_client_caches()
    alpha = make_tenant(
        "Alpha Corp",
        Provider.MICROSOFT,
        slug="alpha",
        domains=["alpha.example"],
        ms_directory_tenant_id=emulator.authority("alpha").rsplit("/", 1)[1],
        ms_client_id=ALPHA_CLIENT_ID,
        provider_endpoint=emulator.https_url,
        credentials={"client_secret": ALPHA_SECRET},
    )
    beta = make_tenant(
        "Beta Ltd",
        Provider.GOOGLE,
        slug="beta",
        domains=["beta.example"],
        google_admin_subject="diego@beta.example",
        provider_endpoint=emulator.http_url,
        credentials={
            "service_account_info": service_account_info(
                BETA_SERVICE_ACCOUNT, emulator.google_token_uri
            )
        },
    )
    tenants = {"alpha": alpha, "beta": beta}
    boxes = {box.address: box for box in emulator.state.mailboxes.values()}
    for box in boxes.values():
        Mailbox.objects.get_or_create(
            tenant=tenants[box.tenant.key],
            address=box.address,
            defaults={"kind": box.kind if box.kind in MailboxKind.values else "unknown"},
        )
    return EmulatedTenants(alpha=alpha, beta=beta)
