"""How to exercise each entry of the table as one role: URL, payload and probe.

`recipe(t, key, role)` gives a `Call`: the request (with a valid payload, so that an allowed
write really happens) and a probe, a reading of the database that an allowed write changes
and a refused one leaves alone. Admin forms are posted as a browser would post them: the
fields of the page as root sees it (`MatrixTestCase.form_of`), plus the entry's changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from mailboxes.models import AuditEvent, Message, Tenant
from mailboxes.vocabulary import Disposition
from retraction.models import RetractionAttempt, RetractionJob, RetractionPolicy
from tests.api.helpers import api_routes
from tests.two_factor import code, enrol
from webhooks.models import WebhookDelivery, WebhookEndpoint

from .table import ACTION, API
from .world import (
    NEW_PASSWORD,
    RAW_ID,
    VERDICT_ID,
    MatrixTestCase,
    digest,
    expired_attempt,
    log_entries,
    raw_message,
)


# --- Recipes: how to exercise each entry ------------------------------------------------------
@dataclass
class Call:
    method: str
    url: str
    data: Any = None
    params: dict[str, Any] | None = None
    content_type: str | None = None  # API: a raw body of this type instead of JSON
    otp: bool = False  # API: the role's current code in X-Clawback-OTP
    verified: bool = False  # admin: a session signed in with a two-factor code
    fresh: bool = False  # admin: a session of its own (the request ends or replaces it)
    probe: Callable[[], Any] | None = None
    setup: Callable[[], Any] | None = None  # run inside the cell, before the request
    extra: dict[str, Any] = field(default_factory=dict)


def _merge(form: dict[str, list[str]], **changes: Any) -> dict[str, Any]:
    """The form's fields with `changes` (None removes a field, as an unticked checkbox)."""
    for name, value in changes.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value if isinstance(value, list) else [value]
    return form


def _other_action(policy: RetractionPolicy) -> str:
    return "junk" if policy.action != "junk" else "trash"


def _policy(t: MatrixTestCase) -> RetractionPolicy:
    return RetractionPolicy.objects.get(pk=t.alpha_objects["policy"].pk)


def _attempts(**filters: Any) -> Callable[[], int]:
    return lambda: RetractionAttempt.objects.filter(**filters).count()


# Changes posted on each admin's add and change forms (on top of what the form shows).
ADD_CHANGES: dict[str, Callable[[MatrixTestCase], dict[str, Any]]] = {
    "mailboxes.tenant": lambda t: {
        "name": "Gamma GmbH",
        "slug": "gamma",
        "provider": "microsoft",
        "domains": "gamma.example",
        "ingestion_mode": "api",
    },
    "mailboxes.membership": lambda t: {
        "tenant": str(t.alpha.pk),
        "username": "spare",
        "role": "viewer",
    },
    "mailboxes.apikey": lambda t: {"name": "matrix-key"},
    "mailboxes.mailbox": lambda t: {
        "tenant": str(t.alpha.pk),
        "address": "matrix-new@alpha.example",
        "kind": "user",
    },
    "webhooks.webhookendpoint": lambda t: {
        "tenant": str(t.alpha.pk),
        "name": "matrix-siem",
        "url": "https://siem.alpha.example/matrix",
        "enabled": None,
        "event_types": "",
    },
    "auth.user": lambda t: {
        "username": "matrix-user",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    },
    "auth.group": lambda t: {"name": "matrix-group"},
    "django_q.schedule": lambda t: {"name": "matrix-new", "func": "math.floor"},
    "otp_totp.totpdevice": lambda t: {"user": str(t.spare.pk), "name": "matrix-app"},
    "otp_static.staticdevice": lambda t: {"user": str(t.spare.pk), "name": "matrix-codes"},
}
CHANGE_CHANGES: dict[str, Callable[[MatrixTestCase], dict[str, Any]]] = {
    "mailboxes.tenant": lambda t: {"name": "Alpha Renamed"},
    "mailboxes.membership": lambda t: {"role": "analyst"},
    "mailboxes.mailbox": lambda t: {"display_name": "Matrix desk"},
    "retraction.retractionpolicy": lambda t: {"action": _other_action(_policy(t))},
    "webhooks.webhookendpoint": lambda t: {"name": "renamed-siem"},
    "auth.user": lambda t: {"first_name": "Spare"},
    "auth.group": lambda t: {"name": "renamed-group"},
    "django_q.schedule": lambda t: {"name": "renamed-schedule"},
    "django_q.ormq": lambda t: {"key": "other-cluster"},
    "otp_totp.totpdevice": lambda t: {"name": "renamed-app"},
    "otp_static.staticdevice": lambda t: {"name": "renamed-codes"},
}


