"""Admin for retraction policies, attempts and bulk jobs, and the retraction actions.

`RetractionActionsMixin` gives the Message and Delivery admins their "Retract…",
"Undo" and (messages) "Reclassify…" actions and change-page buttons, and the
Message changelist its "Retract everything matching this search…" (a bulk job).
Every one goes through a confirmation page and then calls the retraction
services, the same entry points as the API; roles are checked there again.

What a confirmation page acts on is the admin's scoped queryset: another
tenant's rows are not there to act on (the per-object pages answer 404). A
selection spanning tenants makes one service call per tenant, all in one
transaction: either every tenant's copies are queued or none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.http import urlencode

from mailboxes.access import AccessDenied, Role
from mailboxes.admin_base import (
    COUNT_CAP,
    ReadOnlyAdminMixin,
    TenantFilter,
    TenantScopedAdmin,
    holds,
)
from mailboxes.admin_site import tenant_roles
from mailboxes.models import Delivery, Message, Provider, Tenant
from mailboxes.vocabulary import Action, Disposition, PolicyAction
from retraction.forms import PolicyForm, ReclassifyForm, RetractForm
from retraction.models import (
    JOB_OPEN_STATES,
    AttemptStatus,
    Mode,
    RetractionAttempt,
    RetractionJob,
    RetractionPolicy,
)
from retraction.services.decide import message_reclassify
from retraction.services.jobs import job_cancel, job_counts, job_create
from retraction.services.manual import estimate, retraction_request, retraction_undo
from retraction.services.policies import policy_update

# Rows one confirmation page acts on directly; more is a bulk job's work.
MAX_SELECTION = 1000
# Messages a bulk job started from a free-text search may list one by one.
MAX_JOB_MESSAGES = COUNT_CAP
# Rows listed by name on a confirmation page.
LISTED = 20
# Message ids that still fit in a link to the attempts they produced.
LINKED_IDS = 100


def error_text(exc: Exception) -> str:
    """A service error as one readable sentence."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def capped_count(queryset: models.QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, more): a COUNT over at most `cap + 1` rows, like the changelists."""
    n = queryset.order_by().values("pk")[: cap + 1].count()
    return min(n, cap), n > cap


def role_label(request: HttpRequest, tenant_id: int) -> str:
    roles = tenant_roles(request) or {}
    return Role(roles[tenant_id]).label if tenant_id in roles else "none"


def changelist_url(model: type[models.Model], **params: Any) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def change_url(obj: models.Model) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class Selection:
    """The rows a confirmation page acts on (messages or single copies), per tenant."""

    def __init__(self, rows: list[Any], kind: str) -> None:
        self.rows = rows
        self.kind = kind
        self.by_tenant: dict[int, list[Any]] = defaultdict(list)
        self.tenants: dict[int, Tenant] = {}
        for row in rows:
            self.by_tenant[row.tenant_id].append(row)
            self.tenants[row.tenant_id] = row.tenant

    def message_of(self, row: Any) -> Message:
        return row if self.kind == "messages" else row.message

    @property
    def unretractable(self) -> list[Any]:
        return [row for row in self.rows if not self.message_of(row).retractable]

    def service_rows(self, tenant_id: int) -> dict[str, list[Any]]:
        """The keyword argument naming this tenant's rows for the retraction services."""
        return {self.kind: self.by_tenant[tenant_id]}

    def attempts_url(self, request: HttpRequest) -> str:
        """The attempts changelist filtered on these rows (or on the user's manual attempts)."""
        ids = [row.pk for row in self.rows]
        key = "message__in" if self.kind == "messages" else "delivery__in"
        if len(ids) <= LINKED_IDS:
            return changelist_url(RetractionAttempt, **{key: ",".join(map(str, ids))})
        return changelist_url(
            RetractionAttempt, mode__exact=Mode.MANUAL, requested_by__id__exact=request.user.pk
        )


