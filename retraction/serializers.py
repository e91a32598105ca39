"""API representations of retraction policies, attempts, jobs and the retraction requests."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from mailboxes.api_base import ScopedTenantField
from mailboxes.filters import MESSAGE_FILTER_PARAMS, filter_messages
from mailboxes.models import Message, Tenant
from mailboxes.vocabulary import Action, Disposition, FailureReason, PolicyAction
from retraction.models import RetractionAttempt, RetractionJob, RetractionPolicy

# A message_ids list is stored on the job row; past this, use a filter.
MAX_JOB_MESSAGE_IDS = 10_000


class PolicySerializer(serializers.ModelSerializer):
    """One tenant's policy for one disposition; only `action` and `enabled` change."""

    updated_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
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


def reason_field() -> serializers.ChoiceField:
    """The failure reason, "" while there is none.

    Declared because a read-only model field loses allow_blank, and the schema then
    leaves "" out of the enum.
    """
    return serializers.ChoiceField(choices=FailureReason.choices, allow_blank=True, read_only=True)


class ActionLogEntrySerializer(serializers.ModelSerializer):
    """One attempt as shown in a message's action log."""

    reason = reason_field()
    recipient = serializers.CharField(source="delivery.recipient", read_only=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

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
    reason = reason_field()
    recipient = serializers.CharField(source="delivery.recipient", read_only=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = RetractionAttempt
        fields = [
            "id",
            "tenant",
            "message",
            "delivery",
            "job",
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


class RetractSerializer(serializers.Serializer):
    """POST messages/{id}/retract/: where every copy of the message goes."""

    action = serializers.ChoiceField(choices=Action.choices)
    confirm_hard_delete = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Must be true with action hard_delete (tenant admins only).",
    )


class QueuedAttemptsSerializer(serializers.Serializer):
    """The attempts a retract or undo queued; follow them on retractions/?message=ID."""

    attempts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids of the queued retraction attempts."
    )
    copies = serializers.IntegerField(help_text="How many delivered copies will be moved.")


class ReclassifySerializer(serializers.Serializer):
    """POST messages/{id}/reclassify/: a new verdict; the tenant's policy may act on it."""

    disposition = serializers.ChoiceField(choices=Disposition.choices)
    note = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=500, help_text="Why (kept)."
    )


class RetractionJobSerializer(serializers.ModelSerializer):
    """A bulk retraction: every copy of the listed messages, or of the messages a search finds."""

    # The counters are annotated by RetractionJobViewSet's queryset (one query per page).
    tenant = ScopedTenantField(
        required=False,
        help_text="Tenant id; may be left out by a caller who sees exactly one tenant.",
    )
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    succeeded = serializers.IntegerField(read_only=True)
    failed = serializers.IntegerField(read_only=True)
    pending = serializers.IntegerField(read_only=True, help_text="Queued or running attempts.")
    cancelled = serializers.IntegerField(read_only=True)
    message_ids = serializers.ListField(
        # Ids are 64-bit: a larger number would overflow the query, not just miss.
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        write_only=True,
        required=False,
        allow_empty=False,
        max_length=MAX_JOB_MESSAGE_IDS,
        help_text="Message ids of the tenant (give these or `filter`).",
    )
    filter = serializers.DictField(
        write_only=True,
        required=False,
        help_text=(
            "A message search with the parameters of the messages/ list ("
            + ", ".join(sorted(MESSAGE_FILTER_PARAMS))
            + "); at least one besides tenant."
        ),
    )
    confirm_hard_delete = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="Must be true with action hard_delete (tenant admins only).",
    )

    class Meta:
        model = RetractionJob
        fields = [
            "id",
            "tenant",
            "action",
            "state",
            "discovered",
            "succeeded",
            "failed",
            "pending",
            "cancelled",
            "created_at",
            "finished_at",
            "error",
            "requested_by",
            "message_ids",
            "filter",
            "confirm_hard_delete",
        ]
        read_only_fields = [
            "id",
            "state",
            "discovered",
            "created_at",
            "finished_at",
            "error",
            "requested_by",
        ]

    @property
    def user(self) -> Any:
        return getattr(self.context.get("request"), "user", None)

    def validate_filter(self, value: dict[str, Any]) -> dict[str, Any]:
        problems = [
            f"{name}: give a single value."
            for name, item in value.items()
            if not isinstance(item, str | int | float | bool)
        ]
        problems += [
            f"{name}: may not be blank."
            for name, item in value.items()
            if isinstance(item, str) and not item.strip()
        ]
        if problems:
            raise serializers.ValidationError(problems)
        if not set(value) - {"tenant"}:
            # Blank or tenant-only searches match every message of the tenant.
            raise serializers.ValidationError(
                "Give at least one search parameter besides tenant: an empty filter would "
                "retract every message of the tenant."
            )
        try:
            filter_messages(Message.objects.for_user(self.user), value, user=self.user)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(_flatten(exc.detail)) from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        tenant = attrs.get("tenant") or self._only_tenant()
        attrs["tenant"] = tenant
        if "message_ids" in attrs and "filter" in attrs:
            raise serializers.ValidationError(
                {"filter": ["Give message_ids or a filter, not both."]}
            )
        if "message_ids" not in attrs and "filter" not in attrs:
            raise serializers.ValidationError({"message_ids": ["Give message_ids or a filter."]})
        if "message_ids" in attrs:
            self._check_messages(tenant, attrs["message_ids"])
        if "filter" in attrs:
            # The job's tenant scopes the search; a "tenant" in it may only repeat it.
            search = dict(attrs["filter"])
            if str(search.pop("tenant", tenant.pk)) != str(tenant.pk):
                raise serializers.ValidationError(
                    {"filter": [f"tenant: must be the job's tenant ({tenant.pk})."]}
                )
            attrs["filter"] = search
        return attrs

    def _only_tenant(self) -> Tenant:
        visible = list(Tenant.objects.for_user(self.user).order_by("pk")[:2])
        if len(visible) != 1:
            raise serializers.ValidationError(
                {"tenant": ["This field is required when you can see more than one tenant."]}
            )
        return visible[0]

    def _check_messages(self, tenant: Tenant, message_ids: list[int]) -> None:
        found = dict(
            Message.objects.for_user(self.user)
            .for_tenant(tenant)
            .filter(pk__in=message_ids)
            .values_list("pk", "internet_message_id")
        )
        # Another tenant's id reads exactly like one that does not exist.
        unknown = sorted(set(message_ids) - set(found))
        if unknown:
            raise serializers.ValidationError(
                {"message_ids": [f"Not messages of this tenant: {_ids(unknown)}."]}
            )
        unlocatable = sorted(pk for pk, message_id in found.items() if not message_id)
        if unlocatable:
            raise serializers.ValidationError(
                {
                    "message_ids": [
                        f"No Message-ID header, so their copies cannot be located: "
                        f"{_ids(unlocatable)}."
                    ]
                }
            )


def _ids(ids: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(pk) for pk in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _flatten(detail: Any) -> list[str]:
    """{"sender": ["..."]} -> ["sender: ..."], so errors keep the {"field": ["message"]} shape."""
    if isinstance(detail, dict):
        return [f"{name}: {message}" for name, items in detail.items() for message in items]
    return [str(message) for message in detail]