def _standard(t: MatrixTestCase, key: tuple[str, ...], role: str) -> Call | None:
    """Recipes for a ModelAdmin's own doors (changelist, add, change, delete, history, <id>/)."""
    name, method = key[1], key[2]
    for model in admin.site._registry:
        label = model._meta.label_lower
        prefix = label.replace(".", "_")
        if name == f"{model._meta.app_label}/{model._meta.model_name}/<path:object_id>/":
            row = t.alpha_row(label)
            url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/{row.pk}/"
            return Call("GET", url)
        if not name.startswith(prefix + "_"):
            continue
        view_name = name[len(prefix) + 1 :]
        if view_name not in ("changelist", "add", "change", "delete", "history"):
            continue
        if view_name in ("changelist", "add"):
            url = reverse(f"admin:{name}")
        else:
            url = reverse(f"admin:{name}", args=[t.alpha_row(label).pk])
        if method == "GET":
            return Call("GET", url)
        if view_name == "add":
            changes = ADD_CHANGES.get(label, lambda t: {})(t)
            return Call(
                "POST",
                url,
                data=_merge(t.form_of(url), **changes, _save="Save"),
                probe=lambda model=model: (model._default_manager.count(), log_entries()),
            )
        row = t.alpha_row(label)
        if view_name == "change":
            changes = CHANGE_CHANGES.get(label, lambda t: {})(t)
            data = _merge(t.form_of(url), **changes, _save="Save")
        else:
            data = {"post": "yes"}
        return Call("POST", url, data=data, probe=lambda row=row: (digest(row), log_entries()))
    return None


