"""Sending Gmail and Directory calls: batches, per-call retries, per-mailbox pacing."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.auth.exceptions import GoogleAuthError
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import Resource
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from mailboxes.providers import retry
from mailboxes.providers.base import ProviderError
from mailboxes.providers.retry import RetryPolicy, RetryState
from mailboxes.vocabulary import FailureReason

from .auth import DelegatedCredentials, token_error
from .errors import MAILBOX_FATAL, TRANSPORT_ERRORS, http_error, transport_error

# What google-api-python-client raises on an answer it cannot read (JSON of the wrong
# shape, a broken batch part): the provider's failure, like a reset connection.
UNREADABLE: tuple[type[Exception], ...] = (ValueError, LookupError, TypeError)

logger = logging.getLogger(__name__)


@functools.cache
def discovery_document(api: str, version: str) -> str:
    """The discovery document bundled with googleapiclient (no network, read once)."""
    document = get_static_doc(api, version)
    if document is None:
        raise RuntimeError(f"googleapiclient has no bundled discovery document for {api} {version}")
    return document


@dataclass(frozen=True)
class Call:
    """One API call, built fresh for every try from a thread's service object."""

    method: str  # for logs: "messages.list"
    make: Callable[[Any], HttpRequest]
    cost: int = 0  # quota units


@dataclass
class Result:
    value: Any = None
    error: ProviderError | None = None
    sent: int = 0  # HTTP requests spent, retries included (a batch part counts as one)
    unsure: bool = False  # a failed try may have been applied all the same (timeout, 5xx)


class Pacer:
    """A per-mailbox token bucket in quota units; also holds calls back after a Retry-After.

    Calls reserve their units up front and sleep off any debt, so a caller never spins.
    `rate=None` only honours the holds.
    """

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.tokens = rate or 0.0
        self.stamp = retry.monotonic()
        self.not_before = 0.0
        self.lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        """Send nothing more for this mailbox until `seconds` from now."""
        with self.lock:
            self.not_before = max(self.not_before, retry.monotonic() + seconds)

    def acquire(self, units: int) -> None:
        with self.lock:
            now = retry.monotonic()
            wait = self.not_before - now
            if self.rate:
                self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                self.tokens -= units
                if self.tokens < 0:
                    wait = max(wait, -self.tokens / self.rate)
        if wait > 0:
            retry.sleep(wait)


class CachedResource:
    """A googleapiclient Resource whose sub-resources are built once (per thread).

    `service.users().messages()` builds every method of both resources, docstrings
    included, on each call: most of the client's CPU when it acts on many mailboxes.
    Method calls (`list(...)`, `get(...)`) still give a fresh HttpRequest each time.
    """

    def __init__(self, resource: Any) -> None:
        self._resource = resource
        self._children: dict[str, CachedResource] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._resource, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if args or kwargs:
                return attr(*args, **kwargs)
            child = self._children.get(name)
            if child is None:
                result = attr()
                if not isinstance(result, Resource):
                    return result
                child = self._children[name] = CachedResource(result)
            return child

        return call


@dataclass
class Session:
    """What one thread needs to call the API as one subject with one set of scopes."""

    subject: str
    creds: DelegatedCredentials
    http: AuthorizedHttp
    service: Any
    pacer: Pacer


