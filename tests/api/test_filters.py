"""Query filters: what they find, and a 400 with the parameter's name for a bad value."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework.exceptions import ValidationError

from mailboxes.filters import filter_messages
from mailboxes.models import Delivery, DeliveryStatus, Message
from retraction.models import AttemptStatus, RetractionAttempt
from tests.api.helpers import ApiTestCase, api_routes
from tests.api.test_isolation import EXPORTS
from tests.factories import make_message

JUNK_VALUES = ("not-a-value", "\x00", "-1", "9" * 30, "2024-13-45T99:99", "true' OR 1=1 --")


class BadFilterTests(ApiTestCase):
    def assert_field_error(self, url: str, params: dict[str, str], field: str) -> None:
        response = self.call(self.root, "get", url, params)
        self.assertEqual(response.status_code, 400, response.content)
        self.assertIn(field, response.json())
        self.assertIsInstance(response.json()[field], list)

    def test_it_rejects_bad_values_with_field_errors(self) -> None:
        cases = [
            ("/api/v1/messages/", "disposition", "EVIL"),
            ("/api/v1/messages/", "received_after", "yesterday"),
            ("/api/v1/messages/", "received_before", "2024-02-30"),
            ("/api/v1/messages/", "retracted", "maybe"),
            ("/api/v1/messages/", "tenant", "abc"),
            ("/api/v1/messages/", "tenant", "987654"),
            ("/api/v1/messages/", "subject", "a\x00b"),
            ("/api/v1/mailboxes/", "kind", "robot"),
            ("/api/v1/mailboxes/", "tenant", "-1"),
            ("/api/v1/policies/", "enabled", "perhaps"),
            ("/api/v1/policies/", "action", "explode"),
            ("/api/v1/retractions/", "status", "done"),
            ("/api/v1/retractions/", "reason", "bad_luck"),
            ("/api/v1/retractions/", "mode", "robot"),
            ("/api/v1/retractions/", "read_state", "skimmed"),
            ("/api/v1/retractions/", "message", "abc"),
            ("/api/v1/retractions/", "completed_after", "soon"),
            ("/api/v1/retractions/", "completed_before", "later"),
            ("/api/v1/tenants/", "provider", "yahoo"),
            ("/api/v1/messages/", "cursor", "garbage"),
        ]
        for url, field, value in cases:
            with self.subTest(url=url, field=field, value=value):
                self.assert_field_error(url, {field: value}, field)

    def test_it_never_answers_a_junk_filter_value_with_a_server_error(self) -> None:
        for route in api_routes():
            filterset = getattr(route.view_class, "filterset_class", None)
            if route.is_detail or filterset is None or "get" not in route.methods:
                continue
            required = EXPORTS.get(route.name, {})
            for name in [*filterset.base_filters, "cursor", "page_size"]:
                for value in JUNK_VALUES:
                    with self.subTest(route=str(route), name=name, value=value):
                        params = {**required, name: value}
                        response = self.call(self.root, "get", route.url(), params)
                        self.assertIn(response.status_code, (200, 400))
                        if response.status_code == 400:
                            self.assertIn(name, response.json())


class MessageFilterTests(ApiTestCase):
    url = "/api/v1/messages/"

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        objects = cls.alpha_objects
        cls.old = make_message(
            cls.alpha,
            [objects["shared"]],
            subject="Quarterly report",
            sender="cfo@partner.example",
            received_at=timezone.now() - timedelta(days=10),
        )
        Delivery.objects.filter(message=cls.old).update(status=DeliveryStatus.RETRACTED)

    def ids(self, **params: str) -> list[int]:
        return [row["id"] for row in self.results(self.alice, self.url, params)]

    def test_it_finds_messages_by_recipient_including_list_members(self) -> None:
        member = self.alpha_objects["group"].members.exclude(pk=self.alpha_objects["mailbox"].pk)
        address = member.get().address
        self.assertEqual(self.ids(recipient=address.upper()), [self.alpha_objects["message"].pk])
        self.assertEqual(self.ids(recipient="nobody@alpha.example"), [])

    def test_it_finds_messages_by_retracted_copies(self) -> None:
        self.assertEqual(self.ids(retracted="true"), [self.old.pk])
        self.assertEqual(self.ids(retracted="false"), [self.alpha_objects["message"].pk])

    def test_it_finds_messages_by_time_window(self) -> None:
        now = timezone.now()
        week_ago = (now - timedelta(days=7)).isoformat()
        self.assertEqual(self.ids(received_after=week_ago), [self.alpha_objects["message"].pk])
        self.assertEqual(self.ids(received_before=week_ago), [self.old.pk])

    def test_it_finds_messages_by_headers(self) -> None:
        message = self.alpha_objects["message"]
        self.assertEqual(self.ids(subject="quarterly"), [self.old.pk])
        self.assertEqual(self.ids(sender="CFO@partner.example"), [self.old.pk])
        self.assertEqual(self.ids(internet_message_id="a-msg@evil.example"), [message.pk])
        self.assertEqual(self.ids(internet_message_id="<a-msg@evil.example>"), [message.pk])
        self.assertEqual(
            self.ids(disposition="NONE", tenant=str(self.alpha.pk)), [message.pk, self.old.pk]
        )
        self.assertEqual(self.ids(disposition="MALICIOUS"), [])

    def test_it_filters_a_plain_dict_for_bulk_jobs(self) -> None:
        scoped = Message.objects.for_user(self.alice)
        found = filter_messages(
            scoped, {"retracted": True, "tenant": self.alpha.pk}, user=self.alice
        )
        self.assertEqual(list(found), [self.old])
        self.assertEqual(filter_messages(scoped, {}, user=self.alice).count(), 2)

    def test_it_rejects_unknown_or_bad_params_in_a_plain_dict(self) -> None:
        scoped = Message.objects.for_user(self.charlie)
        cases = [
            ({"subjet": "typo"}, "subjet"),
            ({"received_after": "yesterday"}, "received_after"),
            ({"tenant": self.alpha.pk}, "tenant"),
            ({"retracted": "maybe"}, "retracted"),
        ]
        for params, field in cases:
            with self.subTest(params=params):
                with self.assertRaises(ValidationError) as raised:
                    filter_messages(scoped, params, user=self.charlie)
                self.assertIn(field, raised.exception.detail)


class OtherFilterTests(ApiTestCase):
    def test_it_filters_mailboxes_by_kind_and_address(self) -> None:
        group = self.alpha_objects["group"]
        rows = self.results(self.alice, "/api/v1/mailboxes/", {"kind": "group"})
        self.assertEqual([row["id"] for row in rows], [group.pk])
        rows = self.results(self.alice, "/api/v1/mailboxes/", {"address": group.address.upper()})
        self.assertEqual([row["id"] for row in rows], [group.pk])

    def test_it_filters_retractions_by_status_and_completion_time(self) -> None:
        attempt = self.alpha_objects["attempt"]
        RetractionAttempt.objects.filter(pk=attempt.pk).update(completed_at=timezone.now())
        url = "/api/v1/retractions/"
        self.assertEqual(
            [r["id"] for r in self.results(self.alice, url, {"status": AttemptStatus.SUCCEEDED})],
            [attempt.pk],
        )
        self.assertEqual(self.results(self.alice, url, {"status": AttemptStatus.FAILED}), [])
        hour_ago = (timezone.now() - timedelta(hours=1)).isoformat()
        self.assertEqual(len(self.results(self.alice, url, {"completed_after": hour_ago})), 1)
        self.assertEqual(self.results(self.alice, url, {"completed_before": hour_ago}), [])

    def test_it_filters_policies_by_enabled(self) -> None:
        policy = self.alpha_objects["policy"]
        policy.enabled = False
        policy.save(update_fields=["enabled"])
        rows = self.results(self.alice, "/api/v1/policies/", {"enabled": "false"})
        self.assertEqual([row["id"] for row in rows], [policy.pk])
        self.assertEqual(len(self.results(self.alice, "/api/v1/policies/", {"enabled": "true"})), 4)
