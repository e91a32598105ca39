"""The admin site: tenant members get in through their membership, not `is_staff`.

Decision (issue: tenant-scoped admin): holding a Membership on any tenant *is*
admin access. `is_staff` is neither needed nor sufficient; an active superuser
or an active user with at least one membership may log in, and what they then
see and may do comes only from `mailboxes.access` roles (see admin_base.py).
Django's per-model auth permissions play no part for tenant members.

Every admin class registered here that is not access-controlled by Clawback
(`AccessControlled`: the tenant-scoped bases, the API key admin) is wrapped in
`SuperuserOnlyAdmin` at registration. That covers django.contrib.auth's User
and Group, django-q2's task admins and anything a future app registers, without
anyone having to remember it.

Sign-in (see mailboxes/signin.py and mailboxes/two_factor.py): the login form asks
for a two-factor code from whoever enrolled an authenticator app, which they do on the
site's "Two-factor authentication" page (in the user links); failed sign-ins are
counted by django-axes, which locks a user name out from an address after too many.

This module is imported while the app registry is being populated (it holds the
AdminConfig), so it must not import models at module level.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.admin import ModelAdmin
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.sites import AdminSite
from django.http import HttpRequest, HttpResponse
from django.urls import path

from mailboxes.access import is_owner

_ROLES_ATTR = "_clawback_tenant_roles"


def tenant_roles(request: HttpRequest) -> dict[int, str] | None:
    """The user's role per tenant id, once per request; None means all tenants (superuser)."""
    if not hasattr(request, _ROLES_ATTR):
        user = request.user
        if is_owner(user):
            roles = None
        elif not (user.is_authenticated and user.is_active):
            roles = {}
        else:
            membership = apps.get_model("mailboxes", "Membership")
            roles = dict(membership.objects.filter(user=user).values_list("tenant_id", "role"))
        setattr(request, _ROLES_ATTR, roles)
    return getattr(request, _ROLES_ATTR)


class AccessControlled:
    """Marker: this admin class scopes rows and permissions itself (through mailboxes.access)."""


class SuperuserOnlyAdmin:
    """Mixin: only superusers see or touch this model (on top of the class's own checks)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_owner(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_owner(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_owner(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_owner(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_owner(request.user) and super().has_delete_permission(request, obj)


class ClawbackAdminSite(AdminSite):
    site_header = "Clawback"
    site_title = "Clawback"
    index_title = "Administration"
    # Django's login page plus the two-factor code field.
    login_template = "admin/two_factor/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not (user.is_authenticated and user.is_active):
            return False
        roles = tenant_roles(request)
        return roles is None or bool(roles)

    @property
    def login_form(self) -> type:  # type: ignore[override]
        # Imported late: forms need models, and this module loads with the app registry.
        from mailboxes.two_factor import TwoFactorLoginForm

        return TwoFactorLoginForm

    def get_urls(self) -> list:
        return [
            path("two-factor/", self.admin_view(self.two_factor_view), name="two_factor"),
            *super().get_urls(),
        ]

    def two_factor_view(self, request: HttpRequest) -> HttpResponse:
        from mailboxes.two_factor import two_factor_view

        return two_factor_view(request, site=self)

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or ModelAdmin
        if not issubclass(admin_class, AccessControlled):
            admin_class = type(
                admin_class.__name__,
                (SuperuserOnlyAdmin, admin_class),
                {"__module__": admin_class.__module__},
            )
        super().register(model_or_iterable, admin_class, **options)


class ClawbackAdminConfig(AdminConfig):
    """django.contrib.admin with `ClawbackAdminSite` as `admin.site`."""

    default_site = "mailboxes.admin_site.ClawbackAdminSite"

    def ready(self) -> None:
        super().ready()
        from axes.signals import user_locked_out

        from mailboxes.signin import record_lockout

        user_locked_out.connect(record_lockout, dispatch_uid="clawback.signin.locked_out")
