from __future__ import annotations

from typing import Any

import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mailboxes.ingest.service import ingest_verdicts
from mailboxes.ingest.verdicts import NO_SUCH_TENANT
from mailboxes.models import (
    AuditEvent,
    Delivery,
    DispositionChange,
    GroupMembership,
    Mailbox,
    MailboxKind,
    Message,
)
from mailboxes.vocabulary import Disposition
from retraction.models import Mode, RetractionAttempt
from tests.ingest.base import IngestTestCase


def verdict(tenant: Any, n: int = 1, **fields: Any) -> dict[str, Any]:
    data = {
        "tenant": tenant,
        "internet_message_id": f"<verdict-{n}@evil.example>",
        "sender": "Attacker@Evil.Example",
        "subject": f"Invoice {n}",
        "received_at": "2025-01-14T09:30:00Z",
        "recipients": ["A-User1@Alpha.Example", "new-person@alpha.example", "x@alpha.example"],
    }
    data.update(fields)
    return data


class VerdictIngestTests(IngestTestCase):
    def test_it_creates_a_message_with_its_deliveries(self) -> None:
        report = ingest_verdicts(actor=self.bob, payload=verdict(self.alpha.pk))

        self.assertEqual(report.http_status, 201)
        body = report.as_data()
        message = Message.objects.get(pk=body["id"])
        self.assertEqual(body["status"], "created")
        self.assertEqual(message.tenant, self.alpha)
        self.assertEqual(message.internet_message_id, "<verdict-1@evil.example>")
        self.assertEqual(message.sender, "attacker@evil.example")
        self.assertEqual(message.source, "api")
        self.assertEqual(message.received_at.isoformat(), "2025-01-14T09:30:00+00:00")
        self.assertEqual(
            sorted(message.deliveries.values_list("recipient", flat=True)),
            ["a-user1@alpha.example", "new-person@alpha.example", "x@alpha.example"],
        )
        known = message.deliveries.get(recipient="a-user1@alpha.example")
        self.assertEqual(known.mailbox, self.alpha_objects["mailbox"])
        newcomer = Mailbox.objects.for_tenant(self.alpha).get(address="new-person@alpha.example")
        self.assertEqual(newcomer.kind, MailboxKind.UNKNOWN)

    def test_it_accepts_a_tenant_slug(self) -> None:
        report = ingest_verdicts(actor=self.bob, payload=verdict(self.alpha.slug))
        self.assertEqual(report.results[0].tenant_id, self.alpha.pk)

    def test_it_is_idempotent(self) -> None:
        payload = verdict(self.alpha.pk, disposition="MALICIOUS")
        first = ingest_verdicts(actor=self.bob, payload=payload)
        counts = (Message.objects.count(), Delivery.objects.count(), Mailbox.objects.count())
        history = DispositionChange.objects.count()
        attempts = RetractionAttempt.objects.count()

        again = ingest_verdicts(actor=self.bob, payload=payload)

        self.assertEqual(again.http_status, 200)
        self.assertEqual(again.as_data()["status"], "unchanged")
        self.assertEqual(again.results[0].id, first.results[0].id)
        self.assertEqual(
            (Message.objects.count(), Delivery.objects.count(), Mailbox.objects.count()), counts
        )
        self.assertEqual(DispositionChange.objects.count(), history)
        self.assertEqual(RetractionAttempt.objects.count(), attempts)

    def test_it_adds_new_recipients_when_posted_again(self) -> None:
        ingest_verdicts(actor=self.bob, payload=verdict(self.alpha.pk))
        more = verdict(self.alpha.pk, recipients=["x@alpha.example", "late@alpha.example"])

        report = ingest_verdicts(actor=self.bob, payload=more)

        result = report.results[0]
        self.assertEqual(result.status, "updated")
        self.assertEqual(result.deliveries_created, 1)
        message = Message.objects.get(pk=result.id)
        self.assertEqual(message.deliveries.count(), 4)
        self.assertEqual(message.deliveries.filter(recipient="x@alpha.example").count(), 1)

    def test_it_keeps_the_disposition_history_and_lets_the_policy_act(self) -> None:
        ingest_verdicts(actor=self.bob, payload=verdict(self.alpha.pk))
        with (
            responses.RequestsMock(assert_all_requests_are_fired=False),  # no provider call
            self.captureOnCommitCallbacks() as callbacks,
        ):
            report = ingest_verdicts(
                actor=self.bob, payload=verdict(self.alpha.pk, disposition="malicious")
            )
        self.assertEqual(report.results[0].status, "updated")
        ingest_verdicts(actor=self.bob, payload=verdict(self.alpha.pk, disposition="SPAM"))

        message = Message.objects.get(pk=report.results[0].id)
        self.assertEqual(message.disposition, Disposition.SPAM)
        history = list(message.disposition_history.values_list("previous", "disposition", "source"))
        self.assertEqual(history, [("NONE", "MALICIOUS", "api"), ("MALICIOUS", "SPAM", "api")])
        self.assertEqual(message.disposition_history.first().changed_by, self.bob)
        # The default policy trashes malicious mail: one auto attempt per copy, handed
        # to the workers only on commit.
        attempts = RetractionAttempt.objects.filter(message=message)
        self.assertEqual(attempts.count(), 3)
        self.assertEqual(set(attempts.values_list("mode", "action")), {(Mode.AUTO, "trash")})
        self.assertEqual(len(callbacks), 1)

    def test_it_applies_the_verdict_of_a_new_message_through_the_history(self) -> None:
        report = ingest_verdicts(
            actor=self.bob, payload=verdict(self.alpha.pk, disposition="MALICIOUS")
        )
        message = Message.objects.get(pk=report.results[0].id)
        self.assertEqual(message.disposition, Disposition.MALICIOUS)
        self.assertEqual(message.disposition_history.get().previous, Disposition.NONE)
        self.assertEqual(RetractionAttempt.objects.filter(message=message).count(), 3)

    def test_it_links_copies_to_the_list_they_came_through(self) -> None:
        payload = verdict(
            self.alpha.pk,
            recipients=[
                "a-all@alpha.example",
                {"address": "a-user1@alpha.example", "via_group": "a-all@alpha.example"},
                {"address": "m1@alpha.example", "via_group": "Sales@Alpha.Example"},
                {"address": "m2@alpha.example", "via_group": "sales@alpha.example"},
            ],
        )
        report = ingest_verdicts(actor=self.bob, payload=payload)

        message = Message.objects.get(pk=report.results[0].id)
        group = self.alpha_objects["group"]
        to_group = message.deliveries.get(recipient="a-all@alpha.example")
        self.assertEqual((to_group.mailbox, to_group.via_group), (group, None))
        self.assertEqual(message.deliveries.get(recipient="a-user1@alpha.example").via_group, group)
        sales = Mailbox.objects.for_tenant(self.alpha).get(address="sales@alpha.example")
        self.assertEqual(sales.kind, MailboxKind.GROUP)
        self.assertEqual(
            sorted(message.deliveries.filter(via_group=sales).values_list("recipient", flat=True)),
            ["m1@alpha.example", "m2@alpha.example"],
        )
        self.assertFalse(message.deliveries.filter(recipient="sales@alpha.example").exists())
        self.assertEqual(
            sorted(
                GroupMembership.objects.filter(group=sales).values_list(
                    "member__address", flat=True
                )
            ),
            ["m1@alpha.example", "m2@alpha.example"],
        )

    def test_it_marks_an_unknown_mailbox_as_a_group_once_seen_as_one(self) -> None:
        ingest_verdicts(
            actor=self.bob, payload=verdict(self.alpha.pk, recipients=["dl@alpha.example"])
        )
        self.assertEqual(
            Mailbox.objects.for_tenant(self.alpha).get(address="dl@alpha.example").kind,
            MailboxKind.UNKNOWN,
        )
        ingest_verdicts(
            actor=self.bob,
            payload=verdict(
                self.alpha.pk,
                n=2,
                recipients=[{"address": "m@alpha.example", "via_group": "dl@alpha.example"}],
            ),
        )
        self.assertEqual(
            Mailbox.objects.for_tenant(self.alpha).get(address="dl@alpha.example").kind,
            MailboxKind.GROUP,
        )

    def test_it_stores_the_valid_items_and_explains_the_invalid_ones(self) -> None:
        payload = [
            verdict(self.alpha.pk, n=1),
            verdict(self.alpha.pk, n=2, recipients=["ok@alpha.example", "not an address"]),
            verdict(self.alpha.pk, n=3, disposition="EVIL", received_at="yesterday"),
            {"internet_message_id": "<4@x>", "recipients": []},
            "just a string",
            verdict(self.beta.pk, n=6),
        ]
        report = ingest_verdicts(actor=self.bob, payload=payload)

        self.assertEqual(report.http_status, 200)
        body = report.as_data()
        self.assertEqual(
            (body["created"], body["updated"], body["unchanged"], body["invalid"]), (1, 0, 0, 5)
        )
        results = body["results"]
        self.assertEqual([r["index"] for r in results], [0, 1, 2, 3, 4, 5])
        self.assertEqual(results[0]["status"], "created")
        self.assertEqual(
            results[1]["errors"],
            {"recipients": ["Entry 1: 'not an address' is not a valid email address."]},
        )
        self.assertEqual(set(results[2]["errors"]), {"disposition", "received_at"})
        self.assertIn("MALICIOUS", results[2]["errors"]["disposition"][0])
        self.assertEqual(
            results[3]["errors"],
            {"tenant": ["This field is required."], "recipients": ["Give at least one recipient."]},
        )
        self.assertEqual(results[4]["errors"], {"non_field_errors": ["Expected a verdict object."]})
        self.assertEqual(results[5]["errors"], {"tenant": [NO_SUCH_TENANT]})
        self.assertEqual(
            list(
                Message.objects.filter(subject__startswith="Invoice ").values_list(
                    "subject", flat=True
                )
            ),
            ["Invoice 1"],
        )

    def test_it_answers_400_when_nothing_is_valid(self) -> None:
        report = ingest_verdicts(actor=self.bob, payload=verdict(self.alpha.pk, recipients="x@y"))
        self.assertEqual(report.http_status, 400)
        self.assertEqual(
            report.as_data(),
            {"recipients": ["Expected a list of addresses or {address, via_group}."]},
        )

    def test_it_refuses_more_than_1000_items(self) -> None:
        payload = [verdict(self.alpha.pk, n=n) for n in range(1001)]
        report = ingest_verdicts(actor=self.bob, payload=payload)

        self.assertEqual(report.http_status, 400)
        self.assertEqual(
            report.as_data(),
            {
                "non_field_errors": [
                    "At most 1,000 messages per request; this one has 1,001. "
                    "Send them in smaller lists."
                ]
            },
        )
        self.assertFalse(Message.objects.filter(subject="Invoice 7").exists())

    def test_it_accepts_exactly_1000_items(self) -> None:
        payload = [verdict(self.alpha.pk, n=n) for n in range(1000)]
        report = ingest_verdicts(actor=self.bob, payload=payload)
        self.assertEqual(report.counts["created"], 1000)

    def test_it_reports_an_inaccessible_tenant_like_a_missing_one(self) -> None:
        missing = ingest_verdicts(actor=self.charlie, payload=verdict(999_999)).as_data()
        outsider = ingest_verdicts(actor=self.charlie, payload=verdict(self.alpha.pk)).as_data()
        by_slug = ingest_verdicts(actor=self.charlie, payload=verdict(self.alpha.slug)).as_data()
        viewer = ingest_verdicts(actor=self.vera, payload=verdict(self.alpha.pk)).as_data()

        self.assertEqual(missing, {"tenant": [NO_SUCH_TENANT]})
        self.assertEqual(outsider, missing)
        self.assertEqual(by_slug, missing)
        self.assertEqual(viewer, missing)
        self.assertFalse(Message.objects.filter(subject="Invoice 1").exists())

    def test_it_limits_tenants_to_the_given_queryset(self) -> None:
        from mailboxes.models import Tenant

        report = ingest_verdicts(
            actor=self.root,
            payload=[verdict(self.alpha.pk), verdict(self.beta.pk, n=2)],
            tenants_queryset=Tenant.objects.filter(pk=self.beta.pk),
        )
        self.assertEqual([r.status for r in report.results], ["invalid", "created"])

    def test_it_stores_a_message_without_message_id_as_not_retractable(self) -> None:
        report = ingest_verdicts(
            actor=self.bob,
            payload=verdict(self.alpha.pk, internet_message_id=None, disposition="MALICIOUS"),
        )
        body = report.as_data()
        message = Message.objects.get(pk=body["id"])
        self.assertIsNone(message.internet_message_id)
        self.assertFalse(message.retractable)
        self.assertIn("no Message-ID", message.not_retractable_reason)
        self.assertFalse(body["retractable"])
        self.assertIn("cannot be located", " ".join(body["notes"]))
        # The verdict is kept, but there is nothing a provider could find.
        self.assertEqual(message.disposition, Disposition.MALICIOUS)
        self.assertFalse(RetractionAttempt.objects.filter(message=message).exists())

    def test_it_normalizes_message_ids(self) -> None:
        cases = {
            " <folded@x.example>\r\n ": "<folded@x.example>",
            "bare@x.example": "<bare@x.example>",
            "<first@x.example> <second@x.example>": "<first@x.example>",
            "< spaced@x.example >": "<spaced@x.example>",
        }
        for n, (given, stored) in enumerate(cases.items()):
            report = ingest_verdicts(
                actor=self.bob, payload=verdict(self.alpha.pk, n=n, internet_message_id=given)
            )
            with self.subTest(given=given):
                self.assertEqual(report.results[0].internet_message_id, stored)

    def test_it_refuses_message_ids_that_cannot_be_ids(self) -> None:
        for given in ("<" + "a" * 1000 + "@x>", "<>", "<open@x", "two words", "<a\x00b@x>", 42):
            report = ingest_verdicts(
                actor=self.bob, payload=verdict(self.alpha.pk, internet_message_id=given)
            )
            with self.subTest(given=given):
                self.assertEqual(list(report.as_data()), ["internet_message_id"])

    def test_it_merges_repeats_of_one_message_within_a_list(self) -> None:
        payload = [
            verdict(self.alpha.pk, recipients=["a@alpha.example"]),
            verdict(self.alpha.pk, recipients=["a@alpha.example", "b@alpha.example"]),
            verdict(self.alpha.pk, recipients=["b@alpha.example"], disposition="SPAM"),
        ]
        report = ingest_verdicts(actor=self.bob, payload=payload)

        self.assertEqual([r.status for r in report.results], ["created", "updated", "updated"])
        self.assertEqual(len({r.id for r in report.results}), 1)
        message = Message.objects.get(pk=report.results[0].id)
        self.assertEqual(message.deliveries.count(), 2)
        self.assertEqual(message.disposition, Disposition.SPAM)

    def test_it_applies_every_verdict_of_a_list_in_order(self) -> None:
        payload = [
            verdict(self.alpha.pk, disposition="SPAM"),
            verdict(self.alpha.pk, disposition="NONE"),
        ]
        report = ingest_verdicts(actor=self.bob, payload=payload)
        message = Message.objects.get(pk=report.results[0].id)
        self.assertEqual(message.disposition, Disposition.NONE)
        self.assertEqual(
            list(message.disposition_history.values_list("previous", "disposition")),
            [("NONE", "SPAM"), ("SPAM", "NONE")],
        )

    def test_it_records_one_audit_event_per_call(self) -> None:
        before = AuditEvent.objects.count()
        payload = [verdict(self.alpha.pk, n=n) for n in range(10)] + [{"bad": 1}]
        ingest_verdicts(actor=self.bob, payload=payload)

        self.assertEqual(AuditEvent.objects.count(), before + 1)
        event = AuditEvent.objects.first()
        self.assertEqual(event.action, "messages.ingested")
        self.assertEqual(event.tenant, self.alpha)
        self.assertEqual(event.actor, self.bob)
        self.assertEqual(event.data["via"], "api")
        self.assertEqual(event.data["created"], 10)
        self.assertEqual(event.data["deliveries_created"], 30)

    def test_it_needs_a_few_queries_per_batch_not_per_message(self) -> None:
        def queries_for(start: int, count: int) -> int:
            payload = [verdict(self.alpha.pk, n=start + n) for n in range(count)]
            with CaptureQueriesContext(connection) as captured:
                ingest_verdicts(actor=self.bob, payload=payload)
            return len(captured)

        small = queries_for(0, 10)
        large = queries_for(1000, 200)
        # 20 times the messages: only the backend's split of large bulk inserts adds any.
        self.assertLessEqual(large - small, 6)
        self.assertLess(large, 25)
        again = queries_for(1000, 200)  # all existing now: unchanged
        self.assertLess(again, 25)
