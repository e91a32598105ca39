"""Admin for webhook endpoints (tenant admins manage, others read) and the delivery log.

Writes go through webhooks.services (audited); the signing secret is generated,
shown once in the message after creation or rotation, and never again.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from mailboxes.access import Role
from mailboxes.admin_base import (
    ReadOnlyAdminMixin,
    TenantFilter,
    TenantScopedAdmin,
    adopt,
    holds,
    tenant_ids_holding,
)
from webhooks.forms import WebhookEndpointForm
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    FIELDS,
    webhook_create,
    webhook_delete,
    webhook_ping,
    webhook_rotate_secret,
    webhook_update,
)


def _shown_once(request: HttpRequest, endpoint: WebhookEndpoint, secret: str, verb: str) -> None:
    messages.success(
        request,
        f"The {verb} signing secret of “{endpoint.name}” is {secret} — copy it to the "
        "receiver now: it is not shown again.",
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    form = WebhookEndpointForm
    add_role = change_role = delete_role = Role.ADMIN
    list_display = [
        "name",
        "tenant",
        "url",
        "enabled",
        "event_types_text",
        "last_success_at",
        "failing_since",
    ]
    list_filter = [("tenant", TenantFilter), "enabled"]
    list_select_related = ["tenant"]
    search_fields = ["name", "url"]
    actions = ["ping", "rotate_secret"]
    readonly_fields = [
        "created_at",
        "updated_at",
        "last_success_at",
        "failing_since",
        "deliveries",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["tenant", "name", "url", "enabled", "event_types"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    @admin.display(description="event types")
    def event_types_text(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types) or "all"

    @admin.display(description="delivery log")
    def deliveries(self, obj: WebhookEndpoint) -> str:
        from django.urls import reverse

        url = reverse("admin:webhooks_webhookdelivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">Deliveries</a>', url, obj.pk)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool):
        data = {name: form.cleaned_data[name] for name in FIELDS if name in form.cleaned_data}
        if change:
            # The form already changed `obj` in memory: the service compares with the stored row.
            stored = WebhookEndpoint.objects.for_tenant(obj.tenant_id).get(pk=obj.pk)
            changed = {name: data[name] for name in form.changed_data if name in data}
            if changed:
                webhook_update(endpoint=stored, actor=request.user, via="admin", **changed)
            adopt(obj, stored)
            return
        endpoint, secret = webhook_create(
            tenant=form.cleaned_data["tenant"], actor=request.user, via="admin", **data
        )
        adopt(obj, endpoint)
        _shown_once(request, endpoint, secret, "new")

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        webhook_delete(endpoint=obj, actor=request.user, via="admin")

    # --- actions --------------------------------------------------------------------------
    def has_ping_permission(self, request: HttpRequest) -> bool:
        return holds(request, Role.ADMIN)

    has_rotate_secret_permission = has_ping_permission

    def _administered(self, request: HttpRequest, queryset: Any) -> list[WebhookEndpoint]:
        allowed = tenant_ids_holding(request, Role.ADMIN)
        if allowed is not None:
            queryset = queryset.filter(tenant_id__in=allowed)
        return list(queryset.select_related("tenant"))

    @admin.action(description="Send a test event (webhook.ping)", permissions=["ping"])
    def ping(self, request: HttpRequest, queryset: Any) -> None:
        endpoints = self._administered(request, queryset)
        for endpoint in endpoints:
            webhook_ping(endpoint=endpoint, actor=request.user, via="admin")
        self.message_user(
            request,
            f"Test event queued for {len(endpoints)} endpoint(s): see the delivery log.",
            messages.SUCCESS,
        )

    @admin.action(description="Rotate the signing secret", permissions=["rotate_secret"])
    def rotate_secret(self, request: HttpRequest, queryset: Any) -> None:
        for endpoint in self._administered(request, queryset):
            secret = webhook_rotate_secret(endpoint=endpoint, actor=request.user, via="admin")
            _shown_once(request, endpoint, secret, "new")


class EndpointFilter(admin.RelatedOnlyFieldListFilter):
    """The endpoints the user may see (not a DISTINCT over the whole delivery log)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        return [
            (e.pk, str(e))
            for e in WebhookEndpoint.objects.for_user(request.user).only("pk", "name")
        ]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "tenant",
    ]
    list_filter = [
        "status",
        ("tenant", TenantFilter),
        ("endpoint", EndpointFilter),
        "created_at",
    ]
    list_select_related = ["tenant", "endpoint"]
    search_fields = ["event_type"]
    fields = [
        "created_at",
        "tenant",
        "endpoint",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "payload_json",
    ]

    @admin.display(description="payload")
    def payload_json(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))