class Runner:
    """Runs calls as one subject: directly when alone, else in batches to `batch_uri`."""

    def __init__(self, policy: RetryPolicy, batch_size: int, batch_uri: str) -> None:
        self.policy = policy
        self.batch_size = batch_size
        self.batch_uri = batch_uri

    def run(
        self,
        session: Session,
        calls: Sequence[Call],
        abort: Callable[[], ProviderError | None] | None = None,
    ) -> list[Result]:
        """Run calls as one subject, in batches, retrying transient failures per call.

        Once a call says the mailbox is not one or not authorized, the rest are not sent.
        """
        results = [Result() for _ in calls]
        for start in range(0, len(calls), self.batch_size):
            chunk = list(range(start, min(start + self.batch_size, len(calls))))
            stop = abort() if abort else None
            if stop is None:
                stop = next(
                    (
                        r.error
                        for r in results[:start]
                        if r.error and r.error.reason in MAILBOX_FATAL
                    ),
                    None,
                )
            if stop is not None:
                for i in chunk:
                    results[i].error = stop
                continue
            self._run_chunk(session, calls, chunk, results)
        return results

    def _run_chunk(
        self, session: Session, calls: Sequence[Call], pending: list[int], results: list[Result]
    ) -> None:
        state = RetryState(self.policy)
        while True:
            session.pacer.acquire(sum(calls[i].cost for i in pending))
            answers = self._send(session, [calls[i] for i in pending])
            again = []
            for i, (value, error, sent) in zip(pending, answers, strict=True):
                results[i].value, results[i].error = value, error
                results[i].sent += sent
                if error is not None and error.transient:
                    again.append(i)
                    if sent and error.reason != FailureReason.THROTTLED:
                        results[i].unsure = True
            if not again:
                return
            hints = [results[i].error.retry_after for i in again]  # type: ignore[union-attr]
            known = [h for h in hints if h is not None]
            delay = state.next_delay(max(known) if known else None)
            if delay is None:
                logger.debug(
                    "gmail %s: retry budget spent, %d call(s) fail", session.subject, len(again)
                )
                return  # the last transient error stands: THROTTLED or PROVIDER_ERROR
            logger.debug(
                "gmail %s: %d call(s) retried in %.2fs", session.subject, len(again), delay
            )
            session.pacer.hold(delay)  # the next acquire sleeps it off
            pending = again

    def _send(
        self, session: Session, calls: list[Call]
    ) -> list[tuple[Any, ProviderError | None, int]]:
        try:
            session.creds.ensure_valid()
        except GoogleAuthError as exc:
            error = token_error(exc, session.subject)
            logger.debug("gmail %s: %s", session.subject, error)
            return [(None, error, 0)] * len(calls)
        if len(calls) == 1:
            return [self._send_one(session, calls[0])]
        return self._send_batch(session, calls)

    def _send_one(self, session: Session, call: Call) -> tuple[Any, ProviderError | None, int]:
        error: ProviderError
        try:
            value = call.make(session.service).execute(http=session.http, num_retries=0)
        except BatchError as exc:
            error = transport_error(exc)
        except HttpError as exc:
            error = http_error(exc.resp.status, exc.content, exc.resp)
        except GoogleAuthError as exc:
            error = token_error(exc, session.subject)
        except (*TRANSPORT_ERRORS, *UNREADABLE) as exc:
            error = transport_error(exc)
        else:
            logger.debug("gmail %s %s: ok", session.subject, call.method)
            return value, None, 1
        logger.debug("gmail %s %s: %s", session.subject, call.method, error)
        return None, error, 1

    def _send_batch(
        self, session: Session, calls: list[Call]
    ) -> list[tuple[Any, ProviderError | None, int]]:
        """One multipart POST to the API's own batch URL; each part answers for itself."""
        answers: dict[str, tuple[Any, ProviderError | None, int]] = {}

        def collect(request_id: str, response: Any, exception: Exception | None) -> None:
            if exception is None:
                answers[request_id] = (response, None, 1)
            elif isinstance(exception, HttpError) and exception.resp is not None:
                resp = exception.resp
                answers[request_id] = (None, http_error(resp.status, exception.content, resp), 1)
            else:
                answers[request_id] = (None, transport_error(exception), 1)

        # https://developers.google.com/gmail/api/guides/batch
        batch = BatchHttpRequest(callback=collect, batch_uri=self.batch_uri)
        for i, call in enumerate(calls):
            request = call.make(session.service)
            request.http = session.http  # so each part carries the mailbox's token
            batch.add(request, request_id=str(i))
        failure: ProviderError | None = None
        try:
            batch.execute(http=session.http)
        except BatchError as exc:
            failure = transport_error(exc)
        except HttpError as exc:
            failure = http_error(exc.resp.status, exc.content, exc.resp)
        except GoogleAuthError as exc:
            failure = token_error(exc, session.subject)
        except (*TRANSPORT_ERRORS, *UNREADABLE) as exc:
            failure = transport_error(exc)
        if failure is None and len(answers) < len(calls):
            failure = ProviderError(
                FailureReason.PROVIDER_ERROR, "no answer in the batch response", transient=True
            )
        logger.debug(
            "gmail %s batch of %d: %d answered%s",
            session.subject,
            len(calls),
            len(answers),
            f", {failure}" if failure else "",
        )
        return [answers.get(str(i)) or (None, failure, 1) for i in range(len(calls))]
