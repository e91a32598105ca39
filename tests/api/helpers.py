"""Shared pieces for API tests: route discovery and a client-aware base case."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.viewsets import ViewSetMixin

from config.api_urls import router
from mailboxes.models import AuditEvent
from retraction.models import JobState, RetractionJob
from tests.base import TwoTenantsTestCase
from tests.webhooks.factories import add_webhook_rows

API_PREFIX = "api/v1/"
# Methods that are not endpoints of their own.
_META_METHODS = {"options", "head", "trace"}


@dataclass(frozen=True)
class Route:
    """One URL pattern under /api/v1/ and what it answers."""

    path: str
    name: str
    view_class: type
    methods: tuple[str, ...]
    kwargs: tuple[str, ...]
    key: str  # the router basename, or the URL name for views outside the router

    @property
    def is_detail(self) -> bool:
        return "pk" in self.kwargs

    @property
    def is_viewset(self) -> bool:
        return issubclass(self.view_class, ViewSetMixin)

    def url(self, pk: int | None = None) -> str:
        return reverse(self.name, kwargs={"pk": pk} if self.is_detail else None)

    def __str__(self) -> str:
        return f"{self.name} ({self.path})"


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            found.append((prefix + str(pattern.pattern), pattern))
    return found


def api_routes() -> list[Route]:
    """Every endpoint under /api/v1/, found through the URL resolver."""
    basenames = {viewset: basename for _, viewset, basename in router.registry}
    routes = []
    for path, pattern in _walk(get_resolver().url_patterns):
        if not path.startswith(API_PREFIX):
            continue
        callback = pattern.callback
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        actions = getattr(callback, "actions", None)
        if actions:
            methods = tuple(sorted(m for m in actions if m not in _META_METHODS))
        else:
            methods = tuple(
                m
                for m in view_class.http_method_names
                if m not in _META_METHODS and hasattr(view_class, m)
            )
        routes.append(
            Route(
                path=path,
                name=pattern.name,
                view_class=view_class,
                methods=methods,
                kwargs=tuple(pattern.pattern.regex.groupindex),
                key=basenames.get(view_class, pattern.name),
            )
        )
    assert routes, "no API routes found under /api/v1/"
    return routes


class ApiTestCase(TwoTenantsTestCase):
    client_class = APIClient

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        # Each tenant's attempt belongs to a finished bulk job ("job" in alpha/beta_objects).
        for tenant, objects in ((cls.alpha, cls.alpha_objects), (cls.beta, cls.beta_objects)):
            attempt = objects["attempt"]
            objects["job"] = RetractionJob.objects.create(
                tenant=tenant,
                action=attempt.action,
                message_ids=[attempt.message_id],
                state=JobState.COMPLETED,
                discovered=1,
                finished_at=timezone.now(),
            )
            attempt.job = objects["job"]
            attempt.save(update_fields=["job"])
            objects["audit_event"] = AuditEvent.objects.filter(tenant=tenant).earliest("id")
            add_webhook_rows(objects, tenant)

    def call(self, user: Any, method: str, url: str, data: Any = None, **extra: Any) -> Any:
        """Request `url` as `user` (None: anonymous); JSON in, response out."""
        self.client.logout()
        if user is not None:
            self.client.force_login(user)
        handler = getattr(self.client, method.lower())
        if method.lower() in ("get", "delete"):
            return handler(url, data, **extra)
        return handler(url, data if data is not None else {}, format="json", **extra)

    def get_json(self, user: Any, url: str, data: Any = None, status: int = 200) -> Any:
        response = self.call(user, "get", url, data)
        self.assertEqual(response.status_code, status, response.content[:500])
        return response.json()

    def results(self, user: Any, url: str, data: Any = None) -> list[dict[str, Any]]:
        body = self.get_json(user, url, data)
        self.assertEqual(set(body), {"next", "previous", "results"})
        return body["results"]

    @staticmethod
    def text(response: Any) -> str:
        return json.dumps(response.json()) if response.content else ""
