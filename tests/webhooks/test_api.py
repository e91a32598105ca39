"""/api/v1/webhooks/ and /api/v1/webhook-deliveries/: roles, tenancy, the secret shown once."""

from __future__ import annotations

from django.test import override_settings

from mailboxes.models import AuditEvent
from tests.api.helpers import ApiTestCase
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

URL = "/api/v1/webhooks/"
DELIVERIES = "/api/v1/webhook-deliveries/"


class EndpointApiTests(ApiTestCase):
    def new(self, user, **fields):
        payload = {
            "tenant": self.alpha.pk,
            "name": "Splunk",
            "url": "https://siem.msp.example/clawback",
            **fields,
        }
        return self.call(user, "post", URL, payload)

    def test_it_shows_the_secret_once_at_creation(self) -> None:
        response = self.new(self.alice, event_types=["retraction.*", "policy.updated"])
        self.assertEqual(response.status_code, 201, response.content)
        body = response.json()
        secret = body["secret"]
        self.assertTrue(secret.startswith("whsec_") and len(secret) > 30)
        self.assertEqual(body["event_types"], ["policy.updated", "retraction.*"])
        endpoint = WebhookEndpoint.objects.get(pk=body["id"])
        self.assertEqual(endpoint.get_secret(), secret)
        self.assertNotIn(secret, endpoint.secret_ciphertext)  # encrypted at rest
        for url in (URL, f"{URL}{endpoint.pk}/"):
            for user in (self.alice, self.vera, self.root):
                response = self.call(user, "get", url)
                self.assertEqual(response.status_code, 200)
                self.assertNotIn(secret, response.content.decode())
                self.assertNotIn("secret", response.content.decode())
        changed = self.call(self.alice, "patch", f"{URL}{endpoint.pk}/", {"name": "Splunk 2"})
        self.assertNotIn("secret", changed.content.decode())
        event = AuditEvent.objects.get(action="webhook.created")
        self.assertEqual(
            (event.tenant, event.actor, event.data["via"]), (self.alpha, self.alice, "api")
        )
        self.assertEqual(event.data["host"], "siem.msp.example")
        self.assertNotIn(secret, str(event.data))

    def test_it_rotates_the_secret_and_shows_the_new_one_once(self) -> None:
        endpoint_id = self.new(self.alice).json()["id"]
        old = WebhookEndpoint.objects.get(pk=endpoint_id).get_secret()
        response = self.call(self.alice, "post", f"{URL}{endpoint_id}/rotate-secret/")
        self.assertEqual(response.status_code, 200)
        new = response.json()["secret"]
        self.assertNotEqual(new, old)
        self.assertEqual(WebhookEndpoint.objects.get(pk=endpoint_id).get_secret(), new)
        self.assertTrue(AuditEvent.objects.filter(action="webhook.secret_rotated").exists())
        for user in (self.bob, self.vera):
            response = self.call(user, "post", f"{URL}{endpoint_id}/rotate-secret/")
            self.assertEqual(response.status_code, 403)

    def test_it_lets_only_tenant_admins_write(self) -> None:
        for user in (self.vera, self.bob):
            with self.subTest(user=user.username):
                self.assertEqual(self.new(user).status_code, 403)
        endpoint = self.alpha_objects["webhook"]
        for user in (self.vera, self.bob):
            for method in ("patch", "delete"):
                response = self.call(user, method, f"{URL}{endpoint.pk}/", {"name": "x"})
                self.assertEqual(response.status_code, 403)
            response = self.call(user, "post", f"{URL}{endpoint.pk}/test/")
            self.assertEqual(response.status_code, 403)
        self.assertEqual(WebhookEndpoint.objects.get(pk=endpoint.pk).name, endpoint.name)
        # Readers read.
        rows = self.results(self.vera, URL)
        self.assertEqual([row["id"] for row in rows], [endpoint.pk])

    def test_it_keeps_charlie_out_of_alphas_endpoints_and_deliveries(self) -> None:
        endpoint = self.alpha_objects["webhook"]
        delivery = self.alpha_objects["webhook_delivery"]
        response = self.new(self.charlie)
        self.assertEqual(response.status_code, 400)
        self.assertIn("tenant", response.json())
        for url in (f"{URL}{endpoint.pk}/", f"{DELIVERIES}{delivery.pk}/"):
            self.assertEqual(self.call(self.charlie, "get", url).status_code, 404)
        for method, url in (
            ("patch", f"{URL}{endpoint.pk}/"),
            ("delete", f"{URL}{endpoint.pk}/"),
            ("post", f"{URL}{endpoint.pk}/test/"),
            ("post", f"{URL}{endpoint.pk}/rotate-secret/"),
        ):
            self.assertEqual(self.call(self.charlie, method, url).status_code, 404)
        self.assertTrue(WebhookEndpoint.objects.filter(pk=endpoint.pk).exists())
        listed = [row["id"] for row in self.results(self.charlie, DELIVERIES)]
        self.assertEqual(listed, [self.beta_objects["webhook_delivery"].pk])
        response = self.call(self.charlie, "get", DELIVERIES, {"endpoint": endpoint.pk})
        self.assertEqual(response.status_code, 400)
        self.assertIn("endpoint", response.json())

    @override_settings(DEMO=False)  # production rules
    def test_it_refuses_bad_urls_and_event_types_with_field_errors(self) -> None:
        cases = [
            ({"url": "http://siem.msp.example/"}, "url"),  # production: https only
            ({"url": "https://169.254.169.254/latest/meta-data/"}, "url"),
            ({"url": "https://[fe80::1]/hook"}, "url"),
            ({"url": "https://127.0.0.1/hook"}, "url"),
            ({"url": "https://localhost:8443/hook"}, "url"),
            ({"url": "not a url"}, "url"),
            ({"event_types": ["Policy Updated"]}, "event_types"),
            ({"event_types": "policy.updated"}, "event_types"),
            ({"name": ""}, "name"),
        ]
        for fields, field in cases:
            with self.subTest(fields=fields):
                response = self.new(self.alice, **fields)
                self.assertEqual(response.status_code, 400, response.content)
                self.assertIn(field, response.json())
        self.assertEqual(WebhookEndpoint.objects.for_tenant(self.alpha).count(), 1)

    @override_settings(DEMO=True)
    def test_it_allows_a_local_receiver_in_debug_mode(self) -> None:
        response = self.new(self.alice, url="http://127.0.0.1:9000/hook")
        self.assertEqual(response.status_code, 201, response.content)
        response = self.new(self.alice, url="http://169.254.169.254/latest/")
        self.assertEqual(response.status_code, 400)

    def test_it_queues_a_ping_and_logs_it(self) -> None:
        endpoint = self.alpha_objects["webhook"]
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            response = self.call(self.alice, "post", f"{URL}{endpoint.pk}/test/")
        self.assertEqual(response.status_code, 202)
        self.assertEqual(len(callbacks), 1)  # the sender, on commit
        body = response.json()
        self.assertEqual((body["event_type"], body["status"]), ("webhook.ping", "pending"))
        self.assertEqual(body["payload"]["data"]["requested_by"], "alice")
        row = self.get_json(self.vera, f"{DELIVERIES}{body['id']}/")
        self.assertEqual(row["endpoint"], endpoint.pk)

    def test_it_keeps_the_log_when_an_endpoint_is_deleted(self) -> None:
        endpoint = self.alpha_objects["webhook"]
        logged = self.alpha_objects["webhook_delivery"]
        pending = WebhookDelivery.objects.create(
            tenant=self.alpha,
            endpoint=endpoint,
            event_id="6c1b3a56-1a7d-4bb4-9f3f-3d0b7f0f7a11",
            event_type="policy.updated",
            payload={},
        )
        response = self.call(self.alice, "delete", f"{URL}{endpoint.pk}/")
        self.assertEqual(response.status_code, 204)
        self.assertFalse(WebhookEndpoint.objects.filter(pk=endpoint.pk).exists())
        pending.refresh_from_db()
        logged.refresh_from_db()
        self.assertEqual((pending.status, pending.endpoint), (DeliveryStatus.GAVE_UP, None))
        self.assertEqual(pending.last_error, "the endpoint was deleted")
        self.assertEqual(logged.status, DeliveryStatus.SUCCEEDED)
        self.assertTrue(AuditEvent.objects.filter(action="webhook.deleted").exists())

    def test_it_filters_deliveries(self) -> None:
        endpoint = self.alpha_objects["webhook"]
        ids = {
            status: WebhookDelivery.objects.create(
                tenant=self.alpha,
                endpoint=endpoint,
                event_id=f"00000000-0000-4000-8000-00000000000{n}",
                event_type="policy.updated",
                payload={},
                status=status,
            ).pk
            for n, status in enumerate(["failed", "gave_up"])
        }
        rows = self.results(self.alice, DELIVERIES, {"status": "gave_up"})
        self.assertEqual([row["id"] for row in rows], [ids["gave_up"]])
        rows = self.results(self.alice, DELIVERIES, {"event_type": "policy.updated"})
        self.assertEqual({row["id"] for row in rows}, set(ids.values()))
        response = self.call(self.alice, "get", DELIVERIES, {"status": "lost"})
        self.assertEqual(response.status_code, 400)
