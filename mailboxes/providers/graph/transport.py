"""HTTP to Microsoft Graph: one pooled session, retries, JSON $batch, per-mailbox concurrency.

Every call goes through `Transport.execute(subs, mailbox=...)`: a list of
sub-requests to one mailbox (or to the directory) is sent as single requests or
as `$batch` calls of at most 20, each item retried on its own (429 + Retry-After,
5xx, timeouts, resets) inside the retry budget. Graph allows 4 concurrent
requests per app and mailbox and runs at most 4 items of a batch at a time, each
counting against the mailbox, so a batch of n items holds min(n, 4) of the
mailbox's slots while it is in flight.

Many mailboxes worked on at once share batches: each mailbox's requests wait a
moment (`Coalescer`) for others to ride in the same `$batch`, so 10,000 mailboxes
with one copy each cost hundreds of HTTP requests, not tens of thousands. The
limits stay per mailbox: every item is still admitted by its own mailbox's slots.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import requests

from mailboxes.providers import retry
from mailboxes.providers.base import ProviderError
from mailboxes.providers.graph.auth import Timeout, TokenSource, make_session
from mailboxes.providers.retry import RetryPolicy, RetryState, parse_retry_after
from mailboxes.vocabulary import FailureReason

log = logging.getLogger(__name__)

DEFAULT_GRAPH_BASE = "https://graph.microsoft.com"
API = "/v1.0"
MAX_BATCH = 20  # https://learn.microsoft.com/graph/json-batching
IMMUTABLE_ID = 'IdType="ImmutableId"'  # https://learn.microsoft.com/graph/outlook-immutable-id

_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# https://learn.microsoft.com/graph/errors and the Outlook REST error codes.
NOT_A_MAILBOX_CODES = frozenset(
    {
        "ErrorInvalidUser",
        "ResourceNotFound",
        "Request_ResourceNotFound",
        "MailboxNotEnabledForRESTAPI",
        "MailboxNotSupportedForRESTAPI",
        "ErrorNonExistentMailbox",
    }
)
_QUERY_SAFE = "$,'@():"


def error_code(body: Any) -> tuple[str, str]:
    """The (code, message) of a Graph error body, or empty strings."""
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        err = body["error"]
        return str(err.get("code") or ""), str(err.get("message") or "")
    return "", ""


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if str(key).lower() == lowered:
            return str(value)
    return None


def classify(status: int, body: Any, headers: Mapping[str, Any] | None) -> ProviderError | None:
    """The ProviderError a Graph answer stands for (None for a success)."""
    if 200 <= status < 300:
        return None
    code, message = error_code(body)
    detail = f"HTTP {status} {code}: {message}".strip().rstrip(":")[:400]
    retry_after = parse_retry_after(header(headers, "Retry-After"))
    if status == 429:
        return ProviderError(
            FailureReason.THROTTLED, detail, transient=True, status=status, retry_after=retry_after
        )
    if status in _TRANSIENT_STATUSES:
        return ProviderError(
            FailureReason.PROVIDER_ERROR,
            detail,
            transient=True,
            status=status,
            retry_after=retry_after,
        )
    if code in NOT_A_MAILBOX_CODES:
        return ProviderError(FailureReason.NOT_A_MAILBOX, detail, status=status)
    if status in (401, 403):
        return ProviderError(FailureReason.NOT_AUTHORIZED, detail, status=status)
    if status == 404:  # ErrorItemNotFound and friends
        return ProviderError(FailureReason.NOT_FOUND, detail, status=status)
    return ProviderError(FailureReason.PROVIDER_ERROR, detail, status=status)


@dataclass(frozen=True)
class Sub:
    """One Graph request, relative to /v1.0; `mail` ones ask for immutable ids."""

    method: str
    path: str
    params: Mapping[str, str] | str | None = None
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    mail: bool = True

    def query(self) -> str:
        if not self.params:
            return ""
        if isinstance(self.params, str):
            return self.params
        # %20 for spaces and %2B for "+": the same encoding direct and inside $batch.
        return urlencode(dict(self.params), quote_via=quote, safe=_QUERY_SAFE)

    def relative_url(self) -> str:
        query = self.query()
        return f"{self.path}?{query}" if query else self.path

    def request_headers(self) -> dict[str, str]:
        out = {"Prefer": IMMUTABLE_ID} if self.mail else {}
        if self.body is not None:
            out["Content-Type"] = "application/json"
        out.update(self.headers or {})
        return out


@dataclass
class RawReply:
    status: int
    body: Any = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    error: ProviderError | None = None  # set when there is no HTTP answer to classify
    token: str = ""
    sent: bool = True


@dataclass
class Reply:
    """The final answer to one sub-request, after retries."""

    status: int
    body: Any
    error: ProviderError | None
    tries: int  # HTTP requests it cost (a batch counts once per item)
    unsure: bool = False  # a failed try may have been applied all the same (timeout, 5xx)

    @property
    def ok(self) -> bool:
        return self.error is None


class MailboxSlots:
    """Requests in flight to one mailbox (batch items count), and when it may be called again."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._cond = threading.Condition()
        self._in_use = 0
        self._not_before = 0.0
        # Well-known folder ids of this mailbox (id -> Folder value), once known.
        self.folders: dict[str, str] | None = None

    @property
    def idle(self) -> bool:
        return self._in_use == 0

    def acquire(self, n: int) -> int:
        n = max(1, min(n, self.limit))
        with self._cond:
            self._cond.wait_for(lambda: self._in_use + n <= self.limit)
            self._in_use += n
        return n

    def release(self, n: int) -> None:
        with self._cond:
            self._in_use -= n
            self._cond.notify_all()

    def hold_off(self, seconds: float) -> None:
        """Nobody calls this mailbox for `seconds` (a Retry-After)."""
        with self._cond:
            self._not_before = max(self._not_before, retry.monotonic() + seconds)

    def wait_turn(self) -> None:
        delay = self._not_before - retry.monotonic()
        if delay > 0:
            retry.sleep(delay)


