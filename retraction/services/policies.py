"""Retraction policies: defaults for a new tenant."""

from __future__ import annotations

from mailboxes.models import Tenant
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
