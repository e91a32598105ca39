"""Changelists stay cheap on big tables: constant queries per page, no unbounded COUNT(*)."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mailboxes.audit import audit_record
from mailboxes.models import AuditEvent, Delivery, Message
from retraction.models import AttemptStatus, Mode, RetractionAttempt
from tests.admin.helpers import AdminTestCase, admin_url
from tests.factories import make_message

N = 4


class ChangelistQueryTests(AdminTestCase):
    def add_messages(self, n: int) -> None:
        mailboxes = [self.alpha_objects["mailbox"], self.alpha_objects["shared"]]
        for _ in range(n):
            make_message(self.alpha, mailboxes)

    def add_attempts(self, n: int) -> None:
        self.add_messages(n)
        for delivery in Delivery.objects.filter(tenant=self.alpha, attempts__isnull=True)[:n]:
            RetractionAttempt.objects.create(
                tenant=self.alpha,
                message_id=delivery.message_id,
                delivery=delivery,
                mode=Mode.AUTO,
                action="junk",
                status=AttemptStatus.FAILED,
                reason="not_found",
                requested_by=self.bob,
            )

    def add_audit_events(self, n: int) -> None:
        for i in range(n):
            audit_record(actor=self.alice, action=f"test.{i}", tenant=self.alpha, target=self.alpha)

    def queries_for(self, user, url: str) -> list[str]:
        self.client.force_login(user)
        with CaptureQueriesContext(connection) as captured:
            response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return [q["sql"] for q in captured.captured_queries]

    def assert_constant_queries(self, model: type, add: Callable[[int], None]) -> None:
        url = admin_url(model)
        for user in (self.alice, self.root):
            with self.subTest(model=model.__name__, user=user.username):
                add(N)
                few = self.queries_for(user, url)
                add(2 * N)
                many = self.queries_for(user, url)
                self.assertEqual(len(few), len(many), "\n".join(many))
                # Every COUNT on the listed table is over a LIMITed subquery.
                table = model._meta.db_table
                for sql in many:
                    if sql.upper().startswith("SELECT COUNT(") and table in sql:
                        self.assertIn("LIMIT", sql.upper(), sql)

    def test_it_lists_messages_in_constant_queries(self) -> None:
        self.assert_constant_queries(Message, self.add_messages)

    def test_it_lists_deliveries_in_constant_queries(self) -> None:
        self.assert_constant_queries(Delivery, self.add_messages)

    def test_it_lists_attempts_in_constant_queries(self) -> None:
        self.assert_constant_queries(RetractionAttempt, self.add_attempts)

    def test_it_lists_audit_events_in_constant_queries(self) -> None:
        self.assert_constant_queries(AuditEvent, self.add_audit_events)

    def test_it_says_more_than_the_cap_instead_of_counting_everything(self) -> None:
        self.add_messages(5)
        with mock.patch.object(admin.site._registry[Message], "count_cap", 3):
            response = self.get_as(self.alice, admin_url(Message))
        self.assertContains(response, "more than 3 messages")
        response = self.get_as(self.alice, admin_url(Message))
        self.assertContains(response, "6 messages")

    def test_it_shows_the_copies_of_each_message(self) -> None:
        response = self.get_as(self.alice, admin_url(Message))
        self.assertContains(response, '<td class="field-copies">4</td>', html=True)
        self.assertContains(response, "A-secret-subject")

    def test_it_finds_messages_by_recipient_and_message_id(self) -> None:
        other = make_message(self.alpha, [self.alpha_objects["shared"]], subject="Other one")
        for term in ("a-user1@alpha.example", "<a-msg@evil.example>", "a-sender@evil"):
            with self.subTest(term=term):
                response = self.get_as(self.alice, admin_url(Message), q=term)
                self.assertContains(response, "A-secret-subject")
                self.assertNotContains(response, other.subject)
        response = self.get_as(self.alice, admin_url(Delivery), q="<a-msg@evil.example>")
        self.assertContains(response, "a-user1@alpha.example")

    def test_it_links_a_message_to_all_its_copies_and_attempts(self) -> None:
        message = self.alpha_objects["message"]
        page = self.get_as(self.alice, admin_url(Message, "change", message.pk))
        self.assertContains(page, f"{admin_url(Delivery)}?message={message.pk}")
        self.assertContains(page, "All 4 copies")
        response = self.get_as(self.alice, admin_url(Delivery), message=message.pk)
        self.assertContains(response, "4 deliveries")
        response = self.get_as(self.alice, admin_url(RetractionAttempt), message=message.pk)
        self.assertContains(response, "1 retraction attempt")
        response = self.get_as(self.charlie, admin_url(Delivery), message=message.pk)
        self.assertContains(response, "0 deliveries")
