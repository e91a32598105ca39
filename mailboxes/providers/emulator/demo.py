"""The demo world as an emulator seed, built from `mailboxes.demo.DEMO_TENANTS`.

So the copies Clawback's demo database knows about are the copies the emulator holds.
The credentials below are what the demo's Tenant rows must carry to be authorized.
"""

from __future__ import annotations

import uuid
from typing import Any

from mailboxes.providers.emulator.state import DEFAULT_DELEGATED_SCOPES

DEMO_MS_CLIENT_ID = "c1a3b5c7-0000-4000-8000-00000000c1a3"
DEMO_MS_CLIENT_SECRET = "demo-client-secret-not-for-production"  # noqa: S105 (emulator only)
DEMO_GOOGLE_SERVICE_ACCOUNT = "clawback-demo@clawback-demo.iam.gserviceaccount.com"
_NAMESPACE = uuid.UUID("2b0f7c0e-5d43-4a5e-9a4e-1f6a2c9d7b11")


def demo_directory_id(slug: str) -> str:
    """The Microsoft directory (tenant) id the emulator gives a demo tenant."""
    return str(uuid.uuid5(_NAMESPACE, f"tenant:{slug}"))


def demo_object_id(address: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"mailbox:{address}"))


def demo_seed_document() -> dict[str, Any]:
    from mailboxes.demo import DEMO_TENANTS  # Django models: import only when asked

    tenants = []
    for spec in DEMO_TENANTS:
        tenant: dict[str, Any] = {
            "id": spec.slug,
            "name": spec.name,
            "provider": str(spec.provider),
            "domains": [spec.domain],
            "mailboxes": [
                {
                    "address": spec.address(box.local),
                    "kind": str(box.kind),
                    "display_name": box.display_name,
                    "id": demo_object_id(spec.address(box.local)),
                    "members": [spec.address(m) for m in box.members],
                }
                for box in spec.mailboxes
            ],
            "messages": [
                {
                    "internet_message_id": message.internet_message_id(spec.slug),
                    "subject": message.subject,
                    "sender": message.sender,
                    "recipients": [spec.address(local) for local in message.to],
                    "hours_ago": message.hours_ago,
                    "read_by": [spec.address(local) for local in message.read_by],
                }
                for message in spec.messages
            ],
        }
        if tenant["provider"] == "microsoft":
            tenant["directory_id"] = demo_directory_id(spec.slug)
            tenant["apps"] = [{"client_id": DEMO_MS_CLIENT_ID, "secrets": [DEMO_MS_CLIENT_SECRET]}]
        else:
            tenant["service_accounts"] = [
                {"client_email": DEMO_GOOGLE_SERVICE_ACCOUNT, "scopes": DEFAULT_DELEGATED_SCOPES}
            ]
        tenants.append(tenant)
    return {"tenants": tenants}
