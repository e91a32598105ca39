"""Who may see and do what, per tenant. The one place that decides.

A user holds one role per tenant (viewer < analyst < admin). Superusers are the
MSP's owners and hold the admin role on every tenant. Admin classes, viewsets,
services and commands all ask here; none invents its own check. Objects of a
tenant the user may not see are reported as missing (404), never as forbidden.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models
from django.http import Http404

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from mailboxes.models import Tenant

    AnyUser = AbstractBaseUser | AnonymousUser


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer (read only)"
    ANALYST = "analyst", "Analyst (retract, undo)"
    ADMIN = "admin", "Tenant admin (policies, credentials, users)"


_RANK = {Role.VIEWER: 1, Role.ANALYST: 2, Role.ADMIN: 3}


def roles_at_least(role: Role | str) -> list[str]:
    floor = _RANK[Role(role)]
    return [r.value for r, rank in _RANK.items() if rank >= floor]


class AccessDenied(Exception):
    """The user can see the tenant but their role does not allow this."""


def _authenticated(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_owner(user: Any) -> bool:
    return _authenticated(user) and user.is_superuser


def tenant_ids_for(user: Any, role: Role | str = Role.VIEWER) -> models.QuerySet | None:
    """A subquery of tenant ids the user holds `role` or better on; None means all tenants."""
    if is_owner(user):
        return None
    membership = apps.get_model("mailboxes", "Membership")
    if not _authenticated(user):
        return membership.objects.none().values("tenant_id")
    return membership.objects.filter(user=user, role__in=roles_at_least(role)).values("tenant_id")


def role_for(user: Any, tenant: Tenant | int) -> Role | None:
    """The user's role on a tenant, or None when they may not see it."""
    if is_owner(user):
        return Role.ADMIN
    if not _authenticated(user):
        return None
    membership = apps.get_model("mailboxes", "Membership")
    tenant_id = getattr(tenant, "pk", tenant)
    role = (
        membership.objects.filter(user=user, tenant_id=tenant_id)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


def has_role(user: Any, tenant: Tenant | int, role: Role | str) -> bool:
    held = role_for(user, tenant)
    return held is not None and _RANK[held] >= _RANK[Role(role)]


def require_role(user: Any, tenant: Tenant | int, role: Role | str) -> None:
    """Raise Http404 if the tenant is invisible to the user, AccessDenied if the role is short."""
    held = role_for(user, tenant)
    if held is None:
        raise Http404("No such tenant.")
    if _RANK[held] < _RANK[Role(role)]:
        raise AccessDenied(f"This needs the {Role(role).label} role on this tenant.")


def has_any_role(user: Any, role: Role | str = Role.VIEWER) -> bool:
    ids = tenant_ids_for(user, role)
    return ids is None or ids.exists()


class TenantScopedQuerySet(models.QuerySet):
    """Base QuerySet for tenant-owned rows; every read says whose rows it wants."""

    tenant_field = "tenant"

    def for_user(self, user: Any, role: Role | str = Role.VIEWER) -> TenantScopedQuerySet:
        ids = tenant_ids_for(user, role)
        if ids is None:
            return self.all()
        return self.filter(**{f"{self.tenant_field}_id__in": ids})

    def for_tenant(self, tenant: Tenant | int) -> TenantScopedQuerySet:
        return self.filter(**{f"{self.tenant_field}_id": getattr(tenant, "pk", tenant)})

    def all_tenants(self) -> TenantScopedQuerySet:
        """Explicitly read across tenants (system code only: tasks, rollups)."""
        return self.all()


class ShellOperator:
    """Whoever runs a management command: has shell access, so owner rights.

    Audited under its label (the OS user), never stored as a foreign key.
    """

    is_authenticated = True
    is_active = True
    is_superuser = True
    pk = None

    def __init__(self, label: str) -> None:
        self.label = label

    def get_username(self) -> str:
        return self.label

    def __str__(self) -> str:
        return self.label


class SecondFactorRequired(AccessDenied):
    """The action needs a second factor (TOTP) that the actor has not given."""


SECOND_FACTOR_NEEDED = (
    "Hard delete needs two-factor authentication: sign in to the admin with the code from "
    "your authenticator app (set it up under “Two-factor authentication”)."
)


def require_second_factor(actor: Any) -> None:
    """Raise SecondFactorRequired unless the actor proved a second factor (hard delete).

    - A shell operator (management commands) passes: server access is beyond any token.
    - A user passes when `actor.is_verified()` is true. django-otp's OTPMiddleware installs
      it on every request's user (true when this session signed in with a token);
      `mailboxes.api_auth` installs it on an API key's user (true when the request carries
      a valid current code in the X-Clawback-OTP header).
    - Anything else, such as a user loaded without either (`--user` of a command), is
      refused: no session and no token means no second factor.
    """
    if isinstance(actor, ShellOperator):
        return
    verified = getattr(actor, "is_verified", None)
    if callable(verified) and verified():
        return
    raise SecondFactorRequired(getattr(verified, "refusal", "") or SECOND_FACTOR_NEEDED)


def stored_user(actor: Any) -> Any:
    """The User to keep in a foreign key for this actor (None for system and shell actors)."""
    from django.contrib.auth.models import AbstractBaseUser

    return actor if isinstance(actor, AbstractBaseUser) else None
