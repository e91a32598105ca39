"""The OpenAPI schema and the docs page, with assets served by Clawback itself."""

from __future__ import annotations

import re

from tests.api.helpers import ApiTestCase, api_routes


class SchemaTests(ApiTestCase):
    def test_it_serves_the_schema_with_every_endpoint(self) -> None:
        response = self.client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        self.assertEqual(response.status_code, 200)
        schema = response.json()
        self.assertTrue(schema["openapi"].startswith("3."))
        paths = set(schema["paths"])
        for route in api_routes():
            expected = "/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route.path).replace("^", "")
            expected = expected.replace("$", "").replace("{pk}", "{id}")
            with self.subTest(route=str(route)):
                self.assertIn(expected, paths)
        self.assertIn("ApiKey", schema["components"]["securitySchemes"])

    def test_it_documents_the_message_filters(self) -> None:
        schema = self.client.get("/api/schema/?format=json").json()
        params = {p["name"] for p in schema["paths"]["/api/v1/messages/"]["get"]["parameters"]}
        for name in (
            "tenant",
            "disposition",
            "sender",
            "subject",
            "recipient",
            "internet_message_id",
            "received_after",
            "received_before",
            "retracted",
            "cursor",
        ):
            self.assertIn(name, params)

    def test_it_serves_the_docs_page_from_local_assets(self) -> None:
        response = self.client.get("/api/docs/")
        self.assertEqual(response.status_code, 200)
        html = response.content.decode()
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        self.assertTrue(any("swagger-ui-bundle.js" in s for s in sources), sources)
        for source in sources:
            self.assertFalse(source.startswith(("http:", "https:", "//")), source)
        self.assertIn("/static/drf_spectacular_sidecar/swagger-ui-dist/", html)
        for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
            self.assertNotIn(cdn, html)
        # Its start-up script, a file of its own (the CSP allows no inline script), reads
        # the local schema.
        script = self.client.get("/api/docs/?script=")
        self.assertIn("/api/schema/", script.content.decode())
