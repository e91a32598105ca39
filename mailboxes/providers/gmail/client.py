"""The Gmail client: MailProvider for a Google Workspace tenant.

A service account with domain-wide delegation impersonates each mailbox (gmail.modify,
or https://mail.google.com/ for a permanent delete) and the admin subject for the
Directory API. googleapiclient builds requests from the discovery documents bundled in
the package; this module owns retries (googleapiclient's ignore Retry-After), batching
and per-user pacing.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httplib2
import requests
from google.auth.exceptions import GoogleAuthError
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient import discovery

from mailboxes.providers.base import (
    ACTION_TARGET_FOLDER,
    AddressInfo,
    AuthorizationCheck,
    Folder,
    LocatedCopy,
    Outcome,
    ProviderError,
    WorkItem,
)
from mailboxes.providers.retry import RetryPolicy
from mailboxes.vocabulary import Action, FailureReason, ReadState

from .auth import (
    DIRECTORY_SCOPES,
    GMAIL_FULL,
    GMAIL_MODIFY,
    GOOGLE_TOKEN_URI,
    TimedRequest,
    credentials_cache,
    token_error,
)
from .errors import is_tenant_wide
from .transport import CachedResource, Call, Pacer, Result, Runner, Session, discovery_document

logger = logging.getLogger(__name__)

GMAIL_ENDPOINT = "https://gmail.googleapis.com/"
DIRECTORY_ENDPOINT = "https://admin.googleapis.com/"
# Google's advice for HTTP batches: at most 50 calls (100 is the hard limit).
# https://developers.google.com/gmail/api/guides/batch
MAX_BATCH = 50
# Quota units per call. https://developers.google.com/gmail/api/reference/quota
COST_READ = 5  # messages.list, messages.get
COST_WRITE = 5  # messages.modify, trash, untrash
COST_DELETE = 10  # messages.delete
COST_PROFILE = 1  # users.getProfile


@dataclass
class _Item:
    """Bookkeeping for one WorkItem in perform_many."""

    work: WorkItem
    action: Action | None = None
    failure: ProviderError | None = None
    ids: list[str] = field(default_factory=list)
    copies: list[LocatedCopy] = field(default_factory=list)
    copy_errors: list[ProviderError] = field(default_factory=list)
    acted: int = 0
    already: int = 0
    requests: int = 0
    outcome: Outcome | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def fail(self, error: ProviderError) -> None:
        self.outcome = self._outcome(ok=False, reason=error.reason, detail=error.detail)

    def finish(self) -> None:
        real = [e for e in self.copy_errors if e.reason != FailureReason.NOT_FOUND]
        if real:
            self.fail(real[0])
        elif self.acted or self.already:
            detail = f"{len(self.copies)} copies" if len(self.copies) > 1 else ""
            self.outcome = self._outcome(
                ok=True, already_there=not self.acted and not self.copy_errors, detail=detail
            )
        else:
            self.fail(self.copy_errors[0])

    def _outcome(self, *, ok: bool, **kwargs: Any) -> Outcome:
        first = self.copies[0] if self.copies else None
        reads = [c.read for c in self.copies if c.read is not None]
        read_state = ReadState.UNKNOWN
        if reads:
            read_state = ReadState.READ if any(reads) else ReadState.UNREAD
        return Outcome(
            key=self.work.key,
            ok=ok,
            read_state=read_state,
            provider_message_id=first.provider_id if first else "",
            folder_before=first.folder if first else "",
            requests=self.requests,
            **kwargs,
        )


def _folder(label_ids: Sequence[str]) -> str:
    labels = set(label_ids)
    if "TRASH" in labels:
        return Folder.TRASH
    if "SPAM" in labels:
        return Folder.JUNK
    if "INBOX" in labels:
        return Folder.INBOX
    return Folder.OTHER


def _object(value: Any, call: str) -> Mapping[str, Any]:
    """An answer that must be a JSON object; anything else is the provider's error."""
    if isinstance(value, Mapping):
        return value
    raise ProviderError(FailureReason.PROVIDER_ERROR, f"{call}: the answer is not a JSON object")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _located(message: Any, internet_message_id: str) -> LocatedCopy:
    message = _object(message, "messages.get")
    if not message.get("id"):
        raise ProviderError(FailureReason.PROVIDER_ERROR, "messages.get: the answer has no id")
    labels = [str(label) for label in _list(message.get("labelIds"))]
    return LocatedCopy(
        provider_id=str(message["id"]),
        folder=_folder(labels),
        read="UNREAD" not in labels,
        internet_message_id=internet_message_id,
    )


