"""API representations of tenants, mailboxes and messages (read side; ingestion documented)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mailboxes.audit_export import validate_interval
from mailboxes.models import AuditEvent, Delivery, DispositionChange, Mailbox, Message, Tenant
from mailboxes.vocabulary import Disposition
from metrics.serializers import OffsetDateTimeField
from retraction.serializers import ActionLogEntrySerializer


class TenantSerializer(serializers.ModelSerializer):
    """A tenant as integrators see it: never a secret, never the ciphertext."""

    has_credentials = serializers.BooleanField(read_only=True)
    credentials_summary = serializers.CharField(
        read_only=True, help_text="What kind of credentials are stored, without the secret."
    )

    class Meta:
        model = Tenant
        # An explicit allow-list: a new model field is never exposed by accident.
        fields = [
            "id",
            "name",
            "slug",
            "provider",
            "domains",
            "ingestion_mode",
            "authorization_status",
            "authorization_checked_at",
            "authorization_error",
            "has_credentials",
            "credentials_summary",
            "credentials_updated_at",
            "created_at",
        ]
        read_only_fields = fields


class TenantVerifySerializer(serializers.ModelSerializer):
    """The outcome of checking a tenant's credentials against its provider."""

    last_error = serializers.CharField(
        source="authorization_error",
        read_only=True,
        help_text="Same as authorization_error: why the check failed, empty when it passed.",
    )

    class Meta:
        model = Tenant
        fields = [
            "id",
            "authorization_status",
            "authorization_checked_at",
            "authorization_error",
            "last_error",
        ]
        read_only_fields = fields


class MailboxSerializer(serializers.ModelSerializer):
    members = serializers.SlugRelatedField(
        slug_field="address",
        many=True,
        read_only=True,
        help_text="Member addresses (groups / distribution lists only).",
    )

    class Meta:
        model = Mailbox
        fields = ["id", "tenant", "address", "kind", "display_name", "members"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ["id", "recipient", "mailbox", "via_group", "status"]
        read_only_fields = fields


class DispositionChangeSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = DispositionChange
        fields = ["previous", "disposition", "changed_by", "source", "note", "changed_at"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    retractable = serializers.BooleanField(read_only=True)
    not_retractable_reason = serializers.CharField(read_only=True)
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "tenant",
            "internet_message_id",
            "sender",
            "subject",
            "received_at",
            "disposition",
            "disposition_changed_at",
            "source",
            "retractable",
            "not_retractable_reason",
            "deliveries",
        ]
        read_only_fields = fields


class MessageDetailSerializer(MessageSerializer):
    disposition_history = DispositionChangeSerializer(many=True, read_only=True)
    action_log = ActionLogEntrySerializer(source="attempts", many=True, read_only=True)

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "disposition_history", "action_log"]
        read_only_fields = fields


# --- Ingestion (documentation of POST /messages/ and /messages/raw/) ---------------------
# The ingest service validates and answers itself (mailboxes.ingest); these serializers
# only describe its input and output in the OpenAPI schema.


class VerdictRecipientSerializer(serializers.Serializer):
    address = serializers.EmailField()
    via_group = serializers.EmailField(
        required=False, help_text="The distribution list this copy came through."
    )


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "format": "email"},
            {
                "type": "object",
                "properties": {
                    "address": {"type": "string", "format": "email"},
                    "via_group": {
                        "type": "string",
                        "format": "email",
                        "description": "The distribution list this copy came through.",
                    },
                },
                "required": ["address"],
            },
        ]
    }
)
class VerdictRecipientField(serializers.JSONField):
    """An address, or {address, via_group} for a copy a list expanded to."""


class VerdictSerializer(serializers.Serializer):
    """One message as a detection system reports it."""

    tenant = serializers.CharField(help_text="The tenant's id or slug.")
    internet_message_id = serializers.CharField(
        required=False,
        help_text="The Internet Message-ID. Without it the message is stored but not retractable.",
    )
    sender = serializers.CharField(required=False)
    subject = serializers.CharField(required=False)
    received_at = serializers.DateTimeField(required=False)
    recipients = serializers.ListField(
        child=VerdictRecipientField(),
        help_text="Addresses, or {address, via_group} objects for copies a list expanded to.",
    )
    disposition = serializers.ChoiceField(
        choices=Disposition.choices, required=False, allow_null=True
    )
    disposition_note = serializers.CharField(required=False)


class IngestResultSerializer(serializers.Serializer):
    """What happened to one message."""

    index = serializers.IntegerField(required=False, help_text="Position in the list sent.")
    status = serializers.CharField(help_text="created, updated, unchanged or invalid.")
    id = serializers.IntegerField(required=False)
    tenant = serializers.IntegerField(required=False)
    internet_message_id = serializers.CharField(required=False, allow_null=True)
    retractable = serializers.BooleanField(required=False)
    deliveries_created = serializers.IntegerField(required=False)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='Field errors of an invalid item: {"field": ["message"]}.',
    )
    notes = serializers.ListField(child=serializers.CharField(), required=False)


class IngestReportSerializer(serializers.Serializer):
    """The answer to a list of verdicts: counts and one result per item, in order."""

    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()
    results = IngestResultSerializer(many=True)


# --- The audit trail -----------------------------------------------------------------------


class AuditEventSerializer(serializers.ModelSerializer):
    """One audit event: who did what to which object, when (read only, never changed)."""

    actor = serializers.CharField(source="actor_label", read_only=True)
    via = serializers.SerializerMethodField(help_text="The door: admin, api, command, task.")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "tenant",
            "tenant_label",
            "actor",
            "actor_id",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "via",
            "data",
        ]
        read_only_fields = fields

    def get_via(self, obj: AuditEvent) -> str:
        return obj.data.get("via", "") if isinstance(obj.data, dict) else ""


class AuditExportQuerySerializer(serializers.Serializer):
    """?start=&end= of an audit export (both required; at most 366 days)."""

    start = OffsetDateTimeField(help_text="Interval start, inclusive (ISO 8601 with offset).")
    end = OffsetDateTimeField(help_text="Interval end, exclusive (ISO 8601 with offset).")

    def validate(self, attrs: dict) -> dict:
        try:
            validate_interval(attrs.get("start"), attrs.get("end"))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs
