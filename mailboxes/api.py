"""API viewsets: tenants, mailboxes, messages (with their actions) and the audit trail."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Prefetch
from django.http import QueryDict
from django.http.request import RawPostDataException
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from mailboxes.access import Role, has_any_role
from mailboxes.api_base import SECOND_FACTOR_PARAMETER, ScopedReadOnlyViewSet
from mailboxes.audit_export import COLUMNS, audit_export, csv_bytes, csv_response
from mailboxes.filters import AuditEventFilter, MailboxFilter, MessageFilter, TenantFilter
from mailboxes.ingest.limits import get_limits
from mailboxes.ingest.service import ingest_raw, ingest_verdicts
from mailboxes.ingest.verdicts import tenant_ref
from mailboxes.models import AuditEvent, Delivery, DispositionChange, Mailbox, Message, Tenant
from mailboxes.serializers import (
    AuditEventSerializer,
    AuditExportQuerySerializer,
    IngestReportSerializer,
    IngestResultSerializer,
    MailboxSerializer,
    MessageDetailSerializer,
    MessageSerializer,
    TenantSerializer,
    TenantVerifySerializer,
    VerdictSerializer,
)
from mailboxes.services import tenant_verify
from retraction.models import RetractionAttempt
from retraction.serializers import (
    QueuedAttemptsSerializer,
    ReclassifySerializer,
    RetractSerializer,
)
from retraction.services.decide import message_reclassify
from retraction.services.manual import retraction_request, retraction_undo

ERRORS = {
    400: OpenApiResponse(description='Invalid input: `{"field": ["message"]}`.'),
    403: OpenApiResponse(description="Your role on the tenant does not allow this."),
    404: OpenApiResponse(description="No such object among the tenants you may see."),
}


def validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class RawMessageParser(BaseParser):
    """`message/rfc822`: the body as it came, bytes (parsed by the ingest service)."""

    media_type = "message/rfc822"

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> bytes:
        return stream.read() if stream is not None else b""


class OctetStreamParser(RawMessageParser):
    media_type = "application/octet-stream"


NO_SUCH_TENANT = "No such tenant."


class TenantViewSet(ScopedReadOnlyViewSet):
    """Tenants you may see, with their authorization state (never their secrets)."""

    model = Tenant
    tenant_id_attr = "pk"
    serializer_class = TenantSerializer
    filterset_class = TenantFilter
    cursor_ordering = ("name", "id")
    action_roles = {"verify": Role.ANALYST}

    @extend_schema(request=None, responses={200: TenantVerifySerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        """Check the tenant's credentials against its provider now (analyst role)."""
        tenant = tenant_verify(tenant=self.get_object(), actor=request.user, via="api")
        return Response(TenantVerifySerializer(tenant).data)


class MailboxViewSet(ScopedReadOnlyViewSet):
    """Mailboxes: users, shared mailboxes and groups with their members."""

    model = Mailbox
    serializer_class = MailboxSerializer
    filterset_class = MailboxFilter
    cursor_ordering = ("address", "id")

    def prepare_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        members = self.scoped(Mailbox).only("id", "address").order_by("address")
        return queryset.prefetch_related(Prefetch("members", queryset=members))


