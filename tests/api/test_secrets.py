"""No API response ever carries a tenant's secret or its ciphertext."""

from __future__ import annotations

from mailboxes.models import Tenant
from tests.api.helpers import ApiTestCase, api_routes
from tests.api.test_isolation import EXPORTS, OBJECT_FOR

ALPHA_SECRET = "S3CRET-alpha-client-secret-7f2c"
BETA_SECRET = "S3CRET-beta-private-key-91ab"


class SecretTests(ApiTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.alpha.set_credentials({"client_secret": ALPHA_SECRET})
        cls.alpha.save()
        cls.beta.set_credentials(
            {
                "service_account_info": {
                    "private_key": f"-----BEGIN PRIVATE KEY-----{BETA_SECRET}",
                    "client_email": "clawback@beta-project.iam.gserviceaccount.com",
                }
            }
        )
        cls.beta.save()

    def forbidden_strings(self) -> list[str]:
        ciphertexts = list(Tenant.objects.values_list("credentials_ciphertext", flat=True))
        self.assertTrue(all(ciphertexts))
        # A prefix of the ciphertext would be as bad as the whole.
        return [ALPHA_SECRET, BETA_SECRET, "S3CRET", "PRIVATE KEY", "ciphertext"] + [
            c[:24] for c in ciphertexts
        ]

    def assert_clean(self, content: bytes, where: str) -> None:
        text = content.decode()
        for secret in self.forbidden_strings():
            self.assertNotIn(secret, text, where)

    def test_it_never_returns_a_secret_from_any_endpoint(self) -> None:
        checked = 0
        for route in api_routes():
            if "get" not in route.methods:
                continue
            for user in (self.root, self.alice, self.charlie):
                if route.is_detail:
                    side = "beta" if user == self.charlie else "alpha"
                    objects = {**getattr(self, f"{side}_objects"), "tenant": getattr(self, side)}
                    urls = [route.url(objects[OBJECT_FOR[route.key]].pk)]
                else:
                    urls = [route.url()]
                for url in urls:
                    response = self.call(user, "get", url, EXPORTS.get(route.name))
                    self.assertEqual(response.status_code, 200, url)
                    content = (
                        b"".join(response.streaming_content)
                        if response.streaming
                        else response.content
                    )
                    self.assert_clean(content, f"{user} {url}")
                    checked += 1
        self.assertGreaterEqual(checked, 10)

    def test_it_says_credentials_exist_without_showing_them(self) -> None:
        body = self.get_json(self.alice, f"/api/v1/tenants/{self.alpha.pk}/")
        self.assertTrue(body["has_credentials"])
        self.assertEqual(body["credentials_summary"], "client secret")

    def test_it_leaves_secrets_out_of_the_schema_and_the_browsable_api(self) -> None:
        schema = self.call(None, "get", "/api/schema/")
        self.assertEqual(schema.status_code, 200)
        self.assertNotIn(b"credentials_ciphertext", schema.content)
        self.client.force_login(self.root)
        html = self.client.get(f"/api/v1/tenants/{self.alpha.pk}/", HTTP_ACCEPT="text/html")
        if html.status_code == 200:  # the browsable API exists with DEBUG only
            self.assert_clean(html.content, "browsable API")
