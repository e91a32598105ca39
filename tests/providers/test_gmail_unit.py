"""The Gmail client against Gmail's own wire format, without a server.

`FakeGoogle` stands in for httplib2.Http: it answers Gmail REST calls and multipart
batches from mailboxes held in memory, and can be told to fail a call. The token
endpoint is mocked with `responses` and reads the JWT grant google-auth signs with a
throwaway key, so tests see which subject and scopes were asked for.
"""

from __future__ import annotations

import email
import itertools
import json
import logging
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httplib2
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt
from googleapiclient.http import HttpMockSequence

from mailboxes.providers import retry
from mailboxes.providers.base import Folder, LocatedCopy, ProviderError, WorkItem
from mailboxes.providers.gmail import GMAIL_FULL, GMAIL_MODIFY, GmailProvider, credentials_cache
from mailboxes.providers.retry import RetryPolicy
from mailboxes.vocabulary import Action, FailureReason, ReadState

API = "http://127.0.0.1:8765/"
TOKEN_URI = "http://127.0.0.1:8765/token"
ALICE = "alice@beta.example"
BOB = "bob@beta.example"
ADMIN = "admin@beta.example"
MSGID = "<evil-1@attacker.example>"


# -- token endpoint ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def info(private_key: str) -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": "clawback-test",
        "private_key_id": "k1",
        "private_key": private_key,
        "client_email": "clawback@clawback-test.iam.gserviceaccount.com",
        "client_id": "1234",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


@dataclass
class TokenServer:
    """Google's token endpoint: grants, or refuses per subject (or for everyone)."""

    grants: list[tuple[str, str]] = field(default_factory=list)  # (subject, scope)
    refusals: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    kwargs: list[dict[str, Any]] = field(default_factory=list)
    counter: itertools.count = field(default_factory=itertools.count)

    def refuse(self, subject: str, error: str, description: str = "", status: int = 400) -> None:
        self.refusals[subject] = (status, {"error": error, "error_description": description})

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict, str]:
        form = urllib.parse.parse_qs(
            request.body.decode() if isinstance(request.body, bytes) else request.body
        )
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(form["assertion"][0], verify=False)
        self.grants.append((claims.get("sub", ""), claims["scope"]))
        self.kwargs.append(request.req_kwargs)  # type: ignore[attr-defined]
        refusal = self.refusals.get(claims.get("sub", "")) or self.refusals.get("*")
        if refusal:
            return refusal[0], {}, json.dumps(refusal[1])
        token = f"ya29.secret-token-{next(self.counter)}"
        return (
            200,
            {},
            json.dumps({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}),
        )


@pytest.fixture
def tokens() -> Any:
    server = TokenServer()
    credentials_cache.clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, TOKEN_URI, callback=server)
        yield server
    credentials_cache.clear()


# -- Gmail on the wire -----------------------------------------------------------------


@dataclass
class Fault:
    pattern: str  # regex matched against "METHOD /path?query" (path unquoted)
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


def error_body(status: int, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message or reason,
            "errors": [{"domain": "global", "reason": reason, "message": message or reason}],
        }
    }


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str
    batched: bool


