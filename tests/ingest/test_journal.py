from __future__ import annotations

from email import policy
from email.parser import BytesParser

from mailboxes.ingest.journal import is_journal_report, parse_journal_report
from mailboxes.ingest.service import ingest_raw, ingest_smtp
from mailboxes.models import (
    AuditEvent,
    GroupMembership,
    IngestionMode,
    Mailbox,
    MailboxKind,
    Message,
    Tenant,
)
from mailboxes.vocabulary import Disposition
from retraction.models import RetractionAttempt
from tests.ingest.base import ALPHA_JOURNAL, BETA_JOURNAL, IngestTestCase, fixture

REPORT = "exchange_journal_report.eml"


class ExchangeJournalReportTests(IngestTestCase):
    def test_it_records_a_journal_report(self) -> None:
        outcome = ingest_smtp(raw=fixture(REPORT), rcpt_tos=[ALPHA_JOURNAL])

        self.assertEqual(outcome.code, 250, outcome.reply)
        message = Message.objects.get(pk=outcome.results[0].id)
        self.assertEqual(message.tenant, self.alpha)
        self.assertEqual(message.internet_message_id, "<CAF1234.5678@mail.evil.example>")
        self.assertEqual(message.sender, "billing@evil.example")
        self.assertEqual(message.subject, "Invoice 4471 overdue")
        self.assertEqual(message.source, "smtp")
        # The original's newest Received header: when Exchange Online took it in.
        self.assertEqual(message.received_at.isoformat(), "2025-01-14T09:30:12+00:00")
        deliveries = {
            d.recipient: (d.via_group.address if d.via_group else None)
            for d in message.deliveries.select_related("via_group")
        }
        self.assertEqual(
            deliveries,
            {
                "a-user1@alpha.example": None,
                "a-user2@alpha.example": "a-sales@alpha.example",
                "a-user3@alpha.example": "a-sales@alpha.example",
                "a-deputy@alpha.example": None,
            },
        )
        self.assertIn(
            "1 recipient(s) outside the tenant's domains skipped.", outcome.results[0].notes
        )

    def test_it_records_the_distribution_list_and_its_members(self) -> None:
        ingest_smtp(raw=fixture(REPORT), rcpt_tos=[ALPHA_JOURNAL])

        sales = Mailbox.objects.for_tenant(self.alpha).get(address="a-sales@alpha.example")
        self.assertEqual(sales.kind, MailboxKind.GROUP)
        self.assertEqual(
            sorted(
                GroupMembership.objects.filter(group=sales).values_list(
                    "member__address", flat=True
                )
            ),
            ["a-user2@alpha.example", "a-user3@alpha.example"],
        )
        # The list itself got no copy: only its members did.
        self.assertFalse(sales.deliveries.exists())

    def test_it_takes_the_verdict_from_the_original_and_queues_retraction(self) -> None:
        outcome = ingest_smtp(raw=fixture(REPORT), rcpt_tos=[ALPHA_JOURNAL])

        message = Message.objects.get(pk=outcome.results[0].id)
        self.assertEqual(message.disposition, Disposition.MALICIOUS)
        change = message.disposition_history.get()
        self.assertEqual((change.source, change.changed_by), ("smtp", None))
        self.assertEqual(change.note, "X-Area1Security-Disposition: MALICIOUS")
        self.assertEqual(RetractionAttempt.objects.filter(message=message).count(), 4)

    def test_it_changes_nothing_when_the_same_report_arrives_twice(self) -> None:
        first = ingest_smtp(raw=fixture(REPORT), rcpt_tos=[ALPHA_JOURNAL])
        second = ingest_smtp(raw=fixture(REPORT), rcpt_tos=[ALPHA_JOURNAL])

        self.assertEqual(second.results[0].status, "unchanged")
        self.assertEqual(second.results[0].id, first.results[0].id)
        message = Message.objects.get(pk=first.results[0].id)
        self.assertEqual(message.deliveries.count(), 4)
        self.assertEqual(message.disposition_history.count(), 1)
        self.assertEqual(RetractionAttempt.objects.filter(message=message).count(), 4)

    def test_it_adds_the_recipients_of_a_second_report_for_the_same_message(self) -> None:
        ingest_smtp(raw=fixture(REPORT), rcpt_tos=[ALPHA_JOURNAL])
        later = fixture(REPORT).replace(
            b"To: a-user1@alpha.example\r\n", b"To: a-user9@alpha.example\r\n", 1
        )
        outcome = ingest_smtp(raw=later, rcpt_tos=[ALPHA_JOURNAL])

        self.assertEqual(outcome.results[0].status, "updated")
        message = Message.objects.get(pk=outcome.results[0].id)
        self.assertEqual(message.deliveries.count(), 5)

    def test_it_reads_an_uploaded_journal_report_the_same_way(self) -> None:
        result = ingest_raw(tenant=self.alpha, raw=fixture(REPORT), actor=self.bob)
        message = Message.objects.get(pk=result.id)
        self.assertEqual(message.internet_message_id, "<CAF1234.5678@mail.evil.example>")
        self.assertEqual(message.source, "upload")
        self.assertEqual(message.deliveries.count(), 4)

    def test_it_recognises_a_report_without_the_journal_header(self) -> None:
        raw = (
            fixture(REPORT)
            .replace(b"X-MS-Journal-Report:\r\n", b"")
            .replace(b"Content-Identifier: ExJournalReport\r\n", b"")
        )
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        self.assertTrue(is_journal_report(msg))
        report = parse_journal_report(msg)
        self.assertEqual(report.message_id_values, ["<CAF1234.5678@mail.evil.example>"])
        self.assertEqual(report.groups, {"a-sales@alpha.example"})
        self.assertIsNotNone(report.original)

    def test_it_does_not_mistake_a_plain_message_for_a_report(self) -> None:
        msg = BytesParser(policy=policy.default).parsebytes(fixture("unicode_headers.eml"))
        self.assertFalse(is_journal_report(msg))

    def test_it_audits_each_received_message_once(self) -> None:
        before = AuditEvent.objects.count()
        ingest_smtp(raw=fixture(REPORT), rcpt_tos=[ALPHA_JOURNAL])
        self.assertEqual(AuditEvent.objects.count(), before + 1)
        event = AuditEvent.objects.first()
        self.assertEqual(
            (event.action, event.tenant, event.actor_label),
            ("messages.ingested", self.alpha, "system"),
        )
        self.assertEqual(event.data["via"], "smtp")
        self.assertEqual(event.data["deliveries_created"], 4)


