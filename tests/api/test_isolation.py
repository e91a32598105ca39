"""Tenant isolation on every API endpoint, discovered from the URL resolver.

A new endpoint is covered as soon as it is routed; these tests fail until it has
an entry in OBJECT_FOR (which of TwoTenantsTestCase's objects its detail URLs use).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from mailboxes.api_base import ScopedViewSet
from retraction.models import RetractionPolicy
from tests.api.helpers import ApiTestCase, Route, api_routes

# Route key (router basename) -> key in alpha_objects/beta_objects ("tenant": the tenant).
OBJECT_FOR = {
    "tenant": "tenant",
    "mailbox": "mailbox",
    "message": "message",
    "policy": "policy",
    "retraction": "attempt",
    "retraction-job": "job",
    "metrics-retractions": "attempt",
    "audit-event": "audit_event",
    "webhook": "webhook",
    "webhook-delivery": "webhook_delivery",
}
# Endpoints that answer one summary of the rows the caller may see, not a list: the
# list tests skip them; test_it_refuses_alpha_tenant_in_summaries covers them here
# (and each has its own counting tests, e.g. tests/metrics/test_api.py).
SUMMARIES: set[str] = {"metrics-retractions"}
# Endpoints (by URL name) that answer a file, not a JSON list, and need these parameters;
# the list tests skip them, test_it_exports_no_alpha_rows_to_the_outsider covers them.
EXPORTS: dict[str, dict[str, str]] = {
    "audit-event-export": {
        "start": (timezone.now() - timedelta(days=1)).isoformat(),
        "end": (timezone.now() + timedelta(days=1)).isoformat(),
    },
}

ALPHA_MARKERS = (
    "Alpha Corp",
    "alpha-corp",
    "alpha.example",
    "A-secret-subject",
    "<a-msg@evil.example>",
    "a-sender@evil.example",
)
MISSING_PK = 987654321


class IsolationTests(ApiTestCase):
    def objects(self, side: str) -> dict[str, Any]:
        tenant = self.alpha if side == "alpha" else self.beta
        return {**getattr(self, f"{side}_objects"), "tenant": tenant}

    def obj(self, route: Route, side: str) -> Any:
        return self.objects(side)[OBJECT_FOR[route.key]]

    def row_tenant(self, route: Route, row: dict[str, Any]) -> int:
        return row["id"] if OBJECT_FOR[route.key] == "tenant" else row["tenant"]

    def list_routes(self) -> list[Route]:
        return [
            r
            for r in api_routes()
            if not r.is_detail
            and "get" in r.methods
            and r.key not in SUMMARIES
            and r.name not in EXPORTS
        ]

    def test_it_exports_no_alpha_rows_to_the_outsider(self) -> None:
        routes = [r for r in api_routes() if r.name in EXPORTS]
        self.assertEqual(len(routes), len(EXPORTS))
        for route in routes:
            params = EXPORTS[route.name]
            with self.subTest(route=str(route)):
                alpha = self.call(
                    self.charlie, "get", route.url(), {**params, "tenant": self.alpha.pk}
                )
                missing = self.call(
                    self.charlie, "get", route.url(), {**params, "tenant": MISSING_PK}
                )
                self.assertEqual(alpha.status_code, 400)
                self.assertIn("tenant", alpha.json())
                self.assertEqual(alpha.content, missing.content)
                own = self.call(self.charlie, "get", route.url(), params)
                self.assertEqual(own.status_code, 200)
                text = b"".join(own.streaming_content).decode()
                self.assertIn("Beta Ltd", text, "beta's own rows are exported")
                for marker in ALPHA_MARKERS:
                    self.assertNotIn(marker, text)

    def test_it_refuses_alpha_tenant_in_summaries(self) -> None:
        routes = [r for r in api_routes() if r.key in SUMMARIES]
        self.assertEqual(len(routes), len(SUMMARIES))
        for route in routes:
            with self.subTest(route=str(route)):
                alpha = self.call(self.charlie, "get", route.url(), {"tenant": self.alpha.pk})
                missing = self.call(self.charlie, "get", route.url(), {"tenant": MISSING_PK})
                self.assertEqual(alpha.status_code, 400)
                self.assertIn("tenant", alpha.json())
                self.assertEqual(alpha.content, missing.content)
                own = self.call(self.charlie, "get", route.url(), {"tenant": self.beta.pk})
                self.assertEqual(own.status_code, 200)
                for response in (alpha, own, self.call(self.charlie, "get", route.url())):
                    for marker in ALPHA_MARKERS:
                        self.assertNotIn(marker, self.text(response))

    def test_it_has_test_data_for_every_endpoint(self) -> None:
        unmapped = [str(r) for r in api_routes() if r.key not in OBJECT_FOR]
        self.assertEqual(unmapped, [], "add these endpoints to OBJECT_FOR")
        unknown = [r for r in api_routes() if r.kwargs and not r.is_detail]
        self.assertEqual(unknown, [], "routes with URL arguments other than pk need a mapping")

    def test_it_builds_every_viewset_on_the_scoped_base(self) -> None:
        for route in api_routes():
            if not route.is_viewset:
                continue
            with self.subTest(route=str(route)):
                self.assertTrue(issubclass(route.view_class, ScopedViewSet))
                for klass in route.view_class.__mro__[
                    : route.view_class.__mro__.index(ScopedViewSet)
                ]:
                    self.assertNotIn("get_queryset", vars(klass), klass)
                    self.assertNotIn("get_object", vars(klass), klass)

    def test_it_answers_the_outsider_with_404_on_every_alpha_detail_url(self) -> None:
        detail_routes = [r for r in api_routes() if r.is_detail]
        self.assertTrue(detail_routes)
        policy_before = list(RetractionPolicy.objects.for_tenant(self.alpha).values())
        for route in detail_routes:
            # DELETE last: charlie's own row is gone after it.
            for method in sorted(route.methods, key=lambda m: m == "delete"):
                with self.subTest(route=str(route), method=method):
                    alpha = self.call(self.charlie, method, route.url(self.obj(route, "alpha").pk))
                    missing = self.call(self.charlie, method, route.url(MISSING_PK))
                    self.assertEqual(alpha.status_code, 404, alpha.content[:300])
                    # Forbidden and missing are indistinguishable.
                    self.assertEqual(alpha.content, missing.content)
                    own = self.call(self.charlie, method, route.url(self.obj(route, "beta").pk))
                    if method == "get":
                        self.assertEqual(own.status_code, 200)
        self.assertEqual(
            list(RetractionPolicy.objects.for_tenant(self.alpha).values()), policy_before
        )

    def test_it_shows_alpha_detail_urls_to_alpha_members(self) -> None:
        for route in api_routes():
            if route.is_detail and "get" in route.methods:
                with self.subTest(route=str(route)):
                    for user in (self.vera, self.bob, self.alice, self.root):
                        body = self.get_json(user, route.url(self.obj(route, "alpha").pk))
                        self.assertEqual(body["id"], self.obj(route, "alpha").pk)

    def test_it_never_lists_alpha_rows_to_the_outsider(self) -> None:
        routes = self.list_routes()
        self.assertTrue(routes)
        for route in routes:
            with self.subTest(route=str(route)):
                response = self.call(self.charlie, "get", route.url())
                self.assertEqual(response.status_code, 200)
                rows = response.json()["results"]
                self.assertTrue(rows, "beta's own rows are listed, so the check is not vacuous")
                self.assertEqual({self.row_tenant(route, row) for row in rows}, {self.beta.pk})
                self.assertNotIn(self.obj(route, "alpha").pk, [row["id"] for row in rows])
                self.assertIn(self.obj(route, "beta").pk, [row["id"] for row in rows])
                for marker in ALPHA_MARKERS:
                    self.assertNotIn(marker, self.text(response))

    def test_it_lists_only_alpha_rows_to_alpha_members(self) -> None:
        for route in self.list_routes():
            with self.subTest(route=str(route)):
                rows = self.results(self.vera, route.url())
                self.assertEqual({self.row_tenant(route, row) for row in rows}, {self.alpha.pk})
                self.assertIn(self.obj(route, "alpha").pk, [row["id"] for row in rows])

    def test_it_lists_every_tenant_to_the_superuser(self) -> None:
        for route in self.list_routes():
            with self.subTest(route=str(route)):
                rows = self.results(self.root, route.url())
                tenants = {self.row_tenant(route, row) for row in rows}
                self.assertEqual(tenants, {self.alpha.pk, self.beta.pk})

    def test_it_refuses_alpha_tenant_as_a_filter_for_the_outsider(self) -> None:
        for route in self.list_routes():
            filterset = getattr(route.view_class, "filterset_class", None)
            if filterset is None or "tenant" not in filterset.base_filters:
                continue
            with self.subTest(route=str(route)):
                response = self.call(self.charlie, "get", route.url(), {"tenant": self.alpha.pk})
                if response.status_code == 200:
                    self.assertEqual(response.json()["results"], [])
                else:
                    self.assertEqual(response.status_code, 400)
                    self.assertIn("tenant", response.json())
                # Same answer as for a tenant that does not exist.
                missing = self.call(self.charlie, "get", route.url(), {"tenant": MISSING_PK})
                self.assertEqual(response.content, missing.content)
                # And the filter works on the caller's own tenant.
                own = self.results(self.charlie, route.url(), {"tenant": self.beta.pk})
                self.assertTrue(own)

    def test_it_refuses_writes_naming_alpha_on_list_urls(self) -> None:
        for route in api_routes():
            if route.is_detail:
                continue
            for method in set(route.methods) - {"get"}:
                with self.subTest(route=str(route), method=method):
                    response = self.call(
                        self.charlie, method, route.url(), {"tenant": self.alpha.pk}
                    )
                    self.assertIn(response.status_code, (400, 404), response.content[:300])

    def test_it_refuses_an_alpha_message_as_a_retraction_filter_for_the_outsider(self) -> None:
        url = "/api/v1/retractions/"
        alpha = self.call(self.charlie, "get", url, {"message": self.alpha_objects["message"].pk})
        self.assertEqual(alpha.status_code, 400)
        self.assertIn("message", alpha.json())
        own = self.results(self.charlie, url, {"message": self.beta_objects["message"].pk})
        self.assertEqual([row["id"] for row in own], [self.beta_objects["attempt"].pk])

    def test_it_answers_404_for_a_non_numeric_id(self) -> None:
        for route in api_routes():
            if route.is_detail and "get" in route.methods:
                with self.subTest(route=str(route)):
                    url = route.url(1).replace("/1/", "/abc/")
                    self.assertEqual(self.call(self.root, "get", url).status_code, 404)
