"""Writes on tenants, their credentials and API keys (one entry point each)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from mailboxes import crypto
from mailboxes.access import Role, require_role
from mailboxes.audit import audit_record
from mailboxes.models import ApiKey, AuthorizationStatus, Tenant
from mailboxes.vocabulary import FailureReason


@transaction.atomic
def tenant_create(*, actor: Any, via: str = "", **fields: Any) -> Tenant:
    """Create a tenant with the default retraction policies."""
    from retraction.services.policies import policies_ensure_defaults

    credentials = fields.pop("credentials", None)
    tenant = Tenant(**fields)
    if credentials:
        tenant.set_credentials(credentials)
    tenant.full_clean()
    tenant.save()
    policies_ensure_defaults(tenant=tenant)
    audit_record(actor=actor, action="tenant.created", tenant=tenant, target=tenant, via=via)
    return tenant


@transaction.atomic
def tenant_set_credentials(
    *, tenant: Tenant, actor: Any, credentials: dict[str, Any], via: str = ""
) -> None:
    """Replace a tenant's secret credentials; the audit records that, never what."""
    tenant.set_credentials(credentials)
    tenant.save(update_fields=["credentials_ciphertext", "credentials_updated_at"])
    audit_record(
        actor=actor,
        action="tenant.credentials_changed",
        tenant=tenant,
        target=tenant,
        data={"kind": tenant.credentials_summary()},
        via=via,
    )


def api_key_issue(*, user: Any, name: str, actor: Any, via: str = "") -> tuple[ApiKey, str]:
    """Issue an API key for `user`; the plain key is returned once, only its hash is kept."""
    with transaction.atomic():
        key, raw = ApiKey.issue(user=user, name=name)
        audit_record(
            actor=actor,
            action="api_key.issued",
            target=key,
            data={"user": user.get_username(), "prefix": key.prefix},
            via=via,
        )
    return key, raw


def api_key_revoke(*, key: ApiKey, actor: Any, via: str = "") -> None:
    with transaction.atomic():
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="api_key.revoked", target=key, via=via)


def tenant_verify(*, tenant: Tenant, actor: Any, via: str = "") -> Tenant:
    """Check the tenant's credentials against the provider now and record the result."""
    from mailboxes.providers import provider_for
    from mailboxes.providers.base import ProviderError

    require_role(actor, tenant, Role.ANALYST)
    try:
        check = provider_for(tenant).verify()
        status, error = check.status, check.error
    except ProviderError as exc:
        status = (
            AuthorizationStatus.UNAUTHORIZED
            if exc.reason == FailureReason.NOT_AUTHORIZED
            else AuthorizationStatus.ERROR
        )
        error = exc.detail or str(exc.reason)
    with transaction.atomic():
        tenant.authorization_status = status
        tenant.authorization_error = crypto.redact(error)[:2000]
        tenant.authorization_checked_at = timezone.now()
        tenant.save(
            update_fields=[
                "authorization_status",
                "authorization_error",
                "authorization_checked_at",
            ]
        )
        audit_record(
            actor=actor,
            action="tenant.verified",
            tenant=tenant,
            target=tenant,
            data={"status": status, "error": tenant.authorization_error},
            via=via,
        )
    return tenant