_MAILBOX_CACHE_SIZE = 50_000
_mailboxes: OrderedDict[tuple[str, ...], MailboxSlots] = OrderedDict()
_mailboxes_lock = threading.Lock()


def mailbox_slots(key: tuple[str, ...], limit: int) -> MailboxSlots:
    """The process-wide slots of one (app, mailbox): limits are per app and mailbox."""
    with _mailboxes_lock:
        slots = _mailboxes.get(key)
        if slots is None:
            slots = _mailboxes[key] = MailboxSlots(limit)
            if len(_mailboxes) > _MAILBOX_CACHE_SIZE:
                for old in [k for k, v in _mailboxes.items() if v.idle][: len(_mailboxes) // 10]:
                    del _mailboxes[old]
        else:
            _mailboxes.move_to_end(key)
        return slots


def clear_mailbox_cache() -> None:
    """Forget per-mailbox state (folder ids, Retry-After holds)."""
    with _mailboxes_lock:
        _mailboxes.clear()


class RunControl:
    """Shared by the workers of one perform_many: stop a tenant that is not authorized.

    A token failure or a 401 that survives a token refresh stops the run at once.
    A 403 may be one mailbox's (an application access policy), so the run stops
    only once several mailboxes answered 403 and none succeeded.
    """

    FORBIDDEN_MAILBOXES_TO_STOP = 3

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: ProviderError | None = None
        self._forbidden: set[str] = set()
        self._succeeded = False

    def stop_error(self) -> ProviderError | None:
        return self._stop

    def stop(self, error: ProviderError) -> None:
        with self._lock:
            if self._stop is None:
                self._stop = ProviderError(
                    FailureReason.NOT_AUTHORIZED,
                    f"not attempted, the tenant is not authorized: {error.detail}"[:500],
                    status=error.status,
                )

    def forbidden(self, mailbox: str, error: ProviderError) -> None:
        with self._lock:
            self._forbidden.add(mailbox.lower())
            stop = not self._succeeded and len(self._forbidden) >= self.FORBIDDEN_MAILBOXES_TO_STOP
        if stop:
            self.stop(error)

    def succeeded(self) -> None:
        self._succeeded = True


def _spent(error: ProviderError, tries: int) -> ProviderError:
    reason = FailureReason.THROTTLED if error.status == 429 else FailureReason.PROVIDER_ERROR
    return ProviderError(
        reason,
        f"{error.detail} (gave up after {tries} tries)",
        transient=True,
        status=error.status,
        retry_after=error.retry_after,
    )


def _json(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


@dataclass(eq=False)
class _Parcel:
    """One mailbox's chunk of sub-requests waiting for a shared batch."""

    subs: Sequence[Sub]
    taken: bool = False  # on its way (under the coalescer's lock)
    done: threading.Event = field(default_factory=threading.Event)
    answers: list[RawReply] = field(default_factory=list)


class Coalescer:
    """Packs the chunks of concurrent callers into shared `$batch` requests.

    A caller queues its chunk and waits up to `linger` seconds; whoever fills a
    batch (or has waited long enough) sends the queue's head, up to `size` items,
    chunks never split. No thread of its own: callers take turns sending.
    """

    def __init__(self, send: Callable[[Sequence[Sub]], list[RawReply]], size: int, linger: float):
        self._send = send
        self.size = size
        self.linger = linger
        self._lock = threading.Lock()
        self._queue: deque[_Parcel] = deque()
        self._queued = 0

    def submit(self, subs: Sequence[Sub]) -> list[RawReply]:
        parcel = _Parcel(subs)
        with self._lock:
            self._queue.append(parcel)
            self._queued += len(subs)
            full = self._take() if self._queued >= self.size else []
        if full:
            self._deliver(full)
        # Waited long enough: send the head of the queue (ours, or older chunks first).
        # Once ours is on its way, whoever took it sets `done`: wait without polling.
        while not parcel.done.wait(self.linger):
            with self._lock:
                if parcel.taken:
                    break
                head = self._take()
            self._deliver(head)
        parcel.done.wait()
        return parcel.answers

    def _take(self) -> list[_Parcel]:
        """The queue's head, up to `size` items (at least one chunk). Hold the lock."""
        taken: list[_Parcel] = []
        count = 0
        while self._queue and (not taken or count + len(self._queue[0].subs) <= self.size):
            parcel = self._queue.popleft()
            parcel.taken = True
            taken.append(parcel)
            count += len(parcel.subs)
        self._queued -= count
        return taken

    def _deliver(self, parcels: list[_Parcel]) -> None:
        subs = [sub for parcel in parcels for sub in parcel.subs]
        try:
            answers = self._send(subs)
        except Exception as exc:  # never leave a waiting caller hanging
            error = ProviderError(FailureReason.PROVIDER_ERROR, f"{type(exc).__name__}: {exc}")
            answers = [RawReply(0, error=error, sent=False) for _ in subs]
            log.exception("graph shared batch failed")
        start = 0
        for parcel in parcels:
            parcel.answers = answers[start : start + len(parcel.subs)]
            start += len(parcel.subs)
            parcel.done.set()


class Transport:
    """Sends Sub requests to Graph with tokens, batching, limits and retries."""

    def __init__(
        self,
        *,
        tokens: TokenSource,
        graph_base: str = DEFAULT_GRAPH_BASE,
        verify: bool | str = True,
        timeout: Timeout = 30.0,
        concurrency: int = 64,
        per_mailbox_concurrency: int = 4,
        policy: RetryPolicy | None = None,
        batch_size: int = MAX_BATCH,
        linger: float = 0.002,
    ) -> None:
        self.tokens = tokens
        self.graph_base = graph_base.rstrip("/")
        if self.graph_base.endswith(API):  # "https://host/v1.0" given: the version is ours
            self.graph_base = self.graph_base[: -len(API)]
        self.policy = policy or RetryPolicy()
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self.per_mailbox_concurrency = max(1, per_mailbox_concurrency)
        self.session = make_session(verify=verify, timeout=timeout, pool_size=concurrency)
        self._inflight = threading.BoundedSemaphore(max(1, concurrency))
        self._key = (self.graph_base, tokens.tenant_id, tokens.client_id)
        # Mailbox requests share batches; linger 0 sends each mailbox's chunk alone.
        self._coalescer = (
            Coalescer(self._send_shared, self.batch_size, linger)
            if linger > 0 and self.batch_size > 1
            else None
        )

    def close(self) -> None:
        self.session.close()

    def slots(self, mailbox: str) -> MailboxSlots:
        key = (*self._key, mailbox.strip().lower())
        return mailbox_slots(key, self.per_mailbox_concurrency)

    def token(self) -> str:
        """A token, retrying transient token-endpoint failures inside the budget."""
        state = RetryState(self.policy)
        while True:
            try:
                return self.tokens.get()
            except ProviderError as exc:
                if not exc.transient:
                    raise
                if not state.wait(exc.retry_after):
                    raise _spent(exc, state.tries) from None

    def get_json(self, sub: Sub, *, mailbox: str | None = None) -> Any:
        """One request; its JSON body, or the ProviderError it ended with."""
        reply = self.execute([sub], mailbox=mailbox)[0]
        if reply.error is not None:
            raise reply.error
        return reply.body

    def _chunks(self, indices: Sequence[int]) -> Iterator[list[int]]:
        """Chunks of at most batch_size, a multiple of the mailbox limit when it can be.

        Outlook runs 4 items of a batch at a time: 20 items take 5 rounds, so full
        chunks of 20 (not 19 + 19 + ...) waste no round.
        """
        size = self.batch_size
        if size > self.per_mailbox_concurrency:
            size -= size % self.per_mailbox_concurrency
        for start in range(0, len(indices), size):
            yield list(indices[start : start + size])

    def execute(
        self, subs: Sequence[Sub], *, mailbox: str | None = None, run: RunControl | None = None
    ) -> list[Reply]:
        """Send sub-requests to one mailbox (or the directory); one Reply each, in order.

        Chunks go one after the other: a batch of 4 or more items already fills the
        mailbox's 4 slots. Transient failures are retried item by item, all of a
        round's retries after one sleep of at least the longest Retry-After; a 401
        drops the token and tries once more with a new one.
        """
        replies: list[Reply | None] = [None] * len(subs)
        states = [RetryState(self.policy) for _ in subs]
        tries = [0] * len(subs)
        unsure: set[int] = set()
        refreshed = False
        pending = list(range(len(subs)))
        while pending:
            raw: dict[int, RawReply] = {}
            for chunk in self._chunks(pending):
                stop = run.stop_error() if run is not None else None
                answers = (
                    [RawReply(0, error=stop, sent=False) for _ in chunk]
                    if stop is not None
                    else self._send([subs[i] for i in chunk], mailbox)
                )
                for i, answer in zip(chunk, answers, strict=True):
                    raw[i] = answer
                    tries[i] += 1 if answer.sent else 0
            again: list[int] = []
            delays: list[float] = []
            stale: set[str] = set()
            for i in pending:
                answer = raw[i]
                error = answer.error or classify(answer.status, answer.body, answer.headers)
                if error is None:
                    replies[i] = Reply(answer.status, answer.body, None, tries[i])
                    if run is not None:
                        run.succeeded()
                    continue
                if answer.status == 401 and not refreshed:
                    stale.add(answer.token)
                    again.append(i)
                    continue
                if error.transient:
                    if answer.sent and answer.status != 429:
                        unsure.add(i)
                    delay = states[i].next_delay(error.retry_after)
                    if delay is not None:
                        again.append(i)
                        delays.append(delay)
                        continue
                    error = _spent(error, states[i].tries)
                replies[i] = Reply(answer.status, answer.body, error, tries[i], i in unsure)
                if run is not None and error.reason == FailureReason.NOT_AUTHORIZED:
                    if answer.status == 403 and mailbox:
                        run.forbidden(mailbox, error)
                    elif answer.status in (0, 401):
                        run.stop(error)
            if stale:
                refreshed = True
                for token in stale:
                    if token:
                        self.tokens.invalidate(token)
            if delays:
                retry.sleep(max(delays))
            pending = again
        return [r for r in replies if r is not None]

    def _send(self, subs: Sequence[Sub], mailbox: str | None) -> list[RawReply]:
        slots = self.slots(mailbox) if mailbox else None
        held = 0
        if slots is not None:
            slots.wait_turn()
            held = slots.acquire(len(subs))
        try:
            if slots is not None and self._coalescer is not None:
                answers = self._coalescer.submit(subs)
            else:
                answers = self._send_shared(subs)
        finally:
            if slots is not None:
                slots.release(held)
        if slots is not None:
            waits = [
                ra
                for a in answers
                if a.status in _TRANSIENT_STATUSES
                and (ra := parse_retry_after(header(a.headers, "Retry-After"))) is not None
            ]
            if waits:
                slots.hold_off(max(waits))
        return answers

    def _send_shared(self, subs: Sequence[Sub]) -> list[RawReply]:
        """One HTTP request for the subs (a batch when more than one), with a token."""
        with self._inflight:
            try:
                token = self.tokens.get()
            except ProviderError as exc:
                return [RawReply(0, error=exc, sent=False) for _ in subs]
            if len(subs) == 1:
                return [self._send_one(subs[0], token)]
            return self._send_batch(subs, token)

    def _send_one(self, sub: Sub, token: str) -> RawReply:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        headers.update(sub.request_headers())
        try:
            resp = self.session.request(
                sub.method,
                f"{self.graph_base}{API}{sub.path}",
                params=sub.query() or None,
                json=sub.body,
                headers=headers,
            )
        except requests.RequestException as exc:
            return RawReply(0, error=_network_error(exc, sub.method, sub.path), token=token)
        log.debug("graph %s %s -> %s", sub.method, sub.path, resp.status_code)
        return RawReply(resp.status_code, _json(resp), resp.headers, token=token)

    def _send_batch(self, subs: Sequence[Sub], token: str) -> list[RawReply]:
        items = []
        for number, sub in enumerate(subs, 1):
            item: dict[str, Any] = {
                "id": str(number),
                "method": sub.method,
                "url": sub.relative_url(),
            }
            if headers := sub.request_headers():
                item["headers"] = headers
            if sub.body is not None:
                item["body"] = dict(sub.body)
            items.append(item)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Prefer": IMMUTABLE_ID,
        }
        try:
            # https://learn.microsoft.com/graph/json-batching
            resp = self.session.post(
                f"{self.graph_base}{API}/$batch", json={"requests": items}, headers=headers
            )
        except requests.RequestException as exc:
            error = _network_error(exc, "POST", "/$batch")
            return [RawReply(0, error=error, token=token) for _ in subs]
        body = _json(resp)
        if resp.status_code != 200 or not isinstance(body, Mapping):
            log.debug("graph $batch of %d -> %s", len(subs), resp.status_code)
            status = resp.status_code if resp.status_code != 200 else 502
            return [RawReply(status, body, resp.headers, token=token) for _ in subs]
        listed = body.get("responses")
        answers = {
            str(a.get("id")): a
            for a in (listed if isinstance(listed, list) else [])
            if isinstance(a, Mapping)
        }
        out = []
        for number in range(1, len(subs) + 1):
            answer = answers.get(str(number))
            if answer is None:
                missing = ProviderError(
                    FailureReason.PROVIDER_ERROR, "no answer for a batch item", transient=True
                )
                out.append(RawReply(0, error=missing, token=token))
                continue
            try:
                status = int(answer.get("status", 0))
            except (TypeError, ValueError, OverflowError):
                status = 502
            headers = answer.get("headers")
            out.append(
                RawReply(
                    status,
                    answer.get("body"),
                    headers if isinstance(headers, Mapping) else {},
                    token=token,
                )
            )
        log.debug("graph $batch of %d -> %s", len(subs), ",".join(str(a.status) for a in out))
        return out


def _network_error(exc: requests.RequestException, method: str, path: str) -> ProviderError:
    what = "timed out" if isinstance(exc, requests.Timeout) else f"failed ({type(exc).__name__})"
    return ProviderError(
        FailureReason.PROVIDER_ERROR, f"{method} {path.split('?')[0]} {what}", transient=True
    )
