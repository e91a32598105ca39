"""POST /api/v1/messages/ (verdicts) and /api/v1/messages/raw/ (RFC 822), over HTTP."""

from __future__ import annotations

from typing import Any

from django.test import override_settings

from mailboxes.models import AuditEvent, Delivery, DispositionChange, Message
from mailboxes.vocabulary import Disposition
from tests.api.helpers import ApiTestCase

URL = "/api/v1/messages/"
RAW_URL = "/api/v1/messages/raw/"
MISSING_PK = 987654321


def eml(message_id: str = "<raw-1@evil.example>", to: str = "a-user1@alpha.example") -> bytes:
    headers = (
        f"Message-ID: {message_id}\r\n"
        "From: Mallory <mallory@evil.example>\r\n"
        f"To: {to}\r\n"
        "Subject: Invoice overdue\r\n"
        "Date: Mon, 3 Feb 2025 08:15:00 +0000\r\n"
        "X-Clawback-Disposition: MALICIOUS\r\n"
    )
    return (headers + "\r\nPay now.\r\n").encode()


class VerdictEndpointTests(ApiTestCase):
    def verdict(self, **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "tenant": self.alpha.pk,
            "internet_message_id": "<new-1@evil.example>",
            "sender": "mallory@evil.example",
            "subject": "Invoice",
            "received_at": "2025-02-03T08:15:00Z",
            "recipients": [
                "a-user1@alpha.example",
                {"address": "a-user2@alpha.example", "via_group": "a-all@alpha.example"},
            ],
            "disposition": "MALICIOUS",
        }
        data.update(overrides)
        return data

    def test_it_creates_one_message_from_one_verdict(self) -> None:
        response = self.call(self.bob, "post", URL, self.verdict())
        self.assertEqual(response.status_code, 201, response.content)
        body = response.json()
        self.assertEqual(body["status"], "created")
        self.assertEqual(body["tenant"], self.alpha.pk)
        self.assertTrue(body["retractable"])
        self.assertEqual(body["deliveries_created"], 2)
        message = Message.objects.get(pk=body["id"])
        self.assertEqual(message.tenant, self.alpha)
        self.assertEqual(message.disposition, Disposition.MALICIOUS)
        self.assertEqual(message.source, "api")
        self.assertEqual(
            sorted(message.deliveries.values_list("recipient", flat=True)),
            ["a-user1@alpha.example", "a-user2@alpha.example"],
        )
        event = AuditEvent.objects.filter(action="messages.ingested").latest("id")
        self.assertEqual(event.actor, self.bob)
        self.assertEqual(event.data["via"], "api")

    def test_it_accepts_the_tenant_slug(self) -> None:
        response = self.call(self.bob, "post", URL, self.verdict(tenant=self.alpha.slug))
        self.assertEqual(response.status_code, 201, response.content)

    def test_it_is_idempotent_and_adds_new_recipients(self) -> None:
        first = self.call(self.bob, "post", URL, self.verdict())
        self.assertEqual(first.status_code, 201)
        again = self.call(self.bob, "post", URL, self.verdict())
        self.assertEqual(again.status_code, 200, again.content)
        self.assertEqual(again.json()["status"], "unchanged")
        self.assertEqual(again.json()["id"], first.json()["id"])
        more = self.call(
            self.bob,
            "post",
            URL,
            self.verdict(recipients=["a-shared@alpha.example"], disposition="SPAM"),
        )
        self.assertEqual(more.status_code, 200)
        self.assertEqual(more.json()["status"], "updated")
        self.assertEqual(more.json()["deliveries_created"], 1)
        message = Message.objects.get(pk=first.json()["id"])
        self.assertEqual(
            Message.objects.filter(internet_message_id="<new-1@evil.example>").count(), 1
        )
        self.assertEqual(message.deliveries.count(), 3)
        self.assertEqual(message.disposition, Disposition.SPAM)
        self.assertEqual(
            list(
                DispositionChange.objects.filter(message=message)
                .order_by("id")
                .values_list("disposition", flat=True)
            ),
            ["MALICIOUS", "SPAM"],
        )

    def test_it_stores_the_valid_items_of_a_list_and_reports_the_invalid(self) -> None:
        payload = [
            self.verdict(internet_message_id="<l-1@evil.example>"),
            self.verdict(internet_message_id="<l-2@evil.example>", recipients=["not-an-address"]),
            self.verdict(internet_message_id="<l-3@evil.example>", disposition="WHATEVER"),
            self.verdict(internet_message_id="<l-4@evil.example>"),
        ]
        response = self.call(self.bob, "post", URL, payload)
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual(
            (body["created"], body["updated"], body["unchanged"], body["invalid"]), (2, 0, 0, 2)
        )
        statuses = [(r["index"], r["status"]) for r in body["results"]]
        self.assertEqual(statuses, [(0, "created"), (1, "invalid"), (2, "invalid"), (3, "created")])
        self.assertIn("recipients", body["results"][1]["errors"])
        self.assertIn("disposition", body["results"][2]["errors"])
        stored = set(
            Message.objects.filter(internet_message_id__startswith="<l-").values_list(
                "internet_message_id", flat=True
            )
        )
        self.assertEqual(stored, {"<l-1@evil.example>", "<l-4@evil.example>"})

    def test_it_answers_400_when_no_item_of_a_list_is_valid(self) -> None:
        response = self.call(self.bob, "post", URL, [self.verdict(recipients=[])])
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["results"][0]["status"], "invalid")

    def test_it_reports_field_errors_for_one_invalid_verdict(self) -> None:
        response = self.call(self.bob, "post", URL, self.verdict(recipients="x", received_at=5))
        self.assertEqual(response.status_code, 400)
        self.assertIn("recipients", response.json())
        self.assertFalse(Message.objects.filter(internet_message_id="<new-1@evil.example>"))

    @override_settings(INGEST_MAX_ITEMS=1000)
    def test_it_refuses_more_than_1000_items(self) -> None:
        payload = [
            self.verdict(internet_message_id=f"<bulk-{i}@evil.example>") for i in range(1001)
        ]
        response = self.call(self.bob, "post", URL, payload)
        self.assertEqual(response.status_code, 400)
        self.assertIn("1,000", response.json()["non_field_errors"][0])
        self.assertFalse(Message.objects.filter(internet_message_id__startswith="<bulk-"))

    def test_it_answers_bad_json_and_wrong_types_with_400(self) -> None:
        self.client.force_login(self.bob)
        broken = self.client.post(URL, "{not json", content_type="application/json")
        self.assertEqual(broken.status_code, 400)
        for payload in ("a string", 42, [], [1, "x"], None):
            with self.subTest(payload=payload):
                response = self.client.post(URL, payload, format="json")
                self.assertEqual(response.status_code, 400, response.content)
        form = self.client.post(URL, {"tenant": self.alpha.pk})
        self.assertEqual(form.status_code, 400)
        self.assertIn("non_field_errors", form.json())

    def test_it_reports_another_tenant_exactly_like_a_missing_one(self) -> None:
        other = self.call(self.charlie, "post", URL, self.verdict())
        missing = self.call(self.charlie, "post", URL, self.verdict(tenant=MISSING_PK))
        self.assertEqual(other.status_code, 400)
        self.assertIn("tenant", other.json())
        self.assertEqual(other.content, missing.content)
        by_slug = self.call(self.charlie, "post", URL, self.verdict(tenant=self.alpha.slug))
        self.assertEqual(by_slug.json(), other.json())
        self.assertFalse(Message.objects.filter(internet_message_id="<new-1@evil.example>"))
        # Charlie's own tenant works, in the same list.
        mixed = self.call(
            self.charlie,
            "post",
            URL,
            [
                self.verdict(),
                self.verdict(tenant=self.beta.pk, recipients=["b-user1@beta.example"]),
            ],
        )
        self.assertEqual([r["status"] for r in mixed.json()["results"]], ["invalid", "created"])

    def test_it_refuses_viewers(self) -> None:
        response = self.call(self.vera, "post", URL, self.verdict())
        self.assertEqual(response.status_code, 403)
        listed = self.call(self.vera, "post", URL, [self.verdict()])
        self.assertEqual(listed.status_code, 403)
        self.assertFalse(Message.objects.filter(internet_message_id="<new-1@evil.example>"))

    def test_it_refuses_anonymous_callers(self) -> None:
        response = self.call(None, "post", URL, self.verdict())
        self.assertIn(response.status_code, (401, 403))

    def test_it_lets_the_superuser_ingest_anywhere(self) -> None:
        response = self.call(self.root, "post", URL, self.verdict(tenant=self.beta.pk))
        self.assertEqual(response.status_code, 201, response.content)