class MessageViewSet(ScopedReadOnlyViewSet):
    """Messages with their delivered copies; the detail adds history and action log.

    Detection systems post verdicts here (`create`) and integrations raw MIME
    (`raw`); both go through the one ingest service (mailboxes.ingest.service).
    """

    model = Message
    filterset_class = MessageFilter
    cursor_ordering = ("-received_at", "-id")
    # Detection systems post in bursts: their own rate limit (mailboxes.api_throttle).
    throttle_scopes = {"create": "ingest", "raw": "ingest"}
    action_roles = {
        "create": Role.ANALYST,
        "raw": Role.ANALYST,
        "retract": Role.ANALYST,
        "undo": Role.ANALYST,
        "reclassify": Role.ANALYST,
    }

    def get_serializer_class(self) -> type[MessageSerializer]:
        return MessageDetailSerializer if self.action == "retrieve" else MessageSerializer

    def prepare_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        if self.action in ("retract", "undo", "reclassify"):
            # The actions read one row and write; their answers are built separately.
            return queryset.select_related("tenant")
        if self.action == "retrieve":
            return self.with_history(queryset)
        deliveries = self.scoped(Delivery).order_by("recipient")
        return queryset.prefetch_related(Prefetch("deliveries", queryset=deliveries))

    def with_history(self, queryset: models.QuerySet) -> models.QuerySet:
        """The detail's prefetches: copies, disposition history and action log."""
        history = self.scoped(DispositionChange).select_related("changed_by")
        attempts = (
            self.scoped(RetractionAttempt)
            .select_related("delivery", "requested_by")
            .order_by("requested_at", "id")
        )
        return queryset.prefetch_related(
            Prefetch("deliveries", queryset=self.scoped(Delivery).order_by("recipient")),
            Prefetch("disposition_history", queryset=history),
            Prefetch("attempts", queryset=attempts),
        )

    @extend_schema(
        request=RetractSerializer,
        responses={202: QueuedAttemptsSerializer, **ERRORS},
        parameters=[SECOND_FACTOR_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def retract(self, request: Request, pk: str | None = None) -> Response:
        """Move every copy of the message (analyst; hard_delete: tenant admin and confirm)."""
        message = self.get_object()
        data = validated(RetractSerializer, request)
        if not message.retractable:
            raise exceptions.ValidationError(
                {"internet_message_id": [message.not_retractable_reason]}
            )
        attempts = retraction_request(
            actor=request.user,
            tenant=message.tenant,
            action=data["action"],
            messages=[message],
            confirm_hard_delete=data["confirm_hard_delete"],
            via="api",
        )
        return self.queued(attempts)

    @extend_schema(request=None, responses={202: QueuedAttemptsSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, pk: str | None = None) -> Response:
        """Bring the retracted copies of the message back to the inbox (analyst)."""
        message = self.get_object()
        attempts = retraction_undo(
            actor=request.user, tenant=message.tenant, messages=[message], via="api"
        )
        return self.queued(attempts)

    @extend_schema(request=ReclassifySerializer, responses={200: MessageDetailSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def reclassify(self, request: Request, pk: str | None = None) -> Response:
        """Change the message's disposition (analyst); the tenant's policy may retract it.

        The same disposition again changes nothing: no history entry, no new attempts.
        """
        message = self.get_object()
        data = validated(ReclassifySerializer, request)
        message_reclassify(
            actor=request.user,
            message=message,
            disposition=data["disposition"],
            note=data["note"],
            via="api",
        )
        fresh = self.with_history(self.scoped(Message)).get(pk=message.pk)
        return Response(MessageDetailSerializer(fresh, context=self.get_serializer_context()).data)

    @extend_schema(
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="VerdictOrList",
                serializers=[VerdictSerializer, VerdictSerializer(many=True)],
                resource_type_field_name=None,
                many=False,
            )
        },
        responses={
            201: OpenApiResponse(
                IngestResultSerializer, description="One verdict created a new message."
            ),
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="IngestResultOrReport",
                    serializers=[IngestResultSerializer, IngestReportSerializer],
                    resource_type_field_name=None,
                    many=False,
                ),
                description="One verdict updated (or repeated) a message: its result. A list: "
                "counts and one result per item; invalid items carry their field errors "
                "and the valid ones are stored.",
            ),
            400: OpenApiResponse(
                description='Nothing stored: `{"field": ["message"]}` for one verdict, or '
                "every item's errors for a list (also: more than the item limit, not JSON)."
            ),
            403: ERRORS[403],
        },
    )
    def create(self, request: Request) -> Response:
        """Record verdicts: one message or a list of up to 1,000 (analyst role on each tenant).

        Posting the same Message-ID again updates it: new recipients are added, a new
        disposition is recorded in its history; it is never duplicated. A tenant you
        cannot ingest into is reported like one that does not exist.
        """
        self.require_analyst_somewhere()
        payload = request.data
        if isinstance(payload, QueryDict):
            raise exceptions.ValidationError(
                {"non_field_errors": ["Send the verdicts as JSON (application/json)."]}
            )
        report = ingest_verdicts(actor=request.user, payload=payload, source="api", via="api")
        return Response(report.as_data(), status=report.http_status)

    @extend_schema(
        request={
            "message/rfc822": OpenApiTypes.BINARY,
            "application/octet-stream": OpenApiTypes.BINARY,
        },
        parameters=[
            OpenApiParameter(
                "tenant",
                OpenApiTypes.STR,
                required=True,
                description="The tenant's id (or slug); you need the analyst role on it.",
            ),
            OpenApiParameter(
                "recipients",
                OpenApiTypes.STR,
                many=True,
                description="Envelope recipients (repeat the parameter). Without them, the "
                "journal report's or the headers' recipients in the tenant's domains.",
            ),
        ],
        responses={
            201: OpenApiResponse(IngestResultSerializer, description="Recorded."),
            400: OpenApiResponse(
                description='The message cannot be used: `{"field": ["message"]}`.'
            ),
            403: ERRORS[403],
            404: OpenApiResponse(description="No such tenant among the tenants you may see."),
            413: OpenApiResponse(description="The message is larger than the size limit."),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        parser_classes=[RawMessageParser, OctetStreamParser],
        filterset_class=None,
        pagination_class=None,
    )
    def raw(self, request: Request) -> Response:
        """Record one raw RFC 822 message (or Exchange journal report) with its deliveries.

        Send the bytes as the body (any content type; `message/rfc822` is the right one).
        The disposition comes from the configured verdict headers, else NONE.
        """
        limits = get_limits()
        tenant = self.tenant_for_ingest(request.query_params.get("tenant"))
        too_big = self.too_big(request.META.get("CONTENT_LENGTH"), limits)
        if too_big is not None:
            return too_big
        try:
            raw = request.body
        except RawPostDataException:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Send the message itself as the body, not a form."]}
            ) from None
        too_big = self.too_big(len(raw), limits)
        if too_big is not None:
            return too_big
        recipients = [
            r.strip()
            for value in request.query_params.getlist("recipients")
            for r in value.split(",")
            if r.strip()
        ]
        result = ingest_raw(
            tenant=tenant,
            raw=raw,
            envelope_recipients=recipients or None,
            actor=request.user,
            source="upload",
            via="api",
        )
        if not result.ok:
            return Response(result.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)

    def require_analyst_somewhere(self) -> None:
        """403 for a caller who may ingest into no tenant at all (e.g. a viewer everywhere)."""
        if not has_any_role(self.request.user, Role.ANALYST):
            raise exceptions.PermissionDenied(
                f"This needs the {Role.ANALYST.label} role on a tenant."
            )

    def tenant_for_ingest(self, value: str | None) -> Tenant:
        """The tenant named by `?tenant=`: 404 if invisible or missing, 403 below analyst."""
        if value is None or not value.strip():
            raise exceptions.ValidationError({"tenant": ["This query parameter is required."]})
        ref = tenant_ref(value)
        lookup = {"pk": ref} if isinstance(ref, int) else {"slug": ref}
        tenant = self.scoped(Tenant).filter(**lookup).first() if ref is not None else None
        if tenant is None:
            raise exceptions.NotFound(NO_SUCH_TENANT)
        self.require_role(tenant, Role.ANALYST)
        return tenant

    @staticmethod
    def too_big(size: int | str | None, limits: Any) -> Response | None:
        try:
            size = int(size or 0)
        except (TypeError, ValueError):
            return None
        if size <= limits.max_message_bytes:
            return None
        return Response(
            {"non_field_errors": [limits.message_too_big(size)]},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )

    @staticmethod
    def queued(attempts: list[RetractionAttempt]) -> Response:
        body = {"attempts": [a.pk for a in attempts], "copies": len(attempts)}
        return Response(QueuedAttemptsSerializer(body).data, status=status.HTTP_202_ACCEPTED)


# --- The audit trail -------------------------------------------------------------------------


class CsvRenderer(BaseRenderer):
    """text/csv for `Accept: text/csv`; the export streams its own body, errors come here."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context=None):
        rows = [["field", "message"]]
        if isinstance(data, dict):
            for name, messages in data.items():
                for text in messages if isinstance(messages, list) else [messages]:
                    rows.append([str(name), str(text)])
        return b"".join(csv_bytes(rows))


def _filter_parameters(filterset: type) -> list[OpenApiParameter]:
    """The list's filters, documented for an action that is not a list (the export)."""
    kinds = {"tenant": OpenApiTypes.INT, "created_after": OpenApiTypes.DATETIME}
    kinds["created_before"] = OpenApiTypes.DATETIME
    return [
        OpenApiParameter(
            name, kinds.get(name, OpenApiTypes.STR), description=f.extra.get("help_text", "")
        )
        for name, f in filterset.base_filters.items()
    ]


class AuditEventViewSet(ScopedReadOnlyViewSet):
    """The audit trail of the tenants you may see: list and detail only, never a change.

    `export/` gives the same rows as CSV for an interval.
    """

    model = AuditEvent
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    cursor_ordering = ("-created_at", "-id")

    @extend_schema(
        parameters=[AuditExportQuerySerializer, *_filter_parameters(AuditEventFilter)],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Columns: " + ", ".join(COLUMNS) + ". Oldest first; time in UTC.",
            ),
            400: ERRORS[400],
        },
    )
    @action(
        detail=False,
        methods=["get"],
        renderer_classes=[JSONRenderer, CsvRenderer],
        pagination_class=None,
    )
    def export(self, request: Request) -> Any:
        """The audit events of [start, end) as CSV (at most 366 days), with the list's filters.

        Streamed, oldest first. Cells that a spreadsheet would run as a formula start
        with a single quote. The export is itself recorded as an `audit.exported` event.
        """
        errors: dict[str, Any] = {}
        query = AuditExportQuerySerializer(data=request.query_params)
        if not query.is_valid():
            errors.update(query.errors)
        filterset = AuditEventFilter(
            data=request.query_params, queryset=self.get_queryset(), request=request
        )
        if not filterset.is_valid():
            errors.update(filterset.errors)
        if errors:
            raise exceptions.ValidationError(errors)
        start, end = query.validated_data["start"], query.validated_data["end"]
        used = {k: v for k, v in request.query_params.items() if k in filterset.base_filters}
        stream = audit_export(
            actor=request.user,
            start=start,
            end=end,
            tenant=filterset.form.cleaned_data.get("tenant"),
            queryset=filterset.qs,
            filters=used,
            via="api",
        )
        return csv_response(stream, start=start, end=end)