class FakeGoogle:
    """An httplib2.Http stand-in answering Gmail and Directory calls, batches included."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, dict[str, Any]]] = {}  # user -> id -> message
        self.directory_users: dict[str, dict[str, Any]] = {}
        self.directory_groups: dict[str, dict[str, Any]] = {}
        self.group_pages: dict[str, list[list[dict[str, Any]]]] = {}
        self.faults: list[Fault] = []
        self.posts: list[str] = []  # every HTTP request: "METHOD uri"
        self.calls: list[Call] = []  # every API call, direct or inside a batch
        self.untrash_restores_inbox = True
        self.raise_once: BaseException | None = None
        self.lock = threading.Lock()
        self.ids = itertools.count(1)

    def add(self, user: str, msgid: str = MSGID, labels: tuple[str, ...] = ("INBOX",)) -> str:
        mid = f"18c{next(self.ids):05x}"
        self.messages.setdefault(user, {})[mid] = {"msgid": msgid, "labels": list(labels)}
        return mid

    def labels(self, user: str, mid: str) -> list[str]:
        return self.messages[user][mid]["labels"]

    def fail(self, pattern: str, status: int, reason: str = "", **kwargs: Any) -> None:
        body = kwargs.pop("body", None) or error_body(status, reason or "backendError")
        self.faults.append(Fault(pattern, status, body, **kwargs))

    # httplib2.Http.request
    def request(
        self, uri, method="GET", body=None, headers=None, redirections=5, connection_type=None
    ):  # noqa: ANN001, ANN201
        with self.lock:
            headers = {k.lower(): v for k, v in (headers or {}).items()}
            self.posts.append(f"{method} {uri}")
            if self.raise_once is not None:
                exc, self.raise_once = self.raise_once, None
                raise exc
            split = urllib.parse.urlsplit(uri)
            if split.path == "/batch/gmail/v1":
                fault = self._fault("POST", "/batch/gmail/v1", "")
                if fault:
                    return self._response(*fault)
                return self._batch(headers, body)
            status, extra, payload = self._call(
                method, split.path, split.query, body, headers, False
            )
            return self._response(status, extra, payload)

    def _response(
        self, status: int, extra: dict[str, str], payload: Any
    ) -> tuple[httplib2.Response, bytes]:
        content = b"" if payload is None else json.dumps(payload).encode()
        return httplib2.Response(
            {"status": str(status), "content-type": "application/json", **extra}
        ), content

    def _fault(self, method: str, path: str, query: str) -> tuple[int, dict, Any] | None:
        line = f"{method} {path}" + (f"?{query}" if query else "")
        for fault in self.faults:
            if fault.times and re.search(fault.pattern, line):
                fault.times -= 1
                return fault.status, fault.headers, fault.body
        return None

    def _batch(self, headers: dict[str, str], body: str) -> tuple[httplib2.Response, bytes]:
        envelope = email.message_from_string(
            f"Content-Type: {headers['content-type']}\r\n\r\n{body}"
        )
        boundary = "batch_fake_boundary"
        out = []
        for part in envelope.get_payload():
            request_text = part.get_payload()
            head, _, inner_body = request_text.replace("\r\n", "\n").partition("\n\n")
            request_line, *header_lines = head.split("\n")
            method, target, _ = request_line.split(" ")
            inner_headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
            inner_headers = {k.lower(): v for k, v in inner_headers.items()}
            split = urllib.parse.urlsplit(target)
            status, extra, payload = self._call(
                method, split.path, split.query, inner_body or None, inner_headers, True
            )
            content_id = part["Content-ID"].replace("<", "<response-", 1)
            lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
            lines += [f"{k}: {v}" for k, v in extra.items()]
            text = "" if payload is None else json.dumps(payload)
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                + f"Content-ID: {content_id}\r\n\r\n"
                + "\r\n".join(lines)
                + f"\r\n\r\n{text}\r\n"
            )
        content = "".join(out) + f"--{boundary}--\r\n"
        response = httplib2.Response(
            {"status": "200", "content-type": f"multipart/mixed; boundary={boundary}"}
        )
        return response, content.encode()

    def _call(self, method, path, query, body, headers, batched):  # noqa: ANN001, ANN202, C901
        path = urllib.parse.unquote(path)
        params = urllib.parse.parse_qs(query)
        data = json.loads(body) if body else None
        self.calls.append(
            Call(method, path, params, data, headers.get("authorization", ""), batched)
        )
        fault = self._fault(method, path, urllib.parse.unquote(query))
        if fault:
            return fault
        if m := re.fullmatch(r"/gmail/v1/users/([^/]+)/profile", path):
            return 200, {}, {"emailAddress": m[1], "messagesTotal": 3}
        if m := re.fullmatch(r"/gmail/v1/users/([^/]+)/messages", path):
            wanted = params["q"][0].removeprefix("rfc822msgid:")
            with_spam_trash = params.get("includeSpamTrash") == ["true"]
            found = [
                {"id": mid, "threadId": mid}
                for mid, msg in self.messages.get(m[1], {}).items()
                if msg["msgid"] == wanted
                and (with_spam_trash or not {"SPAM", "TRASH"} & set(msg["labels"]))
            ]
            return (
                200,
                {},
                ({"messages": found} if found else {}) | {"resultSizeEstimate": len(found)},
            )
        if m := re.fullmatch(r"/gmail/v1/users/([^/]+)/messages/([^/]+)(/\w+)?", path):
            user, mid, verb = m[1], m[2], (m[3] or "").lstrip("/")
            msg = self.messages.get(user, {}).get(mid)
            if msg is None:
                return 404, {}, error_body(404, "notFound", "Requested entity was not found.")
            labels = msg["labels"]
            if method == "DELETE":
                del self.messages[user][mid]
                return 204, {}, None
            if verb == "modify":
                labels[:] = [lb for lb in labels if lb not in data.get("removeLabelIds", [])]
                labels += [lb for lb in data.get("addLabelIds", []) if lb not in labels]
            elif verb == "trash":
                labels[:] = [lb for lb in labels if lb != "INBOX"] + ["TRASH"]
            elif verb == "untrash":
                labels.remove("TRASH")
                if self.untrash_restores_inbox:
                    labels.append("INBOX")
            return 200, {}, {"id": mid, "threadId": mid, "labelIds": list(labels)}
        if m := re.fullmatch(r"/admin/directory/v1/users/([^/]+)", path):
            user = self.directory_users.get(m[1])
            return (200, {}, user) if user else (404, {}, error_body(404, "notFound"))
        if m := re.fullmatch(r"/admin/directory/v1/groups/([^/]+)/members", path):
            pages = self.group_pages[m[1]]
            index = int(params.get("pageToken", ["0"])[0])
            page: dict[str, Any] = {"members": pages[index]}
            if index + 1 < len(pages):
                page["nextPageToken"] = str(index + 1)
            return 200, {}, page
        if m := re.fullmatch(r"/admin/directory/v1/groups/([^/]+)", path):
            group = self.directory_groups.get(m[1])
            return (200, {}, group) if group else (404, {}, error_body(404, "notFound"))
        return 400, {}, error_body(400, "badRequest", f"fake has no route for {method} {path}")

    def api_calls(self, verb: str = "") -> list[Call]:
        return [c for c in self.calls if verb in f"{c.method} {c.path}"]


@pytest.fixture
def fake() -> FakeGoogle:
    return FakeGoogle()


class Clock:
    """retry.sleep and retry.monotonic: sleeping advances time, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(retry, "sleep", c.sleep)
    monkeypatch.setattr(retry, "monotonic", c.monotonic)
    return c


