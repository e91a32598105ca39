"""What each endpoint returns: the fields integrators rely on, pagination, ordering."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from mailboxes.models import DispositionChange
from retraction.models import RetractionAttempt
from tests.api.helpers import ApiTestCase
from tests.factories import make_message


class ResponseTests(ApiTestCase):
    def test_it_describes_a_tenant(self) -> None:
        body = self.get_json(self.vera, f"/api/v1/tenants/{self.alpha.pk}/")
        self.assertEqual(
            set(body),
            {
                "id",
                "name",
                "slug",
                "provider",
                "domains",
                "ingestion_mode",
                "authorization_status",
                "authorization_checked_at",
                "authorization_error",
                "has_credentials",
                "credentials_summary",
                "credentials_updated_at",
                "created_at",
            },
        )
        self.assertEqual((body["name"], body["provider"]), ("Alpha Corp", "microsoft"))
        self.assertEqual(body["domains"], ["alpha.example"])
        self.assertEqual((body["has_credentials"], body["credentials_summary"]), (False, "none"))

    def test_it_lists_group_members_by_address(self) -> None:
        group = self.alpha_objects["group"]
        body = self.get_json(self.vera, f"/api/v1/mailboxes/{group.pk}/")
        self.assertEqual(body["kind"], "group")
        self.assertEqual(body["members"], ["a-user1@alpha.example", "a-user2@alpha.example"])
        self.assertEqual(body["tenant"], self.alpha.pk)

    def test_it_shows_each_delivered_copy_of_a_message(self) -> None:
        message = self.alpha_objects["message"]
        (row,) = self.results(self.vera, "/api/v1/messages/")
        self.assertEqual(row["id"], message.pk)
        self.assertEqual(row["internet_message_id"], "<a-msg@evil.example>")
        self.assertTrue(row["retractable"])
        self.assertEqual(row["not_retractable_reason"], "")
        copies = {d["recipient"]: d for d in row["deliveries"]}
        self.assertEqual(
            sorted(copies),
            [
                "a-all@alpha.example",
                "a-shared@alpha.example",
                "a-user1@alpha.example",
                "a-user2@alpha.example",
            ],
        )
        group = self.alpha_objects["group"]
        self.assertEqual(copies["a-user2@alpha.example"]["via_group"], group.pk)
        self.assertIsNone(copies["a-user1@alpha.example"]["via_group"])
        self.assertEqual(copies["a-user1@alpha.example"]["status"], "delivered")
        self.assertEqual(
            copies["a-user1@alpha.example"]["mailbox"], self.alpha_objects["mailbox"].pk
        )

    def test_it_explains_why_a_message_cannot_be_retracted(self) -> None:
        message = make_message(self.alpha, [], internet_message_id=None)
        body = self.get_json(self.vera, f"/api/v1/messages/{message.pk}/")
        self.assertFalse(body["retractable"])
        self.assertIn("no Message-ID", body["not_retractable_reason"])

    def test_it_adds_history_and_action_log_to_the_message_detail(self) -> None:
        message = self.alpha_objects["message"]
        DispositionChange.objects.create(
            tenant=self.alpha,
            message=message,
            previous="NONE",
            disposition="MALICIOUS",
            changed_by=self.bob,
            source="api",
            note="confirmed phish",
        )
        RetractionAttempt.objects.filter(pk=self.alpha_objects["attempt"].pk).update(
            requested_by=self.bob, reason="", read_state="unread"
        )
        body = self.get_json(self.vera, f"/api/v1/messages/{message.pk}/")
        (change,) = body["disposition_history"]
        self.assertEqual(
            (change["previous"], change["disposition"], change["changed_by"], change["note"]),
            ("NONE", "MALICIOUS", "bob", "confirmed phish"),
        )
        (entry,) = body["action_log"]
        self.assertEqual(entry["recipient"], "a-user1@alpha.example")
        self.assertEqual(entry["requested_by"], "bob")
        self.assertEqual(
            (entry["mode"], entry["action"], entry["status"]), ("manual", "trash", "succeeded")
        )
        self.assertEqual(entry["read_state"], "unread")
        # The list stays lean.
        (row,) = self.results(self.vera, "/api/v1/messages/")
        self.assertNotIn("action_log", row)

    def test_it_describes_a_retraction_attempt(self) -> None:
        attempt = self.alpha_objects["attempt"]
        body = self.get_json(self.vera, f"/api/v1/retractions/{attempt.pk}/")
        self.assertEqual(body["tenant"], self.alpha.pk)
        self.assertEqual(body["message"], self.alpha_objects["message"].pk)
        self.assertEqual(body["delivery"], self.alpha_objects["delivery"].pk)
        self.assertEqual(body["recipient"], "a-user1@alpha.example")
        self.assertIsNone(body["requested_by"])
        for field in (
            "reason",
            "read_state",
            "detail",
            "requested_at",
            "started_at",
            "completed_at",
        ):
            self.assertIn(field, body)

    def test_it_lists_policies_per_disposition(self) -> None:
        rows = self.results(self.vera, "/api/v1/policies/")
        self.assertEqual(
            sorted(r["disposition"] for r in rows),
            ["BULK", "MALICIOUS", "SPAM", "SPOOF", "SUSPICIOUS"],
        )
        self.assertEqual(
            set(rows[0]),
            {"id", "tenant", "disposition", "action", "enabled", "updated_at", "updated_by"},
        )

    def test_it_pages_messages_newest_first_with_cursors(self) -> None:
        now = timezone.now()
        older = [
            make_message(self.alpha, [], received_at=now - timedelta(hours=h)) for h in (1, 2, 3)
        ]
        body = self.get_json(self.vera, "/api/v1/messages/", {"page_size": 2})
        self.assertEqual(
            [r["id"] for r in body["results"]], [self.alpha_objects["message"].pk, older[0].pk]
        )
        self.assertIsNone(body["previous"])
        second = self.get_json(self.vera, body["next"])
        self.assertEqual([r["id"] for r in second["results"]], [older[1].pk, older[2].pk])
        self.assertIsNone(second["next"])
        self.assertIsNotNone(second["previous"])
