"""API representations of retraction policies and attempts."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from mailboxes.vocabulary import PolicyAction
from retraction.models import RetractionAttempt, RetractionPolicy


class PolicySerializer(serializers.ModelSerializer):
    """One tenant's policy for one disposition; only `action` and `enabled` change."""

    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    confirm_hard_delete = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="Must be true for a change that makes hard delete the live action.",
    )

    class Meta:
        model = RetractionPolicy
        fields = [
            "id",
            "tenant",
            "disposition",
            "action",
            "enabled",
            "updated_at",
            "updated_by",
            "confirm_hard_delete",
        ]
        read_only_fields = ["id", "tenant", "disposition", "updated_at", "updated_by"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        policy = self.instance
        action = attrs.get("action", policy.action if policy else None)
        enabled = attrs.get("enabled", policy.enabled if policy else True)
        was_live = policy is not None and policy.effective_action == PolicyAction.HARD_DELETE
        becomes_live = enabled and action == PolicyAction.HARD_DELETE
        if becomes_live and not was_live and not attrs.get("confirm_hard_delete"):
            raise serializers.ValidationError(
                {
                    "confirm_hard_delete": [
                        "Hard delete cannot be undone on Gmail and needs an admin to recover on "
                        'Microsoft 365; send "confirm_hard_delete": true to turn it on.'
                    ]
                }
            )
        return attrs


class ActionLogEntrySerializer(serializers.ModelSerializer):
    """One attempt as shown in a message's action log."""

    recipient = serializers.CharField(source="delivery.recipient", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RetractionAttempt
        fields = [
            "id",
            "recipient",
            "mode",
            "action",
            "status",
            "reason",
            "read_state",
            "requested_by",
            "requested_at",
            "completed_at",
        ]
        read_only_fields = fields


class RetractionAttemptSerializer(serializers.ModelSerializer):
    recipient = serializers.CharField(source="delivery.recipient", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RetractionAttempt
        fields = [
            "id",
            "tenant",
            "message",
            "delivery",
            "recipient",
            "mode",
            "action",
            "status",
            "reason",
            "read_state",
            "detail",
            "requested_by",
            "requested_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields
