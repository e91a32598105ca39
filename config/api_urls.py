"""The REST API: /api/v1/ (one router), the OpenAPI schema and its docs page."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from mailboxes.api import AuditEventViewSet, MailboxViewSet, MessageViewSet, TenantViewSet
from retraction.api import PolicyViewSet, RetractionAttemptViewSet, RetractionJobViewSet
from webhooks.api import WebhookDeliveryViewSet, WebhookEndpointViewSet

router = SimpleRouter()
router.register("tenants", TenantViewSet, basename="tenant")
router.register("mailboxes", MailboxViewSet, basename="mailbox")
router.register("messages", MessageViewSet, basename="message")
router.register("policies", PolicyViewSet, basename="policy")
router.register("retractions", RetractionAttemptViewSet, basename="retraction")
router.register("retraction-jobs", RetractionJobViewSet, basename="retraction-job")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("v1/metrics/", include("metrics.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file (?script=), not inline: the
    # Content-Security-Policy (config/security.py) allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