@pytest.fixture
def make(info: dict[str, str], fake: FakeGoogle, tokens: TokenServer, clock: Clock) -> Any:
    def build(http: Any = None, **kwargs: Any) -> GmailProvider:
        kwargs.setdefault("admin_subject", ADMIN)
        kwargs.setdefault("retry_policy", RetryPolicy(max_tries=4, budget=30.0))
        return GmailProvider(
            info,
            token_uri=TOKEN_URI,
            api_endpoint=API,
            http_factory=lambda: http or fake,
            **kwargs,
        )

    return build


def item(mailbox: str, action: Action, key: Any, msgid: str = MSGID) -> WorkItem:
    return WorkItem(mailbox=mailbox, internet_message_id=msgid, action=action, key=key)


# -- locate ------------------------------------------------------------------------------


def test_it_locates_with_rfc822msgid_query_including_spam_and_trash(make: Any) -> None:
    http = HttpMockSequence(
        [
            ({"status": "200"}, json.dumps({"messages": [{"id": "m1", "threadId": "t1"}]})),
            ({"status": "200"}, json.dumps({"id": "m1", "labelIds": ["TRASH", "UNREAD"]})),
        ]
    )
    copies = make(http).locate(ALICE, MSGID)

    assert copies == [LocatedCopy("m1", Folder.TRASH, read=False, internet_message_id=MSGID)]
    list_uri, method, _, headers = http.request_sequence[0]
    assert method == "GET"
    assert list_uri.startswith(API + "gmail/v1/users/alice%40beta.example/messages?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(list_uri).query)
    assert query["q"] == [f"rfc822msgid:{MSGID}"]
    assert query["includeSpamTrash"] == ["true"]
    assert headers["authorization"].startswith("Bearer ya29.")
    get_uri = http.request_sequence[1][0]
    assert "/messages/m1?" in get_uri and "format=minimal" in get_uri


def test_it_finds_a_copy_the_user_already_trashed(make: Any, fake: FakeGoogle) -> None:
    mid = fake.add(ALICE, labels=("TRASH",))
    assert make().locate(ALICE, MSGID) == [LocatedCopy(mid, Folder.TRASH, True, MSGID)]


@pytest.mark.parametrize(
    ("labels", "folder", "read"),
    [
        (("INBOX", "UNREAD", "CATEGORY_PERSONAL"), Folder.INBOX, False),
        (("INBOX", "IMPORTANT"), Folder.INBOX, True),
        (("SPAM", "UNREAD"), Folder.JUNK, False),
        (("TRASH", "INBOX"), Folder.TRASH, True),
        (("CATEGORY_UPDATES", "Label_12"), Folder.OTHER, True),
    ],
)
def test_it_maps_labels_to_folder_and_read_state(
    make: Any, fake: FakeGoogle, labels: tuple[str, ...], folder: str, read: bool
) -> None:
    fake.add(ALICE, labels=labels)
    [copy] = make().locate(ALICE, MSGID)
    assert (copy.folder, copy.read) == (folder, read)


def test_it_returns_no_copies_when_the_message_is_not_there(make: Any, fake: FakeGoogle) -> None:
    fake.add(ALICE, msgid="<other@x>")
    assert make().locate(ALICE, MSGID) == []


# -- actions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "before", "method", "verb", "body", "after"),
    [
        (
            Action.JUNK,
            ("INBOX",),
            "POST",
            "modify",
            {"addLabelIds": ["SPAM"], "removeLabelIds": ["INBOX"]},
            ["SPAM"],
        ),
        (Action.TRASH, ("INBOX",), "POST", "trash", None, ["TRASH"]),
        (
            Action.INBOX,
            ("SPAM",),
            "POST",
            "modify",
            {"addLabelIds": ["INBOX"], "removeLabelIds": ["SPAM"]},
            ["INBOX"],
        ),
        (Action.INBOX, ("TRASH",), "POST", "untrash", None, ["INBOX"]),
        (
            Action.INBOX,
            ("Label_7",),
            "POST",
            "modify",
            {"addLabelIds": ["INBOX"], "removeLabelIds": []},
            ["Label_7", "INBOX"],
        ),
    ],
)
def test_it_sends_each_action(
    make: Any,
    fake: FakeGoogle,
    action: Action,
    before: tuple[str, ...],
    method: str,
    verb: str,
    body: Any,
    after: list[str],
) -> None:
    mid = fake.add(ALICE, labels=before)
    gmail = make()
    [copy] = gmail.locate(ALICE, MSGID)

    assert gmail.perform(ALICE, copy, action) == mid

    [call] = fake.api_calls(f"/messages/{mid}/")
    assert (call.method, call.path.rsplit("/", 1)[1], call.body) == (method, verb, body)
    assert fake.labels(ALICE, mid) == after


