"""The append-only audit trail."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from mailboxes.access import TenantScopedQuerySet

from .tenancy import Tenant


class AppendOnlyError(Exception):
    """Audit events are never changed or deleted."""


# The one change the trail allows: forgetting a deleted tenant or user (Django's
# SET_NULL on their deletion). Their names stay in tenant_label / actor_label.
_FORGETTABLE = frozenset({"tenant", "actor"})


class AuditEventQuerySet(TenantScopedQuerySet):
    def update(self, **kwargs: Any) -> int:
        if kwargs and set(kwargs) <= _FORGETTABLE and all(v is None for v in kwargs.values()):
            return super().update(**kwargs)
        raise AppendOnlyError("audit events cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events cannot be deleted")


class AuditEvent(models.Model):
    """Who did what to which object, when. Rows are only ever added."""

    # SET_NULL keeps the trail when a tenant is removed; tenant_label keeps its name.
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tenant_label = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="User name, API key or 'system'.")
    action = models.CharField(max_length=64, help_text="For example policy.updated.")
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_created"),
            models.Index(fields=["action", "-created_at"], name="audit_action_created"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events cannot be deleted")
