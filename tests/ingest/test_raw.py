from __future__ import annotations

import email
from pathlib import Path

from django.test import override_settings

from mailboxes.ingest.service import ingest_raw
from mailboxes.ingest.verdicts import NO_SUCH_TENANT
from mailboxes.models import DispositionChange, Message
from mailboxes.vocabulary import Disposition
from tests.factories import make_tenant
from tests.ingest.base import IngestTestCase, fixture

CPYTHON_EMAIL_DATA = Path(email.__file__).parent.parent / "test" / "test_email" / "data"


def plain(headers: str, body: str = "body\r\n") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()


class CPythonSampleTests(IngestTestCase):
    """Every message the standard library tests its parser with: stored, or a clean error."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        # No domains: every recipient in the headers counts.
        cls.gamma = make_tenant("Gamma", domains=[])

    def test_it_ingests_the_cpython_email_samples_or_fails_cleanly(self) -> None:
        if not CPYTHON_EMAIL_DATA.is_dir():
            self.skipTest(
                f"this interpreter has no test package ({CPYTHON_EMAIL_DATA} is missing); "
                "install python3-test or use a full CPython build"
            )
        files = sorted(p for p in CPYTHON_EMAIL_DATA.iterdir() if p.is_file())
        self.assertGreater(len(files), 40)
        stored = 0
        for path in files:
            with self.subTest(sample=path.name):
                result = ingest_raw(tenant=self.gamma, raw=path.read_bytes(), actor=None)
                if result.ok:
                    stored += 1
                    message = Message.objects.get(pk=result.id)
                    self.assertEqual(message.tenant, self.gamma)
                    self.assertTrue(message.deliveries.exists())
                else:
                    self.assertTrue(result.errors)
                    for field, messages in result.errors.items():
                        self.assertIsInstance(field, str)
                        self.assertTrue(all(isinstance(m, str) and m for m in messages))
        # The mail samples mostly have recipients; the images and sounds do not.
        self.assertGreaterEqual(stored, 30)

    def test_it_stores_a_sample_without_message_id_as_not_retractable(self) -> None:
        sample = CPYTHON_EMAIL_DATA / "msg_02.txt"
        if not sample.is_file():
            self.skipTest(f"{sample} is missing")
        result = ingest_raw(tenant=self.gamma, raw=sample.read_bytes(), actor=None)
        message = Message.objects.get(pk=result.id)
        self.assertIsNone(message.internet_message_id)
        self.assertFalse(message.retractable)

    def test_it_reads_the_first_of_two_samples_ids_consistently(self) -> None:
        sample = CPYTHON_EMAIL_DATA / "msg_01.txt"
        if not sample.is_file():
            self.skipTest(f"{sample} is missing")
        first = ingest_raw(tenant=self.gamma, raw=sample.read_bytes(), actor=None)
        second = ingest_raw(tenant=self.gamma, raw=sample.read_bytes(), actor=None)
        self.assertEqual(first.status, "created")
        self.assertEqual((second.status, second.id), ("unchanged", first.id))


class RawMessageTests(IngestTestCase):
    def test_it_decodes_unicode_headers_and_encoded_words(self) -> None:
        result = ingest_raw(tenant=self.alpha, raw=fixture("unicode_headers.eml"), actor=self.bob)

        message = Message.objects.get(pk=result.id)
        # RFC 2047: the space between two encoded words is not part of the text.
        self.assertEqual(message.subject, "Приветcafé und Grüße 8bit: naïve")
        self.assertEqual(message.sender, "joerg@sender.example")
        self.assertEqual(message.internet_message_id, "<unicode-1@sender.example>")
        self.assertEqual(message.source, "upload")
        self.assertEqual(
            sorted(message.deliveries.values_list("recipient", flat=True)),
            ["yamada@alpha.example", "zoe@alpha.example"],
        )

    def test_it_takes_the_first_of_duplicate_message_ids_and_says_so(self) -> None:
        result = ingest_raw(
            tenant=self.alpha, raw=fixture("duplicate_message_id.eml"), actor=self.bob
        )
        self.assertEqual(result.internet_message_id, "<first-id@sender.example>")
        self.assertIn("2 Message-ID headers; the first was used", " ".join(result.notes))

    def test_it_stores_a_message_without_message_id(self) -> None:
        raw = fixture("no_message_id.eml")
        first = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        message = Message.objects.get(pk=first.id)
        self.assertIsNone(message.internet_message_id)
        self.assertFalse(message.retractable)
        self.assertEqual(message.subject, "no id at all")
        self.assertIn("cannot be located", " ".join(first.notes))

    def test_it_survives_broken_mime(self) -> None:
        result = ingest_raw(tenant=self.alpha, raw=fixture("broken_mime.eml"), actor=self.bob)
        self.assertEqual(result.status, "created", result.errors)
        message = Message.objects.get(pk=result.id)
        self.assertEqual(message.internet_message_id, "<broken-1@sender.example>")
        self.assertIn(
            "a-user1@alpha.example", message.deliveries.values_list("recipient", flat=True)
        )
        self.assertIn("The Date header is unreadable", " ".join(result.notes))

    def test_it_refuses_a_huge_header(self) -> None:
        raw = plain(f"From: a@x.example\nTo: a-user1@alpha.example\nSubject: {'x' * 70_000}")
        result = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        self.assertEqual(list(result.errors), ["headers"])
        self.assertIn("'Subject' header is 68.4 KB", result.errors["headers"][0])

    def test_it_refuses_headers_too_big_in_all(self) -> None:
        many = "\n".join(f"X-Filler-{n}: {'y' * 10_000}" for n in range(30))
        raw = plain(f"From: a@x.example\nTo: a-user1@alpha.example\n{many}")
        result = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        self.assertEqual(list(result.errors), ["headers"])
        self.assertIn("the limit is 256.0 KB", result.errors["headers"][0])

    @override_settings(INGEST_MAX_MESSAGE_BYTES=4096)
    def test_it_refuses_a_message_over_the_size_limit(self) -> None:
        raw = plain("From: a@x.example\nTo: a-user1@alpha.example", "z" * 5000)
        result = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        self.assertEqual(list(result.errors), ["raw"])
        self.assertIn("the limit is 4.0 KB (4,096 bytes)", result.errors["raw"][0])

    @override_settings(INGEST_MAX_RECIPIENTS=2)
    def test_it_refuses_too_many_recipients(self) -> None:
        raw = plain("To: a@alpha.example, b@alpha.example, c@alpha.example")
        result = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        self.assertEqual(
            result.errors, {"recipients": ["At most 2 recipients per message; this one has 3."]}
        )

    def test_it_refuses_an_empty_message(self) -> None:
        result = ingest_raw(tenant=self.alpha, raw=b"\r\n\r\n", actor=self.bob)
        self.assertEqual(result.errors, {"raw": ["The message is empty."]})

    def test_it_refuses_a_message_with_an_unusable_message_id(self) -> None:
        raw = plain(f"To: a-user1@alpha.example\nMessage-ID: <{'x' * 1200}@x>")
        result = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        self.assertEqual(list(result.errors), ["internet_message_id"])

    def test_it_keeps_only_recipients_in_the_tenants_domains(self) -> None:
        raw = plain(
            "Message-ID: <dom@x>\nTo: A-User1@Alpha.Example, friend@elsewhere.example\n"
            "Cc: someone@sub.alpha.example\nDelivered-To: a-user2@alpha.example"
        )
        result = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        message = Message.objects.get(pk=result.id)
        self.assertEqual(
            sorted(message.deliveries.values_list("recipient", flat=True)),
            ["a-user1@alpha.example", "a-user2@alpha.example", "someone@sub.alpha.example"],
        )
        self.assertIn("1 recipient(s) outside the tenant's domains skipped.", result.notes)

    def test_it_explains_when_no_recipient_is_left(self) -> None:
        raw = plain("Message-ID: <far@x>\nTo: friend@elsewhere.example")
        result = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        self.assertEqual(list(result.errors), ["recipients"])
        self.assertIn("in the tenant's domains (alpha.example)", result.errors["recipients"][0])

    def test_it_uses_the_envelope_recipients_when_given(self) -> None:
        raw = plain("Message-ID: <env@x>\nTo: a-user1@alpha.example")
        result = ingest_raw(
            tenant=self.alpha,
            raw=raw,
            envelope_recipients=["Hidden-Bcc@Alpha.Example"],
            actor=self.bob,
        )
        message = Message.objects.get(pk=result.id)
        self.assertEqual(
            list(message.deliveries.values_list("recipient", flat=True)),
            ["hidden-bcc@alpha.example"],
        )
        bad = ingest_raw(
            tenant=self.alpha, raw=raw, envelope_recipients=["ok@alpha.example", "nope"], actor=None
        )
        self.assertEqual(
            bad.errors, {"recipients": ["Entry 1: 'nope' is not a valid email address."]}
        )

    def test_it_takes_the_delivery_time_from_the_newest_received_header(self) -> None:
        raw = plain(
            "Received: by mx.alpha.example; Tue, 14 Jan 2025 10:00:00 +0100\n"
            "Received: by relay.evil.example; Tue, 14 Jan 2025 08:00:00 +0000\n"
            "Date: Mon, 1 Jan 2001 00:00:00 +0000\nMessage-ID: <time@x>\nTo: a-user1@alpha.example"
        )
        message = Message.objects.get(pk=ingest_raw(tenant=self.alpha, raw=raw, actor=None).id)
        self.assertEqual(message.received_at.isoformat(), "2025-01-14T09:00:00+00:00")

    def test_it_reads_the_verdict_header(self) -> None:
        raw = plain(
            "Message-ID: <verdict@x>\nTo: a-user1@alpha.example\n"
            "X-Area1Security-Disposition: Suspicious; reason=lookalike"
        )
        result = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        message = Message.objects.get(pk=result.id)
        self.assertEqual(message.disposition, Disposition.SUSPICIOUS)
        change = DispositionChange.objects.get(message=message)
        self.assertEqual((change.source, change.changed_by), ("upload", self.bob))
        self.assertEqual(change.note, "X-Area1Security-Disposition: Suspicious; reason=lookalike")

    def test_it_treats_an_unknown_verdict_as_none_without_clearing_a_stored_one(self) -> None:
        raw = plain("Message-ID: <odd@x>\nTo: a-user1@alpha.example\nX-Clawback-Disposition: ???")
        first = ingest_raw(tenant=self.alpha, raw=raw, actor=self.bob)
        self.assertEqual(Message.objects.get(pk=first.id).disposition, Disposition.NONE)
        self.assertIn("Unknown verdict '???'", " ".join(first.notes))

        malicious = raw.replace(b"???", b"MALICIOUS")
        ingest_raw(tenant=self.alpha, raw=malicious, actor=self.bob)
        none = raw.replace(b"???", b"NONE")
        again = ingest_raw(tenant=self.alpha, raw=none, actor=self.bob)
        self.assertEqual(again.status, "unchanged")
        self.assertEqual(Message.objects.get(pk=first.id).disposition, Disposition.MALICIOUS)

    @override_settings(CLAWBACK_VERDICT_HEADERS=["X-Gateway-Verdict"])
    def test_it_reads_the_configured_verdict_headers_only(self) -> None:
        raw = plain(
            "Message-ID: <conf@x>\nTo: a-user1@alpha.example\n"
            "X-Clawback-Disposition: MALICIOUS\nX-Gateway-Verdict: bulk"
        )
        message = Message.objects.get(pk=ingest_raw(tenant=self.alpha, raw=raw, actor=None).id)
        self.assertEqual(message.disposition, Disposition.BULK)

    def test_it_reports_an_inaccessible_tenant_like_a_missing_one(self) -> None:
        raw = fixture("unicode_headers.eml")
        outsider = ingest_raw(tenant=self.alpha, raw=raw, actor=self.charlie)
        viewer = ingest_raw(tenant=self.alpha.pk, raw=raw, actor=self.vera)
        missing = ingest_raw(tenant=999_999, raw=raw, actor=self.charlie)
        self.assertEqual(outsider.errors, {"tenant": [NO_SUCH_TENANT]})
        self.assertEqual(viewer.errors, outsider.errors)
        self.assertEqual(missing.errors, outsider.errors)
        self.assertFalse(Message.objects.filter(internet_message_id="<unicode-1@sender.example>"))
        self.assertTrue(ingest_raw(tenant=self.alpha.slug, raw=raw, actor=self.alice).ok)
