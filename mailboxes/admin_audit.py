"""The audit trail's "Export CSV" in the admin: a small form, then the same stream as the API.

The link on the audit changelist carries the list's filters and search
(`_changelist_filters`); the form adds the interval (and optionally a tenant), and
`mailboxes.audit_export.audit_export` writes the CSV of exactly those rows.
"""

from __future__ import annotations

import copy
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_date

from mailboxes.audit_export import MAX_SPAN, audit_export, csv_response, validate_interval
from mailboxes.models import Tenant

FILTERS_PARAM = "_changelist_filters"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class AuditExportForm(forms.Form):
    start = forms.DateTimeField(label="From", widget=DateTimeLocalInput())
    end = forms.DateTimeField(label="To (not included)", widget=DateTimeLocalInput())
    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.none(), required=False, empty_label="All my tenants"
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = Tenant.objects.for_user(user).only("pk", "name")
        zone = timezone.get_current_timezone_name()
        for name in ("start", "end"):
            self.fields[name].help_text = f"Time zone: {zone}."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "start" in data and "end" in data:
            try:
                validate_interval(data["start"], data["end"])
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


def initial_for(filters: QueryDict) -> dict[str, Any]:
    """The form's starting values: the list's date filter and tenant, else the last 7 days."""
    zone = timezone.get_current_timezone()
    now = timezone.localtime().replace(second=0, microsecond=0)
    initial: dict[str, Any] = {"start": now - timedelta(days=7), "end": now}
    for name, key in (("start", "created_at__gte"), ("end", "created_at__lt")):
        day = parse_date((filters.get(key) or "")[:10]) if filters.get(key) else None
        if day is not None:
            initial[name] = datetime.combine(day, time.min, tzinfo=zone)
    if filters.get("tenant__id__exact", "").isdigit():
        initial["tenant"] = int(filters["tenant__id__exact"])
    return initial


class AuditExportMixin:
    """For the audit event admin: the export page (view role) and the changelist link."""

    def get_urls(self) -> list:
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="mailboxes_auditevent_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        context = {**(extra_context or {}), "can_export": self.has_view_permission(request)}
        return super().changelist_view(request, context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        source = request.POST if request.method == "POST" else request.GET
        filters = QueryDict(source.get(FILTERS_PARAM, ""))
        if request.method == "POST":
            form = AuditExportForm(request.POST, user=request.user)
            if form.is_valid():
                response = self.export(request, form, filters)
                if response is not None:
                    return response
        else:
            form = AuditExportForm(initial=initial_for(filters), user=request.user)
        return TemplateResponse(
            request,
            "admin/mailboxes/auditevent/export.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Export the audit trail (CSV)",
                "form": form,
                "filters": filters,
                "filters_param": FILTERS_PARAM,
                "filters_value": filters.urlencode(),
                "max_days": MAX_SPAN.days,
            },
        )

    def export(self, request: HttpRequest, form: AuditExportForm, filters: QueryDict):
        """The CSV of the changelist's rows for the form's interval (None: form error)."""
        listing = copy.copy(request)
        listing.GET = filters
        try:
            queryset = self.get_changelist_instance(listing).get_queryset(listing)
        except IncorrectLookupParameters:
            form.add_error(None, "The list's filters are not valid; go back and filter again.")
            return None
        data = form.cleaned_data
        stream = audit_export(
            actor=request.user,
            start=data["start"],
            end=data["end"],
            tenant=data.get("tenant"),
            queryset=queryset,
            filters=dict(filters.items()),
            via="admin",
        )
        return csv_response(stream, start=data["start"], end=data["end"])