def _api(t: MatrixTestCase, key: tuple[str, ...], role: str) -> Call:
    name, method = key[1], key[2]
    variant = key[3] if len(key) > 3 else ""
    a = t.alpha_objects
    message, policy, job, webhook = a["message"], a["policy"], a["job"], a["webhook"]
    pk_of = {
        "tenant": t.alpha.pk,
        "mailbox": a["mailbox"].pk,
        "message": message.pk,
        "policy": policy.pk,
        "retraction": a["attempt"].pk,
        "retraction-job": job.pk,
        "audit-event": a["audit_event"].pk,
        "webhook": webhook.pk,
        "webhook-delivery": a["webhook_delivery"].pk,
    }
    route = {r.name: r for r in api_routes()}.get(name)
    detail = route is not None and route.is_detail
    url = route.url(pk_of[route.key]) if detail else reverse(name)
    hard = variant.startswith("hard_delete")
    otp = variant == "hard_delete"
    if method == "GET":
        params = None
        if name == "audit-event-export":
            now = timezone.now()
            params = {
                "start": (now - timedelta(days=1)).isoformat(),
                "end": (now + timedelta(days=1)).isoformat(),
            }
        return Call("GET", url, params=params)
    recipes: dict[tuple[str, str], Callable[[], Call]] = {
        ("tenant-verify", "POST"): lambda: Call(
            "POST", url, probe=lambda: digest(Tenant.objects.get(pk=t.alpha.pk))
        ),
        ("message-list", "POST"): lambda: Call(
            "POST",
            url,
            data={
                "tenant": t.alpha.pk,
                "internet_message_id": VERDICT_ID,
                "sender": "bad@evil.example",
                "subject": "matrix verdict",
                "received_at": "2025-01-06T10:00:00Z",
                "recipients": [a["mailbox"].address],
                "disposition": "NONE",
            },
            probe=lambda: Message.objects.filter(internet_message_id=VERDICT_ID).count(),
        ),
        ("message-raw", "POST"): lambda: Call(
            "POST",
            f"{url}?tenant={t.alpha.pk}",
            data=raw_message(a["mailbox"].address),
            content_type="message/rfc822",
            probe=lambda: Message.objects.filter(internet_message_id=RAW_ID).count(),
        ),
        ("message-retract", "POST"): lambda: Call(
            "POST",
            url,
            data={"action": "hard_delete", "confirm_hard_delete": True}
            if hard
            else {"action": "trash"},
            otp=otp,
            probe=_attempts(message=message),
        ),
        ("message-undo", "POST"): lambda: Call(
            "POST", url, probe=_attempts(message=message, action="inbox")
        ),
        ("message-reclassify", "POST"): lambda: Call(
            "POST",
            url,
            data={"disposition": Disposition.MALICIOUS},
            probe=lambda: digest(message),
        ),
        ("policy-detail", "PUT"): lambda: Call(
            "PUT",
            url,
            data={"action": _other_action(_policy(t)), "enabled": True},
            probe=lambda: digest(policy),
        ),
        ("policy-detail", "PATCH"): lambda: Call(
            "PATCH",
            url,
            data={"action": "hard_delete", "enabled": True, "confirm_hard_delete": True}
            if hard
            else {"action": _other_action(_policy(t))},
            otp=otp,
            probe=lambda: digest(policy),
        ),
        ("retraction-job-list", "POST"): lambda: Call(
            "POST",
            url,
            data={
                "tenant": t.alpha.pk,
                "action": "hard_delete" if hard else "trash",
                "message_ids": [message.pk],
                "confirm_hard_delete": hard,
            },
            otp=otp,
            probe=lambda: RetractionJob.objects.filter(tenant=t.alpha).count(),
        ),
        ("retraction-job-cancel", "POST"): lambda: Call("POST", url, probe=lambda: digest(job)),
        ("webhook-list", "POST"): lambda: Call(
            "POST",
            url,
            data={
                "tenant": t.alpha.pk,
                "name": "matrix-siem",
                "url": "https://siem.alpha.example/matrix",
                "enabled": False,
                "event_types": [],
            },
            probe=lambda: WebhookEndpoint.objects.filter(tenant=t.alpha).count(),
        ),
        ("webhook-detail", "PUT"): lambda: Call(
            "PUT",
            url,
            data={
                "name": "renamed-siem",
                "url": "https://siem.alpha.example/renamed",
                "enabled": False,
                "event_types": ["policy.*"],
            },
            probe=lambda: digest(webhook),
        ),
        ("webhook-detail", "PATCH"): lambda: Call(
            "PATCH", url, data={"name": "renamed-siem"}, probe=lambda: digest(webhook)
        ),
        ("webhook-detail", "DELETE"): lambda: Call("DELETE", url, probe=lambda: digest(webhook)),
        ("webhook-test", "POST"): lambda: Call(
            "POST", url, probe=lambda: WebhookDelivery.objects.filter(endpoint=webhook).count()
        ),
        ("webhook-rotate-secret", "POST"): lambda: Call("POST", url, probe=lambda: digest(webhook)),
    }
    return recipes[(name, method)]()


