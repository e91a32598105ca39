"""Shared API plumbing: the tenant-scoped viewset base (pagination lives in api_pagination).

Every viewset derives from `ScopedViewSet`. It reads through the model's
`for_user(request.user)` QuerySet, so rows of tenants the caller may not see are
missing (404), and it checks the caller's role through `mailboxes.access` before
any write: a short role on a visible tenant is 403, an invisible tenant 404.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, mixins, permissions, serializers, viewsets
from rest_framework.generics import get_object_or_404

from mailboxes import access
from mailboxes.access import AccessDenied, Role
from mailboxes.api_pagination import CursorPagination
from mailboxes.models import Tenant
from mailboxes.two_factor import OTP_HEADER

__all__ = [
    "ApiKeyScheme",
    "CursorPagination",
    "ScopedReadOnlyViewSet",
    "ScopedTenantField",
    "ScopedViewSet",
]


class ScopedTenantField(serializers.PrimaryKeyRelatedField):
    """A tenant id in a payload: only tenants the caller may see are valid choices."""

    def get_queryset(self) -> models.QuerySet:
        request = self.context.get("request")
        return Tenant.objects.for_user(getattr(request, "user", None))


class ScopedViewSet(viewsets.GenericViewSet):
    """The one base for API viewsets: scoped reads, 404 for other tenants, role checks on writes.

    Subclasses set `model` (its manager must offer `for_user`), optionally
    `prepare_queryset` for select/prefetch, `cursor_ordering`, and the roles that
    writes need (`write_role`, or per action in `action_roles`). They do not
    override `get_queryset` or `get_object`.
    """

    model: ClassVar[type[models.Model]]
    # Attribute holding the id of the tenant that owns a row ("pk" for Tenant itself).
    tenant_id_attr: ClassVar[str] = "tenant_id"
    write_role: ClassVar[Role] = Role.ADMIN
    action_roles: ClassVar[dict[str, Role]] = {}
    cursor_ordering: ClassVar[tuple[str, ...]] = ("-id",)
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> models.QuerySet:
        return self.prepare_queryset(self.scoped(self.model))

    def prepare_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        """Add select_related/prefetch_related here; the queryset is already scoped."""
        return queryset

    def scoped(self, model: type[models.Model]) -> models.QuerySet:
        """Rows of `model` the caller may see (use it for prefetch querysets too)."""
        return model.objects.for_user(self.request.user)

    def get_object(self) -> models.Model:
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        obj = get_object_or_404(
            self.get_queryset(), **{self.lookup_field: self.kwargs[lookup_url_kwarg]}
        )
        role = self.required_role()
        if role != Role.VIEWER:
            # Visibility is proven by the scoped queryset; only a stronger role needs a check.
            self.require_role(getattr(obj, self.tenant_id_attr), role)
        self.check_object_permissions(self.request, obj)
        return obj

    def required_role(self) -> Role:
        if self.action in self.action_roles:
            return self.action_roles[self.action]
        if self.request.method in permissions.SAFE_METHODS:
            return Role.VIEWER
        return self.write_role

    def require_role(self, tenant: Tenant | int, role: Role) -> None:
        """404 when the tenant is invisible to the caller, 403 when the role is short."""
        try:
            access.require_role(self.request.user, tenant, role)
        except AccessDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from None

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        # The tenant comes from a ScopedTenantField, and the caller's role on it is checked.
        tenant = serializer.validated_data.get("tenant")
        if tenant is None:
            raise exceptions.ValidationError({"tenant": ["This field is required."]})
        self.require_role(tenant, self.required_role())
        serializer.save()

    def handle_exception(self, exc: Exception) -> Any:
        # Services speak Django and mailboxes.access; the API answers in DRF's terms.
        if isinstance(exc, AccessDenied):
            exc = exceptions.PermissionDenied(str(exc))
        elif isinstance(exc, DjangoValidationError):
            exc = exceptions.ValidationError(serializers.as_serializer_error(exc))
        return super().handle_exception(exc)


class ScopedReadOnlyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """List and detail, nothing else."""


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes `mailboxes.api_auth.ApiKeyAuthentication` in the OpenAPI schema."""

    target_class = "mailboxes.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`python manage.py create_api_key`) as a Bearer token.",
        }


# Hard delete through the API needs the key owner's current TOTP code (mailboxes/access.py).
SECOND_FACTOR_PARAMETER = OpenApiParameter(
    OTP_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Hard delete only: the current code of the key owner's authenticator app "
    "(two-factor). Without a valid one a hard delete answers 403.",
)
