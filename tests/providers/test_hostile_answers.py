"""A broken or hostile provider: whatever Graph or Gmail answers, the clients raise ProviderError.

The real clients run against answers drawn by Hypothesis on the wire: statuses, JSON
bodies in roughly the right shape with wrong types inside, batch envelopes with missing,
duplicate or malformed items, odd headers. Each client call must return what it
documents (copies, an id, outcomes, an address) or raise ProviderError; a KeyError or
TypeError would end a retraction with a crash instead of a failure reason.

Graph is answered through `responses` (msal and the identity platform included); Gmail
through an httplib2.Http stand-in, as in test_gmail_unit.py.
"""

from __future__ import annotations

import base64
import email
import functools
import json
import re
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httplib2
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import event, given, settings
from hypothesis import strategies as st

from mailboxes.providers import retry
from mailboxes.providers.base import (
    AddressInfo,
    AuthorizationCheck,
    Folder,
    LocatedCopy,
    Outcome,
    ProviderError,
    WorkItem,
)
from mailboxes.providers.gmail import GmailProvider
from mailboxes.providers.graph import GraphProvider, clear_caches
from mailboxes.providers.retry import RetryPolicy
from mailboxes.vocabulary import Action
from tests.hostile import FUZZ, JSON

TENANT = "11111111-2222-3333-4444-555555555555"
LOGIN = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com"
MAILBOX = "ann@alpha.example"
MSG = "<retract-me@evil.example>"

# -- what a hostile provider answers ----------------------------------------------------

STATUSES = st.one_of(
    st.sampled_from([200, 200, 200, 201, 204, 400, 401, 403, 404, 409, 429, 500, 503]),
    st.integers(100, 599),
)
TEXT = st.text(max_size=20)
LEAF = st.one_of(TEXT, JSON)
HEADERS = st.one_of(
    st.dictionaries(
        st.sampled_from(["Retry-After", "retry-after", "Content-Type", "X-Any"]),
        st.one_of(st.sampled_from(["1", "0.5", "-3", "1e400", "nan", "Wed, 21 Oct 2015"]), TEXT),
        max_size=2,
    ),
    JSON,
)
GRAPH_ITEM = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.sampled_from(["AAMk1", "AAMk2", "folder-inbox"]), LEAF),
        "parentFolderId": st.one_of(st.sampled_from(["folder-inbox", "folder-junk"]), LEAF),
        "internetMessageId": st.one_of(st.just(MSG), LEAF),
        "isRead": st.one_of(st.booleans(), LEAF),
        "mail": st.one_of(st.just("bob@alpha.example"), LEAF),
        "userPrincipalName": LEAF,
        "displayName": LEAF,
        "userPurpose": st.one_of(st.sampled_from(["shared", "user"]), LEAF),
    },
)
GRAPH_BODY = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={"value": st.lists(GRAPH_ITEM | LEAF, max_size=3) | LEAF, "@odata.nextLink": LEAF},
    ),
    GRAPH_ITEM,
    st.fixed_dictionaries(
        {"error": st.fixed_dictionaries({}, optional={"code": LEAF, "message": LEAF}) | LEAF}
    ),
    JSON,
)
GRAPH_ANSWER = st.tuples(STATUSES, GRAPH_BODY, HEADERS)


@st.composite
def graph_batch(draw: st.DrawFn) -> Any:
    """A $batch envelope: items for some of the ids asked, odd ones, or no envelope at all."""
    item = st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.sampled_from([str(n) for n in range(1, 6)]), LEAF),
            "status": st.one_of(STATUSES, LEAF),
            "body": GRAPH_BODY,
            "headers": HEADERS,
        },
    )
    return draw(
        st.one_of(
            st.fixed_dictionaries({"responses": st.lists(item | LEAF, max_size=6)}),
            st.fixed_dictionaries({"responses": LEAF}),
            JSON,
        )
    )


GMAIL_BODY = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "messages": st.lists(
                st.fixed_dictionaries({}, optional={"id": st.one_of(st.just("m1"), LEAF)}) | LEAF,
                max_size=3,
            )
            | LEAF,
            "id": st.one_of(st.just("m1"), LEAF),
            "labelIds": st.one_of(
                st.lists(st.sampled_from(["INBOX", "SPAM", "TRASH", "UNREAD"]) | LEAF, max_size=3),
                LEAF,
            ),
            "emailAddress": LEAF,
            "name": st.one_of(st.fixed_dictionaries({}, optional={"fullName": LEAF}), LEAF),
            "members": st.lists(
                st.fixed_dictionaries(
                    {}, optional={"email": LEAF, "type": st.just("USER") | LEAF, "id": LEAF}
                )
                | LEAF,
                max_size=3,
            )
            | LEAF,
            "nextPageToken": st.one_of(st.none(), st.just(""), LEAF),
            "error": LEAF,
        },
    ),
    JSON,
)
GMAIL_CONTENT = st.one_of(
    GMAIL_BODY.map(lambda body: json.dumps(body).encode()),
    st.binary(max_size=40),
)
GMAIL_ANSWER = st.tuples(STATUSES, GMAIL_CONTENT, HEADERS)