class RawEndpointTests(ApiTestCase):
    def post_raw(
        self,
        user: Any,
        raw: bytes,
        tenant: Any = None,
        content_type: str = "message/rfc822",
        **params: Any,
    ):
        self.client.logout()
        if user is not None:
            self.client.force_login(user)
        query = {"tenant": self.alpha.pk if tenant is None else tenant, **params}
        pairs = "&".join(
            f"{key}={v}"
            for key, value in query.items()
            for v in (value if isinstance(value, list) else [value])
        )
        return self.client.generic("POST", f"{RAW_URL}?{pairs}", raw, content_type=content_type)

    def test_it_records_a_raw_message(self) -> None:
        response = self.post_raw(self.bob, eml())
        self.assertEqual(response.status_code, 201, response.content)
        body = response.json()
        self.assertEqual(body["status"], "created")
        message = Message.objects.get(pk=body["id"])
        self.assertEqual(message.tenant, self.alpha)
        self.assertEqual(message.internet_message_id, "<raw-1@evil.example>")
        self.assertEqual(message.disposition, Disposition.MALICIOUS)
        self.assertEqual(message.source, "upload")
        self.assertEqual(
            list(message.deliveries.values_list("recipient", flat=True)),
            ["a-user1@alpha.example"],
        )
        again = self.post_raw(self.bob, eml())
        self.assertEqual(again.status_code, 201)
        self.assertEqual(again.json()["status"], "unchanged")
        self.assertEqual(again.json()["id"], body["id"])

    def test_it_takes_envelope_recipients_and_any_content_type(self) -> None:
        response = self.post_raw(
            self.bob,
            eml("<raw-2@evil.example>"),
            content_type="application/octet-stream",
            recipients=["a-user2@alpha.example", "a-shared@alpha.example"],
        )
        self.assertEqual(response.status_code, 201, response.content)
        recipients = Delivery.objects.filter(message_id=response.json()["id"]).values_list(
            "recipient", flat=True
        )
        self.assertEqual(sorted(recipients), ["a-shared@alpha.example", "a-user2@alpha.example"])
        text = self.post_raw(self.bob, eml("<raw-3@evil.example>"), content_type="text/plain")
        self.assertEqual(text.status_code, 201, text.content)

    def test_it_answers_400_for_an_unusable_message(self) -> None:
        before = Message.objects.count()
        for raw in (b"", b"\x00\xff garbage", eml(to="someone@elsewhere.example")):
            with self.subTest(raw=raw[:20]):
                response = self.post_raw(self.bob, raw)
                self.assertEqual(response.status_code, 400, response.content)
                self.assertTrue(response.json())
        self.assertEqual(Message.objects.count(), before)

    def test_it_requires_the_tenant_parameter(self) -> None:
        self.client.force_login(self.bob)
        response = self.client.generic("POST", RAW_URL, eml(), content_type="message/rfc822")
        self.assertEqual(response.status_code, 400)
        self.assertIn("tenant", response.json())

    @override_settings(INGEST_MAX_MESSAGE_BYTES=2048)
    def test_it_refuses_an_oversize_message(self) -> None:
        raw = eml() + b"x" * 4096
        response = self.post_raw(self.bob, raw)
        self.assertEqual(response.status_code, 413)
        self.assertIn("limit", response.json()["non_field_errors"][0])
        self.assertFalse(Message.objects.filter(internet_message_id="<raw-1@evil.example>"))

    def test_it_answers_404_for_another_tenant_like_a_missing_one(self) -> None:
        other = self.post_raw(self.charlie, eml())
        missing = self.post_raw(self.charlie, eml(), tenant=MISSING_PK)
        by_slug = self.post_raw(self.charlie, eml(), tenant=self.alpha.slug)
        self.assertEqual(other.status_code, 404)
        self.assertEqual(other.content, missing.content)
        self.assertEqual(other.content, by_slug.content)
        self.assertFalse(Message.objects.filter(internet_message_id="<raw-1@evil.example>"))

    def test_it_refuses_viewers(self) -> None:
        response = self.post_raw(self.vera, eml())
        self.assertEqual(response.status_code, 403)
        self.assertFalse(Message.objects.filter(internet_message_id="<raw-1@evil.example>"))
