"""Property-based tests of the verdict and journal parsers: a valid value or the documented error.

Complements test_properties.py (whole messages through ingest_raw / ingest_smtp): here each
parser of a verdict's fields gets arbitrary JSON, and the ingest service gets whole
hostile payloads as the API would hand them over.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from mailboxes.ingest.items import (
    IngestError,
    IngestRecipient,
    clean_text,
    normalize_address,
)
from mailboxes.ingest.journal import parse_journal_report
from mailboxes.ingest.limits import Limits
from mailboxes.ingest.mime import HeaderReader, message_received_at
from mailboxes.ingest.service import ingest_verdicts
from mailboxes.ingest.verdicts import (
    MAX_ID,
    parse_disposition,
    parse_received_at,
    parse_recipients,
    tenant_ref,
    validate_verdict,
)
from mailboxes.vocabulary import Disposition
from tests.base import TwoTenantsTestCase
from tests.hostile import DATES, HOSTILE_NUMBERS, HOSTILE_TEXT, JSON, assert_field_errors
from tests.hostile import FUZZ as HOSTILE_FUZZ

FUZZ = settings(HOSTILE_FUZZ, max_examples=300)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = Limits(max_recipients=20)

ADDRESSES = st.one_of(
    st.emails(),
    st.sampled_from(["a-user1@alpha.example", "<A-User2@Alpha.Example>", "a-all@alpha.example"]),
    HOSTILE_TEXT,
)
RECIPIENT = st.one_of(
    ADDRESSES,
    st.fixed_dictionaries({"address": ADDRESSES}, optional={"via_group": ADDRESSES | JSON}),
    JSON,
)
VERDICT = st.fixed_dictionaries(
    {},
    optional={
        "tenant": st.one_of(st.sampled_from(["alpha-corp", "beta-ltd"]), HOSTILE_NUMBERS, JSON),
        "internet_message_id": st.one_of(st.sampled_from(["<fuzz@evil.example>"]), JSON),
        "sender": ADDRESSES | JSON,
        "subject": HOSTILE_TEXT | JSON,
        "received_at": DATES | JSON,
        "recipients": st.lists(RECIPIENT, max_size=4) | JSON,
        "disposition": st.sampled_from(Disposition.values) | JSON,
    },
)


def assert_utc_instant(moment: datetime) -> None:
    """Aware, convertible to UTC and with an offset PostgreSQL accepts (at most ±15:59)."""
    assert moment.tzinfo is not None
    moment.astimezone(UTC)
    assert abs(moment.utcoffset()) < timedelta(hours=16), moment


@FUZZ
@given(value=JSON)
@example(value="²")  # a digit to isdigit(), not to int()
@example(value=2**70)  # past 64 bits: the query overflowed
def test_tenant_ref_gives_an_id_a_slug_or_none(value: object) -> None:
    ref = tenant_ref(value)
    if isinstance(ref, int):
        assert -MAX_ID <= ref <= MAX_ID
    elif isinstance(ref, str):
        assert ref and ref == ref.strip() and len(ref) <= 64
    else:
        assert ref is None


@FUZZ
@given(value=JSON)
def test_parse_disposition_gives_a_known_value_or_value_error(value: object) -> None:
    try:
        disposition = parse_disposition(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert disposition is None or disposition in Disposition.values


@FUZZ
@given(value=DATES | JSON)
@example(value="0001-01-01T00:00:00+23:59")  # before the first UTC instant
@example(value="2025-01-01T00:00:00+23:59")  # an offset PostgreSQL refuses
def test_parse_received_at_gives_a_storable_time_or_value_error(value: object) -> None:
    try:
        moment = parse_received_at(value, NOW)
    except ValueError as exc:
        event("refused")
        assert str(exc)
        return
    event("none" if moment is None else "parsed")
    if moment is not None:
        assert_utc_instant(moment)
        assert moment <= NOW + timedelta(days=1)


@FUZZ
@given(value=st.lists(RECIPIENT, max_size=25) | JSON)
def test_parse_recipients_gives_valid_addresses_or_recipient_errors(value: object) -> None:
    try:
        recipients, groups = parse_recipients(value, LIMITS)
    except IngestError as exc:
        assert list(exc.errors) == ["recipients"]
        assert_field_errors(exc.errors)
        return
    assert 0 < len(recipients) <= LIMITS.max_recipients
    for recipient in recipients:
        assert isinstance(recipient, IngestRecipient)
        assert recipient.address == normalize_address(recipient.address)
        assert recipient.via_group is None or recipient.via_group in groups


@FUZZ
@given(data=VERDICT | JSON)
def test_validate_verdict_gives_an_item_or_field_errors(data: object) -> None:
    try:
        ref, item = validate_verdict(data, limits=LIMITS, now=NOW)
    except IngestError as exc:
        event("invalid: " + ", ".join(sorted(exc.errors)))
        assert_field_errors(exc.errors)
        return
    event("valid")
    assert ref is not None and item.recipients
    if item.received_at is not None:
        assert_utc_instant(item.received_at)
    assert "\x00" not in item.subject and "\x00" not in item.sender


@FUZZ
@given(value=st.text(max_size=200), limit=st.integers(0, 120))
def test_clean_text_gives_one_printable_line(value: str, limit: int) -> None:
    whole = clean_text(value, 10_000)
    # Unassigned code points may stay; control characters, line breaks and surrogates may not.
    assert not any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in whole), whole
    assert whole == " ".join(whole.split())
    assert clean_text(value, limit) == whole[:limit]


def _report(text: str, separator: str) -> EmailMessage:
    body = separator.join(text.splitlines()).encode("utf-8", "surrogateescape")
    raw = (
        b'X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + b"\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nhi\r\n--b--\r\n"
    )
    return BytesParser(policy=policy.default).parsebytes(raw)


REDIRECTION = st.one_of(
    st.just(""),
    ADDRESSES.map(", Expanded: {}".format),
    ADDRESSES.map(", Forwarded: {}".format),
)
REPORT_LINE = st.one_of(
    st.builds(
        "{}: {}{}".format,
        st.sampled_from(["Sender", "Subject", "Message-Id", "To", "Cc", "Bcc", "Recipient", "X"]),
        ADDRESSES,
        REDIRECTION,
    ),
    st.text(max_size=60),
)
SEPARATORS = st.sampled_from(["\r\n", "\n", "\r"])


@FUZZ
@given(lines=st.lists(REPORT_LINE, max_size=12), separator=SEPARATORS)
def test_parse_journal_report_gives_a_report_or_a_raw_error(
    lines: list[str], separator: str
) -> None:
    try:
        report = parse_journal_report(_report("\n".join(lines), separator))
    except IngestError as exc:
        assert list(exc.errors) == ["raw"]
        return
    for address, via_group in report.recipients:
        assert isinstance(address, str)
        assert via_group is None or via_group == normalize_address(via_group)
    assert all(group == normalize_address(group) for group in report.groups)


DATE_HEADERS = st.one_of(
    st.sampled_from(
        [
            "Tue, 14 Jan 2025 09:30:00 +0000",
            "Fri, 31 Dec 9999 23:59:59 -2359",
            "Mon, 01 Jan 0001 00:00:00 +2359",
            "31 Feb 99999 25:61:61 +9999",
            "Thu, 01 Jan 1970 00:00:00 +0100",
            "",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S %z")),
    st.text(max_size=60),
)


@FUZZ
@given(date=DATE_HEADERS, received=st.none() | DATE_HEADERS)
@example(date="Tue, 14 Jan 2025 09:30:00 +2359", received=None)
def test_message_received_at_gives_a_plausible_time(date: str, received: str | None) -> None:
    msg = EmailMessage(policy=policy.compat32)
    msg["Date"] = date.replace("\r", " ").replace("\n", " ")
    if received is not None:
        msg["Received"] = "from x by y; " + received.replace("\r", " ").replace("\n", " ")
    moment, notes = message_received_at(HeaderReader(msg), NOW)
    assert_utc_instant(moment)
    assert moment <= NOW + timedelta(days=1)
    assert all(isinstance(note, str) for note in notes)


class VerdictPayloadFuzzTests(HypothesisTestCase, TwoTenantsTestCase):
    """Whole payloads through the ingest service, as POST /api/v1/messages/ hands them over."""

    @settings(FUZZ, max_examples=150)
    @given(payload=st.lists(VERDICT, max_size=4) | VERDICT | JSON)
    def test_it_answers_any_payload_with_a_report(self, payload: object) -> None:
        report = ingest_verdicts(actor=self.bob, payload=payload, source="api", via="api")
        data = report.as_data()
        event(str(report.http_status))
        self.assertIn(report.http_status, (200, 201, 400))
        if "results" in data:
            for result in data["results"]:
                if result["status"] == "invalid":
                    assert_field_errors(result["errors"])
        elif report.http_status == 400:
            assert_field_errors(data)