def _admin_custom(t: MatrixTestCase, key: tuple[str, ...], role: str) -> Call | None:
    name, method = key[1], key[2]
    variant = key[3] if len(key) > 3 else ""
    a = t.alpha_objects
    message, delivery, job = a["message"], a["delivery"], a["job"]
    user = t.users.get(role)

    def obj_url(obj: models.Model) -> str:
        return reverse(f"admin:{name}", args=[obj.pk])

    if name.startswith("app_list["):
        return Call("GET", reverse("admin:app_list", args=[name[len("app_list[") : -1]]))
    simple_gets = {
        "login": lambda: reverse("admin:login"),
        "index": lambda: reverse("admin:index"),
        "password_change": lambda: reverse("admin:password_change"),
        "password_change_done": lambda: reverse("admin:password_change_done"),
        "two_factor": lambda: reverse("admin:two_factor"),
        "jsi18n": lambda: reverse("admin:jsi18n"),
        "(?P<url>.*)$": lambda: "/admin/no-such-page/",
        "view_on_site": lambda: reverse(
            "admin:view_on_site",
            args=[ContentType.objects.get_for_model(Message).pk, message.pk],
        ),
        "mailboxes_tenant_verify": lambda: obj_url(t.alpha),
        "mailboxes_message_upload": lambda: reverse(f"admin:{name}"),
        "mailboxes_message_retract": lambda: obj_url(message),
        "mailboxes_message_undo": lambda: obj_url(message),
        "mailboxes_message_reclassify": lambda: obj_url(message),
        "mailboxes_delivery_retract": lambda: obj_url(delivery),
        "mailboxes_delivery_undo": lambda: obj_url(delivery),
        "mailboxes_auditevent_export": lambda: reverse(f"admin:{name}"),
        "retraction_retractionjob_cancel": lambda: obj_url(job),
        "auth_user_password_change": lambda: obj_url(t.spare),
        "otp_totp_totpdevice_config": lambda: obj_url(t.superuser_rows["otp_totp.totpdevice"]),
        "otp_totp_totpdevice_qrcode": lambda: obj_url(t.superuser_rows["otp_totp.totpdevice"]),
    }
    if variant:  # the hard delete variant of the policy's change page
        simple_gets["retraction_retractionpolicy_change"] = lambda: obj_url(a["policy"])
    search = {"disposition__exact": "NONE", "tenant__id__exact": str(t.alpha.pk)}
    if name == "mailboxes_message_retract_search":
        url = reverse(f"admin:{name}")
        if method == "GET":
            return Call("GET", url, params=search)
        query = "&".join(f"{k}={v}" for k, v in search.items())
        return Call(
            "POST",
            f"{url}?{query}",
            data={"confirm": "yes", "move_to": "trash"},
            probe=lambda: RetractionJob.objects.filter(tenant=t.alpha).count(),
        )
    if name == "autocomplete":
        params = {
            "app_label": "mailboxes",
            "model_name": "groupmembership",
            "field_name": "member",
            "term": "",
        }
        return Call("GET", reverse("admin:autocomplete"), params=params)
    if name == "index":
        return Call("GET", reverse("admin:index"), params={"card-tenant": str(t.alpha.pk)})
    if name == "logout":
        return Call("POST", reverse("admin:logout"), fresh=True)
    if name not in simple_gets:
        return None
    url = simple_gets[name]()
    if method == "GET":
        return Call("GET", url)
    # --- POSTs ---
    if name == "password_change":
        return Call(
            "POST",
            url,
            data={
                "old_password": f"pw-{user.username * 2}" if user else "",
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
            fresh=True,
            probe=lambda: digest(user) if user else None,
        )
    if name == "two_factor":
        device = enrol(user) if user else None
        return Call(
            "POST",
            url,
            data={"step": "renew", "otp_token": code(device) if device else "000000"},
            probe=lambda: AuditEvent.objects.filter(
                action="two_factor.backup_codes_renewed"
            ).count(),
        )
    if name == "mailboxes_tenant_verify":
        return Call("POST", url, probe=lambda: digest(Tenant.objects.get(pk=t.alpha.pk)))
    if name == "mailboxes_message_upload":
        return Call(
            "POST",
            url,
            data={
                "tenant": str(t.alpha.pk),
                "file": SimpleUploadedFile("matrix.eml", raw_message(a["mailbox"].address)),
                "recipients": "",
            },
            probe=lambda: Message.objects.filter(internet_message_id=RAW_ID).count(),
        )
    if name in ("mailboxes_message_retract", "mailboxes_delivery_retract"):
        target = {"message": message} if "message" in name else {"delivery": delivery}
        if variant.startswith("hard_delete"):
            data = {"confirm": "yes", "move_to": "hard_delete", "confirm_hard_delete": "on"}
        else:
            data = {"confirm": "yes", "move_to": "trash"}
        return Call(
            "POST",
            url,
            data=data,
            verified=variant == "hard_delete",
            probe=_attempts(**target),
        )
    if name in ("mailboxes_message_undo", "mailboxes_delivery_undo"):
        target = {"message": message} if "message" in name else {"delivery": delivery}
        return Call("POST", url, data={"confirm": "yes"}, probe=_attempts(action="inbox", **target))
    if name == "mailboxes_message_reclassify":
        return Call(
            "POST",
            url,
            data={"confirm": "yes", "disposition": Disposition.MALICIOUS, "note": "matrix"},
            probe=lambda: digest(message),
        )
    if name == "mailboxes_auditevent_export":
        now = timezone.localtime()
        return Call(
            "POST",
            url,
            data={
                "start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
                "end": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
                "tenant": str(t.alpha.pk),
            },
            probe=lambda: AuditEvent.objects.filter(action="audit.exported").count(),
        )
    if name == "retraction_retractionjob_cancel":
        return Call("POST", url, probe=lambda: digest(job))
    if name == "auth_user_password_change":
        return Call(
            "POST",
            url,
            data={"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
            fresh=True,  # Django cycles the session key of whoever changes a password
            probe=lambda: digest(t.spare),
        )
    if name == "retraction_retractionpolicy_change":  # the hard delete variants
        policy = a["policy"]
        data = _merge(t.form_of(url), action="hard_delete", enabled="on", _save="Save")
        return Call(
            "POST", url, data=data, verified=variant == "hard_delete", probe=lambda: digest(policy)
        )
    return None


# Actions: the rows they act on, the confirmation fields they need, what they change.
def _action(t: MatrixTestCase, key: tuple[str, ...], role: str) -> Call:
    label, name = key[1].split(":")
    variant = key[3] if len(key) > 3 else ""
    a = t.alpha_objects
    data: dict[str, Any] = {}
    setup = None
    row = t.alpha_row(label)
    probe: Callable[[], Any] = lambda: digest(row)  # noqa: E731
    if name == "delete_selected":
        data = {"post": "yes"}
    elif name == "verify_connection":
        pass
    elif name == "retract":
        target = {"message": row} if label == "mailboxes.message" else {"delivery": row}
        if variant.startswith("hard_delete"):
            data = {"confirm": "yes", "move_to": "hard_delete", "confirm_hard_delete": "on"}
        else:
            data = {"confirm": "yes", "move_to": "trash"}
        probe = _attempts(**target)
    elif name == "undo":
        target = {"message": row} if label == "mailboxes.message" else {"delivery": row}
        data = {"confirm": "yes"}
        probe = _attempts(action="inbox", **target)
    elif name == "reclassify":
        data = {"confirm": "yes", "disposition": Disposition.MALICIOUS, "note": "matrix"}
    elif name == "ping":
        probe = lambda: WebhookDelivery.objects.filter(endpoint=a["webhook"]).count()  # noqa: E731
    elif name == "cleanup_expired_attempts":
        setup = expired_attempt
        probe = lambda: apps.get_model("axes", "AccessAttempt").objects.count()  # noqa: E731
    elif name == "resubmit_task":
        probe = lambda: (OrmQ.objects.count(), digest(row))  # noqa: E731
    model = apps.get_model(label)
    payload = {"action": name, "_selected_action": [str(row.pk)], **data}
    if "confirm" not in data and "post" not in data:
        payload["index"] = "0"  # the action bar's own submit; confirmations post without it
    return Call(
        "POST",
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"),
        data=payload,
        verified=variant == "hard_delete",
        probe=probe,
        setup=setup,
        extra={"model": label, "action": name},
    )


def recipe(t: MatrixTestCase, key: tuple[str, ...], role: str) -> Call:
    """How to exercise `key` as `role` (raises KeyError for an entry without a recipe)."""
    kind = key[0]
    if kind == API:
        return _api(t, key, role)
    if kind == ACTION:
        return _action(t, key, role)
    call = _admin_custom(t, key, role) or _standard(t, key, role)
    if call is None:
        raise KeyError(f"no recipe for {key}")
    return call