def test_it_hard_deletes_with_the_full_mail_scope_only(
    make: Any, fake: FakeGoogle, tokens: TokenServer
) -> None:
    mid = fake.add(ALICE)
    gmail = make()
    [copy] = gmail.locate(ALICE, MSGID)

    gmail.perform(ALICE, copy, Action.HARD_DELETE)

    [call] = fake.api_calls("DELETE")
    assert call.path == f"/gmail/v1/users/{ALICE}/messages/{mid}"
    assert mid not in fake.messages[ALICE]
    assert tokens.grants == [(ALICE, GMAIL_MODIFY), (ALICE, GMAIL_FULL)]


def test_it_leaves_a_copy_already_in_the_target_folder_alone(make: Any, fake: FakeGoogle) -> None:
    mid = fake.add(ALICE, labels=("SPAM",))
    gmail = make()
    [copy] = gmail.locate(ALICE, MSGID)
    fake.calls.clear()

    assert gmail.perform(ALICE, copy, Action.JUNK) == mid
    [outcome] = gmail.perform_many([item(ALICE, Action.JUNK, "k")])

    assert outcome.ok and outcome.already_there and outcome.folder_before == Folder.JUNK
    assert not fake.api_calls("modify")


def test_it_refuses_soft_delete(make: Any, fake: FakeGoogle) -> None:
    mid = fake.add(ALICE)
    gmail = make()
    with pytest.raises(ProviderError) as caught:
        gmail.perform(ALICE, LocatedCopy(mid, Folder.INBOX, False), Action.SOFT_DELETE)
    [outcome] = gmail.perform_many([item(ALICE, Action.SOFT_DELETE, 1)])

    assert caught.value.reason == FailureReason.UNSUPPORTED
    assert "use trash" in caught.value.detail
    assert (outcome.ok, outcome.reason, outcome.requests) == (False, FailureReason.UNSUPPORTED, 0)
    assert fake.calls == []
    assert fake.labels(ALICE, mid) == ["INBOX"]


def test_it_trashes_on_soft_delete_when_told_to_fall_back(make: Any, fake: FakeGoogle) -> None:
    mid = fake.add(ALICE)
    [outcome] = make(soft_delete_fallback_to_trash=True).perform_many(
        [item(ALICE, Action.SOFT_DELETE, 1)]
    )
    assert outcome.ok and not outcome.already_there
    assert fake.labels(ALICE, mid) == ["TRASH"]


def test_it_puts_the_inbox_label_back_when_untrash_does_not(make: Any, fake: FakeGoogle) -> None:
    fake.untrash_restores_inbox = False
    mid = fake.add(ALICE, labels=("TRASH", "UNREAD"))

    [outcome] = make().perform_many([item(ALICE, Action.INBOX, 1)])

    assert outcome.ok and outcome.folder_before == Folder.TRASH
    assert outcome.read_state == ReadState.UNREAD
    assert set(fake.labels(ALICE, mid)) == {"UNREAD", "INBOX"}
    assert [c.path.rsplit("/", 1)[1] for c in fake.api_calls("POST")] == ["untrash", "modify"]


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "message", "expected", "transient"),
    [
        (404, "notFound", "Requested entity was not found.", FailureReason.NOT_FOUND, False),
        (400, "failedPrecondition", "Mail service not enabled", FailureReason.NOT_A_MAILBOX, False),
        (
            403,
            "insufficientPermissions",
            "Insufficient Permission",
            FailureReason.NOT_AUTHORIZED,
            False,
        ),
        (403, "forbidden", "Delegation denied", FailureReason.NOT_AUTHORIZED, False),
        (
            429,
            "rateLimitExceeded",
            "Too many concurrent requests for user",
            FailureReason.THROTTLED,
            True,
        ),
        (403, "userRateLimitExceeded", "User-rate limit exceeded", FailureReason.THROTTLED, True),
        (403, "rateLimitExceeded", "Rate Limit Exceeded", FailureReason.THROTTLED, True),
        (500, "backendError", "Backend Error", FailureReason.PROVIDER_ERROR, True),
        (503, "backendError", "Service unavailable", FailureReason.PROVIDER_ERROR, True),
        (400, "invalidArgument", "Invalid id value", FailureReason.PROVIDER_ERROR, False),
    ],
)
def test_it_maps_api_errors(
    make: Any,
    fake: FakeGoogle,
    clock: Clock,
    status: int,
    reason: str,
    message: str,
    expected: FailureReason,
    transient: bool,
) -> None:
    mid = fake.add(ALICE)
    fake.fail("modify", status, reason, body=error_body(status, reason, message), times=99)
    gmail = make()

    with pytest.raises(ProviderError) as caught:
        gmail.perform(ALICE, LocatedCopy(mid, Folder.INBOX, True), Action.JUNK)

    assert caught.value.reason == expected
    assert caught.value.transient is transient
    assert caught.value.status == status
    # Transient errors are retried up to max_tries; the others are final at once.
    assert len(fake.api_calls("modify")) == (4 if transient else 1)
    assert bool(clock.slept) is transient


