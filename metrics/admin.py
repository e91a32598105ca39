"""Admin: the rolled-up periods (for operators), and the link from the card to the attempts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse

from metrics.models import RollupPeriod
from metrics.services.scan import COUNTED_STATUSES, RETRACTION_ACTIONS
from retraction.models import RetractionAttempt


@admin.register(RollupPeriod)
class RollupPeriodAdmin(admin.ModelAdmin):
    """Which days and months the nightly rollup has done (superusers only: not tenant data)."""

    list_display = ["day", "span", "hours", "attempts", "computed_at"]
    list_filter = ["span"]
    readonly_fields = ["span", "day", "hours", "attempts", "computed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def details_url(
    request: HttpRequest, *, start: datetime, end: datetime, tenant_id: int | None
) -> str:
    """The attempts changelist filtered to exactly what the card counts, newest first."""
    params = {
        "completed_at__gte": start.astimezone(UTC).isoformat(),
        "completed_at__lt": end.astimezone(UTC).isoformat(),
        "status__in": ",".join(COUNTED_STATUSES),
        "action__in": ",".join(RETRACTION_ACTIONS),
    }
    if tenant_id is not None:
        params["tenant__id__exact"] = str(tenant_id)
    order = _newest_first(request)
    if order:
        params["o"] = order
    return f"{reverse('admin:retraction_retractionattempt_changelist')}?{urlencode(params)}"


def _newest_first(request: HttpRequest) -> str:
    """The changelist's `o` value for completed_at descending ("" if it has no such column).

    `o` counts list_display columns, with the action checkbox first when there are
    actions; reading them from the registered admin keeps this right as it changes.
    """
    model_admin = admin.site.get_model_admin(RetractionAttempt)
    columns = list(model_admin.get_list_display(request))
    if model_admin.get_actions(request):
        columns.insert(0, "action_checkbox")
    return f"-{columns.index('completed_at')}" if "completed_at" in columns else ""
