"""The card's controls on the admin home page: which tenants, which interval."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from mailboxes.models import Tenant
from metrics.serializers import EARLIEST, LATEST, MAX_SPAN

PERIODS: dict[str, tuple[str, timedelta | None]] = {
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
    "custom": ("From – to", None),
}
DEFAULT_PERIOD = "7d"


class DateInput(forms.DateInput):
    input_type = "date"


class CardForm(forms.Form):
    """GET parameters card-tenant, card-period, card-start, card-end (dates: whole days)."""

    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.none(), required=False, empty_label="All my tenants"
    )
    period = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in PERIODS.items()], required=False
    )
    start = forms.DateField(label="From", required=False, widget=DateInput)
    end = forms.DateField(label="To (included)", required=False, widget=DateInput)

    def __init__(self, data: Any = None, *, user: Any, now: datetime | None = None) -> None:
        super().__init__(data, prefix="card", initial={"period": DEFAULT_PERIOD})
        self.now = (now or timezone.now()).replace(microsecond=0)
        self.fields["tenant"].queryset = Tenant.objects.for_user(user).only("pk", "name")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("period") == "custom":
            start, end = data.get("start"), data.get("end")
            if start is None:
                self.add_error("start", "Pick the first day.")
            if end is None:
                self.add_error("end", "Pick the last day.")
            for name in ("start", "end"):
                day = data.get(name)
                if day is not None and not EARLIEST.date() <= day < LATEST.date():
                    self.add_error(name, "Pick a day between 1970 and 9998.")
            start, end = data.get("start"), data.get("end")
            if start and end:
                if end < start:
                    self.add_error("end", "The last day cannot be before the first.")
                elif (end - start).days + 1 > MAX_SPAN.days:
                    self.add_error("end", f"At most {MAX_SPAN.days} days.")
        return data

    def interval(self) -> tuple[datetime, datetime, Tenant | None]:
        """The interval (aware, in the current time zone) and tenant the form asks for."""
        data = self.cleaned_data if self.is_bound else {}
        period = data.get("period") or DEFAULT_PERIOD
        tenant = data.get("tenant")
        if period == "custom":
            zone = timezone.get_current_timezone()
            start = datetime.combine(data["start"], time.min, tzinfo=zone)
            end = datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=zone)
            return start, end, tenant
        end = self.now.astimezone(timezone.get_current_timezone())
        return end - PERIODS[period][1], end, tenant