def test_it_refreshes_once_on_401_then_reports_not_authorized(
    make: Any, fake: FakeGoogle, tokens: TokenServer
) -> None:
    mid = fake.add(ALICE)
    fake.fail("modify", 401, "authError", times=2)

    with pytest.raises(ProviderError) as caught:
        make().perform(ALICE, LocatedCopy(mid, Folder.INBOX, True), Action.JUNK)

    assert caught.value.reason == FailureReason.NOT_AUTHORIZED
    assert len(fake.api_calls("modify")) == 2
    assert len(tokens.grants) == 2


def test_it_carries_on_after_a_401_when_the_new_token_works(
    make: Any, fake: FakeGoogle, tokens: TokenServer
) -> None:
    mid = fake.add(ALICE)
    fake.fail("modify", 401, "authError")

    make().perform(ALICE, LocatedCopy(mid, Folder.INBOX, True), Action.JUNK)

    first, second = fake.api_calls("modify")
    assert first.authorization != second.authorization
    assert fake.labels(ALICE, mid) == ["SPAM"]


@pytest.mark.parametrize(
    ("error", "description", "expected"),
    [
        (
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method",
            FailureReason.NOT_AUTHORIZED,
        ),
        ("access_denied", "Requested client not authorized.", FailureReason.NOT_AUTHORIZED),
        ("admin_policy_enforced", "Access blocked by admin policy", FailureReason.NOT_AUTHORIZED),
        ("invalid_grant", "Invalid email or User ID", FailureReason.NOT_A_MAILBOX),
        ("invalid_grant", "Invalid JWT Signature.", FailureReason.NOT_AUTHORIZED),
    ],
)
def test_it_maps_token_refusals(
    make: Any,
    fake: FakeGoogle,
    tokens: TokenServer,
    error: str,
    description: str,
    expected: FailureReason,
) -> None:
    tokens.refuse(ALICE, error, description)

    with pytest.raises(ProviderError) as caught:
        make().locate(ALICE, MSGID)

    assert caught.value.reason == expected
    assert not caught.value.transient
    assert error in caught.value.detail
    assert fake.calls == []


def test_it_retries_an_unreachable_token_endpoint(
    make: Any, fake: FakeGoogle, tokens: TokenServer, clock: Clock
) -> None:
    with responses.RequestsMock() as mock:  # takes over from the fixture's mock
        mock.add(responses.POST, TOKEN_URI, body=requests.ConnectionError("connection reset"))
        with pytest.raises(ProviderError) as caught:
            make().locate(ALICE, MSGID)

    assert caught.value.reason == FailureReason.PROVIDER_ERROR
    assert caught.value.transient
    assert len(clock.slept) == 3  # four tries
    assert fake.calls == []


def test_it_asks_for_tokens_with_a_timeout_and_reuses_them(
    make: Any, fake: FakeGoogle, tokens: TokenServer
) -> None:
    fake.add(ALICE)
    gmail = make(timeout=7.5)
    gmail.locate(ALICE, MSGID)
    gmail.locate(ALICE, MSGID)
    make().locate(ALICE, MSGID)  # another client object, same service account

    assert tokens.grants == [(ALICE, GMAIL_MODIFY)]
    assert tokens.kwargs[0]["timeout"] == 7.5


def test_it_retries_a_reset_connection(make: Any, fake: FakeGoogle, clock: Clock) -> None:
    fake.add(ALICE)
    fake.raise_once = ConnectionResetError(104, "Connection reset by peer")

    assert len(make().locate(ALICE, MSGID)) == 1
    assert len(clock.slept) == 1