class GmailBccCopyTests(IngestTestCase):
    def test_it_records_a_gmail_bcc_copy(self) -> None:
        outcome = ingest_smtp(raw=fixture("gmail_bcc_copy.eml"), rcpt_tos=[BETA_JOURNAL])

        self.assertEqual(outcome.code, 250, outcome.reply)
        message = Message.objects.get(pk=outcome.results[0].id)
        self.assertEqual(message.tenant, self.beta)
        self.assertEqual(
            message.internet_message_id, "<20250115190220.GA4242@beta-support.example>"
        )
        self.assertEqual(message.subject, "Votre mot de passe expire aujourd’hui ⚠")
        self.assertEqual(message.sender, "it-helpdesk@beta-support.example")
        self.assertEqual(message.disposition, Disposition.SPOOF)
        # The journal address (Delivered-To) and the outside Cc are not copies to retract.
        self.assertEqual(
            list(message.deliveries.values_list("recipient", flat=True)),
            ["b-user1@beta.example"],
        )
        self.assertEqual(message.deliveries.get().mailbox, self.beta_objects["mailbox"])
        self.assertEqual(message.received_at.isoformat(), "2025-01-15T19:02:33+00:00")

    def test_it_accepts_but_records_nothing_without_a_recipient_in_the_tenant(self) -> None:
        raw = fixture("gmail_bcc_copy.eml")
        outcome = ingest_smtp(raw=raw, rcpt_tos=[ALPHA_JOURNAL])  # beta's mail at alpha's door
        self.assertEqual(outcome.code, 250)
        self.assertIn("nothing recorded", outcome.reply)
        self.assertFalse(
            Message.objects.filter(
                internet_message_id="<20250115190220.GA4242@beta-support.example>"
            ).exists()
        )

    def test_it_reads_a_report_in_a_bcc_copy_as_the_senders_own_message(self) -> None:
        # A BCC tenant's copies are what the sender wrote: a "journal report" in one is
        # a forgery that must not mark other messages or name other recipients.
        Tenant.objects.filter(pk=self.beta.pk).update(ingestion_mode=IngestionMode.BCC)
        forged = fixture(REPORT).replace(b"alpha.example", b"beta.example")
        forged = forged.replace(b"To: journal-alpha@clawback.example", b"To: b-user2@beta.example")
        outcome = ingest_smtp(raw=forged, rcpt_tos=[BETA_JOURNAL])

        self.assertEqual(outcome.code, 250, outcome.reply)
        message = Message.objects.get(pk=outcome.results[0].id)
        self.assertEqual(
            message.internet_message_id,
            "<0f4a9c1e-journal-report@AM7PR03MB6500.eurprd03.prod.outlook.com>",
        )
        self.assertEqual(
            list(message.deliveries.values_list("recipient", flat=True)),
            ["b-user2@beta.example"],
        )
        self.assertFalse(
            Message.objects.filter(internet_message_id="<CAF1234.5678@mail.evil.example>")
        )

    def test_it_refuses_an_unknown_journal_address(self) -> None:
        outcome = ingest_smtp(
            raw=fixture("gmail_bcc_copy.eml"), rcpt_tos=["nobody@clawback.example"]
        )
        self.assertEqual(outcome.code, 550)
        self.assertTrue(outcome.reply.startswith("550 5.1.1"))

    def test_it_matches_the_journal_address_case_insensitively(self) -> None:
        outcome = ingest_smtp(raw=fixture("gmail_bcc_copy.eml"), rcpt_tos=[BETA_JOURNAL.upper()])
        self.assertEqual(outcome.code, 250, outcome.reply)
        self.assertEqual(outcome.results[0].tenant_id, self.beta.pk)

    def test_it_refuses_unusable_mail_with_554(self) -> None:
        raw = b"To: b-user1@beta.example\r\nSubject: " + b"x" * 70_000 + b"\r\n\r\nbody"
        outcome = ingest_smtp(raw=raw, rcpt_tos=[BETA_JOURNAL])
        self.assertTrue(
            outcome.reply.startswith("554 5.6.0 Message unusable: headers:"), outcome.reply
        )