# -- the calls ----------------------------------------------------------------------------

ACTIONS = st.sampled_from(list(Action))
COPIES = st.builds(
    LocatedCopy,
    provider_id=st.sampled_from(["AAMk1", "m1"]),
    folder=st.sampled_from([Folder.INBOX, Folder.JUNK, Folder.TRASH, Folder.OTHER]),
    read=st.none() | st.booleans(),
    internet_message_id=st.just(MSG),
)
CALLS = st.one_of(
    st.tuples(st.just("locate")),
    st.tuples(st.just("perform"), COPIES, ACTIONS),
    st.tuples(st.just("perform_many"), st.lists(ACTIONS, min_size=1, max_size=3)),
    st.tuples(st.just("resolve")),
    st.tuples(st.just("group_members")),
    st.tuples(st.just("verify")),
)


def run_call(provider: Any, call: tuple[Any, ...]) -> str:
    """Make the call; check what came back is what the interface promises."""
    name = call[0]
    try:
        if name == "locate":
            copies = provider.locate(MAILBOX, MSG)
            assert all(
                isinstance(c, LocatedCopy) and isinstance(c.provider_id, str) for c in copies
            )
        elif name == "perform":
            assert isinstance(provider.perform(MAILBOX, call[1], call[2]), str)
        elif name == "perform_many":
            items = [
                WorkItem(mailbox=MAILBOX, internet_message_id=MSG, action=a, key=n)
                for n, a in enumerate(call[1])
            ]
            outcomes = provider.perform_many(items)
            assert len(outcomes) == len(items)
            assert all(isinstance(o, Outcome) for o in outcomes)
        elif name == "resolve":
            info = provider.resolve("bob@alpha.example")
            assert isinstance(info, AddressInfo) and isinstance(info.external_id, str)
        elif name == "group_members":
            members = provider.group_members("all@alpha.example")
            assert all(isinstance(m, AddressInfo) for m in members)
        else:
            check = provider.verify()
            assert isinstance(check, AuthorizationCheck)
    except ProviderError as exc:
        return f"{name}: {exc.reason}"
    return f"{name}: ok"


@contextmanager
def no_waiting() -> Iterator[None]:
    """Retries without sleeping: retry.sleep advances a clock instead."""
    now = [1000.0]
    saved = retry.sleep, retry.monotonic
    retry.sleep = lambda seconds: now.__setitem__(0, now[0] + seconds)
    retry.monotonic = lambda: now[0]
    try:
        yield
    finally:
        retry.sleep, retry.monotonic = saved


POLICY = RetryPolicy(max_tries=2, budget=5.0)

# -- Graph --------------------------------------------------------------------------------


def _jwt(roles: list[str]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'roles': roles, 'tid': TENANT})}.sig"


class HostileGraph:
    """The identity platform as it should be; Graph answering what was drawn, then 404s."""

    def __init__(self, rsps: responses.RequestsMock, answers: list[Any], batches: list[Any]):
        self.answers = answers
        self.batches = batches
        authority = f"{LOGIN}/{TENANT}"
        discovery = {
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "issuer": f"{authority}/v2.0",
        }
        token = {
            "token_type": "Bearer",
            "expires_in": 3599,
            "access_token": _jwt(["Mail.ReadWrite"]),
        }
        rsps.add(
            responses.GET, f"{authority}/v2.0/.well-known/openid-configuration", json=discovery
        )
        rsps.add(responses.POST, f"{authority}/oauth2/v2.0/token", json=token)
        pattern = re.compile(re.escape(GRAPH) + r"/v1\.0/.*")
        for method in (responses.GET, responses.POST):
            rsps.add_callback(method, pattern, callback=self.answer)

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        if request.url.split("?")[0].endswith("/$batch") and self.batches:
            return 200, {}, json.dumps(self.batches.pop(0))
        if not self.answers:
            return 404, {}, json.dumps({"error": {"code": "ErrorItemNotFound"}})
        status, body, headers = self.answers.pop(0)
        headers = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
        headers = {k: v for k, v in headers.items() if k.isascii() and v.isascii()}
        return status, headers, json.dumps(body)


@settings(FUZZ, max_examples=200)
@given(
    answers=st.lists(GRAPH_ANSWER, max_size=6),
    batches=st.lists(graph_batch(), max_size=2),
    call=CALLS,
)
def test_graph_answers_every_call_or_raises_provider_error(
    answers: list[Any], batches: list[Any], call: tuple[Any, ...]
) -> None:
    clear_caches()
    with (
        no_waiting(),
        responses.RequestsMock(assert_all_requests_are_fired=False) as rsps,
        GraphProvider(
            tenant_id=TENANT, client_id="app-id", credential="s3cret", retry_policy=POLICY
        ) as provider,
    ):
        HostileGraph(rsps, list(answers), list(batches))
        event(run_call(provider, call))


