"""Property-based tests: whatever bytes arrive, ingest answers with a result, never a crash."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from mailboxes.ingest.items import IngestError, normalize_message_id
from mailboxes.ingest.service import ingest_raw, ingest_smtp
from tests.ingest.base import ALPHA_JOURNAL, IngestTestCase

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Subject",
        "Message-ID",
        "Date",
        "Received",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
        "Delivered-To",
        "X-Gm-Original-To",
        "X-Clawback-Disposition",
        "X-MS-Journal-Report",
    ]
)
TRICKY_VALUES = st.sampled_from(
    [
        "",
        "<>",
        "<a@alpha.example>",
        "a-user1@alpha.example",
        '"unterminated <x@alpha.example',
        "=?utf-8?b?invalid?=",
        "=?unknown-8bit?q?=FF=FE?=",
        "=?utf-8?q?caf=C3=A9?= <c@alpha.example>",
        "group:;",
        'multipart/mixed; boundary="b"',
        "multipart/mixed",
        "message/rfc822",
        "base64",
        "MALICIOUS",
        "Tue, 14 Jan 2025 09:30:00 +0000",
        "by x; 31 Feb 99999 25:61:61 +9999",
        "a@b, , ,<>, @, a@, @b",
        "(comment (nested (deeply)) <x@alpha.example>",
    ]
)
HEADER_VALUES = st.one_of(
    TRICKY_VALUES,
    st.text(max_size=120),
    st.binary(max_size=120).map(lambda b: b.decode("latin-1")),
)
REPORT_LINES = st.one_of(
    st.sampled_from(
        [
            "Sender: attacker@evil.example",
            "Subject: hello",
            "Message-Id: <fuzz@evil.example>",
            "Message-Id: garbage",
            "To: a-user1@alpha.example",
            "Recipient: a-user2@alpha.example, Expanded: a-sales@alpha.example",
            "Recipient: a-user3@alpha.example, Expanded: , Forwarded: x",
            "Cc: , Expanded: a-sales@alpha.example",
            "Bcc: not-an-address",
            "Recipient: a-sales@alpha.example, Expanded: a-sales@alpha.example",
        ]
    ),
    st.text(max_size=80).map(lambda t: t.replace("\r", " ").replace("\n", " ")),
)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=12))
    if draw(st.booleans()):  # often a usable recipient, so the storing path runs too
        headers.insert(draw(st.integers(0, len(headers))), ("To", "a-user1@alpha.example"))
    body = draw(st.one_of(st.binary(max_size=600), st.text(max_size=600).map(_encode)))
    separator = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    head = separator.join(_encode(f"{name}: {value}") for name, value in headers)
    return head + separator + separator + body


@st.composite
def journal_reports(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(REPORT_LINES, max_size=10))
    original = draw(messages())
    boundary = draw(st.sampled_from(["b", "journal", ""]))
    report = "\r\n".join(lines)
    return (
        b"X-MS-Journal-Report:\r\nTo: " + ALPHA_JOURNAL.encode() + b"\r\n"
        b'Content-Type: multipart/mixed; boundary="' + boundary.encode() + b'"\r\n\r\n'
        b"--"
        + boundary.encode()
        + b"\r\nContent-Type: text/plain\r\n\r\n"
        + _encode(report)
        + b"\r\n--"
        + boundary.encode()
        + b"\r\nContent-Type: message/rfc822\r\n\r\n"
        + original
        + b"\r\n--"
        + boundary.encode()
        + b"--\r\n"
    )


class ParserPropertyTests(HypothesisTestCase, IngestTestCase):
    """Each example runs in its own transaction (hypothesis.extra.django)."""

    def assert_clean(self, result: object) -> None:
        event(result.status if result.ok else f"invalid: {', '.join(sorted(result.errors))}")
        if result.ok:
            self.assertIsNotNone(result.id)
        else:
            self.assertTrue(result.errors)
            for field, problems in result.errors.items():
                self.assertIsInstance(field, str)
                self.assertTrue(problems and all(isinstance(p, str) for p in problems))

    @PROPERTY_SETTINGS
    @given(raw=st.binary(max_size=4096))
    def test_it_never_raises_on_arbitrary_bytes(self, raw: bytes) -> None:
        self.assert_clean(ingest_raw(tenant=self.alpha, raw=raw, actor=None))

    @PROPERTY_SETTINGS
    @given(raw=messages())
    def test_it_never_raises_on_mangled_messages(self, raw: bytes) -> None:
        self.assert_clean(ingest_raw(tenant=self.alpha, raw=raw, actor=None))

    @PROPERTY_SETTINGS
    @given(raw=st.one_of(journal_reports(), messages(), st.binary(max_size=2048)))
    def test_it_answers_every_smtp_message_with_a_reply_code(self, raw: bytes) -> None:
        outcome = ingest_smtp(raw=raw, rcpt_tos=[ALPHA_JOURNAL])
        event(outcome.reply[:9])
        self.assertIn(outcome.code, {250, 552, 554}, outcome.reply)
        self.assertTrue(outcome.reply.isascii() and "\n" not in outcome.reply)

    @PROPERTY_SETTINGS
    @given(value=st.text(max_size=300))
    def test_it_normalizes_any_message_id_or_refuses_it(self, value: str) -> None:
        try:
            normalized, _ = normalize_message_id(value)
        except IngestError as exc:
            self.assertEqual(list(exc.errors), ["internet_message_id"])
            return
        if normalized is not None:
            self.assertTrue(normalized.startswith("<") and normalized.endswith(">"))
            self.assertEqual(normalized, normalize_message_id(normalized)[0])