def _message_ids(listing: Any) -> list[str]:
    found = _list(_object(listing, "messages.list").get("messages")) if listing is not None else []
    return [str(m["id"]) for m in found if isinstance(m, Mapping) and m.get("id")]


def _scopes_for(action: Action) -> tuple[str, ...]:
    """The narrowest scope that allows the action."""
    return (GMAIL_FULL,) if action == Action.HARD_DELETE else (GMAIL_MODIFY,)


def _endpoint(url: str) -> str:
    return url if url.endswith("/") else url + "/"


class GmailProvider:
    """MailProvider for Google Workspace: a service account with domain-wide delegation."""

    def __init__(
        self,
        service_account_info: Mapping[str, Any] | str,
        *,
        admin_subject: str = "",
        token_uri: str | None = None,
        api_endpoint: str | None = None,
        directory_endpoint: str | None = None,
        timeout: float = 30.0,
        concurrency: int = 32,
        batch_size: int = MAX_BATCH,
        units_per_second: float | None = 200.0,
        retry_policy: RetryPolicy | None = None,
        soft_delete_fallback_to_trash: bool = False,
        http_factory: Callable[[], Any] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        """Explicit values only; `http_factory` makes one httplib2-like Http per thread."""
        info = (
            json.loads(service_account_info)
            if isinstance(service_account_info, str)
            else dict(service_account_info)
        )
        missing = {"client_email", "private_key"} - info.keys()
        if missing:
            raise ValueError(f"service account info lacks {', '.join(sorted(missing))}")
        info["token_uri"] = token_uri or info.get("token_uri") or GOOGLE_TOKEN_URI
        if not 1 <= batch_size <= 100:
            raise ValueError("batch_size must be between 1 and 100")
        self._info = info
        self.client_email = str(info["client_email"])
        self.admin_subject = admin_subject
        self.api_endpoint = _endpoint(api_endpoint or GMAIL_ENDPOINT)
        self.directory_endpoint = _endpoint(
            directory_endpoint or api_endpoint or DIRECTORY_ENDPOINT
        )
        # new_batch_http_request() would post to Google's default even with api_endpoint set.
        self.batch_uri = self.api_endpoint + "batch/gmail/v1"
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.batch_size = batch_size
        self.units_per_second = units_per_second
        self.retry_policy = retry_policy or RetryPolicy()
        self.soft_delete_fallback_to_trash = soft_delete_fallback_to_trash
        self._runner = Runner(self.retry_policy, batch_size, self.batch_uri)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=self.concurrency)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._token_request = TimedRequest(session, timeout)
        self._http_factory = http_factory or (lambda: httplib2.Http(timeout=timeout))
        self._local = threading.local()  # httplib2 and googleapiclient are not thread-safe
        self._pacers: dict[str, Pacer] = {}
        self._pacers_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GmailProvider:
        """Build from plain values: `service_account_info` plus any constructor keyword.

        `retry` may be a mapping of RetryPolicy fields.
        """
        config = dict(config)
        info = config.pop("service_account_info")
        if "retry" in config:
            config["retry_policy"] = RetryPolicy(**config.pop("retry"))
        allowed = {
            "admin_subject",
            "token_uri",
            "api_endpoint",
            "directory_endpoint",
            "timeout",
            "concurrency",
            "batch_size",
            "units_per_second",
            "retry_policy",
            "soft_delete_fallback_to_trash",
        }
        unknown = set(config) - allowed
        if unknown:
            raise ValueError(f"unknown Gmail provider settings: {', '.join(sorted(unknown))}")
        return cls(info, **config)

    def __repr__(self) -> str:
        return f"<GmailProvider {self.client_email} via {self.api_endpoint}>"

    # -- MailProvider ------------------------------------------------------------------

    def verify(self) -> AuthorizationCheck:
        """Impersonate the admin subject with gmail.modify and read its profile."""
        subject = self.admin_subject
        details: dict[str, Any] = {"client_email": self.client_email, "subject": subject}
        if not subject:
            return AuthorizationCheck(False, "error", "no admin subject configured", details)
        session = self._open(subject, (GMAIL_MODIFY,))
        # https://developers.google.com/gmail/api/reference/rest/v1/users/getProfile
        call = Call(
            "users.getProfile", lambda s: s.users().getProfile(userId=subject), COST_PROFILE
        )
        result = self._runner.run(session, [call])[0]
        if result.error is not None:
            error = result.error
            status = "unauthorized" if error.reason == FailureReason.NOT_AUTHORIZED else "error"
            if error.reason == FailureReason.NOT_A_MAILBOX:
                error = ProviderError(error.reason, f"admin subject {subject}: {error.detail}")
            return AuthorizationCheck(False, status, str(error), details)
        details["email_address"] = str(
            _object(result.value, "users.getProfile").get("emailAddress", "")
        )
        # Not needed for junk/trash/undo, but worth showing: the other grants retraction uses.
        details["hard_delete_scope"] = self._token_check(subject, (GMAIL_FULL,))
        details["directory_scopes"] = self._token_check(subject, DIRECTORY_SCOPES)
        return AuthorizationCheck(True, "authorized", "", details)

    def locate(self, mailbox: str, internet_message_id: str) -> list[LocatedCopy]:
        session = self._open(mailbox, (GMAIL_MODIFY,))
        listing = self._runner.run(session, [self._list_call(mailbox, internet_message_id)])[0]
        if listing.error is not None:
            raise listing.error
        copies = []
        ids = _message_ids(listing.value)
        for result in self._runner.run(session, [self._get_call(mailbox, i) for i in ids]):
            if result.error is None:
                copies.append(_located(result.value, internet_message_id))
            elif result.error.reason != FailureReason.NOT_FOUND:  # gone since the listing
                raise result.error
        return copies

    def perform(self, mailbox: str, copy: LocatedCopy, action: Action) -> str:
        """Apply the action; Gmail ids are stable, so the id returned is the copy's own."""
        action = self._effective(Action(action))
        call = self._action_call(mailbox, copy, action)
        if call is None:
            return copy.provider_id  # already there
        session = self._open(mailbox, _scopes_for(action))
        result = self._runner.run(session, [call])[0]
        if result.error is not None:
            raise result.error
        follow_up = self._follow_up(mailbox, copy, action, result.value)
        if follow_up is not None:
            result = self._runner.run(session, [follow_up])[0]
            if result.error is not None:
                raise result.error
        return copy.provider_id

    def perform_many(self, items: Sequence[WorkItem]) -> list[Outcome]:
        """Locate and act per mailbox, mailboxes in parallel, calls batched and paced."""
        states = [_Item(work) for work in items]
        groups: dict[tuple[str, tuple[str, ...]], list[_Item]] = {}
        for item in states:
            try:
                item.action = self._effective(Action(item.work.action))
            except ProviderError as exc:
                item.fail(exc)
                continue
            except ValueError:
                item.fail(
                    ProviderError(FailureReason.UNSUPPORTED, f"unknown action {item.work.action!r}")
                )
                continue
            key = (item.work.mailbox.lower(), _scopes_for(item.action))
            groups.setdefault(key, []).append(item)

        # Refusals that hold for the whole tenant, per scope set: later mailboxes fail fast.
        dead: dict[tuple[str, ...], ProviderError] = {}
        jobs = [
            functools.partial(self._do_group, dead, scopes, group)
            for (_, scopes), group in groups.items()
        ]
        if len(jobs) <= 1 or self.concurrency == 1:
            for job in jobs:
                job()
        else:
            with ThreadPoolExecutor(
                max_workers=min(self.concurrency, len(jobs)), thread_name_prefix="gmail"
            ) as pool:
                for future in [pool.submit(job) for job in jobs]:
                    future.result()
        return [item.outcome for item in states]  # type: ignore[misc]

    def resolve(self, address: str) -> AddressInfo:
        """User or group, from the Admin SDK Directory API; anything else is unknown."""
        session = self._directory_session()
        # https://developers.google.com/admin-sdk/directory/reference/rest/v1/users/get
        user = self._runner.run(
            session, [Call("directory.users.get", lambda s: s.users().get(userKey=address))]
        )[0]
        if user.error is None:
            found = _object(user.value, "directory.users.get")
            name = found.get("name")
            name = name.get("fullName", "") if isinstance(name, Mapping) else ""
            return AddressInfo(address, "user", str(found.get("id", "")), str(name))
        if user.error.status not in (400, 404):
            raise user.error
        # https://developers.google.com/admin-sdk/directory/reference/rest/v1/groups/get
        group = self._runner.run(
            session, [Call("directory.groups.get", lambda s: s.groups().get(groupKey=address))]
        )[0]
        if group.error is None:
            found = _object(group.value, "directory.groups.get")
            return AddressInfo(
                address, "group", str(found.get("id", "")), str(found.get("name", ""))
            )
        if group.error.status not in (400, 404):
            raise group.error
        return AddressInfo(address, "unknown")

    def group_members(self, address: str) -> list[AddressInfo]:
        """The user members of a group, nested groups expanded by Google."""
        session = self._directory_session()
        members: list[AddressInfo] = []
        seen: set[str] = set()
        page_token: str | None = None
        tokens_seen: set[str] = set()
        while True:
            # https://developers.google.com/admin-sdk/directory/reference/rest/v1/members/list
            call = Call(
                "directory.members.list",
                lambda s, token=page_token: s.members().list(
                    groupKey=address, includeDerivedMembership=True, maxResults=200, pageToken=token
                ),
            )
            page = self._runner.run(session, [call])[0]
            if page.error is not None:
                raise page.error
            value = _object(page.value, "directory.members.list")
            for member in _list(value.get("members")):
                if not isinstance(member, Mapping):
                    continue
                email = str(member.get("email") or "").lower()
                # GROUP entries are the nested groups themselves; CUSTOMER means "everyone".
                if member.get("type") != "USER" or not email or email in seen:
                    continue
                seen.add(email)
                members.append(AddressInfo(email, "user", str(member.get("id", ""))))
            page_token = value.get("nextPageToken")
            if not page_token:
                return members
            page_token = str(page_token)
            if page_token in tokens_seen:  # a provider that pages in circles
                raise ProviderError(
                    FailureReason.PROVIDER_ERROR, "directory.members.list: the pages repeat"
                )
            tokens_seen.add(page_token)

    # -- calls -------------------------------------------------------------------------

    def _list_call(self, mailbox: str, internet_message_id: str) -> Call:
        # https://developers.google.com/gmail/api/reference/rest/v1/users.messages/list
        query = f"rfc822msgid:{internet_message_id}"
        return Call(
            "messages.list",
            lambda s: s.users().messages().list(userId=mailbox, q=query, includeSpamTrash=True),
            COST_READ,
        )

    def _get_call(self, mailbox: str, message_id: str) -> Call:
        # https://developers.google.com/gmail/api/reference/rest/v1/users.messages/get
        return Call(
            "messages.get",
            lambda s: s.users().messages().get(userId=mailbox, id=message_id, format="minimal"),
            COST_READ,
        )

    def _modify_call(
        self, mailbox: str, message_id: str, add: list[str], remove: list[str]
    ) -> Call:
        # https://developers.google.com/gmail/api/reference/rest/v1/users.messages/modify
        body = {"addLabelIds": add, "removeLabelIds": remove}
        return Call(
            "messages.modify",
            lambda s: s.users().messages().modify(userId=mailbox, id=message_id, body=body),
            COST_WRITE,
        )

    def _action_call(self, mailbox: str, copy: LocatedCopy, action: Action) -> Call | None:
        """The call that applies the action, or None when the copy is already there."""
        messages = "users.messages"
        mid = copy.provider_id
        if action == Action.JUNK:
            if copy.folder in (Folder.JUNK, Folder.TRASH):
                # Already there, or further out of sight: a retraction never brings a
                # copy back into view (as on Graph); the outcome says "already there".
                return None
            return self._modify_call(mailbox, mid, ["SPAM"], ["INBOX"])
        if action == Action.TRASH:
            if copy.folder == Folder.TRASH:
                return None
            # https://developers.google.com/gmail/api/reference/rest/v1/users.messages/trash
            return Call(
                f"{messages}.trash",
                lambda s: s.users().messages().trash(userId=mailbox, id=mid),
                COST_WRITE,
            )
        if action == Action.HARD_DELETE:
            # https://developers.google.com/gmail/api/reference/rest/v1/users.messages/delete
            return Call(
                f"{messages}.delete",
                lambda s: s.users().messages().delete(userId=mailbox, id=mid),
                COST_DELETE,
            )
        if action == Action.INBOX:
            if copy.folder == Folder.INBOX:
                return None
            if copy.folder == Folder.TRASH:
                # https://developers.google.com/gmail/api/reference/rest/v1/users.messages/untrash
                return Call(
                    f"{messages}.untrash",
                    lambda s: s.users().messages().untrash(userId=mailbox, id=mid),
                    COST_WRITE,
                )
            remove = ["SPAM"] if copy.folder == Folder.JUNK else []
            return self._modify_call(mailbox, mid, ["INBOX"], remove)
        raise ProviderError(FailureReason.UNSUPPORTED, f"Gmail cannot {action}")

    def _follow_up(
        self, mailbox: str, copy: LocatedCopy, action: Action, answer: Any
    ) -> Call | None:
        """After an untrash: put the INBOX label back if Gmail did not."""
        if action != Action.INBOX or copy.folder != Folder.TRASH:
            return None
        labels = answer.get("labelIds") if isinstance(answer, Mapping) else None
        if "INBOX" in _list(labels):
            return None
        return self._modify_call(mailbox, copy.provider_id, ["INBOX"], [])

    def _effective(self, action: Action) -> Action:
        if action == Action.SOFT_DELETE:
            if not self.soft_delete_fallback_to_trash:
                raise ProviderError(
                    FailureReason.UNSUPPORTED, "Gmail has no user-recoverable delete; use trash"
                )
            return Action.TRASH
        return action

    # -- perform_many --------------------------------------------------------------------

    def _do_group(
        self,
        dead: dict[tuple[str, ...], ProviderError],
        scopes: tuple[str, ...],
        items: list[_Item],
    ) -> None:
        try:
            self._process_group(dead, scopes, items)
        except Exception:
            logger.exception("gmail: unexpected failure in %s", items[0].work.mailbox)
            for item in items:
                if not item.done:
                    item.fail(ProviderError(FailureReason.PROVIDER_ERROR, "internal error"))

    def _process_group(
        self,
        dead: dict[tuple[str, ...], ProviderError],
        scopes: tuple[str, ...],
        items: list[_Item],
    ) -> None:
        """Three rounds for one mailbox: find the ids, read the labels, act."""
        mailbox = items[0].work.mailbox
        session = self._open(mailbox, scopes)

        def run(calls: list[Call]) -> list[Result]:
            results = self._runner.run(session, calls, abort=lambda: dead.get(scopes))
            for result in results:
                if result.error is not None and is_tenant_wide(result.error):
                    dead.setdefault(scopes, result.error)
            return results

        live = [item for item in items if not item.done]
        calls = [self._list_call(mailbox, item.work.internet_message_id) for item in live]
        for item, result in zip(live, run(calls), strict=True):
            item.requests += result.sent
            if result.error is not None:
                item.fail(result.error)
                continue
            item.ids = _message_ids(result.value)
            if not item.ids:
                item.fail(ProviderError(FailureReason.NOT_FOUND, "no copy with this Message-ID"))

        pairs = [(item, mid) for item in items if not item.done for mid in item.ids]
        calls = [self._get_call(mailbox, mid) for _, mid in pairs]
        for (item, _), result in zip(pairs, run(calls), strict=True):
            item.requests += result.sent
            if result.error is None:
                item.copies.append(_located(result.value, item.work.internet_message_id))
            elif result.error.reason != FailureReason.NOT_FOUND and item.failure is None:
                item.failure = result.error
        for item in items:
            if item.done:
                continue
            if item.failure is not None:
                item.fail(item.failure)
            elif not item.copies:
                item.fail(ProviderError(FailureReason.NOT_FOUND, "the copy went away"))

        steps: list[tuple[_Item, LocatedCopy, Call]] = []
        for item in items:
            if item.done:
                continue
            for copy in item.copies:
                call = self._action_call(mailbox, copy, item.action)  # type: ignore[arg-type]
                if call is None:
                    item.already += 1
                else:
                    steps.append((item, copy, call))
        follow_ups: list[tuple[_Item, LocatedCopy, Call]] = []
        unsure: list[tuple[_Item, LocatedCopy, ProviderError]] = []
        for (item, copy, _), result in zip(steps, run([s[2] for s in steps]), strict=True):
            item.requests += result.sent
            if result.error is not None:
                if result.unsure:
                    unsure.append((item, copy, result.error))
                else:
                    item.copy_errors.append(result.error)
                continue
            call = self._follow_up(mailbox, copy, item.action, result.value)  # type: ignore[arg-type]
            if call is None:
                item.acted += 1
            else:
                follow_ups.append((item, copy, call))
        for (item, copy, _), result in zip(
            follow_ups, run([f[2] for f in follow_ups]), strict=True
        ):
            item.requests += result.sent
            if result.error is None:
                item.acted += 1
            elif result.unsure:
                unsure.append((item, copy, result.error))
            else:
                item.copy_errors.append(result.error)
        # Writes whose retries ran out may have been applied all the same (a timeout, a
        # 5xx): the copy's labels tell, and an attempt must not say "failed" of a moved copy.
        calls = [self._get_call(mailbox, copy.provider_id) for _, copy, _ in unsure]
        for (item, _, error), result in zip(unsure, run(calls), strict=True):
            item.requests += result.sent
            if item.action == Action.HARD_DELETE:
                moved = result.error is not None and result.error.reason == FailureReason.NOT_FOUND
            else:
                answer = result.value if isinstance(result.value, Mapping) else {}
                labels = [str(label) for label in _list(answer.get("labelIds"))]
                target = ACTION_TARGET_FOLDER.get(item.action)  # type: ignore[arg-type]
                moved = result.error is None and bool(labels) and _folder(labels) == target
            if moved:
                item.acted += 1
            else:
                item.copy_errors.append(error)
        for item in items:
            if not item.done:
                item.finish()

    # -- sessions ------------------------------------------------------------------------

    def _open(self, subject: str, scopes: tuple[str, ...], api: str = "gmail") -> Session:
        creds = credentials_cache.get(self._info, subject, scopes, self._token_request)
        # One refresh on a 401, then the 401 stands (→ not_authorized).
        http = AuthorizedHttp(creds, http=self._thread_http(), max_refresh_attempts=1)
        pacer = self._pacer(subject) if api == "gmail" else Pacer(None)
        return Session(subject, creds, http, self._thread_service(api), pacer)

    def _directory_session(self) -> Session:
        if not self.admin_subject:
            raise ProviderError(
                FailureReason.NOT_AUTHORIZED, "no admin subject configured for directory calls"
            )
        return self._open(self.admin_subject, DIRECTORY_SCOPES, api="directory")

    def _thread_http(self) -> Any:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = self._http_factory()
        return http

    def _thread_service(self, api: str) -> Any:
        services = self._local.__dict__.setdefault("services", {})
        if api not in services:
            if api == "gmail":
                document, endpoint = discovery_document("gmail", "v1"), self.api_endpoint
            else:
                document = discovery_document("admin", "directory_v1")
                endpoint = self.directory_endpoint
            services[api] = CachedResource(
                discovery.build_from_document(
                    document, http=self._thread_http(), client_options={"api_endpoint": endpoint}
                )
            )
        return services[api]

    def _pacer(self, mailbox: str) -> Pacer:
        key = mailbox.lower()
        with self._pacers_lock:
            pacer = self._pacers.get(key)
            if pacer is None:
                pacer = self._pacers[key] = Pacer(self.units_per_second)
            return pacer

    def _token_check(self, subject: str, scopes: tuple[str, ...]) -> str:
        """'granted', or why a token with these scopes was refused."""
        creds = credentials_cache.get(self._info, subject, scopes, self._token_request)
        try:
            creds.ensure_valid()
        except GoogleAuthError as exc:
            return str(token_error(exc, subject))
        return "granted"
