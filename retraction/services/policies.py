"""Retraction policies: defaults for a new tenant, and changes by tenant admins."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mailboxes.access import Role, require_role, require_second_factor, stored_user
from mailboxes.audit import audit_record
from mailboxes.models import Tenant
from mailboxes.vocabulary import PolicyAction
from retraction.models import DEFAULT_POLICY, RetractionPolicy


def policies_ensure_defaults(*, tenant: Tenant) -> list[RetractionPolicy]:
    """Give the tenant a policy row for every covered disposition it lacks."""
    have = set(RetractionPolicy.objects.for_tenant(tenant).values_list("disposition", flat=True))
    missing = [
        RetractionPolicy(tenant=tenant, disposition=disposition, action=action)
        for disposition, action in DEFAULT_POLICY.items()
        if disposition not in have
    ]
    RetractionPolicy.objects.bulk_create(missing)
    return missing


POLICY_FIELDS = ("action", "enabled")


def policy_update(
    *,
    policy: RetractionPolicy,
    actor: Any,
    action: str | None = None,
    enabled: bool | None = None,
    via: str = "",
) -> RetractionPolicy:
    """Change one policy (tenant admins only) and audit the change."""
    require_role(actor, policy.tenant_id, Role.ADMIN)
    before = {name: getattr(policy, name) for name in POLICY_FIELDS}
    if action is not None:
        if action not in PolicyAction.values:
            raise ValidationError({"action": [f"'{action}' is not one of {PolicyAction.values}."]})
        policy.action = action
    if enabled is not None:
        policy.enabled = enabled
    after = {name: getattr(policy, name) for name in POLICY_FIELDS}
    if after == before:
        return policy
    if policy.effective_action == PolicyAction.HARD_DELETE:
        # A live hard-delete policy is a standing hard delete: the same rule as by hand.
        require_second_factor(actor)
    with transaction.atomic():
        policy.updated_at = timezone.now()
        policy.updated_by = stored_user(actor)
        policy.save(update_fields=[*POLICY_FIELDS, "updated_at", "updated_by"])
        audit_record(
            actor=actor,
            action="policy.updated",
            tenant=policy.tenant,
            target=policy,
            data={"disposition": policy.disposition, "before": before, "after": after},
            via=via,
        )
    return policy