def action_hidden(request: HttpRequest, action: str) -> list[tuple[str, str]]:
    """Hidden inputs that bring a confirmation POST back to the same changelist action."""
    hidden = [("action", action)]
    hidden += [
        (helpers.ACTION_CHECKBOX_NAME, pk)
        for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    ]
    if request.POST.get("select_across") == "1":
        hidden.append(("select_across", "1"))
    return hidden


def confirming(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get("confirm") == "yes"


# Message changelist parameters that have a twin among the API's message filters, which
# a bulk job runs when it starts. Anything else (the free-text search, the source) is
# kept by listing the matching messages' ids instead.
SEARCH_FILTERS = {
    "disposition__exact": "disposition",
    "sender__iexact": "sender",
    "subject__icontains": "subject",
    "received_at__gte": "received_after",
    "received_at__lt": "received_before",
}
TENANT_PARAM = "tenant__id__exact"
# Changelist parameters that do not narrow a search.
NOT_FILTERS = {"o", "p", "e", "_changelist_filters", "_to_field", "_popup"}
# Names for the parameters that have no sidebar entry of their own.
PARAM_LABELS = {
    "sender__iexact": "Sender",
    "subject__icontains": "Subject contains",
    "received_at__gte": "Received on or after",
    "received_at__lt": "Received before",
}


def search_to_filter(params: dict[str, str]) -> dict[str, str] | None:
    """The API message filter for these changelist parameters, or None if one has no twin."""
    found: dict[str, str] = {}
    for name, value in params.items():
        if name == TENANT_PARAM:
            continue
        if name not in SEARCH_FILTERS:
            return None
        key = SEARCH_FILTERS[name]
        if key.startswith("received_"):
            when = parse_datetime(value)
            if when is None:
                return None
            if timezone.is_naive(when):
                when = timezone.make_aware(when)
            value = when.isoformat()
        found[key] = value
    return found


def describe_search(cl: Any, params: dict[str, str]) -> list[tuple[str, str]]:
    """The changelist's search in the words of its filter sidebar (the tenant aside)."""
    described: list[tuple[str, str]] = []
    covered = {TENANT_PARAM}
    for spec in cl.filter_specs:
        used = set(getattr(spec, "used_parameters", {}))
        if not used or used & covered:
            continue
        chosen = [str(c["display"]) for c in spec.choices(cl) if c.get("selected")]
        if chosen:
            described.append((str(spec.title).capitalize(), ", ".join(chosen)))
            covered |= used
    if cl.query:
        described.append(("Search words", cl.query))
        covered.add("q")
    # Anything without a sidebar entry (a sender, a date range typed into the address).
    described += [
        (PARAM_LABELS.get(name, name), value)
        for name, value in params.items()
        if name not in covered
    ]
    return described


class RetractionActionsMixin:
    """Retract…, Undo and Reclassify… for the Message and Delivery admins.

    `retraction_kind` says what a row is: "messages" (every copy of each) or
    "deliveries" (single copies). Analysts (on every tenant of the selection) see
    and use the actions; hard delete needs the tenant admin role as well.
    """

    retraction_kind = "messages"
    reclassify_enabled = False
    search_retraction_enabled = False

    # --- permissions --------------------------------------------------------------------
    def has_retract_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request, Role.ANALYST, None if obj is None else obj.tenant_id)

    def has_reclassify_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.reclassify_enabled and self.has_retract_permission(request, obj)

    # --- actions --------------------------------------------------------------------------
    @admin.action(
        description="Retract the selected %(verbose_name_plural)s…", permissions=["retract"]
    )
    def retract(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self.retract_flow(
            request,
            queryset,
            hidden=action_hidden(request, "retract"),
            back_url=request.get_full_path(),
        )

    @admin.action(
        description="Undo: move the selected %(verbose_name_plural)s back to the inbox…",
        permissions=["retract"],
    )
    def undo(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self.retract_flow(
            request,
            queryset,
            hidden=action_hidden(request, "undo"),
            back_url=request.get_full_path(),
            undo=True,
        )

    @admin.action(
        description="Reclassify the selected %(verbose_name_plural)s…", permissions=["reclassify"]
    )
    def reclassify(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self.reclassify_flow(
            request,
            queryset,
            hidden=action_hidden(request, "reclassify"),
            back_url=request.get_full_path(),
        )

    # --- urls and change page ------------------------------------------------------------
    def get_urls(self) -> list:
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        wrap = self.admin_site.admin_view
        urls = [
            path(
                "<path:object_id>/retract/",
                wrap(self.object_view(self.retract_flow)),
                name=f"{name}_retract",
            ),
            path(
                "<path:object_id>/undo/",
                wrap(self.object_view(self.retract_flow, undo=True)),
                name=f"{name}_undo",
            ),
        ]
        if self.reclassify_enabled:
            urls.append(
                path(
                    "<path:object_id>/reclassify/",
                    wrap(self.object_view(self.reclassify_flow)),
                    name=f"{name}_reclassify",
                )
            )
        if self.search_retraction_enabled:
            urls.append(
                path(
                    "retract-search/",
                    wrap(self.retract_search_view),
                    name=f"{name}_retract_search",
                )
            )
        return urls + super().get_urls()

    def object_view(self, flow: Callable[..., HttpResponse | None], **kwargs: Any) -> Callable:
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            obj = self.get_object(request, unquote(object_id))
            if obj is None:
                raise Http404(f"No {self.model._meta.verbose_name} matches the given query.")
            if not self.has_retract_permission(request, obj):
                raise PermissionDenied
            back_url = change_url(obj)
            queryset = self.get_queryset(request).filter(pk=obj.pk)
            response = flow(request, queryset, hidden=[], back_url=back_url, original=obj, **kwargs)
            return response or HttpResponseRedirect(back_url)

        return view

    def render_change_form(self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any):
        obj = kwargs.get("obj")
        context["can_retract"] = obj is not None and self.has_retract_permission(request, obj)
        context["can_reclassify"] = obj is not None and self.has_reclassify_permission(request, obj)
        return super().render_change_form(request, context, *args, **kwargs)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {
            **(extra_context or {}),
            "can_retract_search": self.search_retraction_enabled
            and self.has_retract_permission(request),
        }
        return super().changelist_view(request, extra_context)

    # --- shared by the flows ----------------------------------------------------------------
    def page(self, request: HttpRequest, template: str, title: str, **context: Any):
        return TemplateResponse(
            request,
            f"admin/retraction/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                "kind": self.retraction_kind,
                **context,
            },
        )

    def selection(self, request: HttpRequest, queryset: Any) -> Selection | None:
        """The selected rows, or None (with a message) when there are none or too many."""
        related = ("tenant",) if self.retraction_kind == "messages" else ("tenant", "message")
        rows = list(queryset.select_related(*related)[: MAX_SELECTION + 1])
        noun = self.model._meta.verbose_name_plural
        if not rows:
            self.message_user(request, f"No {noun} selected.", messages.WARNING)
            return None
        if len(rows) > MAX_SELECTION:
            self.message_user(
                request,
                f"More than {MAX_SELECTION} {noun} selected: that is a job for "
                "“Retract everything matching this search…” on the message list, "
                "which runs in the background.",
                messages.ERROR,
            )
            return None
        return Selection(rows, self.retraction_kind)

    def refuse_denied(self, request: HttpRequest, tenants: dict[int, Tenant], doing: str) -> bool:
        """Message and True when the user may not act on one of the tenants."""
        denied = [t for tid, t in tenants.items() if not holds(request, Role.ANALYST, tid)]
        if not denied:
            return False
        names = ", ".join(f"{t.name} (your role: {role_label(request, t.pk)})" for t in denied)
        self.message_user(
            request,
            f"Nothing was done: {doing} needs the Analyst role on every tenant of the "
            f"selection, and you do not hold it on {names}.",
            messages.ERROR,
        )
        return True

    # --- retract and undo --------------------------------------------------------------------
    def retract_flow(
        self,
        request: HttpRequest,
        queryset: Any,
        *,
        hidden: list[tuple[str, str]],
        back_url: str,
        original: Any = None,
        undo: bool = False,
    ) -> HttpResponse | None:
        """The confirmation page, then one service call per tenant; None means "go back"."""
        selection = self.selection(request, queryset)
        doing = "undoing a retraction" if undo else "retracting"
        if selection is None or self.refuse_denied(request, selection.tenants, doing):
            return None
        if len(selection.unretractable) == len(selection.rows):
            self.message_user(
                request,
                "Nothing can be retracted: the selected messages have no Message-ID header, "
                "so their copies cannot be located in the mailboxes.",
                messages.ERROR,
            )
            return None
        tenant_ids = list(selection.tenants)
        form = None
        if not undo:
            form = RetractForm(
                request.POST if confirming(request) else None,
                allow_hard_delete=all(holds(request, Role.ADMIN, tid) for tid in tenant_ids),
                google_tenants=[
                    t.name for t in selection.tenants.values() if t.provider == Provider.GOOGLE
                ],
            )
        if confirming(request) and (form is None or form.is_valid()):
            return self.retract_confirmed(request, selection, form)

        rows = []
        for tenant_id, tenant in selection.tenants.items():
            counts = estimate(
                tenant=tenant,
                action=Action.INBOX if undo else "",
                **selection.service_rows(tenant_id),
            )
            rows.append(
                {"tenant": tenant, "selected": len(selection.by_tenant[tenant_id]), **counts}
            )
        copies = sum(row["copies"] for row in rows)
        return self.page(
            request,
            "retract_confirmation.html",
            "Undo retraction" if undo else "Retract",
            undo=undo,
            form=form,
            hidden=hidden,
            back_url=back_url,
            original=original,
            per_tenant=rows,
            copies=copies,
            mailboxes=sum(row["mailboxes"] for row in rows),
            listed=selection.rows[:LISTED],
            more=max(0, len(selection.rows) - LISTED),
            unretractable=[selection.message_of(row) for row in selection.unretractable][:LISTED],
            can_confirm=copies > 0,
            submit_label="Yes, move them back to the inbox" if undo else "Yes, retract",
        )

    def retract_confirmed(
        self, request: HttpRequest, selection: Selection, form: RetractForm | None
    ) -> None:
        undo = form is None
        action = Action.INBOX if undo else form.cleaned_data["move_to"]
        attempts: list[RetractionAttempt] = []
        try:
            with transaction.atomic():
                for tenant_id, tenant in selection.tenants.items():
                    rows = selection.service_rows(tenant_id)
                    if undo:
                        attempts += retraction_undo(
                            actor=request.user, tenant=tenant, via="admin", **rows
                        )
                    else:
                        attempts += retraction_request(
                            actor=request.user,
                            tenant=tenant,
                            action=action,
                            confirm_hard_delete=form.cleaned_data.get("confirm_hard_delete", False),
                            via="admin",
                            **rows,
                        )
        except (AccessDenied, ValidationError) as exc:
            self.message_user(request, f"Nothing was queued: {error_text(exc)}", messages.ERROR)
            return None
        if not attempts:
            self.message_user(
                request,
                "No copies queued: none of them "
                + ("is retracted." if undo else "can be located (no Message-ID)."),
                messages.WARNING,
            )
            return None
        self.message_user(
            request,
            format_html(
                '{} queued{} (<a href="{}">follow them in the retraction attempts</a>).',
                plural(len(attempts), "copy", "copies"),
                " to go back to the inbox" if undo else f": {Action(action).label.lower()}",
                selection.attempts_url(request),
            ),
            messages.SUCCESS,
        )
        return None

    # --- reclassify ------------------------------------------------------------------------------
    def reclassify_flow(
        self,
        request: HttpRequest,
        queryset: Any,
        *,
        hidden: list[tuple[str, str]],
        back_url: str,
        original: Any = None,
    ) -> HttpResponse | None:
        selection = self.selection(request, queryset)
        if selection is None or self.refuse_denied(request, selection.tenants, "reclassifying"):
            return None
        form = ReclassifyForm(request.POST if confirming(request) else None)
        if confirming(request) and form.is_valid():
            return self.reclassify_confirmed(request, selection, form)
        policies = defaultdict(dict)
        for policy in RetractionPolicy.objects.filter(tenant_id__in=list(selection.tenants)):
            policies[policy.disposition][policy.tenant_id] = policy.effective_action
        tenants = list(selection.tenants.values())
        policy_rows = [
            {
                "disposition": label,
                "actions": [
                    PolicyAction(policies[value].get(t.pk, PolicyAction.NONE)).label
                    for t in tenants
                ],
            }
            for value, label in Disposition.choices
            if value != Disposition.NONE
        ]
        return self.page(
            request,
            "reclassify_confirmation.html",
            "Reclassify",
            form=form,
            hidden=hidden,
            back_url=back_url,
            original=original,
            listed=selection.rows[:LISTED],
            more=max(0, len(selection.rows) - LISTED),
            policy_tenants=tenants,
            policy_rows=policy_rows,
            can_confirm=True,
            submit_label="Reclassify",
        )

    def reclassify_confirmed(
        self, request: HttpRequest, selection: Selection, form: ReclassifyForm
    ) -> None:
        disposition = form.cleaned_data["disposition"]
        ids = [m.pk for m in selection.rows]
        auto = RetractionAttempt.objects.for_user(request.user).filter(
            message_id__in=ids, mode=Mode.AUTO
        )
        before = auto.count()
        changed = 0
        try:
            with transaction.atomic():
                for message in selection.rows:
                    change = message_reclassify(
                        actor=request.user,
                        message=message,
                        disposition=disposition,
                        note=form.cleaned_data["note"],
                        via="admin",
                    )
                    changed += change is not None
        except (AccessDenied, ValidationError) as exc:
            self.message_user(request, f"Nothing was changed: {error_text(exc)}", messages.ERROR)
            return None
        queued = auto.count() - before
        label = Disposition(disposition).label
        unchanged = len(ids) - changed
        text = f"{plural(changed, 'message', 'messages')} reclassified as {label}"
        if unchanged:
            text += f" ({plural(unchanged, 'message', 'messages')} already had it)"
        if queued:
            self.message_user(
                request,
                format_html(
                    '{}; the policy queued {} (<a href="{}">follow them</a>).',
                    text,
                    plural(queued, "automatic retraction", "automatic retractions"),
                    changelist_url(
                        RetractionAttempt,
                        message__in=",".join(map(str, ids[:LINKED_IDS])),
                        mode__exact=Mode.AUTO,
                    ),
                ),
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, f"{text}; the policy queued no retraction.", messages.SUCCESS
            )
        return None

    # --- retract everything a search matches (a bulk job) -------------------------------------
    def retract_search_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_retract_permission(request):
            raise PermissionDenied
        query = request.GET.urlencode()
        back_url = changelist_url(self.model) + (f"?{query}" if query else "")
        try:
            cl = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            self.message_user(request, "This search is not valid.", messages.ERROR)
            return HttpResponseRedirect(back_url)
        params = {
            name: value
            for name, value in request.GET.items()
            if name not in NOT_FILTERS and value != ""
        }
        if not set(params) - {TENANT_PARAM}:
            self.message_user(
                request,
                "Narrow the search first (a disposition, a sender, a date range, search "
                "words): retracting every message of a tenant is not offered here.",
                messages.ERROR,
            )
            return HttpResponseRedirect(back_url)
        matches = cl.queryset.retractable()
        if TENANT_PARAM in params:
            # Django drops the parameter of a filter with one choice (a user of one tenant):
            # naming another tenant must find nothing, not every message of the user's own.
            tenant_id = params[TENANT_PARAM]
            matches = matches.filter(tenant_id=tenant_id) if tenant_id.isdigit() else matches.none()
        job_filter = search_to_filter(params)
        message_ids: dict[int, list[int]] = {}
        if job_filter is None:
            # The free-text search and other filters have no API twin: list the messages.
            rows = list(matches.order_by().values_list("pk", "tenant_id")[: MAX_JOB_MESSAGES + 1])
            if len(rows) > MAX_JOB_MESSAGES:
                self.message_user(
                    request,
                    f"This search matches more than {MAX_JOB_MESSAGES} messages, too many to "
                    "list one by one. Narrow it, or use only the tenant, disposition and "
                    "received date filters, which the job runs as a search of its own.",
                    messages.ERROR,
                )
                return HttpResponseRedirect(back_url)
            for pk, tenant_id in rows:
                message_ids.setdefault(tenant_id, []).append(pk)
            tenant_ids = list(message_ids)
        else:
            tenant_ids = list(matches.order_by().values_list("tenant_id", flat=True).distinct())
        if not tenant_ids:
            self.message_user(
                request, "The search matches no message that can be retracted.", messages.ERROR
            )
            return HttpResponseRedirect(back_url)
        tenants = Tenant.objects.for_user(request.user).in_bulk(tenant_ids)
        if self.refuse_denied(request, tenants, "retracting"):
            return HttpResponseRedirect(back_url)

        form = RetractForm(
            request.POST if confirming(request) else None,
            allow_hard_delete=all(holds(request, Role.ADMIN, tid) for tid in tenants),
            google_tenants=[t.name for t in tenants.values() if t.provider == Provider.GOOGLE],
        )
        if confirming(request) and form.is_valid():
            return self.search_confirmed(request, form, tenants, job_filter, message_ids, back_url)

        n_messages, more_messages = capped_count(matches)
        copies, more_copies = capped_count(
            Delivery.objects.for_user(request.user).filter(message__in=matches.values("pk"))
        )
        return self.page(
            request,
            "job_confirmation.html",
            "Retract everything matching this search",
            form=form,
            hidden=[],
            back_url=back_url,
            tenants=sorted(tenants.values(), key=lambda t: t.name),
            by_filter=job_filter is not None,
            described=describe_search(cl, params),
            n_messages=n_messages,
            more_messages=more_messages,
            copies=copies,
            more_copies=more_copies,
            can_confirm=True,
            submit_label="Yes, start the job",
        )

    def search_confirmed(
        self,
        request: HttpRequest,
        form: RetractForm,
        tenants: dict[int, Tenant],
        job_filter: dict[str, str] | None,
        message_ids: dict[int, list[int]],
        back_url: str,
    ) -> HttpResponse:
        action = form.cleaned_data["move_to"]
        jobs: list[RetractionJob] = []
        try:
            with transaction.atomic():
                for tenant_id, tenant in sorted(tenants.items()):
                    jobs.append(
                        job_create(
                            actor=request.user,
                            tenant=tenant,
                            action=action,
                            message_ids=message_ids.get(tenant_id),
                            filter=job_filter,
                            confirm_hard_delete=form.cleaned_data.get("confirm_hard_delete", False),
                            via="admin",
                        )
                    )
        except (AccessDenied, ValidationError) as exc:
            self.message_user(request, f"No job was started: {error_text(exc)}", messages.ERROR)
            return HttpResponseRedirect(back_url)
        names = ", ".join(f"job {job.pk} for {tenants[job.tenant_id].name}" for job in jobs)
        self.message_user(
            request,
            f"Started {names}: {Action(action).label.lower()}, every copy of the matching "
            "messages. The progress shows below.",
            messages.SUCCESS,
        )
        if len(jobs) == 1:
            return HttpResponseRedirect(change_url(jobs[0]))
        return HttpResponseRedirect(
            changelist_url(RetractionJob, id__in=",".join(str(job.pk) for job in jobs))
        )


# --- Policies -----------------------------------------------------------------------------------


@admin.register(RetractionPolicy)
class RetractionPolicyAdmin(TenantScopedAdmin):
    """One row per tenant and disposition, created with the tenant: only changed here."""

    change_role = Role.ADMIN
    list_display = ["tenant", "disposition", "action", "enabled", "updated_at", "updated_by"]
    list_display_links = ["tenant", "disposition"]
    list_filter = [("tenant", TenantFilter), "disposition", "action", "enabled"]
    list_select_related = ["tenant", "updated_by"]
    search_fields = ["tenant__name", "disposition"]
    fields = ["tenant", "disposition", "action", "enabled", "updated_at", "updated_by"]
    readonly_fields = ["tenant", "disposition", "updated_at", "updated_by"]
    form = PolicyForm

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        # The form checks the second factor a live hard-delete policy needs, so it can say so.
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def save_model(self, request: HttpRequest, obj: RetractionPolicy, form: Any, change: bool):
        # The form already wrote the new values onto obj; the service compares against
        # the stored row, so hand it a fresh copy.
        stored = RetractionPolicy.objects.select_related("tenant").get(pk=obj.pk)
        try:
            policy = policy_update(
                policy=stored,
                actor=request.user,
                action=form.cleaned_data["action"],
                enabled=form.cleaned_data["enabled"],
                via="admin",
            )
        except AccessDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        obj.updated_at, obj.updated_by = policy.updated_at, policy.updated_by


# --- Attempts (the action log) ----------------------------------------------------------------


@admin.register(RetractionAttempt)
class RetractionAttemptAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "requested_at",
        "recipient",
        "subject",
        "action",
        "mode",
        "status",
        "reason",
        "read_state",
        "requested_by",
        "completed_at",
        "tenant",
    ]
    list_select_related = ["delivery", "message", "tenant", "requested_by"]
    # The Retractions card's "View details" opens this list. Django renders each row's
    # eleven cells (and its link) in Python: 50 rows is a screenful and keeps the first
    # page well under 100 ms over millions of attempts (bench/metrics_bench.py).
    list_per_page = 50
    list_filter = [
        "status",
        "reason",
        "mode",
        "action",
        "read_state",
        ("tenant", TenantFilter),
        "completed_at",
    ]
    search_fields = ["delivery__recipient", "message__internet_message_id", "message__subject"]
    fields = [
        "tenant",
        "message",
        "delivery",
        "job",
        "mode",
        "action",
        "status",
        "reason",
        "detail",
        "read_state",
        "requested_by",
        "requested_at",
        "started_at",
        "completed_at",
        "provider_message_id",
        "tries",
    ]

    def get_queryset(self, request: HttpRequest) -> Any:
        # str(attempt) names the recipient (change page title, history). Django skips
        # list_select_related once a queryset has a select_related, so name them all here.
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(description="recipient", ordering="delivery__recipient")
    def recipient(self, obj: RetractionAttempt) -> str:
        return obj.delivery.recipient

    @admin.display(description="subject")
    def subject(self, obj: RetractionAttempt) -> str:
        return str(obj.message)


# --- Bulk jobs -----------------------------------------------------------------------------------


def attempts_counted(*statuses: str) -> Coalesce:
    """Per job row, its attempts in these statuses (one indexed subquery, no N+1)."""
    counted = (
        RetractionAttempt.objects.filter(job=OuterRef("pk"), status__in=statuses)
        .order_by()
        .values("job")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


@admin.register(RetractionJob)
class RetractionJobAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Bulk retractions: read-only rows with live counters; analysts cancel open jobs.

    Jobs are started from the message list ("Retract everything matching this
    search…") or the API. The change page refreshes itself while the job runs.
    """

    list_display = [
        "created_at",
        "job",
        "action",
        "state",
        "discovered",
        "succeeded",
        "failed",
        "pending",
        "requested_by",
        "tenant",
    ]
    list_display_links = ["created_at", "job"]
    list_select_related = ["tenant", "requested_by"]
    list_filter = ["state", "action", ("tenant", TenantFilter), "created_at"]
    actions = ["cancel_jobs"]
    fields = [
        "tenant",
        "action",
        "state",
        "progress",
        "message_ids",
        "filter",
        "error",
        "requested_by",
        "created_at",
        "finished_at",
    ]

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_succeeded=attempts_counted(AttemptStatus.SUCCEEDED),
                n_failed=attempts_counted(AttemptStatus.FAILED),
                n_pending=attempts_counted(AttemptStatus.QUEUED, AttemptStatus.RUNNING),
            )
        )

    @admin.display(description="job", ordering="id")
    def job(self, obj: RetractionJob) -> str:
        return f"Job {obj.pk}"

    @admin.display(description="succeeded", ordering="n_succeeded")
    def succeeded(self, obj: RetractionJob) -> int:
        return obj.n_succeeded

    @admin.display(description="failed", ordering="n_failed")
    def failed(self, obj: RetractionJob) -> int:
        return obj.n_failed

    @admin.display(description="pending", ordering="n_pending")
    def pending(self, obj: RetractionJob) -> int:
        return obj.n_pending

    @admin.display(description="progress")
    def progress(self, obj: RetractionJob) -> str:
        counts = job_counts(obj)
        done = counts["succeeded"] + counts["failed"] + counts["cancelled"]
        total = counts["discovered"]
        if total:
            bar = format_html(
                '<progress class="job-progress" max="{}" value="{}"></progress> {}%',
                total,
                done,
                done * 100 // total,
            )
        elif obj.state in JOB_OPEN_STATES:
            bar = format_html('<progress class="job-progress"></progress> finding the copies')
        else:
            bar = format_html("{}", "no copies")
        return format_html(
            '{}<div class="job-counters">{} discovered: {} succeeded, {} failed, {} pending, '
            '{} cancelled (<a href="{}">attempts</a>)</div>',
            bar,
            counts["discovered"],
            counts["succeeded"],
            counts["failed"],
            counts["pending"],
            counts["cancelled"],
            changelist_url(RetractionAttempt, job=obj.pk),
        )

    # --- cancel ----------------------------------------------------------------------------
    def has_cancel_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request, Role.ANALYST, None if obj is None else obj.tenant_id)

    @admin.action(description="Cancel the selected jobs", permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: Any) -> None:
        for job in queryset.select_related("tenant")[:MAX_SELECTION]:
            self.cancel(request, job)

    def cancel(self, request: HttpRequest, job: RetractionJob) -> None:
        if not self.has_cancel_permission(request, job):
            self.message_user(
                request,
                f"Job {job.pk} was not cancelled: that needs the Analyst role on "
                f"{job.tenant.name}.",
                messages.ERROR,
            )
            return
        try:
            job_cancel(job=job, actor=request.user, via="admin")
        except (AccessDenied, ValidationError) as exc:
            self.message_user(
                request, f"Job {job.pk} was not cancelled: {error_text(exc)}", messages.ERROR
            )
            return
        self.message_user(
            request,
            f"Job {job.pk} cancelled: its queued copies will not be moved; copies being "
            "moved right now finish.",
            messages.SUCCESS,
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        job = self.get_object(request, unquote(object_id))
        if job is None:
            raise Http404("No retraction job matches the given query.")
        if not self.has_cancel_permission(request, job):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(change_url(job))
        self.cancel(request, job)
        return HttpResponseRedirect(change_url(job))

    def get_urls(self) -> list:
        return [
            path(
                "<path:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="retraction_retractionjob_cancel",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any):
        obj = kwargs.get("obj")
        running = obj is not None and obj.state in JOB_OPEN_STATES
        context["auto_refresh"] = running
        context["can_cancel"] = running and self.has_cancel_permission(request, obj)
        return super().render_change_form(request, context, *args, **kwargs)
