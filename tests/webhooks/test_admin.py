"""The webhook admin: tenant admins add endpoints (secret shown once), others only read."""

from __future__ import annotations

import re

from django.contrib.messages import get_messages

from mailboxes.models import AuditEvent
from tests.admin.helpers import AdminTestCase, admin_url, change_url
from webhooks.models import WebhookDelivery, WebhookEndpoint


class WebhookAdminTests(AdminTestCase):
    def add(self, user, **fields):
        data = {
            "tenant": self.alpha.pk,
            "name": "QRadar",
            "url": "https://qradar.msp.example/in",
            "enabled": "on",
            "event_types": "retraction.*, policy.updated",
            **fields,
        }
        return self.post_as(user, admin_url(WebhookEndpoint, "add"), data)

    def test_it_creates_an_endpoint_and_shows_the_secret_once(self) -> None:
        response = self.add(self.alice)
        self.assertEqual(response.status_code, 302)
        endpoint = WebhookEndpoint.objects.get(name="QRadar")
        self.assertEqual(endpoint.event_types, ["policy.updated", "retraction.*"])
        (text,) = [str(m) for m in get_messages(response.wsgi_request) if "whsec_" in str(m)]
        secret = re.search(r"whsec_\S+", text).group(0)
        self.assertEqual(endpoint.get_secret(), secret)
        listing = self.get_as(self.alice, admin_url(WebhookEndpoint))
        self.assertContains(listing, secret)  # the message after creation, once
        for url in (admin_url(WebhookEndpoint), change_url(endpoint)):
            self.assertNotContains(self.get_as(self.alice, url), secret)
        event = AuditEvent.objects.get(action="webhook.created")
        self.assertEqual(event.data["via"], "admin")

    def test_it_refuses_a_metadata_address(self) -> None:
        response = self.add(self.alice, url="https://169.254.169.254/latest/meta-data/")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "link-local or cloud metadata")
        self.assertFalse(WebhookEndpoint.objects.filter(name="QRadar").exists())

    def test_it_changes_an_endpoint_through_the_service(self) -> None:
        endpoint = self.alpha_objects["webhook"]
        response = self.post_as(
            self.alice,
            change_url(endpoint),
            {"name": endpoint.name, "url": endpoint.url, "enabled": "on", "event_types": ""},
        )
        self.assertEqual(response.status_code, 302)
        endpoint.refresh_from_db()
        self.assertTrue(endpoint.enabled)
        event = AuditEvent.objects.get(action="webhook.changed")
        self.assertEqual(event.data["fields"], ["enabled"])

    def test_it_lets_viewers_and_analysts_read_only(self) -> None:
        endpoint = self.alpha_objects["webhook"]
        pings = WebhookDelivery.objects.filter(endpoint=endpoint)
        before = pings.count()
        for user in (self.vera, self.bob):
            with self.subTest(user=user.username):
                self.assertEqual(self.add(user).status_code, 403)
                self.assertEqual(self.get_as(user, change_url(endpoint)).status_code, 200)
                response = self.post_as(
                    user,
                    admin_url(WebhookEndpoint),
                    {"action": "ping", "_selected_action": [endpoint.pk]},
                )
                self.assertIn(response.status_code, (200, 302, 403))
                self.assertEqual(pings.count(), before)

    def test_it_pings_the_selected_endpoints(self) -> None:
        endpoint = self.alpha_objects["webhook"]
        pings = WebhookDelivery.objects.filter(event_type="webhook.ping", endpoint=endpoint)
        before = pings.count()
        self.post_as(
            self.alice,
            admin_url(WebhookEndpoint),
            {"action": "ping", "_selected_action": [endpoint.pk]},
        )
        self.assertEqual(pings.count(), before + 1)

    def test_it_keeps_the_delivery_log_read_only(self) -> None:
        row = self.alpha_objects["webhook_delivery"]
        self.assertEqual(self.get_as(self.root, admin_url(WebhookDelivery, "add")).status_code, 403)
        response = self.post_as(self.root, change_url(row), {"status": "pending"})
        self.assertEqual(response.status_code, 403)
        page = self.get_as(self.alice, change_url(row))
        self.assertContains(page, "webhook.ping")
