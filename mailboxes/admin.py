"""Admin for tenants, memberships, API keys, mailboxes, messages, deliveries and the audit trail.

All classes stand on mailboxes.admin_base (rows and permissions per tenant role,
404 for other tenants' rows, bounded counts). Who may do what:

- Tenant: everyone sees their tenants; tenant admins change the name, the
  provider's app identifiers and the credentials; the routing and identity
  fields (slug, provider, domains, ingestion, journal address, emulator
  endpoint) and adding tenants are the MSP's (superusers). Tenants are not
  deleted here: offboarding removes millions of rows and the audit trail
  refuses the SET_NULL a delete would need.
- Membership: tenant admins manage the roles on their tenants.
- API key: each user issues and revokes their own keys (superusers: anyone's).
- Mailbox and its group members: tenant admins correct the directory.
- Message, Delivery, disposition history, AuditEvent: read-only for everyone;
  they are written by ingestion and the retraction services only. Analysts
  retract, undo and reclassify through actions and change-page buttons
  (retraction.admin.RetractionActionsMixin), which call those services.
- Tenant: analysts verify the connection to the provider (tenant_verify).
- Message: analysts upload a raw .eml ("Upload .eml" on the list), stored by the
  ingest service (ingest_raw), like the API's messages/raw/.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters

from mailboxes import admin_signin  # noqa: F401 - registers the sign-in admins
from mailboxes.access import AccessDenied, Role, is_owner
from mailboxes.admin_audit import AuditExportMixin
from mailboxes.admin_base import (
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ScopedModelAdmin,
    TenantFilter,
    TenantScopedAdmin,
    TenantScopedInline,
    adopt,
    holds,
)
from mailboxes.forms import ApiKeyForm, MailboxForm, MembershipForm, TenantForm
from mailboxes.ingest.limits import get_limits
from mailboxes.ingest.service import ingest_raw
from mailboxes.models import (
    ApiKey,
    AuditEvent,
    AuthorizationStatus,
    Delivery,
    DispositionChange,
    GroupMembership,
    Mailbox,
    MailboxKind,
    Membership,
    Message,
    Provider,
    Tenant,
)
from mailboxes.services import (
    api_key_issue,
    api_key_revoke,
    tenant_create,
    tenant_set_credentials,
    tenant_verify,
)
from retraction.admin import RetractionActionsMixin
from retraction.models import RetractionAttempt

# Tenants one "Verify connection" action checks (each is a round trip to the provider).
MAX_VERIFY = 25

# --- Tenants -----------------------------------------------------------------------


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    form = TenantForm
    change_role = Role.ADMIN
    list_display = [
        "name",
        "slug",
        "provider",
        "ingestion_mode",
        "authorization_status",
        "credentials",
        "created_at",
    ]
    list_filter = ["provider", "ingestion_mode", "authorization_status"]
    search_fields = ["name", "slug"]
    actions = ["verify_connection"]

    # Identity and mail routing belong to the MSP: tenant admins see them read-only.
    OWNER_FIELDS = (
        "slug",
        "provider",
        "domains",
        "ingestion_mode",
        "journal_address",
        "provider_endpoint",
    )
    STATUS_FIELDS = (
        "credentials",
        "credentials_updated_at",
        "authorization_status",
        "authorization_checked_at",
        "authorization_error",
        "created_at",
    )

    def tenant_id_of(self, obj: Tenant) -> int:
        return obj.pk

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_owner(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="credentials")
    def credentials(self, obj: Tenant) -> str:
        return obj.credentials_summary()

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> dict:
        return {"slug": ["name"]} if obj is None else {}

    @admin.display(description="domains")
    def domain_list(self, obj: Tenant) -> str:
        return ", ".join(obj.domains) or "-"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(self.STATUS_FIELDS)
        if not is_owner(request.user):
            readonly += self.OWNER_FIELDS
        return readonly + ["domain_list"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        microsoft = obj is None or obj.provider == Provider.MICROSOFT
        google = obj is None or obj.provider == Provider.GOOGLE
        secrets = obj is None or self.has_change_permission(request, obj)
        credential_fields = []
        if obj is not None:
            credential_fields += ["credentials", "credentials_updated_at"]
        if secrets:
            if microsoft:
                credential_fields += [
                    "ms_client_secret",
                    "ms_certificate_private_key",
                    "ms_certificate",
                ]
            if google:
                credential_fields.append("google_service_account_key")
            if obj is not None:
                credential_fields.append("clear_credentials")
        domains = "domains" if is_owner(request.user) else "domain_list"
        fieldsets: list = [
            (None, {"fields": ["name", "slug", "provider", domains]}),
            ("Mail flow", {"fields": ["ingestion_mode", "journal_address"]}),
        ]
        if microsoft:
            fieldsets.append(
                ("Microsoft 365", {"fields": ["ms_directory_tenant_id", "ms_client_id"]})
            )
        if google:
            fieldsets.append(("Google Workspace", {"fields": ["google_admin_subject"]}))
        fieldsets.append(
            (
                "Credentials",
                {
                    "fields": credential_fields,
                    "description": "Secrets are write-only: leave a field empty to keep "
                    "what is stored."
                    if secrets
                    else "",
                },
            )
        )
        if obj is not None:
            fieldsets.append(
                (
                    "Authorization",
                    {
                        "fields": [
                            "authorization_status",
                            "authorization_checked_at",
                            "authorization_error",
                            "created_at",
                        ]
                    },
                )
            )
        if is_owner(request.user):
            fieldsets.append(
                ("Provider emulator", {"fields": ["provider_endpoint"], "classes": ["collapse"]})
            )
        return fieldsets

    @method_decorator(sensitive_post_parameters(*TenantForm.SECRET_FIELDS))
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any):
        return super().changeform_view(request, *args, **kwargs)

    # --- verify the connection ------------------------------------------------------------
    def has_verify_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request, Role.ANALYST, None if obj is None else obj.pk)

    @admin.action(description="Verify the connection to the provider", permissions=["verify"])
    def verify_connection(self, request: HttpRequest, queryset: Any) -> None:
        tenants = list(queryset[: MAX_VERIFY + 1])
        if len(tenants) > MAX_VERIFY:
            self.message_user(
                request,
                f"Verify at most {MAX_VERIFY} tenants at a time (each one asks the provider).",
                messages.ERROR,
            )
            return
        for tenant in tenants:
            self.verify(request, tenant)

    def verify(self, request: HttpRequest, tenant: Tenant) -> None:
        """Check the tenant's credentials now; the outcome, in words, as an admin message."""
        if not self.has_verify_permission(request, tenant):
            self.message_user(
                request,
                f"{tenant.name}: not verified, that needs the Analyst role on this tenant.",
                messages.ERROR,
            )
            return
        try:
            tenant = tenant_verify(tenant=tenant, actor=request.user, via="admin")
        except AccessDenied as exc:
            self.message_user(request, f"{tenant.name}: not verified, {exc}", messages.ERROR)
            return
        text = f"{tenant.name}: {tenant.get_authorization_status_display()}"
        if tenant.authorization_status == AuthorizationStatus.AUTHORIZED:
            self.message_user(request, f"{text}. Retraction can reach its mailboxes.")
            return
        if tenant.authorization_error:
            text += f" — {tenant.authorization_error}"
        if tenant.authorization_status == AuthorizationStatus.UNAUTHORIZED:
            text += ". Retractions for this tenant fail until its credentials are fixed."
        self.message_user(request, text, messages.ERROR)

    def verify_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        tenant = self.get_object(request, unquote(object_id))
        if tenant is None:
            raise Http404("No tenant matches the given query.")
        if not self.has_verify_permission(request, tenant):
            raise PermissionDenied
        if request.method == "POST":
            self.verify(request, tenant)
        return HttpResponseRedirect(reverse("admin:mailboxes_tenant_change", args=[tenant.pk]))

    def get_urls(self) -> list:
        return [
            path(
                "<path:object_id>/verify/",
                self.admin_site.admin_view(self.verify_view),
                name="mailboxes_tenant_verify",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any):
        obj = kwargs.get("obj")
        context["can_verify"] = obj is not None and self.has_verify_permission(request, obj)
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        if not change:
            names = {f.name for f in Tenant._meta.concrete_fields} & set(form.cleaned_data)
            tenant = tenant_create(
                actor=request.user,
                via="admin",
                credentials=form.credentials_change or None,
                **{name: getattr(obj, name) for name in names},
            )
            adopt(obj, tenant)
            return
        super().save_model(request, obj, form, change)
        if form.credentials_change is not None:
            tenant_set_credentials(
                tenant=obj, actor=request.user, credentials=form.credentials_change, via="admin"
            )


# --- Memberships ---------------------------------------------------------------------


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    form = MembershipForm
    add_role = change_role = delete_role = Role.ADMIN
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = [("tenant", TenantFilter), "role", ("user", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__name"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["tenant", "username", "role"]
        return ["tenant", "user", "role", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = super().get_readonly_fields(request, obj)
        return readonly + (["user", "created_at"] if obj is not None else [])

    def audit_data(self, obj: Membership) -> dict[str, Any]:
        return {"user": obj.user.get_username(), "role": obj.role}


# --- API keys ---------------------------------------------------------------------------


@admin.register(ApiKey)
class ApiKeyAdmin(ScopedModelAdmin):
    """Each user's own keys; the plain key is shown once, in the message after creation."""

    form = ApiKeyForm
    list_display = ["name", "key_prefix", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = [
        ("revoked_at", admin.EmptyFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> Any:
        qs = super().get_queryset(request)
        return qs if is_owner(request.user) else qs.filter(user=request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or is_owner(request.user) or obj.user_id == request.user.pk

    def has_add_permission(self, request: HttpRequest) -> bool:
        return True

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked keys stay, for the audit trail

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return True

    @admin.display(description="key", ordering="prefix")
    def key_prefix(self, obj: ApiKey) -> str:
        return f"cbk_{obj.prefix}_…"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["name", "username"] if is_owner(request.user) else ["name"]
        return ["name", "key_prefix", "user", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.get_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        user = form.cleaned_data.get("username") or request.user
        key, raw = api_key_issue(user=user, name=obj.name, actor=request.user, via="admin")
        adopt(obj, key)
        messages.success(
            request,
            f"The new API key for {user.get_username()} is {raw} — copy it now: "
            "it is not stored and will not be shown again.",
        )

    @admin.action(description="Revoke the selected API keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            api_key_revoke(key=key, actor=request.user, via="admin")
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)


# --- Mailboxes ---------------------------------------------------------------------------


class GroupMembershipInline(TenantScopedInline):
    model = GroupMembership
    fk_name = "group"
    fields = ["member", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["member"]
    select_related = ("member",)
    add_role = change_role = delete_role = Role.ADMIN
    verbose_name = "member"
    verbose_name_plural = "members"


@admin.register(Mailbox)
class MailboxAdmin(TenantScopedAdmin):
    form = MailboxForm
    add_role = change_role = delete_role = Role.ADMIN
    list_display = ["address", "display_name", "kind", "tenant", "created_at"]
    list_filter = ["kind", ("tenant", TenantFilter)]
    list_select_related = ["tenant"]
    search_fields = ["address", "display_name"]
    inlines = [GroupMembershipInline]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list:
        return self.inlines if obj is not None and obj.kind == MailboxKind.GROUP else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["tenant", "address", "kind", "display_name", "external_id"]
        return fields if obj is None else [*fields, "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = super().get_readonly_fields(request, obj)
        return readonly + (["address", "created_at"] if obj is not None else [])


# --- Messages and their copies -----------------------------------------------------------


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = ["recipient", "mailbox", "via_group", "status", "provider_message_id"]
    select_related = ("mailbox", "via_group")
    verbose_name_plural = "delivered copies (first 20: see all copies above)"


class DispositionChangeInline(ReadOnlyInline):
    model = DispositionChange
    fields = ["changed_at", "previous", "disposition", "changed_by", "source", "note"]
    select_related = ("changed_by",)
    ordering = ["-changed_at", "-id"]
    verbose_name_plural = "disposition history (latest 20)"


class RetractionAttemptInline(ReadOnlyInline):
    model = RetractionAttempt
    fk_name = "message"
    fields = [
        "requested_at",
        "recipient",
        "action",
        "mode",
        "status",
        "reason",
        "read_state",
        "requested_by",
        "completed_at",
    ]
    select_related = ("delivery", "requested_by")
    verbose_name_plural = "retraction attempts (latest 20: see all attempts above)"


def admin_url_for(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def changelist_link(model: type, text: str, **params: Any) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


class EmlUploadForm(forms.Form):
    """One raw message for a tenant where the user is analyst or better."""

    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none(), empty_label=None)
    file = forms.FileField(
        label=".eml file", help_text="The message as saved from a mail client (RFC 822)."
    )
    recipients = forms.CharField(
        label="Envelope recipients",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Optional: one address per line or separated by commas. Without them, "
        "the journal report's or the headers' recipients in the tenant's domains.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = Tenant.objects.for_user(user, Role.ANALYST).order_by(
            "name"
        )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        limits = get_limits()
        if upload.size > limits.max_message_bytes:
            raise forms.ValidationError(limits.message_too_big(upload.size))
        return upload.read()

    def clean_recipients(self) -> list[str]:
        text = self.cleaned_data.get("recipients") or ""
        return [r for r in re.split(r"[\s,;]+", text) if r]


@admin.register(Message)
class MessageAdmin(RetractionActionsMixin, ReadOnlyAdminMixin, TenantScopedAdmin):
    actions = ["retract", "undo", "reclassify"]
    retraction_kind = "messages"
    reclassify_enabled = True
    search_retraction_enabled = True
    list_display = [
        "received_at",
        "title",
        "sender",
        "disposition",
        "copies",
        "retractable",
        "tenant",
    ]
    list_display_links = ["received_at", "title"]
    list_select_related = ["tenant"]
    list_filter = ["disposition", "source", ("tenant", TenantFilter), "received_at"]
    search_fields = ["internet_message_id", "sender", "subject", "deliveries__recipient"]
    fields = [
        "tenant",
        "internet_message_id",
        "sender",
        "subject",
        "received_at",
        "disposition",
        "disposition_changed_at",
        "source",
        "created_at",
        "retractable",
        "not_retractable_reason",
        "all_copies",
        "all_attempts",
    ]
    inlines = [DeliveryInline, DispositionChangeInline, RetractionAttemptInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        copies = (
            Delivery.objects.filter(message=OuterRef("pk"))
            .order_by()
            .values("message")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return super().get_queryset(request).annotate(copies=Coalesce(Subquery(copies), 0))

    @admin.display(description="subject", ordering="subject")
    def title(self, obj: Message) -> str:
        return str(obj)

    # --- upload a raw .eml ------------------------------------------------------------------
    def has_upload_permission(self, request: HttpRequest) -> bool:
        return holds(request, Role.ANALYST)

    def get_urls(self) -> list:
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="mailboxes_message_upload",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "can_upload": self.has_upload_permission(request)}
        return super().changelist_view(request, extra_context)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload one .eml for a tenant (analyst); stored through the ingest service."""
        if not self.has_upload_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = EmlUploadForm(request.POST, request.FILES, user=request.user)
            if form.is_valid():
                result = ingest_raw(
                    tenant=form.cleaned_data["tenant"],
                    raw=form.cleaned_data["file"],
                    envelope_recipients=form.cleaned_data["recipients"] or None,
                    actor=request.user,
                    source="upload",
                    via="admin",
                )
                if result.ok:
                    self.upload_succeeded(request, result)
                    return HttpResponseRedirect(admin_url_for(Message, "change", result.id))
                self.upload_failed(form, result.errors)
        else:
            form = EmlUploadForm(user=request.user)
        return TemplateResponse(
            request,
            "admin/mailboxes/message/upload.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Upload a message (.eml)",
                "form": form,
                "limit": get_limits(),
            },
        )

    # Where the service's error keys land on the form, and how they are introduced.
    UPLOAD_ERROR_FIELDS = {
        "tenant": ("tenant", ""),
        "recipients": ("recipients", ""),
        "raw": ("file", ""),
        "file": ("file", ""),
        "headers": ("file", "Headers: "),
        "internet_message_id": ("file", "Message-ID: "),
    }

    def upload_failed(self, form: forms.Form, errors: dict[str, list[str]]) -> None:
        for name, texts in errors.items():
            field, prefix = self.UPLOAD_ERROR_FIELDS.get(name, (None, ""))
            for text in texts:
                form.add_error(field, f"{prefix}{text}")

    def upload_succeeded(self, request: HttpRequest, result: Any) -> None:
        words = {"created": "recorded", "updated": "updated", "unchanged": "already recorded"}
        link = format_html(
            '<a href="{}">{}</a>',
            admin_url_for(Message, "change", result.id),
            result.internet_message_id or f"message {result.id}",
        )
        text = format_html(
            "Message {} {}: {} new delivered {}.",
            link,
            words.get(result.status, result.status),
            result.deliveries_created,
            "copy" if result.deliveries_created == 1 else "copies",
        )
        for note in result.notes:
            text = format_html("{} {}", text, note)
        self.message_user(request, text, messages.SUCCESS)

    @admin.display(description="copies")
    def copies(self, obj: Message) -> int:
        return obj.copies

    @admin.display(description="retractable", boolean=True)
    def retractable(self, obj: Message) -> bool:
        return obj.retractable

    @admin.display(description="reason")
    def not_retractable_reason(self, obj: Message) -> str:
        return obj.not_retractable_reason or "—"

    @admin.display(description="delivered copies")
    def all_copies(self, obj: Message) -> str:
        return changelist_link(Delivery, f"All {obj.copies} copies", message=obj.pk)

    @admin.display(description="retraction attempts")
    def all_attempts(self, obj: Message) -> str:
        return changelist_link(RetractionAttempt, "All attempts", message=obj.pk)


class DeliveryAttemptInline(RetractionAttemptInline):
    fk_name = "delivery"
    verbose_name_plural = "retraction attempts (latest 20)"


@admin.register(Delivery)
class DeliveryAdmin(RetractionActionsMixin, ReadOnlyAdminMixin, TenantScopedAdmin):
    actions = ["retract", "undo"]
    retraction_kind = "deliveries"
    list_display = ["recipient", "message", "status", "via_group", "tenant", "created_at"]
    list_select_related = ["message", "via_group", "tenant"]
    list_filter = ["status", ("tenant", TenantFilter), "created_at"]
    search_fields = ["recipient", "message__internet_message_id"]
    fields = [
        "tenant",
        "message",
        "recipient",
        "mailbox",
        "via_group",
        "status",
        "provider_message_id",
        "created_at",
    ]
    inlines = [DeliveryAttemptInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        # str(delivery) names its message (autocomplete too). Django skips
        # list_select_related once a queryset has a select_related, so name them all here.
        return super().get_queryset(request).select_related(*self.list_select_related)


# --- Audit trail ---------------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(AuditExportMixin, ReadOnlyAdminMixin, TenantScopedAdmin):
    """Read only for everyone (no add, change, delete or action); "Export CSV…" on the list."""

    list_display = ["created_at", "actor_label", "action", "tenant_label", "target_repr"]
    list_filter = [("tenant", TenantFilter), "created_at"]
    search_fields = ["action", "actor_label", "target_repr", "target_id"]
    fields = [
        "created_at",
        "tenant",
        "tenant_label",
        "actor",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "details",
    ]

    @admin.display(description="data")
    def details(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))