def test_it_waits_out_retry_after_before_the_next_call(
    make: Any, fake: FakeGoogle, clock: Clock
) -> None:
    mid = fake.add(ALICE)
    fake.fail("modify", 429, "rateLimitExceeded", headers={"retry-after": "2.5"})

    make().perform(ALICE, LocatedCopy(mid, Folder.INBOX, True), Action.JUNK)

    assert sum(clock.slept) >= 2.5
    assert fake.labels(ALICE, mid) == ["SPAM"]


def test_it_gives_up_when_retry_after_exceeds_the_budget(make: Any, fake: FakeGoogle) -> None:
    mid = fake.add(ALICE)
    fake.fail("modify", 429, "rateLimitExceeded", headers={"retry-after": "120"})

    with pytest.raises(ProviderError) as caught:
        make().perform(ALICE, LocatedCopy(mid, Folder.INBOX, True), Action.JUNK)

    assert (caught.value.reason, caught.value.retry_after) == (FailureReason.THROTTLED, 120.0)
    assert len(fake.api_calls("modify")) == 1


# -- perform_many: batches, pacing, fail-fast ------------------------------------------------


def test_it_batches_to_the_batch_uri_of_the_configured_endpoint(
    make: Any, fake: FakeGoogle
) -> None:
    mids = [fake.add(ALICE, msgid=f"<m{i}@x>") for i in range(3)]

    outcomes = make().perform_many([item(ALICE, Action.TRASH, i, f"<m{i}@x>") for i in range(3)])

    assert [o.ok for o in outcomes] == [True, True, True]
    assert fake.posts == [f"POST {API}batch/gmail/v1"] * 3  # list, get, trash
    assert all(c.batched and c.authorization.startswith("Bearer ") for c in fake.calls)
    assert all(fake.labels(ALICE, mid) == ["TRASH"] for mid in mids)
    assert [o.requests for o in outcomes] == [3, 3, 3]


def test_it_splits_batches_at_fifty_calls(make: Any, fake: FakeGoogle) -> None:
    for i in range(120):
        fake.add(ALICE, msgid=f"<m{i}@x>")

    outcomes = make().perform_many([item(ALICE, Action.JUNK, i, f"<m{i}@x>") for i in range(120)])

    assert all(o.ok for o in outcomes)
    assert len(fake.posts) == 9  # 50 + 50 + 20, three times
    assert all(fake.labels(ALICE, mid) == ["SPAM"] for mid in fake.messages[ALICE])


def test_it_retries_a_throttled_batch_part_after_retry_after(
    make: Any, fake: FakeGoogle, clock: Clock
) -> None:
    mids = [fake.add(ALICE, msgid=f"<m{i}@x>") for i in range(3)]
    fake.fail(f"{mids[1]}/modify", 429, "rateLimitExceeded", headers={"Retry-After": "2.5"})

    outcomes = make().perform_many([item(ALICE, Action.JUNK, i, f"<m{i}@x>") for i in range(3)])

    assert [o.ok for o in outcomes] == [True, True, True]
    assert max(clock.slept) >= 2.5
    retried = [c for c in fake.api_calls("modify") if mids[1] in c.path]
    assert len(retried) == 2
    assert [o.requests for o in outcomes] == [3, 4, 3]
    assert all(fake.labels(ALICE, mid) == ["SPAM"] for mid in mids)


def test_it_refreshes_the_token_once_for_a_401_inside_a_batch(
    make: Any, fake: FakeGoogle, tokens: TokenServer
) -> None:
    mids = [fake.add(ALICE, msgid=f"<m{i}@x>") for i in range(2)]
    fake.fail(f"{mids[0]}/modify", 401, "authError")
    fake.fail(f"{mids[1]}/modify", 401, "authError", times=2)

    first, second = make().perform_many(
        [item(ALICE, Action.JUNK, i, f"<m{i}@x>") for i in range(2)]
    )

    assert first.ok
    assert (second.ok, second.reason) == (False, FailureReason.NOT_AUTHORIZED)
    assert len(tokens.grants) == 2
    assert fake.labels(ALICE, mids[0]) == ["SPAM"] and fake.labels(ALICE, mids[1]) == ["INBOX"]


def test_it_reports_throttled_once_the_budget_is_spent(
    make: Any, fake: FakeGoogle, clock: Clock
) -> None:
    fake.add(ALICE, msgid="<a@x>")
    fake.add(ALICE, msgid="<b@x>")
    fake.fail("<b@x>", 403, "userRateLimitExceeded", headers={"Retry-After": "1"}, times=99)

    ok, throttled = make().perform_many(
        [item(ALICE, Action.JUNK, "a", "<a@x>"), item(ALICE, Action.JUNK, "b", "<b@x>")]
    )

    assert ok.ok
    assert (throttled.ok, throttled.reason, throttled.requests) == (
        False,
        FailureReason.THROTTLED,
        4,
    )
    assert all(s >= 1 for s in clock.slept[-3:])


