"""Messages received together are stored together, each with its own reply."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from unittest import mock

from django.core.management import CommandError, call_command

from mailboxes.ingest import service
from mailboxes.ingest.service import SmtpEnvelope, ingest_smtp_many
from mailboxes.models import AuditEvent, Message
from tests.ingest.base import ALPHA_JOURNAL, BETA_JOURNAL, FIXTURES, IngestTestCase, fixture


def copy_for(recipient: str, message_id: str = "<shared@evil.example>") -> bytes:
    return (
        f"X-Gm-Original-To: {recipient}\r\nFrom: a@evil.example\r\nTo: {recipient}\r\n"
        f"Message-ID: {message_id}\r\nSubject: hello\r\n\r\nbody\r\n"
    ).encode()


class GroupCommitTests(IngestTestCase):
    def test_it_answers_each_message_of_a_batch_on_its_own(self) -> None:
        outcomes = ingest_smtp_many(
            [
                SmtpEnvelope(fixture("exchange_journal_report.eml"), [ALPHA_JOURNAL]),
                SmtpEnvelope(fixture("gmail_bcc_copy.eml"), [BETA_JOURNAL]),
                SmtpEnvelope(b"To: x@alpha.example\r\nMessage-ID: <>\r\n\r\n", [ALPHA_JOURNAL]),
                SmtpEnvelope(fixture("gmail_bcc_copy.eml"), ["nobody@clawback.example"]),
            ]
        )
        self.assertEqual([o.code for o in outcomes], [250, 250, 554, 550])
        self.assertEqual(outcomes[0].results[0].tenant_id, self.alpha.pk)
        self.assertEqual(outcomes[1].results[0].tenant_id, self.beta.pk)
        # One audit event per tenant for the whole batch.
        self.assertEqual(AuditEvent.objects.filter(action="messages.ingested").count(), 2)

    def test_it_merges_copies_of_one_message_that_arrive_together(self) -> None:
        outcomes = ingest_smtp_many(
            [
                SmtpEnvelope(copy_for("a-user1@alpha.example"), [ALPHA_JOURNAL]),
                SmtpEnvelope(copy_for("a-user2@alpha.example"), [ALPHA_JOURNAL]),
            ]
        )
        self.assertEqual([o.results[0].status for o in outcomes], ["created", "updated"])
        message = Message.objects.get(internet_message_id="<shared@evil.example>")
        self.assertEqual(message.deliveries.count(), 2)

    def test_it_retries_one_by_one_when_the_batch_fails(self) -> None:
        real = service._ingest_batch

        def fail_on_poison(**kwargs: object) -> object:
            items = kwargs["items"]
            if any(i.internet_message_id == "<poison@evil.example>" for i in items):
                raise RuntimeError("poison")
            return real(**kwargs)

        envelopes = [
            SmtpEnvelope(copy_for("a-user1@alpha.example", "<good@evil.example>"), [ALPHA_JOURNAL]),
            SmtpEnvelope(
                copy_for("a-user1@alpha.example", "<poison@evil.example>"), [ALPHA_JOURNAL]
            ),
        ]
        with (
            mock.patch.object(service, "_ingest_batch", side_effect=fail_on_poison),
            self.assertLogs("mailboxes.ingest.service", "WARNING") as logs,
        ):
            outcomes = ingest_smtp_many(envelopes)
        self.assertEqual([o.code for o in outcomes], [250, 451])
        self.assertTrue(Message.objects.filter(internet_message_id="<good@evil.example>").exists())
        self.assertFalse(Message.objects.filter(internet_message_id="<poison@evil.example>"))
        self.assertIn("one by one", "\n".join(logs.output))


class IngestEmlCommandTests(IngestTestCase):
    def test_it_ingests_eml_files_from_a_shell(self) -> None:
        out = StringIO()
        call_command(
            "ingest_eml", str(FIXTURES / "unicode_headers.eml"), tenant=self.alpha.slug, stdout=out
        )
        result = json.loads(out.getvalue())
        self.assertEqual(result["status"], "created")
        message = Message.objects.get(pk=result["id"])
        self.assertEqual(message.source, "upload")
        event = AuditEvent.objects.filter(action="messages.ingested").first()
        self.assertEqual(event.data["via"], "command")
        self.assertTrue(event.actor_label.startswith("shell:"))

    def test_it_fails_for_an_unusable_file(self) -> None:
        out = StringIO()
        with self.assertRaisesMessage(CommandError, "1 of 1 file(s) could not be recorded."):
            call_command(
                "ingest_eml",
                str(FIXTURES / "no_message_id.eml"),
                tenant="no-such-tenant",
                stdout=out,
            )
        self.assertEqual(
            json.loads(out.getvalue())["errors"], {"tenant": ["No tenant with this id or slug."]}
        )

    def test_it_reports_a_missing_file(self) -> None:
        with self.assertRaisesMessage(CommandError, "Cannot read"):
            call_command("ingest_eml", str(Path("/nonexistent.eml")), tenant=self.alpha.slug)
