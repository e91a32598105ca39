"""Uploading a raw .eml on the message list (MessageAdmin.upload_view)."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from mailboxes.models import AuditEvent, Message
from mailboxes.vocabulary import Disposition
from tests.admin.helpers import AdminTestCase, admin_url, change_url

UPLOAD_URL = "/admin/mailboxes/message/upload/"


def eml(message_id: str = "<upload-1@evil.example>", to: str = "a-user1@alpha.example") -> bytes:
    return (
        f"Message-ID: {message_id}\r\n"
        "From: mallory@evil.example\r\n"
        f"To: {to}\r\n"
        "Subject: Urgent wire\r\n"
        "X-Clawback-Disposition: SUSPICIOUS\r\n"
        "\r\nPay now.\r\n"
    ).encode()


def upload(raw: bytes, name: str = "sample.eml") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, raw, content_type="message/rfc822")


class UploadTests(AdminTestCase):
    def test_it_shows_the_button_to_analysts_only(self) -> None:
        for user, shown in ((self.bob, True), (self.alice, True), (self.vera, False)):
            with self.subTest(user=user.username):
                response = self.get_as(user, admin_url(Message))
                self.assertEqual(response.status_code, 200)
                self.assertEqual(UPLOAD_URL in response.content.decode(), shown)

    def test_it_offers_only_tenants_where_the_user_is_analyst(self) -> None:
        response = self.get_as(self.bob, UPLOAD_URL)
        self.assertEqual(response.status_code, 200)
        tenants = list(response.context["form"].fields["tenant"].queryset)
        self.assertEqual(tenants, [self.alpha])
        charlie = self.get_as(self.charlie, UPLOAD_URL)
        self.assertEqual(list(charlie.context["form"].fields["tenant"].queryset), [self.beta])
        self.assertNotIn("Alpha Corp", charlie.content.decode())

    def test_it_records_an_uploaded_message(self) -> None:
        response = self.post_as(
            self.bob,
            UPLOAD_URL,
            {"tenant": self.alpha.pk, "file": upload(eml()), "recipients": ""},
            follow=True,
        )
        message = Message.objects.get(internet_message_id="<upload-1@evil.example>")
        self.assertRedirects(response, change_url(message))
        self.assertEqual(message.tenant, self.alpha)
        self.assertEqual(message.source, "upload")
        self.assertEqual(message.disposition, Disposition.SUSPICIOUS)
        self.assertEqual(
            list(message.deliveries.values_list("recipient", flat=True)),
            ["a-user1@alpha.example"],
        )
        notice = [str(m) for m in response.context["messages"]]
        self.assertEqual(len(notice), 1)
        self.assertIn(change_url(message), notice[0])
        self.assertIn("recorded", notice[0])
        event = AuditEvent.objects.filter(action="messages.ingested").latest("id")
        self.assertEqual((event.actor, event.data["via"]), (self.bob, "admin"))

    def test_it_takes_envelope_recipients(self) -> None:
        self.post_as(
            self.bob,
            UPLOAD_URL,
            {
                "tenant": self.alpha.pk,
                "file": upload(eml()),
                "recipients": "a-user2@alpha.example,\na-shared@alpha.example",
            },
        )
        message = Message.objects.get(internet_message_id="<upload-1@evil.example>")
        self.assertEqual(
            sorted(message.deliveries.values_list("recipient", flat=True)),
            ["a-shared@alpha.example", "a-user2@alpha.example"],
        )

    def test_it_shows_errors_and_stores_nothing_for_a_bad_file(self) -> None:
        before = Message.objects.count()
        cases = {
            "garbage": {"file": upload(b"\x00\xff\xfe not mail")},
            "no recipient in the tenant": {"file": upload(eml(to="x@elsewhere.example"))},
            "bad envelope recipient": {"file": upload(eml()), "recipients": "not-an-address"},
            "no file": {},
        }
        for name, data in cases.items():
            with self.subTest(name):
                response = self.post_as(self.bob, UPLOAD_URL, {"tenant": self.alpha.pk, **data})
                self.assertEqual(response.status_code, 200)
                form = response.context["form"]
                self.assertTrue(form.errors)
                self.assertContains(response, "errornote")
        self.assertEqual(Message.objects.count(), before)

    @override_settings(INGEST_MAX_MESSAGE_BYTES=2048)
    def test_it_refuses_an_oversize_file(self) -> None:
        response = self.post_as(
            self.bob, UPLOAD_URL, {"tenant": self.alpha.pk, "file": upload(eml() + b"x" * 4096)}
        )
        self.assertEqual(response.status_code, 200)
        self.assertIn("limit", response.context["form"].errors["file"][0])
        self.assertFalse(Message.objects.filter(internet_message_id="<upload-1@evil.example>"))

    def test_it_refuses_viewers(self) -> None:
        self.assertEqual(self.get_as(self.vera, UPLOAD_URL).status_code, 403)
        response = self.post_as(
            self.vera, UPLOAD_URL, {"tenant": self.alpha.pk, "file": upload(eml())}
        )
        self.assertEqual(response.status_code, 403)
        self.assertFalse(Message.objects.filter(internet_message_id="<upload-1@evil.example>"))

    def test_the_outsider_cannot_pick_another_tenant(self) -> None:
        response = self.post_as(
            self.charlie, UPLOAD_URL, {"tenant": self.alpha.pk, "file": upload(eml())}
        )
        self.assertEqual(response.status_code, 200)
        self.assertIn("tenant", response.context["form"].errors)
        self.assertNotIn("Alpha Corp", response.content.decode())
        self.assertFalse(Message.objects.filter(internet_message_id="<upload-1@evil.example>"))