def test_it_retries_a_batch_refused_as_a_whole(make: Any, fake: FakeGoogle, clock: Clock) -> None:
    fake.add(ALICE, msgid="<a@x>")
    fake.add(ALICE, msgid="<b@x>")
    fake.fail("/batch/gmail/v1", 503, "backendError")

    outcomes = make().perform_many(
        [item(ALICE, Action.TRASH, "a", "<a@x>"), item(ALICE, Action.TRASH, "b", "<b@x>")]
    )

    assert [o.ok for o in outcomes] == [True, True]
    assert len(fake.posts) == 4 and len(clock.slept) == 1


def test_it_paces_calls_under_the_per_user_quota(make: Any, fake: FakeGoogle, clock: Clock) -> None:
    for i in range(100):
        fake.add(ALICE, msgid=f"<m{i}@x>")

    make(units_per_second=250).perform_many(
        [item(ALICE, Action.TRASH, i, f"<m{i}@x>") for i in range(100)]
    )

    # 300 calls of 5 units at 250 units/s, one second's worth of burst allowed.
    assert clock.now - 1000.0 == pytest.approx((300 * 5 - 250) / 250)


def test_it_does_not_pace_one_mailbox_by_another(make: Any, fake: FakeGoogle, clock: Clock) -> None:
    for user in (ALICE, BOB):
        fake.add(user)

    make(units_per_second=5, concurrency=1).perform_many(
        [item(ALICE, Action.TRASH, 1), item(BOB, Action.TRASH, 2)]
    )

    assert clock.now - 1000.0 == pytest.approx(2 * 2.0)  # each: 15 units, 5 of them free


def test_it_reports_every_item_of_many_mailboxes_in_order(make: Any, fake: FakeGoogle) -> None:
    users = [f"user{i}@beta.example" for i in range(12)]
    for user in users[:10]:
        fake.add(user)
    fake.add(users[0], labels=("SPAM", "UNREAD"))  # a second copy, already junked
    items = [item(u, Action.JUNK, u) for u in users]

    outcomes = make(concurrency=4).perform_many(items)

    assert [o.key for o in outcomes] == users
    assert [o.ok for o in outcomes] == [True] * 10 + [False] * 2
    assert {o.reason for o in outcomes[10:]} == {FailureReason.NOT_FOUND}
    assert outcomes[0].read_state == ReadState.READ and "2 copies" in outcomes[0].detail
    assert not outcomes[0].already_there
    assert outcomes[1].read_state == ReadState.READ and outcomes[1].folder_before == Folder.INBOX


def test_it_stops_asking_once_delegation_is_missing(
    make: Any, fake: FakeGoogle, tokens: TokenServer
) -> None:
    users = [f"user{i}@beta.example" for i in range(6)]
    for user in users:
        fake.add(user)
    tokens.refuse("*", "unauthorized_client", "Client is unauthorized")

    outcomes = make(concurrency=1).perform_many([item(u, Action.JUNK, u) for u in users])

    assert {(o.ok, o.reason) for o in outcomes} == {(False, FailureReason.NOT_AUTHORIZED)}
    assert len(tokens.grants) == 1
    assert fake.calls == []


def test_it_fails_a_mailbox_that_is_not_one_without_hurting_the_others(
    make: Any, fake: FakeGoogle, tokens: TokenServer
) -> None:
    fake.add(ALICE, msgid="<a@x>")
    tokens.refuse("list@beta.example", "invalid_grant", "Invalid email or User ID")
    items = [item("list@beta.example", Action.JUNK, i, f"<{i}@x>") for i in range(3)]
    items.append(item(ALICE, Action.JUNK, "alice", "<a@x>"))

    outcomes = make(concurrency=1).perform_many(items)

    assert [o.reason for o in outcomes[:3]] == [FailureReason.NOT_A_MAILBOX] * 3
    assert outcomes[3].ok
    assert [s for s, _ in tokens.grants].count("list@beta.example") == 1


def test_it_fails_the_rest_of_a_mailbox_when_gmail_is_not_enabled(
    make: Any, fake: FakeGoogle
) -> None:
    fake.fail("messages", 400, "failedPrecondition", times=99)

    outcomes = make(batch_size=2).perform_many(
        [item(ALICE, Action.JUNK, i, f"<{i}@x>") for i in range(5)]
    )

    assert [o.reason for o in outcomes] == [FailureReason.NOT_A_MAILBOX] * 5
    assert len(fake.posts) == 1  # the first batch said so; the other two were not sent


def test_it_reports_a_copy_deleted_meanwhile_as_not_found(make: Any, fake: FakeGoogle) -> None:
    mid = fake.add(ALICE)
    fake.fail(f"{mid}/trash", 404, "notFound")

    [outcome] = make().perform_many([item(ALICE, Action.TRASH, 1)])

    assert (outcome.ok, outcome.reason, outcome.provider_message_id) == (
        False,
        FailureReason.NOT_FOUND,
        mid,
    )


