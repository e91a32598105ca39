"""Admin form for webhook endpoints (the signing secret is never a field: it is generated)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from webhooks.addresses import validate_url
from webhooks.models import WebhookEndpoint
from webhooks.services import clean_event_types


class EventTypesField(forms.CharField):
    """Event types as one comma- or space-separated line; a list."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return [t for t in re.split(r"[\s,;]+", text or "") if t]


def _field_errors(exc: ValidationError, name: str) -> ValidationError:
    return ValidationError(exc.message_dict.get(name, exc.messages))


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="HTTPS address the events are POSTed to.",
    )
    event_types = EventTypesField(
        required=False,
        help_text="Comma separated, e.g. retraction.attempt.finished, policy.* — "
        "empty: every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["tenant", "name", "url", "enabled", "event_types"]

    def clean_url(self) -> str:
        try:
            return validate_url(self.cleaned_data["url"])
        except ValidationError as exc:
            raise _field_errors(exc, "url") from None

    def clean_event_types(self) -> list[str]:
        try:
            return clean_event_types(self.cleaned_data["event_types"])
        except ValidationError as exc:
            raise _field_errors(exc, "event_types") from None