# -- Gmail --------------------------------------------------------------------------------

API = "http://127.0.0.1:8765/"
TOKEN_URI = "http://127.0.0.1:8765/token"


@functools.cache
def service_account() -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "clawback@clawback-test.iam.gserviceaccount.com",
        "client_id": "1234",
        "token_uri": TOKEN_URI,
    }


class HostileGoogle:
    """An httplib2.Http stand-in: each call, direct or inside a batch, gets the next answer."""

    def __init__(self, answers: list[Any], envelopes: list[bytes | None]) -> None:
        self.answers = answers
        self.envelopes = envelopes

    def next_answer(self) -> tuple[int, bytes, dict[str, str]]:
        if not self.answers:
            return 404, json.dumps({"error": {"code": 404, "message": "gone"}}).encode(), {}
        status, content, headers = self.answers.pop(0)
        headers = headers if isinstance(headers, dict) else {}
        clean = {
            str(k).lower(): str(v)
            for k, v in headers.items()
            if str(k).isascii() and str(v).isascii() and "\n" not in str(v) + str(k)
        }
        return status, content, clean

    def request(
        self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **_: Any
    ):
        if urllib.parse.urlsplit(uri).path.startswith("/batch/"):
            envelope = self.envelopes.pop(0) if self.envelopes else None
            if envelope is not None:  # a broken envelope instead of the parts
                return httplib2.Response(
                    {"status": "200", "content-type": "multipart/mixed; boundary=b"}
                ), envelope
            return self.batch(headers or {}, body)
        status, content, extra = self.next_answer()
        return httplib2.Response(
            {"status": str(status), "content-type": "application/json", **extra}
        ), content

    def batch(self, headers: dict[str, str], body: Any) -> tuple[httplib2.Response, bytes]:
        content_type = {k.lower(): v for k, v in headers.items()}["content-type"]
        text = body.decode() if isinstance(body, bytes) else body
        envelope = email.message_from_string(f"Content-Type: {content_type}\r\n\r\n{text}")
        parts = []
        for part in envelope.get_payload():
            status, content, extra = self.next_answer()
            content_id = part["Content-ID"].replace("<", "<response-", 1)
            lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
            lines += [f"{k}: {v}" for k, v in extra.items()]
            parts.append(
                f"--b\r\nContent-Type: application/http\r\nContent-ID: {content_id}\r\n\r\n"
                + "\r\n".join(lines)
                + "\r\n\r\n"
                + content.decode("utf-8", "replace")
                + "\r\n"
            )
        reply = "".join(parts) + "--b--\r\n"
        response = httplib2.Response(
            {"status": "200", "content-type": "multipart/mixed; boundary=b"}
        )
        return response, reply.encode()


ENVELOPES = st.lists(
    st.one_of(
        st.none(),
        st.none(),
        st.binary(max_size=60),
        st.just(
            b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{}\r\n--b--\r\n"
        ),
    ),
    max_size=2,
)


class CurrentGoogle:
    """The Http every thread of the shared provider gets: it forwards to this example's fake."""

    fake: HostileGoogle | None = None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        assert self.fake is not None
        return self.fake.request(*args, **kwargs)


CURRENT_GOOGLE = CurrentGoogle()


@functools.cache
def gmail_provider() -> GmailProvider:
    """One client for every example: building Google's API objects costs more than a call."""
    return GmailProvider(
        service_account(),
        admin_subject="admin@beta.example",
        token_uri=TOKEN_URI,
        api_endpoint=API,
        directory_endpoint=API,
        retry_policy=POLICY,
        units_per_second=None,
        concurrency=1,
        http_factory=lambda: CURRENT_GOOGLE,
    )


@settings(FUZZ, max_examples=200)
@given(answers=st.lists(GMAIL_ANSWER, max_size=6), envelopes=ENVELOPES, call=CALLS)
def test_gmail_answers_every_call_or_raises_provider_error(
    answers: list[Any], envelopes: list[bytes | None], call: tuple[Any, ...]
) -> None:
    CURRENT_GOOGLE.fake = HostileGoogle(list(answers), list(envelopes))
    token = {"access_token": "ya29.token", "expires_in": 3600, "token_type": "Bearer"}
    with no_waiting(), responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, TOKEN_URI, json=token)
        event(run_call(gmail_provider(), call))


@FUZZ
@given(
    value=st.one_of(
        st.none(),
        st.text(max_size=40),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.datetimes(timezones=st.none() | st.timezones()).map(
            lambda d: d.strftime("%a, %d %b %Y %H:%M:%S %z")
        ),
        st.sampled_from(["1e400", "-5", "nan", "Fri, 31 Dec 9999 23:59:59 -2359", "Mon, 1 Jan 1"]),
    )
)
def test_retry_after_gives_seconds_to_wait_or_none(value: str | None) -> None:
    seconds = retry.parse_retry_after(value)
    assert seconds is None or (isinstance(seconds, float) and 0 <= seconds < float("inf"))
