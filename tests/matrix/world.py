"""The matrix's world: the seven roles, alpha's rows, and what exists to be tested.

`MatrixTestCase` builds the two tenants of tests/base.py once per class, plus what the
doors of the table need: a member of no tenant (nemo), an API key and an authenticator
app for everyone, an open bulk job, webhook rows, and one row per superuser-only admin.

How each entry is exercised (URL, valid payload, probe) is in recipes.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.db import connection, models
from django.urls import URLResolver, get_resolver
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_q.models import OrmQ, Schedule, Task

from mailboxes.models import ApiKey, AuditEvent, Delivery, DeliveryStatus, Membership
from mailboxes.services import api_key_issue
from mailboxes.vocabulary import Disposition
from metrics.models import RollupPeriod
from retraction.models import RetractionJob, RetractionPolicy
from tests.base import TwoTenantsTestCase
from tests.factories import make_user
from tests.two_factor import enrol
from tests.webhooks.factories import add_webhook_rows

from .table import ACTION, ADMIN, ANALYST, API, NOBODY, OUTSIDER, SUPERUSER, VIEW, VIEWER

# --- Discovery: what exists at test time ---------------------------------------------------
_META_METHODS = {"options", "head", "trace"}


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            found.append((prefix + str(pattern.pattern), pattern))
    return found


def api_doors() -> set[tuple[str, str, str]]:
    """(api, URL name, METHOD) for every route under /api/ (router actions included)."""
    doors = set()
    for path, pattern in _walk(get_resolver().url_patterns):
        if not path.startswith("api/"):
            continue
        callback = pattern.callback
        actions = getattr(callback, "actions", None)
        if actions:
            methods = {m for m in actions if m not in _META_METHODS}
        else:
            view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
            methods = {
                m
                for m in view_class.http_method_names
                if m not in _META_METHODS and hasattr(view_class, m)
            }
        doors |= {(API, pattern.name or path, m.upper()) for m in methods}
    return doors


def admin_doors() -> set[tuple[str, str]]:
    """(admin, URL name) for every URL of the admin site; unnamed ones by their route.

    The app index is one pattern for every app label: one door per label.
    """
    doors = set()
    for path, pattern in _walk(admin.site.get_urls()):
        if pattern.name == "app_list":
            labels = {model._meta.app_label for model in admin.site._registry}
            doors |= {(VIEW, f"app_list[{label}]") for label in labels}
        else:
            doors.add((VIEW, pattern.name or path))
    return doors


def action_doors(superuser: Any) -> set[tuple[str, str]]:
    """(action, "app.model:action") for every action a superuser is offered, per ModelAdmin."""
    from django.test import RequestFactory

    doors = set()
    for model, model_admin in admin.site._registry.items():
        request = RequestFactory().get("/")
        request.user = superuser
        for name in model_admin.get_actions(request):
            doors.add((ACTION, f"{model._meta.label_lower}:{name}"))
    return doors


def offered_actions(model_label: str, user: Any) -> set[str]:
    """The actions the changelist of `model_label` offers this user."""
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    model_admin = admin.site._registry[apps.get_model(model_label)]
    return set(model_admin.get_actions(request))


# --- The database before and after a request ---------------------------------------------
_SKIPPED_APPS = {"sessions", "contenttypes"}  # sessions come and go with sign-ins


def _tables() -> list[str]:
    return sorted(
        {
            m._meta.db_table
            for m in apps.get_models()
            if m._meta.managed and not m._meta.proxy and m._meta.app_label not in _SKIPPED_APPS
        }
    )


def row_counts() -> dict[str, int]:
    """Rows per table of every app (audit trail, admin log, queue, devices...): one query."""
    tables = _tables()
    quote = connection.ops.quote_name
    # Table names from the app registry, quoted: no outside input reaches this SQL.
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


def digest(obj: models.Model) -> tuple:
    """Every stored field of one row (empty when it is gone)."""
    return tuple(type(obj)._default_manager.filter(pk=obj.pk).values_list())


def log_entries() -> int:
    return LogEntry.objects.count()


# --- Admin forms as a browser would post them ---------------------------------------------
class _FormReader(HTMLParser):
    """The fields of the admin's change form (id "<model>_form") with their current values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.found = False
        self.data: list[tuple[str, str]] = []
        self._select: tuple[str, bool] | None = None
        self._options: list[tuple[str, bool]] = []
        self._option: list[Any] | None = None
        self._textarea: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = (a.get("id") or "").endswith("_form") and not self.found
            self.found = self.found or self.inside
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.append((name, a.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._options = (name, "multiple" in a), []
        elif tag == "option" and self._select is not None:
            self._option = [a.get("value"), "selected" in a, ""]
        elif tag == "textarea" and name:
            self._textarea = [name, ""]

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1] += data
        if self._option is not None:
            self._option[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "option" and self._option is not None:
            value, selected, text = self._option
            self._options.append((value if value is not None else text.strip(), selected))
            self._option = None
        elif tag == "select" and self._select is not None:
            name, multiple = self._select
            chosen = [v for v, selected in self._options if selected]
            if not chosen and not multiple and self._options:
                chosen = [self._options[0][0]]
            self.data += [(name, v) for v in chosen]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self.data.append((name, text[1:] if text.startswith("\n") else text))
            self._textarea = None


def form_fields(html: str) -> dict[str, list[str]]:
    reader = _FormReader()
    reader.feed(html)
    fields: dict[str, list[str]] = {}
    for name, value in reader.data:
        fields.setdefault(name, []).append(value)
    return fields


# --- The world --------------------------------------------------------------------------------
RAW_ID = "<matrix-raw@evil.example>"
VERDICT_ID = "<matrix-verdict@evil.example>"
NEW_PASSWORD = "Matrix-new-pass-4242"


def raw_message(recipient: str) -> bytes:
    return (
        "From: Attacker <bad@evil.example>\r\n"
        f"To: {recipient}\r\n"
        "Subject: matrix upload\r\n"
        f"Message-ID: {RAW_ID}\r\n"
        "Date: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
        "\r\n"
        "Hello.\r\n"
    ).encode()


class MatrixTestCase(TwoTenantsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        # is_staff without any membership: neither needed nor sufficient for the admin.
        cls.nemo = make_user("nemo")
        cls.nemo.is_staff = True
        cls.nemo.save(update_fields=["is_staff"])
        cls.users = {
            VIEWER: cls.vera,
            ANALYST: cls.bob,
            ADMIN: cls.alice,
            SUPERUSER: cls.root,
            OUTSIDER: cls.charlie,
            NOBODY: cls.nemo,
        }
        cls.api_keys = {}
        for role, user in cls.users.items():
            key, raw = api_key_issue(user=user, name=f"{user.username}-laptop", actor=user)
            cls.api_keys[role] = raw
            enrol(user)  # everyone has an authenticator app: only roles decide
        cls.alice_key = ApiKey.objects.get(user=cls.alice)

        for tenant, objects in ((cls.alpha, cls.alpha_objects), (cls.beta, cls.beta_objects)):
            add_webhook_rows(objects, tenant)
            objects["job"] = RetractionJob.objects.create(
                tenant=tenant, action="trash", message_ids=[objects["message"].pk]
            )
            objects["audit_event"] = AuditEvent.objects.filter(tenant=tenant).earliest("id")
        alpha = cls.alpha_objects
        alpha["membership"] = Membership.objects.get(user=cls.vera, tenant=cls.alpha)
        alpha["policy"] = RetractionPolicy.objects.get(
            tenant=cls.alpha, disposition=Disposition.SPAM
        )
        # The fixture's attempt moved u1's copy to the trash: there is something to undo.
        Delivery.objects.filter(pk=alpha["delivery"].pk).update(status=DeliveryStatus.RETRACTED)

        # One row per superuser-only admin.
        now = timezone.now()
        cls.spare = make_user("spare")
        cls.superuser_rows = {
            "auth.user": cls.spare,
            "auth.group": Group.objects.create(name="auditors"),
            "django_q.schedule": Schedule.objects.create(
                name="matrix-schedule", func="math.floor", args="1.5", schedule_type="O"
            ),
            "django_q.success": Task.objects.create(
                id=uuid.uuid4().hex,
                name="matrix-success",
                func="math.floor",
                args=(1.5,),
                kwargs={},
                started=now,
                stopped=now,
                success=True,
            ),
            "django_q.failure": Task.objects.create(
                id=uuid.uuid4().hex,
                name="matrix-failure",
                func="math.floor",
                args=(1.5,),
                kwargs={},
                started=now,
                stopped=now,
                success=False,
            ),
            "django_q.ormq": OrmQ.objects.create(key="clawback", payload="not-a-task", lock=now),
            "axes.accessattempt": _axes_row(
                "AccessAttempt", get_data="", post_data="", failures_since_start=1
            ),
            "axes.accesslog": _axes_row("AccessLog"),
            "axes.accessfailurelog": _axes_row("AccessFailureLog", locked_out=False),
            "otp_totp.totpdevice": enrol(cls.spare),
            "otp_static.staticdevice": StaticDevice.objects.create(
                user=cls.spare, name="Backup codes", confirmed=True
            ),
            "metrics.rollupperiod": RollupPeriod.objects.create(
                span="day", day=(now - timedelta(days=3)).date(), attempts=0
            ),
        }

    def setUp(self) -> None:
        super().setUp()
        self._forms: dict[str, dict[str, list[str]]] = {}

    # --- rows ---------------------------------------------------------------------------------
    def alpha_row(self, label: str) -> models.Model:
        """The row of an admin's model that the table's alpha doors point at."""
        if label in self.superuser_rows:
            return self.superuser_rows[label]
        objects = self.alpha_objects
        return {
            "mailboxes.tenant": self.alpha,
            "mailboxes.membership": objects["membership"],
            "mailboxes.apikey": self.alice_key,
            "mailboxes.mailbox": objects["shared"],
            "mailboxes.message": objects["message"],
            "mailboxes.delivery": objects["delivery"],
            "mailboxes.auditevent": objects["audit_event"],
            "retraction.retractionpolicy": objects["policy"],
            "retraction.retractionattempt": objects["attempt"],
            "retraction.retractionjob": objects["job"],
            "webhooks.webhookendpoint": objects["webhook"],
            "webhooks.webhookdelivery": objects["webhook_delivery"],
        }[label]

    def form_of(self, url: str) -> dict[str, list[str]]:
        """The admin form on `url` as root sees it, as a browser would post it back."""
        if url not in self._forms:
            from django.test import Client

            client = Client()
            client.force_login(self.root)
            response = client.get(url)
            html = response.content.decode() if response.status_code == 200 else ""
            self._forms[url] = form_fields(html)
        return {name: list(values) for name, values in self._forms[url].items()}


def _axes_row(model_name: str, username: str = "spare", **fields: Any) -> models.Model:
    return apps.get_model("axes", model_name).objects.create(
        user_agent="matrix",
        ip_address="192.0.2.7",
        username=username,
        http_accept="*/*",
        path_info="/admin/login/",
        **fields,
    )


def expired_attempt() -> None:
    """An attempt old enough for "clean up expired attempts" (made inside the cell: django-axes
    cleans expired attempts at every sign-in, the tests' own included)."""
    row = _axes_row(
        "AccessAttempt", username="gone", get_data="", post_data="", failures_since_start=1
    )
    type(row).objects.filter(pk=row.pk).update(attempt_time=timezone.now() - timedelta(days=30))
