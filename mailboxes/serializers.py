"""API representations of tenants, mailboxes and messages (read side)."""

from __future__ import annotations

from rest_framework import serializers

from mailboxes.models import Delivery, DispositionChange, Mailbox, Message, Tenant
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
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

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
