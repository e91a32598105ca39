"""Query filters for the tenant, mailbox, message and audit event endpoints.

Choice filters that name rows (tenant, message) only accept rows the caller may
see, so another tenant's id is "not a valid choice", exactly like an id that
does not exist. A bad value is a 400 with the parameter's name, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import django_filters
from django import forms
from django.db import models
from django.db.models import Exists, OuterRef
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from django_filters.utils import translate_validation
from rest_framework.exceptions import ValidationError

from mailboxes.models import (
    AuditEvent,
    AuthorizationStatus,
    Delivery,
    DeliveryStatus,
    Mailbox,
    MailboxKind,
    Message,
    Provider,
    Tenant,
)
from mailboxes.vocabulary import Disposition


def visible_tenants(request: Any) -> models.QuerySet:
    """Tenants the requesting user may see (none without a request)."""
    return Tenant.objects.for_user(getattr(request, "user", None))


def visible_messages(request: Any) -> models.QuerySet:
    return Message.objects.for_user(getattr(request, "user", None))


class TenantChoiceFilter(django_filters.ModelChoiceFilter):
    """`?tenant=ID`, limited to tenants the caller may see."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("field_name", "tenant")
        kwargs.setdefault("queryset", visible_tenants)
        kwargs.setdefault("help_text", "Tenant id (only tenants you may see).")
        super().__init__(*args, **kwargs)


class StrictBooleanField(forms.Field):
    """true/false (or 1/0, yes/no); anything else is an error rather than "no filter"."""

    default_error_messages = {"invalid": "Enter true or false."}
    _VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self._VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date and time, given to the query in UTC.

    9999-12-31T23:00-05:00 parses, but lies past the last UTC instant: the query would
    overflow (a 500), so it is refused like any other bad date. Offsets beyond ±15:59
    parse too, but PostgreSQL refuses them: in UTC they are no longer there.
    """

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is not None:
            try:
                moment = moment.astimezone(UTC)
            except OverflowError:
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid"
                ) from None
        return moment


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 filter whose out-of-range values are a 400, not a 500 (UtcIsoDateTimeField)."""

    field_class = UtcIsoDateTimeField


class TenantFilter(filters.FilterSet):
    provider = django_filters.ChoiceFilter(choices=Provider.choices)
    authorization_status = django_filters.ChoiceFilter(choices=AuthorizationStatus.choices)
    slug = django_filters.CharFilter()

    class Meta:
        model = Tenant
        fields = ["provider", "authorization_status", "slug"]


class MailboxFilter(filters.FilterSet):
    tenant = TenantChoiceFilter()
    kind = django_filters.ChoiceFilter(choices=MailboxKind.choices)
    address = django_filters.CharFilter(method="filter_address", help_text="Exact SMTP address.")

    class Meta:
        model = Mailbox
        fields = ["tenant", "kind", "address"]

    def filter_address(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        # Addresses are stored in lower case; an exact match keeps the index usable.
        return queryset.filter(address=value.strip().lower())


class MessageFilter(filters.FilterSet):
    """The message search; also used by bulk retraction through `filter_messages`."""

    tenant = TenantChoiceFilter()
    disposition = django_filters.ChoiceFilter(choices=Disposition.choices)
    sender = django_filters.CharFilter(lookup_expr="iexact", help_text="Exact sender address.")
    subject = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the subject.")
    recipient = django_filters.CharFilter(
        method="filter_recipient", help_text="A copy was delivered to this address."
    )
    internet_message_id = django_filters.CharFilter(
        method="filter_internet_message_id", help_text="Message-ID, angle brackets optional."
    )
    received_after = IsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte", help_text="Received at or after (ISO 8601)."
    )
    received_before = IsoDateTimeFilter(
        field_name="received_at", lookup_expr="lt", help_text="Received before (ISO 8601)."
    )
    retracted = StrictBooleanFilter(
        method="filter_retracted", help_text="At least one copy is (true) or none is (false)."
    )

    class Meta:
        model = Message
        fields = [
            "tenant",
            "disposition",
            "sender",
            "subject",
            "recipient",
            "internet_message_id",
            "received_after",
            "received_before",
            "retracted",
        ]

    def filter_recipient(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        copies = Delivery.objects.filter(message=OuterRef("pk"), recipient=value.strip().lower())
        return queryset.filter(Exists(copies))

    def filter_internet_message_id(
        self, queryset: models.QuerySet, name: str, value: str
    ) -> models.QuerySet:
        value = value.strip()
        if not value.startswith("<"):
            value = f"<{value}>"
        return queryset.filter(internet_message_id=value)

    def filter_retracted(
        self, queryset: models.QuerySet, name: str, value: bool
    ) -> models.QuerySet:
        retracted = Exists(
            Delivery.objects.filter(message=OuterRef("pk"), status=DeliveryStatus.RETRACTED)
        )
        return queryset.filter(retracted if value else ~retracted)


MESSAGE_FILTER_PARAMS = frozenset(MessageFilter.base_filters)


def filter_messages(
    queryset: models.QuerySet, params: Mapping[str, Any], *, user: Any
) -> models.QuerySet:
    """Apply the messages/ search parameters given as a plain dict.

    `queryset` should already be scoped (`Message.objects.for_user(user)`); `user`
    limits the `tenant` choices. Unknown names and bad values raise DRF's
    ValidationError with one entry per parameter, so a typo never widens a search.
    """
    unknown = sorted(set(params) - MESSAGE_FILTER_PARAMS)
    if unknown:
        raise ValidationError({name: ["Unknown filter."] for name in unknown})
    filterset = MessageFilter(data=params, queryset=queryset, request=SimpleNamespace(user=user))
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    return filterset.qs


class AuditEventFilter(filters.FilterSet):
    """The audit trail's list (and export) filters."""

    tenant = TenantChoiceFilter()
    action = django_filters.CharFilter(
        method="filter_action",
        help_text="An action (policy.updated), or every action under a prefix (policy.*).",
    )
    actor = django_filters.CharFilter(
        field_name="actor_label", lookup_expr="iexact", help_text="User name, or 'system'."
    )
    target_type = django_filters.CharFilter(help_text="e.g. mailboxes.message")
    target_id = django_filters.CharFilter()
    created_after = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="At or after (ISO 8601)."
    )
    created_before = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Before (ISO 8601)."
    )

    class Meta:
        model = AuditEvent
        fields = [
            "tenant",
            "action",
            "actor",
            "target_type",
            "target_id",
            "created_after",
            "created_before",
        ]

    def filter_action(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        value = value.strip()
        if value.endswith(".*"):
            return queryset.filter(action__startswith=value[:-1])
        return queryset.filter(action=value)
