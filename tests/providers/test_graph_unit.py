"""The Microsoft Graph client against recorded-shape answers (`responses` intercepts requests).

A small in-test Graph (`FakeGraph`) answers the wire protocol the client speaks:
the identity platform's discovery and token endpoints, filtered message look-ups,
well-known folders, move, permanentDelete and JSON $batch (answers in reverse
order), with scripted faults. msal goes through the same interception.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import responses

from mailboxes.providers import retry
from mailboxes.providers.base import Folder, LocatedCopy, ProviderError, WorkItem
from mailboxes.providers.graph import (
    GraphProvider,
    clear_caches,
    graph_provider_from_config,
)
from mailboxes.providers.graph import auth as graph_auth
from mailboxes.providers.retry import RetryPolicy
from mailboxes.vocabulary import Action, FailureReason, ReadState

TENANT = "11111111-2222-3333-4444-555555555555"
LOGIN = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com"
MSG = "<retract-me@evil.example>"
FOLDERS = ("inbox", "junkemail", "deleteditems", "recoverableitemsdeletions")


def jwt(roles: list[str]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'roles': roles, 'tid': TENANT})}.sig"


class FakeGraph:
    """Mailboxes in memory behind the Graph and identity URLs, with scripted faults."""

    def __init__(self, rsps: responses.RequestsMock, authority_host: str = LOGIN) -> None:
        self.rsps = rsps
        self.authority = f"{authority_host}/{TENANT}"
        self.mailboxes: dict[str, dict[str, dict[str, Any]]] = {}
        self.token_answers: list[tuple[int, dict[str, Any]]] = []
        self.tokens_issued: list[str] = []
        self.calls: list[dict[str, Any]] = []  # each Graph request, batch items included
        self.batches: list[list[dict[str, Any]]] = []
        self.faults: list[tuple[Callable[[str, str], bool], Any]] = []
        self.move_suffix = ""  # non-empty: moves answer a new id (as without ImmutableId)
        self.users: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = []
        self.mailbox_settings: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[list[dict[str, Any]]]] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.delay = 0.0
        self._lock = threading.Lock()
        rsps.add_callback(
            responses.GET,
            f"{self.authority}/v2.0/.well-known/openid-configuration",
            callback=self._discovery,
        )
        rsps.add_callback(
            responses.POST, f"{self.authority}/oauth2/v2.0/token", callback=self._token
        )
        # After a token error msal asks which hosts are aliases of the authority's.
        rsps.add(
            responses.GET,
            f"{LOGIN}/common/discovery/instance",
            json={"metadata": [{"aliases": ["login.microsoftonline.com", "login.windows.net"]}]},
        )
        pattern = re.compile(re.escape(GRAPH) + r"/v1\.0/.*")
        for method in (responses.GET, responses.POST):
            rsps.add_callback(method, pattern, callback=self._graph)

    # -- state -------------------------------------------------------------------------

    def deliver(self, mailbox: str, folder: str = "inbox", *, read: bool = False, msg=MSG) -> str:
        box = self.mailboxes.setdefault(mailbox, {})
        message_id = f"AAMk-{mailbox}-{len(box)}"
        box[message_id] = {"folder": folder, "isRead": read, "internetMessageId": msg}
        return message_id

    @staticmethod
    def folder_id(mailbox: str, name: str) -> str:
        return f"folder-{name}-{mailbox}"

    def fail(self, method: str, path_re: str, status: int, code: str = "", **kw: Any) -> None:
        """Answer the next matching request with an error (kw: headers, times, message)."""
        body = {"error": {"code": code, "message": kw.get("message", code)}} if code else None
        answer = (status, kw.get("headers") or {}, body)
        self.faults.extend([(self._matcher(method, path_re), answer)] * kw.get("times", 1))

    def fail_with(self, method: str, path_re: str, exc: Exception, times: int = 1) -> None:
        """Raise a network error for the next matching direct (not batched) request."""
        self.faults.extend([(self._matcher(method, path_re), exc)] * times)

    @staticmethod
    def _matcher(method: str, path_re: str) -> Callable[[str, str], bool]:
        return lambda m, p: m == method and re.search(path_re, p) is not None

    def graph_calls(self, path_re: str = "") -> list[dict[str, Any]]:
        return [c for c in self.calls if re.search(path_re, c["path"])]

    # -- identity platform -------------------------------------------------------------

    def _discovery(self, request):
        base = f"{self.authority}/oauth2/v2.0"
        return (
            200,
            {},
            json.dumps(
                {
                    "token_endpoint": f"{base}/token",
                    "authorization_endpoint": f"{base}/authorize",
                    "issuer": f"{self.authority}/v2.0",
                }
            ),
        )

    def _token(self, request):
        if self.token_answers:
            status, body = self.token_answers.pop(0)
            if status != 200:
                return status, {}, json.dumps(body)
        token = jwt(["Mail.ReadWrite", "User.Read.All"]) + str(len(self.tokens_issued))
        self.tokens_issued.append(token)
        body = {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        return 200, {}, json.dumps(body)

    # -- Graph -------------------------------------------------------------------------

    def _graph(self, request):
        parts = urlsplit(request.url)
        path = unquote(parts.path)[len("/v1.0") :]
        headers = dict(request.headers)
        body = json.loads(request.body) if request.body else None
        if path == "/$batch":
            items = body["requests"]
            self.batches.append(items)
            answers = []
            mailbox = self._mailbox_of(items[0]["url"])
            self._enter(mailbox, min(len(items), 4))
            try:
                for item in items:
                    sub = urlsplit(item["url"])
                    status, sub_headers, sub_body = self._one(
                        item["method"],
                        unquote(sub.path),
                        sub.query,
                        item.get("headers", {}),
                        item.get("body"),
                    )
                    answer = {"id": item["id"], "status": status, "headers": sub_headers}
                    if sub_body is not None:
                        answer["body"] = sub_body
                    answers.append(answer)
            finally:
                self._leave(mailbox, min(len(items), 4))
            return 200, {}, json.dumps({"responses": list(reversed(answers))})
        mailbox = self._mailbox_of(path)
        self._enter(mailbox, 1)
        try:
            answer = self._one(request.method, path, parts.query, headers, body)
            if isinstance(answer, Exception):
                return answer
            status, out_headers, out = answer
        finally:
            self._leave(mailbox, 1)
        return status, out_headers, json.dumps(out) if out is not None else ""

    @staticmethod
    def _mailbox_of(path: str) -> str:
        match = re.match(r"/users/([^/?]+)/(messages|mailFolders)", path)
        return match.group(1) if match else ""

    def _enter(self, mailbox: str, n: int) -> None:
        with self._lock:
            self.in_flight[mailbox] = self.in_flight.get(mailbox, 0) + n
            self.max_in_flight[mailbox] = max(
                self.max_in_flight.get(mailbox, 0), self.in_flight[mailbox]
            )
        if self.delay:
            time.sleep(self.delay)

    def _leave(self, mailbox: str, n: int) -> None:
        with self._lock:
            self.in_flight[mailbox] -= n

    def _one(self, method: str, path: str, query: str, headers: dict, body: Any):
        params = {k: v[0] for k, v in parse_qs(query).items()}
        self.calls.append(
            {"method": method, "path": path, "params": params, "headers": headers, "body": body}
        )
        for n, (matches, answer) in enumerate(self.faults):
            if matches(method, path):
                del self.faults[n]
                return answer
        if path == "/users" and "$filter" in params:
            return self._filter_directory(self.users, params["$filter"])
        if path == "/users":
            return 200, {}, {"value": self.users}
        if path == "/groups":
            return self._filter_directory(self.groups, params["$filter"])
        if match := re.fullmatch(r"/groups/([^/]+)/transitiveMembers/microsoft\.graph\.user", path):
            pages = self.members[match.group(1)]
            page = int(params.get("page", 0))
            out: dict[str, Any] = {"value": pages[page]}
            if page + 1 < len(pages):
                out["@odata.nextLink"] = (
                    f"{GRAPH}/v1.0{path}?$select=id,mail&$count=true&page={page + 1}"
                )
            return 200, {}, out
        if match := re.fullmatch(r"/users/([^/]+)/mailboxSettings", path):
            settings = self.mailbox_settings.get(match.group(1))
            if settings is None:
                return 403, {}, {"error": {"code": "ErrorAccessDenied", "message": "no"}}
            return 200, {}, settings
        if match := re.fullmatch(r"/users/([^/]+)", path):
            user = next((u for u in self.users if u["userPrincipalName"] == match.group(1)), None)
            if user is None:
                return 404, {}, {"error": {"code": "Request_ResourceNotFound", "message": "?"}}
            return 200, {}, user
        match = re.fullmatch(r"/users/([^/]+)/(.*)", path)
        if not match or match.group(1) not in self.mailboxes:
            return 404, {}, {"error": {"code": "ErrorInvalidUser", "message": "invalid user"}}
        box, rest = self.mailboxes[match.group(1)], match.group(2)
        owner = match.group(1)
        if rest == "messages" and "$filter" not in params:
            return 200, {}, {"value": [{"id": mid} for mid in box][: int(params["$top"])]}
        if rest in ("messages", "mailFolders/recoverableitemsdeletions/messages"):
            wanted = re.fullmatch(r"internetMessageId eq '(.*)'", params["$filter"]).group(1)
            wanted = wanted.replace("''", "'")
            in_recoverable = rest != "messages"
            value = [
                {
                    "id": mid,
                    "isRead": m["isRead"],
                    "parentFolderId": self.folder_id(owner, m["folder"]),
                    "internetMessageId": m["internetMessageId"],
                }
                for mid, m in box.items()
                if m["internetMessageId"] == wanted
                and (m["folder"] == "recoverableitemsdeletions") == in_recoverable
            ]
            return 200, {}, {"value": value}
        if rest.startswith("mailFolders/"):
            return 200, {}, {"id": self.folder_id(owner, rest.split("/")[1])}
        if match := re.fullmatch(r"messages/([^/]+)/(move|permanentDelete)", rest):
            mid = match.group(1)
            if mid not in box:
                return 404, {}, {"error": {"code": "ErrorItemNotFound", "message": "gone"}}
            if match.group(2) == "permanentDelete":
                del box[mid]
                return 204, {}, None
            message = box.pop(mid)
            message["folder"] = body["destinationId"]
            new_id = mid + self.move_suffix
            box[new_id] = message
            parent = self.folder_id(owner, message["folder"])
            return 201, {}, {"id": new_id, "parentFolderId": parent}
        return 400, {}, {"error": {"code": "BadRequest", "message": path}}

    @staticmethod
    def _filter_directory(rows: list[dict[str, Any]], condition: str):
        if m := re.fullmatch(r"mail eq '(.*)'", condition):
            hits = [r for r in rows if r.get("mail", "").lower() == m.group(1).lower()]
        elif m := re.fullmatch(r"proxyAddresses/any\(p:p eq '(.*)'\)", condition):
            hits = [r for r in rows if m.group(1).lower() in r.get("proxyAddresses", [])]
        else:
            return 400, {}, {"error": {"code": "BadRequest", "message": condition}}
        return 200, {}, {"value": hits}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fresh_state():
    clear_caches()  # a fresh msal app (token and throttle caches) and mailbox state per test
    yield
    clear_caches()


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(retry, "sleep", fake.sleep)
    monkeypatch.setattr(retry, "monotonic", fake.monotonic)
    return fake


@pytest.fixture
def graph(clock):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeGraph(rsps)


def make_provider(**kw: Any) -> GraphProvider:
    kw.setdefault("retry_policy", RetryPolicy(max_tries=4, budget=60.0))
    return GraphProvider(tenant_id=TENANT, client_id="app-id", credential="s3cret", **kw)


@pytest.fixture
def provider():
    with make_provider() as client:
        yield client


def item(mailbox: str, action: Action = Action.JUNK, key: Any = None, msg: str = MSG) -> WorkItem:
    key = mailbox if key is None else key
    return WorkItem(mailbox=mailbox, internet_message_id=msg, action=action, key=key)


# -- tokens ------------------------------------------------------------------------------


def test_it_sends_the_token_and_immutable_id_header_on_mail_calls(graph, provider):
    graph.deliver("ann@alpha.example", "inbox")
    graph.deliver("ann@alpha.example", "recoverableitemsdeletions", read=True)

    copies = provider.locate("ann@alpha.example", MSG)

    assert sorted(c.folder for c in copies) == [Folder.INBOX, Folder.RECOVERABLE]
    assert len(graph.tokens_issued) == 1
    assert graph.batches, "folder ids and both look-ups go in one $batch"
    for call in graph.calls:
        assert call["headers"]["Prefer"] == 'IdType="ImmutableId"'
    outer = [c for c in graph.rsps.calls if c.request.url.endswith("/$batch")]
    assert outer[0].request.headers["Authorization"] == f"Bearer {graph.tokens_issued[0]}"


def test_it_puts_a_timeout_on_every_request_msal_included(graph, provider):
    graph.deliver("ann@alpha.example")

    provider.locate("ann@alpha.example", MSG)

    urls = [c.request.url for c in graph.rsps.calls]
    assert any("openid-configuration" in u for u in urls) and any("/token" in u for u in urls)
    for call in graph.rsps.calls:
        assert call.request.req_kwargs["timeout"] is not None, call.request.url


def test_it_reuses_the_msal_app_and_its_cached_token(graph):
    graph.deliver("ann@alpha.example")
    with make_provider() as first, make_provider() as second:
        first.locate("ann@alpha.example", MSG)
        second.locate("ann@alpha.example", MSG)

    assert len(graph.tokens_issued) == 1


@pytest.mark.parametrize(
    ("error", "codes", "hint"),
    [
        ("invalid_client", [7000215], "invalid client secret"),
        ("unauthorized_client", [700016], "application not found"),
        ("invalid_grant", [65001], "admin consent missing"),
    ],
)
def test_it_maps_token_errors_to_not_authorized(graph, provider, error, codes, hint):
    graph.token_answers = [
        (400, {"error": error, "error_description": f"AADSTS{codes[0]}: no", "error_codes": codes})
    ]

    with pytest.raises(ProviderError) as raised:
        provider.locate("ann@alpha.example", MSG)

    assert raised.value.reason == FailureReason.NOT_AUTHORIZED
    assert error in raised.value.detail and hint in raised.value.detail
    assert "s3cret" not in raised.value.detail
    assert graph.calls == []


def test_it_fails_every_item_fast_when_the_token_is_refused(graph, provider):
    graph.token_answers = [(401, {"error": "invalid_client", "error_codes": [7000215]})]

    outcomes = provider.perform_many([item(f"u{n}@alpha.example") for n in range(5)])

    assert [o.reason for o in outcomes] == [FailureReason.NOT_AUTHORIZED] * 5
    assert graph.calls == []
    token_posts = [c for c in graph.rsps.calls if c.request.url.endswith("/token")]
    assert len(token_posts) == 1


def test_it_maps_an_unknown_tenant_to_not_authorized(clock):
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            f"{LOGIN}/{TENANT}/v2.0/.well-known/openid-configuration",
            status=400,
            json={"error": "invalid_tenant", "error_description": "AADSTS90002: not found"},
        )
        with make_provider() as client, pytest.raises(ProviderError) as raised:
            client.locate("ann@alpha.example", MSG)

    assert raised.value.reason == FailureReason.NOT_AUTHORIZED
    assert f"{LOGIN}/{TENANT}" in raised.value.detail


def test_it_retries_a_failing_token_endpoint_then_reports_a_provider_error(graph, provider):
    graph.token_answers = [(503, {"error": "server_error"})] * 10

    with pytest.raises(ProviderError) as raised:
        provider.locate("ann@alpha.example", MSG)

    assert raised.value.reason == FailureReason.PROVIDER_ERROR
    assert raised.value.transient
    assert graph.calls == []


def test_it_asks_no_instance_discovery_for_a_custom_authority(clock, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked: responses intercepts the adapter")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeGraph(rsps, authority_host="https://127.0.0.1:8443")
        fake.deliver("ann@alpha.example")
        with make_provider(authority_host="https://127.0.0.1:8443", verify=str(ca)) as client:
            assert client.locate("ann@alpha.example", MSG)
            sessions = [client.transport.session] + [e.session for e in graph_auth._apps.values()]
        # Any call to login.microsoftonline.com would have failed as unregistered.
        assert all("127.0.0.1:8443" in c.request.url or GRAPH in c.request.url for c in rsps.calls)
    for session in sessions:
        assert session.verify == str(ca)
        assert session.trust_env is False


def test_it_refreshes_the_token_once_on_a_401(graph, provider):
    graph.deliver("ann@alpha.example")
    provider.locate("ann@alpha.example", MSG)  # folder ids cached; one token issued
    graph.fail("GET", r"/messages$", 401, "InvalidAuthenticationToken")

    copies = provider.locate("ann@alpha.example", MSG)

    assert len(copies) == 1
    assert len(graph.tokens_issued) == 2
    look_ups = [
        c.request
        for c in graph.rsps.calls
        if c.request.url.split("?")[0].endswith("/users/ann@alpha.example/messages")
    ]
    again = look_ups[-1]  # the refused look-up, alone, with the new token
    assert again.headers["Authorization"] == f"Bearer {graph.tokens_issued[1]}"


# -- the Graph error table ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message", "reason"),
    [
        (404, "ErrorInvalidUser", "The requested user is invalid.", FailureReason.NOT_A_MAILBOX),
        (404, "ResourceNotFound", "Resource could not be discovered.", FailureReason.NOT_A_MAILBOX),
        (
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            FailureReason.NOT_A_MAILBOX,
        ),
        (401, "InvalidAuthenticationToken", "Access token is empty.", FailureReason.NOT_AUTHORIZED),
        (
            401,
            "NoPermissionsInAccessToken",
            "The token contains no permissions, or permissions can not be understood.",
            FailureReason.NOT_AUTHORIZED,
        ),
        (403, "ErrorAccessDenied", "Access is denied.", FailureReason.NOT_AUTHORIZED),
        (429, "TooManyRequests", "Too many requests", FailureReason.THROTTLED),
        (503, "ServiceUnavailable", "Service unavailable", FailureReason.PROVIDER_ERROR),
        (504, "GatewayTimeout", "Gateway timeout", FailureReason.PROVIDER_ERROR),
    ],
)
def test_it_maps_each_graph_error_to_its_reason(graph, provider, status, code, message, reason):
    graph.deliver("ann@alpha.example")
    graph.fail(
        "GET",
        r"^/users/ann@alpha\.example/messages$",
        status,
        code,
        message=message,
        headers={"Retry-After": "1"} if status == 429 else None,
        times=10,
    )

    outcome = provider.perform_many([item("ann@alpha.example")])[0]

    assert (outcome.ok, outcome.reason) == (False, reason)
    assert code in outcome.detail
    assert outcome.read_state == ReadState.UNKNOWN
    if status == 401:
        assert len(graph.tokens_issued) == 2  # dropped and re-acquired once
    if status in (429, 503, 504):
        assert "gave up after 4 tries" in outcome.detail  # RetryPolicy(max_tries=4)


def test_it_reports_not_found_when_the_filter_finds_nothing(graph, provider):
    graph.deliver("ann@alpha.example", msg="<something-else@example.com>")

    outcome = provider.perform_many([item("ann@alpha.example")])[0]

    assert (outcome.ok, outcome.reason) == (False, FailureReason.NOT_FOUND)
    assert outcome.read_state == ReadState.UNKNOWN
    assert provider.locate("ann@alpha.example", MSG) == []


def test_it_looks_up_afresh_after_item_not_found_then_reports_not_found(graph, provider):
    mid = graph.deliver("ann@alpha.example")
    original = graph._one

    def vanish_on_move(method, path, query, headers, body):
        if path.endswith("/move"):
            graph.mailboxes["ann@alpha.example"].pop(mid, None)  # the user deleted it
        return original(method, path, query, headers, body)

    graph._one = vanish_on_move

    outcome = provider.perform_many([item("ann@alpha.example")])[0]

    assert (outcome.ok, outcome.reason) == (False, FailureReason.NOT_FOUND)
    looked_up = graph.graph_calls(r"^/users/ann@alpha\.example/messages$")
    assert len(looked_up) == 2  # the first look-up and the fresh one after the 404


def test_it_acts_on_the_copy_a_fresh_look_up_finds_after_item_not_found(graph, provider):
    graph.deliver("ann@alpha.example")
    graph.fail("POST", r"/move$", 404, "ErrorItemNotFound")

    outcome = provider.perform_many([item("ann@alpha.example")])[0]

    assert outcome.ok and not outcome.already_there
    assert [m["folder"] for m in graph.mailboxes["ann@alpha.example"].values()] == ["junkemail"]


def test_it_quotes_a_message_id_with_a_single_quote_in_the_filter(graph, provider):
    odd = "<o'brien+1 x@evil.example>"
    graph.deliver("ann@alpha.example", msg=odd)
    provider.locate("ann@alpha.example", odd)  # warm the folder cache: next look-ups only
    graph.calls.clear()

    copies = provider.locate("ann@alpha.example", odd)
    assert len(copies) == 1
    filters = {c["params"]["$filter"] for c in graph.calls}
    assert filters == {"internetMessageId eq '<o''brien+1 x@evil.example>'"}

    # A single request (not batched) leaves the encoding to requests' params.
    graph.calls.clear()
    provider.perform("ann@alpha.example", copies[0], Action.JUNK)
    raw = graph.rsps.calls[-1].request.url
    assert "/move" in raw
    located = provider.transport.execute(
        [provider_locate_sub("ann@alpha.example", odd)], mailbox="ann@alpha.example"
    )[0]
    assert located.ok and len(located.body["value"]) == 1
    url = graph.rsps.calls[-1].request.url
    assert "%3Co''brien%2B1%20x@evil.example%3E" in url  # "+" kept apart from a space
    assert parse_qs(urlsplit(url).query)["$filter"] == [
        "internetMessageId eq '<o''brien+1 x@evil.example>'"
    ]


def provider_locate_sub(mailbox: str, message_id: str):
    from mailboxes.providers.graph import ops

    return ops.locate_sub(mailbox, message_id)


# -- acting ------------------------------------------------------------------------------


def test_it_moves_a_copy_and_returns_the_new_id(graph, provider):
    graph.move_suffix = "-moved"
    mid = graph.deliver("ann@alpha.example")
    copy = LocatedCopy(provider_id=mid, folder=Folder.INBOX, read=False)

    new_id = provider.perform("ann@alpha.example", copy, Action.TRASH)

    assert new_id == f"{mid}-moved"
    move = graph.graph_calls(r"/move$")[0]
    assert move["body"] == {"destinationId": "deleteditems"}
    assert move["headers"]["Prefer"] == 'IdType="ImmutableId"'
    assert graph.mailboxes["ann@alpha.example"][new_id]["folder"] == "deleteditems"


def test_it_permanently_deletes_a_copy(graph, provider):
    mid = graph.deliver("ann@alpha.example", "junkemail")
    copy = LocatedCopy(provider_id=mid, folder=Folder.JUNK, read=True)

    assert provider.perform("ann@alpha.example", copy, Action.HARD_DELETE) == ""
    assert graph.mailboxes["ann@alpha.example"] == {}
    assert graph.graph_calls(r"/permanentDelete$")[0]["method"] == "POST"


def test_it_does_not_move_a_copy_already_in_the_target_folder(graph, provider):
    mid = graph.deliver("ann@alpha.example", "junkemail", read=True)

    outcome = provider.perform_many([item("ann@alpha.example", Action.JUNK)])[0]

    assert outcome.ok and outcome.already_there
    assert (outcome.folder_before, outcome.read_state) == (Folder.JUNK, ReadState.READ)
    assert outcome.provider_message_id == mid
    assert graph.graph_calls(r"/move$") == []


def test_it_leaves_a_copy_the_user_deleted_out_of_sight(graph, provider):
    graph.deliver("ann@alpha.example", "deleteditems")

    outcome = provider.perform_many([item("ann@alpha.example", Action.JUNK)])[0]

    assert outcome.ok and outcome.already_there and outcome.folder_before == Folder.TRASH
    assert graph.graph_calls(r"/move$") == []


def test_it_brings_a_soft_deleted_copy_back_to_the_inbox(graph, provider):
    graph.deliver("ann@alpha.example", "recoverableitemsdeletions")

    outcome = provider.perform_many([item("ann@alpha.example", Action.INBOX)])[0]

    assert outcome.ok and outcome.folder_before == Folder.RECOVERABLE
    assert [m["folder"] for m in graph.mailboxes["ann@alpha.example"].values()] == ["inbox"]


# -- bulk: batching, retries, limits ------------------------------------------------------


def test_it_batches_at_most_20_requests_per_call(graph, provider):
    ids = [f"<m{n}@evil.example>" for n in range(45)]
    for n, message_id in enumerate(ids):
        graph.deliver("ann@alpha.example", read=n % 2 == 0, msg=message_id)
    items = [item("ann@alpha.example", key=n, msg=m) for n, m in enumerate(ids)]

    outcomes = provider.perform_many(items)

    assert [o.key for o in outcomes] == list(range(45))
    assert all(o.ok and o.folder_before == Folder.INBOX for o in outcomes)
    assert outcomes[0].read_state == ReadState.READ and outcomes[1].read_state == ReadState.UNREAD
    assert all(len(b) <= 20 for b in graph.batches)
    # The inbox id + 45 look-ups in 3 batches (every copy is in the inbox: no junk or
    # deleted-items ids, no Recoverable Items), then 45 moves in 3.
    assert [len(b) for b in graph.batches] == [20, 20, 6, 20, 20, 5]
    for batch in graph.batches:
        for sub in batch:
            assert sub["url"].startswith("/users/ann@alpha.example/")
            assert sub["headers"]["Prefer"] == 'IdType="ImmutableId"'
    assert {m["folder"] for m in graph.mailboxes["ann@alpha.example"].values()} == {"junkemail"}
    assert outcomes[0].requests == 1 + 1 + 1  # the inbox id is charged to the first item
    assert outcomes[1].requests == 1 + 1


def test_it_retries_a_throttled_batch_item_after_its_retry_after(graph, provider, clock):
    for n in range(3):
        graph.deliver("ann@alpha.example", msg=f"<m{n}@evil.example>")
    graph.fail("POST", r"/move$", 429, "ApplicationThrottled", headers={"Retry-After": "2.128"})
    items = [item("ann@alpha.example", key=n, msg=f"<m{n}@evil.example>") for n in range(3)]

    outcomes = provider.perform_many(items)

    assert all(o.ok for o in outcomes)
    # 1 look-up + 1 move each; the first also pays the inbox id and the throttled retry.
    assert sorted(o.requests for o in outcomes) == [2, 2, 2 + 1 + 1]
    assert clock.slept and max(clock.slept) >= 2.128
    moves = [[x for x in b if x["url"].endswith("/move")] for b in graph.batches]
    assert [len(m) for m in moves if m] == [3]  # the retried move went alone, after the wait
    assert len(graph.graph_calls(r"/move$")) == 4


def test_it_honours_retry_after_on_a_single_request(graph, provider, clock):
    mid = graph.deliver("ann@alpha.example")
    graph.fail("POST", r"/move$", 429, "TooManyRequests", headers={"Retry-After": "2.128"})

    copy = LocatedCopy(provider_id=mid, folder=Folder.INBOX, read=False)
    assert provider.perform("ann@alpha.example", copy, Action.JUNK) == mid
    assert clock.slept[0] >= 2.128
    assert len(clock.slept) == 1  # the mailbox's hold had expired by the retry


def test_it_gives_up_as_throttled_when_the_budget_is_spent(graph, clock):
    graph.deliver("ann@alpha.example")
    graph.fail("POST", r"/move$", 429, "TooManyRequests", headers={"Retry-After": "20"}, times=9)

    with make_provider(retry_policy=RetryPolicy(max_tries=6, budget=45.0)) as client:
        outcome = client.perform_many([item("ann@alpha.example")])[0]

    assert (outcome.ok, outcome.reason) == (False, FailureReason.THROTTLED)
    assert outcome.folder_before == Folder.INBOX
    assert sum(s for s in clock.slept if s >= 20) <= 45.0
    assert len(graph.graph_calls(r"/move$")) == 3  # 2 waits of >= 20 s fit in 45 s


def test_it_retries_timeouts_and_connection_resets(graph, provider, clock):
    mid = graph.deliver("ann@alpha.example")
    graph.fail_with("POST", r"/move$", requests.ReadTimeout("read timed out"))
    graph.fail_with("POST", r"/move$", requests.ConnectionError("connection reset"))

    copy = LocatedCopy(provider_id=mid, folder=Folder.INBOX, read=False)
    assert provider.perform("ann@alpha.example", copy, Action.JUNK) == mid
    assert len(clock.slept) == 2


def test_it_reports_a_provider_error_when_timeouts_persist(graph, clock):
    mid = graph.deliver("ann@alpha.example")
    graph.fail_with("POST", r"/move$", requests.ConnectTimeout("connect timed out"), times=10)

    copy = LocatedCopy(provider_id=mid, folder=Folder.INBOX, read=False)
    with make_provider() as client, pytest.raises(ProviderError) as raised:
        client.perform("ann@alpha.example", copy, Action.JUNK)

    assert raised.value.reason == FailureReason.PROVIDER_ERROR
    assert "timed out" in raised.value.detail and "gave up after 4 tries" in raised.value.detail


def test_it_stops_a_tenant_after_a_401_that_survives_a_refresh(graph):
    for n in range(6):
        graph.deliver(f"u{n}@alpha.example")
    graph.fail("GET", r".", 401, "InvalidAuthenticationToken", times=100)

    with make_provider(concurrency=1) as client:
        outcomes = client.perform_many([item(f"u{n}@alpha.example") for n in range(6)])

    assert [o.reason for o in outcomes] == [FailureReason.NOT_AUTHORIZED] * 6
    assert sum(o.requests for o in outcomes) <= 12  # one mailbox's two tries, not six
    assert sum(1 for o in outcomes if o.detail.startswith("not attempted")) == 5


def test_it_fails_one_mailbox_on_a_403_and_goes_on_with_the_others(graph):
    graph.deliver("ann@alpha.example")
    graph.deliver("bob@alpha.example")
    graph.fail("GET", r"^/users/ann@alpha\.example/", 403, "ErrorAccessDenied", times=10)

    with make_provider(concurrency=1) as client:
        outcomes = client.perform_many([item("ann@alpha.example"), item("bob@alpha.example")])

    assert outcomes[0].reason == FailureReason.NOT_AUTHORIZED
    assert outcomes[1].ok


def test_it_keeps_a_mailbox_to_four_requests_in_flight(graph):
    graph.deliver("ann@alpha.example")
    graph.delay = 0.02
    errors: list[BaseException] = []
    with make_provider(concurrency=32) as client:
        client.locate("ann@alpha.example", MSG)  # folder ids cached: each look-up is 2 items

        def look() -> None:
            try:
                assert len(client.locate("ann@alpha.example", MSG)) == 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=look) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert errors == []
    assert 2 <= graph.max_in_flight["ann@alpha.example"] <= 4  # 8 look-ups of 2 items each


def test_it_runs_mailboxes_concurrently_with_one_outcome_each(graph):
    mailboxes = [f"u{n}@alpha.example" for n in range(30)]
    for mailbox in mailboxes[:-1]:
        graph.deliver(mailbox, read=True)
    graph.deliver(mailboxes[-1], msg="<another@example.com>")
    graph.delay = 0.005
    items = [item(m, Action.SOFT_DELETE, key=n) for n, m in enumerate(mailboxes)]

    with make_provider(concurrency=8) as client:
        outcomes = client.perform_many(items + [item("nobody@alpha.example", key="x")])

    assert [o.key for o in outcomes] == [*range(30), "x"]
    assert all(o.ok and o.read_state == ReadState.READ for o in outcomes[:29])
    assert outcomes[29].reason == FailureReason.NOT_FOUND
    assert outcomes[30].reason == FailureReason.NOT_A_MAILBOX
    folders = [
        m["folder"]
        for box in graph.mailboxes.values()
        for m in box.values()
        if m["internetMessageId"] == MSG
    ]
    assert folders == ["recoverableitemsdeletions"] * 29


# -- verify and the directory ------------------------------------------------------------


def test_it_verifies_with_a_mailbox_read(graph, provider):
    graph.users = [
        {"id": "id-svc", "userPrincipalName": "svc@alpha.example"},
        {"id": "id-ann", "userPrincipalName": "ann@alpha.example", "mail": "ann@alpha.example"},
    ]
    graph.mailboxes["id-ann"] = {}

    check = provider.verify()

    assert (check.authorized, check.status) == (True, "authorized")
    assert "Mail.ReadWrite" in check.details["roles"]
    assert check.details["mailbox_checked"] == "ann@alpha.example"


def test_it_verifies_unauthorized_when_mail_access_is_denied(graph, provider):
    graph.users = [{"id": "id-ann", "userPrincipalName": "ann@alpha.example", "mail": "a@x"}]
    graph.fail("GET", r"^/users/id-ann/messages$", 403, "ErrorAccessDenied")

    check = provider.verify()

    assert (check.authorized, check.status) == (False, "unauthorized")
    assert "ErrorAccessDenied" in check.error


def test_it_verifies_unauthorized_without_the_mail_permission(graph, provider, monkeypatch):
    monkeypatch.setattr(graph_auth.TokenSource, "get", lambda self: jwt(["User.Read.All"]))

    check = provider.verify()

    assert (check.authorized, check.status) == (False, "unauthorized")
    assert "Mail.ReadWrite" in check.error


def test_it_verifies_as_an_error_when_the_token_endpoint_is_down(graph, provider):
    graph.token_answers = [(500, {"error": "server_error"})] * 10

    check = provider.verify()

    assert (check.authorized, check.status) == (False, "error")


def test_it_verifies_unauthorized_on_a_token_error(graph, provider):
    graph.token_answers = [(400, {"error": "unauthorized_client", "error_codes": [700016]})]

    check = provider.verify()

    assert (check.authorized, check.status) == (False, "unauthorized")
    assert "unauthorized_client" in check.error


def test_it_resolves_users_shared_mailboxes_groups_and_unknowns(graph, provider):
    graph.users = [
        {"id": "id-ann", "userPrincipalName": "ann@alpha.example", "mail": "ann@alpha.example"},
        {
            "id": "id-desk",
            "userPrincipalName": "desk@alpha.onmicrosoft.com",
            "mail": "helpdesk@alpha.example",
        },
        {
            "id": "id-bob",
            "userPrincipalName": "bob@alpha.onmicrosoft.com",
            "mail": "bob@alpha.example",
            "proxyAddresses": ["smtp:robert@alpha.example"],
        },
    ]
    graph.mailbox_settings["id-desk"] = {"userPurpose": "shared"}
    graph.mailbox_settings["id-ann"] = {"userPurpose": "user"}
    graph.groups = [{"id": "id-all", "mail": "all@alpha.example", "displayName": "All"}]

    assert provider.resolve("ann@alpha.example").kind == "user"
    desk = provider.resolve("helpdesk@alpha.example")
    assert (desk.kind, desk.external_id) == ("shared", "id-desk")
    assert provider.resolve("robert@alpha.example").external_id == "id-bob"
    group = provider.resolve("all@alpha.example")
    assert (group.kind, group.external_id, group.display_name) == ("group", "id-all", "All")
    assert provider.resolve("o'nobody@alpha.example").kind == "unknown"
    filters = [c["params"].get("$filter", "") for c in graph.calls]
    assert "mail eq 'o''nobody@alpha.example'" in filters


def test_it_lists_transitive_group_members_across_pages(graph, provider):
    graph.groups = [{"id": "id-all", "mail": "all@alpha.example"}]
    graph.members["id-all"] = [
        [{"id": "1", "mail": "ann@alpha.example", "displayName": "Ann"}],
        [{"id": "2", "mail": "bob@alpha.example"}, {"id": "3", "mail": None}],
    ]

    members = provider.group_members("all@alpha.example")

    assert [(m.address, m.kind) for m in members] == [
        ("ann@alpha.example", "user"),
        ("bob@alpha.example", "user"),
    ]
    pages = graph.graph_calls(r"/transitiveMembers/")
    assert len(pages) == 2
    assert all(p["headers"]["ConsistencyLevel"] == "eventual" for p in pages)
    assert pages[0]["params"]["$count"] == "true"


def test_it_raises_not_found_for_members_of_a_missing_group(graph, provider):
    with pytest.raises(ProviderError) as raised:
        provider.group_members("nobody@alpha.example")
    assert raised.value.reason == FailureReason.NOT_FOUND


# -- construction ------------------------------------------------------------------------


def test_it_builds_from_plain_config_values(tmp_path):
    client = graph_provider_from_config(
        {
            "tenant_id": TENANT,
            "client_id": "app-id",
            "certificate_private_key": "-----BEGIN PRIVATE KEY-----",
            "certificate_thumbprint": "AB" * 20,
            "endpoint": "https://127.0.0.1:9443/",
            "ca_bundle": str(tmp_path / "ca.pem"),
            "concurrency": 16,
            "retry": {"max_tries": 3, "budget": 10.0},
        }
    )

    assert client.tokens.authority == f"https://127.0.0.1:9443/{TENANT}"
    assert client.transport.graph_base == "https://127.0.0.1:9443"
    assert client.transport.session.verify == str(tmp_path / "ca.pem")
    assert client.transport.policy.max_tries == 3
    assert (
        client.transport.session.get_adapter("https://x").poolmanager.connection_pool_kw["maxsize"]
        == 16
    )
    client.close()
    with GraphProvider(
        tenant_id=TENANT, client_id="app-id", credential="x", graph_base=f"{GRAPH}/v1.0/"
    ) as versioned:
        assert versioned.transport.graph_base == GRAPH


def test_it_reports_missing_credentials_as_not_authorized():
    with GraphProvider(tenant_id=TENANT, client_id="app-id", credential={"thumbprint": "x"}) as c:
        check = c.verify()
    assert (check.authorized, check.status) == (False, "unauthorized")
    assert "incomplete credentials" in check.error