def test_it_does_not_log_tokens(
    make: Any, fake: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(ALICE)
    with caplog.at_level(logging.DEBUG, logger="mailboxes.providers.gmail"):
        make().perform_many([item(ALICE, Action.JUNK, 1)])
    assert "gmail" in caplog.text
    assert "ya29" not in caplog.text and "PRIVATE KEY" not in caplog.text


# -- verify and the directory ----------------------------------------------------------------


def test_it_verifies_by_impersonating_the_admin_subject(
    make: Any, fake: FakeGoogle, tokens: TokenServer
) -> None:
    check = make().verify()

    assert (check.authorized, check.status) == (True, "authorized")
    assert check.details["email_address"] == ADMIN
    assert check.details["hard_delete_scope"] == "granted"
    [call] = fake.calls
    assert call.path == f"/gmail/v1/users/{ADMIN}/profile"
    assert tokens.grants[0] == (ADMIN, GMAIL_MODIFY)


def test_it_verifies_a_revoked_delegation_as_unauthorized(make: Any, tokens: TokenServer) -> None:
    tokens.refuse(ADMIN, "unauthorized_client", "Client is unauthorized")

    check = make().verify()

    assert (check.authorized, check.status) == (False, "unauthorized")
    assert "unauthorized_client" in check.error


def test_it_verifies_an_outage_as_an_error(make: Any, fake: FakeGoogle) -> None:
    fake.fail("profile", 503, "backendError", times=99)
    check = make().verify()
    assert (check.authorized, check.status) == (False, "error")


def test_it_resolves_users_groups_and_unknown_addresses(
    make: Any, fake: FakeGoogle, tokens: TokenServer
) -> None:
    fake.directory_users[ALICE] = {"id": "u1", "primaryEmail": ALICE, "name": {"fullName": "Alice"}}
    fake.directory_groups["all@beta.example"] = {
        "id": "g1",
        "email": "all@beta.example",
        "name": "All",
    }
    gmail = make()

    user = gmail.resolve(ALICE)
    group = gmail.resolve("all@beta.example")
    unknown = gmail.resolve("nobody@elsewhere.example")

    assert (user.kind, user.external_id, user.display_name) == ("user", "u1", "Alice")
    assert (group.kind, group.external_id, group.display_name) == ("group", "g1", "All")
    assert unknown.kind == "unknown"
    assert {s for s, _ in tokens.grants} == {ADMIN}
    assert "admin.directory.user.readonly" in tokens.grants[0][1]


def test_it_lists_transitive_group_members_across_pages(make: Any, fake: FakeGoogle) -> None:
    fake.group_pages["all@beta.example"] = [
        [
            {"id": "u1", "email": "Alice@beta.example", "type": "USER"},
            {"id": "g2", "email": "sales@beta.example", "type": "GROUP"},
        ],
        [
            {"id": "u2", "email": "bob@beta.example", "type": "USER"},
            {"id": "u1", "email": "alice@beta.example", "type": "USER"},
        ],
    ]

    members = make().group_members("all@beta.example")

    assert [(m.address, m.kind, m.external_id) for m in members] == [
        ("alice@beta.example", "user", "u1"),
        ("bob@beta.example", "user", "u2"),
    ]
    first, second = fake.api_calls("members")
    assert first.query["includeDerivedMembership"] == ["true"]
    assert "pageToken" not in first.query and second.query["pageToken"] == ["1"]


def test_it_needs_an_admin_subject_for_the_directory(make: Any) -> None:
    with pytest.raises(ProviderError) as caught:
        make(admin_subject="").resolve(ALICE)
    assert caught.value.reason == FailureReason.NOT_AUTHORIZED


# -- construction --------------------------------------------------------------------------


def test_it_builds_from_a_plain_dict(info: dict[str, str]) -> None:
    gmail = GmailProvider.from_config(
        {
            "service_account_info": json.dumps(info),
            "admin_subject": ADMIN,
            "api_endpoint": "http://127.0.0.1:9999",
            "token_uri": TOKEN_URI,
            "retry": {"max_tries": 2, "budget": 5},
        }
    )
    assert gmail.batch_uri == "http://127.0.0.1:9999/batch/gmail/v1"
    assert gmail.retry_policy == RetryPolicy(max_tries=2, budget=5)
    assert "PRIVATE" not in repr(gmail)
    with pytest.raises(ValueError, match="unknown"):
        GmailProvider.from_config({"service_account_info": info, "api_endpiont": "x"})


def test_it_defaults_to_google_endpoints(info: dict[str, str]) -> None:
    gmail = GmailProvider(info)
    assert gmail.batch_uri == "https://gmail.googleapis.com/batch/gmail/v1"
    assert gmail.directory_endpoint == "https://admin.googleapis.com/"
