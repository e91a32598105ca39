"""The metrics API's query parameters and the card it answers with."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mailboxes.models import Tenant
from metrics.services.tally import REASONS

DEFAULT_SPAN = timedelta(days=7)
MAX_SPAN = timedelta(days=400)
# Intervals lie within these (UTC); farther out, date arithmetic and queries overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
# Real time zones lie within ±14 hours of UTC.
MAX_OFFSET = timedelta(hours=14)
# "+01:00" typed into a query string unencoded arrives as " 01:00".
_SPACE_FOR_PLUS = re.compile(r" (\d\d(?::?\d\d)?)$")


@extend_schema_field(OpenApiTypes.DATETIME)
class OffsetDateTimeField(serializers.Field):
    """An ISO 8601 date and time with a UTC offset ("Z" or "+02:00"); naive values are refused."""

    default_error_messages = {
        "invalid": "Enter an ISO 8601 date and time, e.g. 2025-03-01T00:00:00+01:00.",
        "naive": "Include a UTC offset, e.g. 2025-03-01T00:00:00+01:00 or 2025-03-01T00:00:00Z.",
        "range": "Enter a date and time between 1970 and 9998.",
        "offset": "Enter a UTC offset between -14:00 and +14:00.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        text = _SPACE_FOR_PLUS.sub(r"+\1", data.strip())
        try:
            value = parse_datetime(text)
        except ValueError:  # well formed but impossible (month 13, hour 25)
            value = None
        if value is None:
            self.fail("invalid")
        if timezone.is_naive(value):
            self.fail("naive")
        try:
            in_range = EARLIEST <= value.astimezone(UTC) < LATEST
        except OverflowError:
            in_range = False
        if not in_range:
            self.fail("range")
        if abs(value.utcoffset()) > MAX_OFFSET:  # PostgreSQL refuses offsets past ±15:59
            self.fail("offset")
        return value

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class CardQuerySerializer(serializers.Serializer):
    """?start=&end=&tenant= (all optional: the last 7 days, every tenant you may see)."""

    start = OffsetDateTimeField(
        required=False,
        help_text="Interval start, inclusive (ISO 8601 with offset). Default: end - 7 days.",
    )
    end = OffsetDateTimeField(
        required=False, help_text="Interval end, exclusive (ISO 8601 with offset). Default: now."
    )
    tenant = serializers.PrimaryKeyRelatedField(
        queryset=Tenant.objects.none(),
        required=False,
        allow_null=True,
        help_text="One tenant id (only tenants you may see). Default: every tenant you may see.",
        error_messages={
            # The same words for a tenant that exists elsewhere and one that does not.
            "does_not_exist": "No such tenant.",
            "incorrect_type": "Enter a tenant id.",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        self.fields["tenant"].queryset = Tenant.objects.for_user(getattr(request, "user", None))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end") or timezone.now().replace(microsecond=0)
        start = attrs.get("start") or end - DEFAULT_SPAN
        if end <= start:
            raise serializers.ValidationError({"end": ["Must be after start."]})
        if end - start > MAX_SPAN:
            raise serializers.ValidationError(
                {"end": [f"The interval may span at most {MAX_SPAN.days} days."]}
            )
        return {**attrs, "start": start, "end": end}


# --- The answer (documents the schema; the view returns RetractionCard.as_dict()) -------------


class LatencySerializer(serializers.Serializer):
    p50 = serializers.IntegerField(
        allow_null=True, help_text="Seconds: upper bound of the median's histogram bucket."
    )
    p95 = serializers.IntegerField(allow_null=True, help_text="Seconds, as p50.")
    samples = serializers.IntegerField(help_text="Succeeded attempts measured.")
    open_ended = serializers.ListField(
        child=serializers.CharField(),
        help_text='Percentiles in the last, open bucket ("one year or more").',
    )


class TimeToRetractSerializer(serializers.Serializer):
    from_delivery = LatencySerializer(help_text="Message received → copy retracted.")
    from_verdict = LatencySerializer(
        help_text="Verdict (auto) or request (manual) → copy retracted."
    )


class ReasonShareSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="The reason in the words users see.")
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text="count / total (0..1).")


FailuresByReasonSerializer = type(
    "FailuresByReasonSerializer",
    (serializers.Serializer,),
    {reason: ReasonShareSerializer() for reason in REASONS},
)


class DailyPointSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="UTC day.")
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


class RetractionCardSerializer(serializers.Serializer):
    start = serializers.CharField(help_text="Interval start (inclusive), as given.")
    end = serializers.CharField(help_text="Interval end (exclusive), as given.")
    tenant = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField(
        help_text="Succeeded + failed retractions completed in [start, end)."
    )
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True, help_text="succeeded / total (0..1).")
    fail_rate = serializers.FloatField(allow_null=True, help_text="failed / total (0..1).")
    failures_by_reason = FailuresByReasonSerializer()
    read = serializers.IntegerField(help_text="Copies already read when retracted.")
    unread = serializers.IntegerField()
    read_unknown = serializers.IntegerField(help_text="Read state unknown (copy not found).")
    auto = serializers.IntegerField(help_text="Attempts a policy started.")
    manual = serializers.IntegerField(help_text="Attempts a person or API client started.")
    time_to_retract = TimeToRetractSerializer()
    in_progress = serializers.IntegerField(
        help_text="Requested in [start, end), still queued or running (not in total)."
    )
    daily = DailyPointSerializer(many=True)
    rolled_up_days = serializers.IntegerField(help_text="Whole days read from the nightly rollup.")
