"""Gmail and Admin SDK error responses, mapped to the reasons an attempt records.

https://developers.google.com/gmail/api/guides/handle-errors
https://developers.google.com/admin-sdk/directory/v1/limits
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from typing import Any

import httplib2
from googleapiclient.errors import BatchError

from mailboxes.providers.base import ProviderError
from mailboxes.providers.retry import parse_retry_after
from mailboxes.vocabulary import FailureReason

from .auth import GmailError

# 403 reasons that mean "slow down", not "forbidden".
RATE_REASONS = {
    "userRateLimitExceeded",
    "rateLimitExceeded",
    "quotaExceeded",
    "concurrentLimitExceeded",
}
# Mailbox-wide reasons: once one call says so, the others in that mailbox will too.
MAILBOX_FATAL = {FailureReason.NOT_A_MAILBOX, FailureReason.NOT_AUTHORIZED}

# Failures of the connection itself: retry.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # timeouts, resets, refused connections, TLS errors
    httplib2.HttpLib2Error,
    http.client.HTTPException,
    BatchError,  # a batch answer we could not parse
)


def google_error(content: bytes | str) -> tuple[str, str]:
    """The (reason, message) of a Google JSON error body; empty strings when absent."""
    try:
        data = json.loads(content)
    except (TypeError, ValueError, UnicodeDecodeError):
        return "", ""
    error = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(error, Mapping):
        return (str(error) if error else ""), ""
    reason = ""
    errors = error.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        reason = str(errors[0].get("reason") or "")
    return reason or str(error.get("status") or ""), str(error.get("message") or "")


def http_error(status: int, content: bytes | str, headers: Mapping[str, Any]) -> ProviderError:
    """Map one HTTP error response (a whole call or one part of a batch)."""
    reason, message = google_error(content)
    detail = (
        f"HTTP {status}" + (f" {reason}" if reason else "") + (f": {message}" if message else "")
    )
    detail = detail[:300]
    retry_after = parse_retry_after(headers.get("retry-after"))
    if status == 429 or (status == 403 and reason in RATE_REASONS):
        return ProviderError(
            FailureReason.THROTTLED, detail, transient=True, status=status, retry_after=retry_after
        )
    if status == 404:
        return ProviderError(FailureReason.NOT_FOUND, detail, status=status)
    if status == 400 and (
        reason in ("failedPrecondition", "FAILED_PRECONDITION")
        or "mail service not enabled" in message.lower()
    ):
        return ProviderError(FailureReason.NOT_A_MAILBOX, detail, status=status)
    if status in (401, 403):
        # insufficientPermissions: the token lacks a scope, as every other token will.
        return GmailError(
            FailureReason.NOT_AUTHORIZED,
            detail,
            status=status,
            tenant_wide=reason in ("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
        )
    if status == 408 or status >= 500:
        return ProviderError(
            FailureReason.PROVIDER_ERROR,
            detail,
            transient=True,
            status=status,
            retry_after=retry_after,
        )
    return ProviderError(FailureReason.PROVIDER_ERROR, detail, status=status)


def transport_error(exc: BaseException) -> ProviderError:
    kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
    return ProviderError(FailureReason.PROVIDER_ERROR, f"transport: {kind}", transient=True)


def is_tenant_wide(error: ProviderError) -> bool:
    return bool(getattr(error, "tenant_wide", False))
