"""Service-account credentials with domain-wide delegation, cached per (mailbox, scopes).

Every token request goes through one `requests` session with a timeout, including the
refreshes googleapiclient and google-auth-httplib2 start on their own (on a 401).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import google.auth.transport.requests
import requests
from google.auth import exceptions as auth_exceptions
from google.oauth2 import service_account

from mailboxes.providers.base import ProviderError
from mailboxes.vocabulary import FailureReason

logger = logging.getLogger(__name__)

# https://developers.google.com/gmail/api/auth/scopes
GMAIL_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
GMAIL_FULL = "https://mail.google.com/"  # the only scope that allows users.messages.delete
# https://developers.google.com/admin-sdk/directory/v1/guides/authorizing
DIRECTORY_SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
)
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)

# Token errors that hold for every mailbox of the tenant: delegation missing or revoked,
# the key deleted, a scope not granted. https://www.rfc-editor.org/rfc/rfc6749#section-5.2
TENANT_WIDE_TOKEN_ERRORS = {"unauthorized_client", "invalid_client", "invalid_scope"}
NOT_AUTHORIZED_TOKEN_ERRORS = TENANT_WIDE_TOKEN_ERRORS | {"access_denied", "admin_policy_enforced"}


class GmailError(ProviderError):
    """A ProviderError that may hold for the whole tenant, not just one mailbox."""

    def __init__(self, *args: Any, tenant_wide: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant_wide = tenant_wide


class TimedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport, with our timeout on every token call."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        super().__init__(session)
        self.timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        return super().__call__(
            url,
            method=method,
            body=body,
            headers=headers,
            timeout=timeout or self.timeout,
            **kwargs,
        )

    def __del__(self) -> None:
        # The base class closes the session on collection; the session is shared.
        pass


class DelegatedCredentials(service_account.Credentials):
    """Service-account credentials whose refresh always uses our timed transport.

    googleapiclient's batch and google-auth-httplib2 refresh on a 401 with an httplib2
    request of their own (no timeout); this class ignores the transport it is handed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token_request: TimedRequest | None = None
        self.refresh_lock = threading.RLock()

    def refresh(self, request: Any) -> None:
        with self.refresh_lock:
            logger.debug("gmail token request for %s %s", self._subject, self._scopes)
            super().refresh(self.token_request or request)

    def ensure_valid(self) -> None:
        """Fetch a token unless the cached one is still valid (google-auth keeps a margin)."""
        if self.valid:
            return
        with self.refresh_lock:
            if self.valid:
                return
            logger.debug("gmail token request for %s %s", self._subject, self._scopes)
            super().refresh(self.token_request)


class CredentialsCache:
    """Delegated credentials per (service account, token_uri, mailbox, scopes) for the process.

    google-auth keeps the token in the credentials object, so reusing the object reuses
    the token until it nears expiry. Bounded, least recently used first out.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple, DelegatedCredentials] = OrderedDict()
        self._bases: dict[tuple, DelegatedCredentials] = {}
        self._lock = threading.Lock()

    def get(
        self,
        info: Mapping[str, Any],
        subject: str,
        scopes: Sequence[str],
        token_request: TimedRequest,
    ) -> DelegatedCredentials:
        key = (account_fingerprint(info), subject.lower(), tuple(scopes))
        with self._lock:
            creds = self._items.get(key)
            if creds is not None:
                self._items.move_to_end(key)
                return creds
        creds = self._base(info, scopes).with_subject(subject)
        creds.token_request = token_request
        with self._lock:
            creds = self._items.setdefault(key, creds)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return creds

    def _base(self, info: Mapping[str, Any], scopes: Sequence[str]) -> DelegatedCredentials:
        """The account's credentials for these scopes, without a subject.

        Parsing the private key is the slow part (~50 ms of CPU for RSA-2048, under the
        GIL): done once per account and scopes; with_subject() shares the signer.
        """
        key = (account_fingerprint(info), tuple(scopes))
        with self._lock:
            base = self._bases.get(key)
        if base is None:
            base = DelegatedCredentials.from_service_account_info(dict(info), scopes=list(scopes))
            with self._lock:
                base = self._bases.setdefault(key, base)
                while len(self._bases) > 64:
                    self._bases.pop(next(iter(self._bases)))
        return base

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bases.clear()


credentials_cache = CredentialsCache()


def account_fingerprint(info: Mapping[str, Any]) -> str:
    """A stable, non-secret key for a service account key and its token endpoint."""
    digest = hashlib.sha256()
    for field in ("client_email", "private_key_id", "private_key", "token_uri"):
        digest.update(str(info.get(field, "")).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def refresh_error(exc: auth_exceptions.RefreshError, subject: str) -> GmailError:
    """Map a token refusal to the reason the attempt records.

    https://developers.google.com/identity/protocols/oauth2/service-account#error-codes
    """
    data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], Mapping) else {}
    code = str(data.get("error") or "")
    description = str(data.get("error_description") or "")
    if not code and exc.args:
        code, _, description = str(exc.args[0]).partition(":")
        code, description = code.strip(), description.strip()
    detail = f"token for {subject}: {code}" + (f": {description}" if description else "")
    if code in NOT_AUTHORIZED_TOKEN_ERRORS:
        return GmailError(
            FailureReason.NOT_AUTHORIZED, detail, tenant_wide=code in TENANT_WIDE_TOKEN_ERRORS
        )
    if code == "invalid_grant":
        text = description.lower()
        if "email or user id" in text or "user not found" in text or "suspended" in text:
            return GmailError(FailureReason.NOT_A_MAILBOX, detail)
        if "invalid jwt:" in text:  # clock skew: our side, may pass on a later try
            return GmailError(FailureReason.PROVIDER_ERROR, detail)
        # "Invalid JWT Signature": the key was deleted or rotated.
        return GmailError(FailureReason.NOT_AUTHORIZED, detail, tenant_wide=True)
    if getattr(exc, "retryable", False):
        return GmailError(FailureReason.PROVIDER_ERROR, detail, transient=True)
    return GmailError(FailureReason.PROVIDER_ERROR, detail)


def token_error(exc: auth_exceptions.GoogleAuthError, subject: str) -> GmailError:
    """Map anything google-auth raised while fetching a token."""
    if isinstance(exc, auth_exceptions.RefreshError):
        return refresh_error(exc, subject)
    if isinstance(exc, auth_exceptions.TransportError):
        cause = exc.__cause__ or exc
        return GmailError(
            FailureReason.PROVIDER_ERROR,
            f"token endpoint unreachable for {subject}: {type(cause).__name__}",
            transient=True,
        )
    return GmailError(FailureReason.PROVIDER_ERROR, f"token for {subject}: {exc}")
