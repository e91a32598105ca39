"""App-only tokens for Microsoft Graph through msal, one app object per credential.

msal keeps its token cache (and its own throttle cache) inside the
ConfidentialClientApplication, so the app objects live for the whole process in
a module-level cache keyed by authority, client id and a fingerprint of the
credential. `clear_app_cache()` drops them (tests want a fresh app each).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS
from msal.exceptions import MsalServiceError
from requests.adapters import HTTPAdapter

from mailboxes.providers.base import ProviderError
from mailboxes.vocabulary import FailureReason

log = logging.getLogger(__name__)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

Credential = str | Mapping[str, str]
Timeout = float | tuple[float, float]

# Token-endpoint errors worth retrying; every other error answer means the app
# is not (or no longer) allowed to act in the tenant.
_TRANSIENT_TOKEN_ERRORS = frozenset({"temporarily_unavailable", "server_error"})

# https://learn.microsoft.com/entra/identity-platform/reference-error-codes
_TOKEN_ERROR_HINTS = {
    7000215: "invalid client secret",
    7000222: "client secret expired",
    700016: "application not found in the tenant (deleted, or never consented)",
    700027: "certificate not registered for the application, or invalid",
    65001: "admin consent missing",
    90002: "tenant not found",
    900023: "tenant id is not valid",
    7000112: "application disabled in the tenant",
}


class TimeoutSession(requests.Session):
    """A Session that puts a timeout on every request (requests has no session-wide one)."""

    def __init__(self, timeout: Timeout) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def make_session(*, verify: bool | str, timeout: Timeout, pool_size: int) -> TimeoutSession:
    """A pooled session with timeouts; a CA bundle path wins over REQUESTS_CA_BUNDLE."""
    session = TimeoutSession(timeout)
    session.verify = verify
    if isinstance(verify, str):
        # With trust_env, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE would override `verify`.
        session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def credential_fingerprint(credential: Credential | None) -> str:
    if credential is None:
        raw = ""
    elif isinstance(credential, str):
        raw = credential
    else:
        raw = json.dumps({str(k): str(v) for k, v in credential.items()}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def msal_credential(credential: Credential | None) -> str | dict[str, str] | None:
    """The credential in a form msal accepts, or None when it is unusable."""
    if isinstance(credential, str):
        return credential or None
    if isinstance(credential, Mapping):
        key = credential.get("private_key")
        if not key:
            return None
        out = {"private_key": key}
        for name in ("thumbprint", "public_certificate", "passphrase"):
            if credential.get(name):
                out[name] = credential[name]
        if "thumbprint" in out or "public_certificate" in out:
            return out
    return None


def _first_line(text: object, limit: int = 300) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line[:limit]


def token_error(result: Mapping[str, Any]) -> ProviderError:
    """Map msal's error dict (error, error_description, error_codes) to a ProviderError."""
    error = str(result.get("error") or "unknown_error")
    codes = [c for c in (result.get("error_codes") or []) if isinstance(c, int)]
    hints = [_TOKEN_ERROR_HINTS[c] for c in codes if c in _TOKEN_ERROR_HINTS]
    # AADSTS descriptions end with trace and correlation ids and a timestamp: noise here.
    description = _first_line(str(result.get("error_description") or "").split(" Trace ID:")[0])
    detail = f"token request refused: {error}"
    if hints:
        detail += f" ({', '.join(hints)})"
    if description:
        detail += f": {description}"
    if error in _TRANSIENT_TOKEN_ERRORS:
        return ProviderError(FailureReason.PROVIDER_ERROR, detail, transient=True)
    return ProviderError(FailureReason.NOT_AUTHORIZED, detail)


def token_roles(token: str) -> set[str] | None:
    """The `roles` claim of a JWT access token (read, not verified); None if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    roles = payload.get("roles") if isinstance(payload, dict) else None
    return {str(r) for r in roles} if isinstance(roles, list) else None


@dataclass(eq=False)
class _AppEntry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    app: msal.ConfidentialClientApplication | None = None
    session: requests.Session | None = None


_apps: dict[tuple[str, ...], _AppEntry] = {}
_apps_lock = threading.Lock()


def clear_app_cache() -> None:
    """Forget every msal app object (and so its token and throttle caches)."""
    with _apps_lock:
        entries = list(_apps.values())
        _apps.clear()
    for entry in entries:
        if entry.session is not None:
            entry.session.close()


class TokenSource:
    """Tokens for one tenant's app registration, through the shared msal app object."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        credential: Credential | None,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        verify: bool | str = True,
        timeout: Timeout = 30.0,
        scope: str = GRAPH_SCOPE,
    ) -> None:
        self.tenant_id = tenant_id.strip().strip("/")
        self.client_id = client_id.strip()
        self.authority = f"{authority_host.rstrip('/')}/{self.tenant_id}"
        self.scope = scope
        self._credential = msal_credential(credential)
        self._verify = verify
        self._timeout = timeout
        host = (urlsplit(self.authority).hostname or "").lower()
        # Instance discovery asks login.microsoftonline.com about the host: only for Microsoft's.
        self._instance_discovery = None if host in WELL_KNOWN_AUTHORITY_HOSTS else False
        self._key = (
            self.authority,
            self.client_id,
            credential_fingerprint(credential),
            repr(verify),
        )

    def _build(self, entry: _AppEntry) -> None:
        session = make_session(verify=self._verify, timeout=self._timeout, pool_size=4)
        try:
            # https://learn.microsoft.com/python/api/msal/msal.application.confidentialclientapplication
            entry.app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._credential,
                authority=self.authority,
                http_client=session,
                instance_discovery=self._instance_discovery,
            )
        except BaseException:
            session.close()
            raise
        entry.session = session
        log.debug("msal app created for authority %s, client %s", self.authority, self.client_id)

    def _entry(self) -> _AppEntry:
        with _apps_lock:
            entry = _apps.setdefault(self._key, _AppEntry())
        with entry.lock:
            if entry.app is None:
                try:
                    self._build(entry)
                except ValueError as exc:
                    # Unknown tenant, OIDC discovery refused, malformed authority or key.
                    raise ProviderError(
                        FailureReason.NOT_AUTHORIZED,
                        f"cannot use authority {self.authority}: {_first_line(exc)}",
                    ) from None
                except (MsalServiceError, requests.RequestException, OSError) as exc:
                    raise ProviderError(
                        FailureReason.PROVIDER_ERROR,
                        f"authority {self.authority} unreachable: {type(exc).__name__}",
                        transient=True,
                    ) from None
        return entry

    def get(self) -> str:
        """An access token for Graph, from msal's cache when it has a valid one."""
        if not self.client_id or not self.tenant_id or self._credential is None:
            raise ProviderError(
                FailureReason.NOT_AUTHORIZED,
                "incomplete credentials: need a directory tenant id, a client id and a client "
                "secret or a certificate (private key with thumbprint or public certificate)",
            )
        entry = self._entry()
        assert entry.app is not None
        with entry.lock:
            try:
                result = entry.app.acquire_token_for_client(scopes=[self.scope])
            except MsalServiceError as exc:
                raise ProviderError(
                    FailureReason.PROVIDER_ERROR,
                    f"token endpoint failed: {_first_line(exc) or 'server error'}",
                    transient=True,
                ) from None
            except requests.RequestException as exc:
                raise ProviderError(
                    FailureReason.PROVIDER_ERROR,
                    f"token endpoint unreachable: {type(exc).__name__}",
                    transient=True,
                ) from None
            except json.JSONDecodeError:
                raise ProviderError(
                    FailureReason.PROVIDER_ERROR,
                    "token endpoint answered something that is not JSON",
                    transient=True,
                ) from None
            except ValueError as exc:  # the certificate's private key cannot sign
                raise ProviderError(
                    FailureReason.NOT_AUTHORIZED, f"unusable credential: {_first_line(exc)}"
                ) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            log.debug(
                "graph token for tenant %s from %s", self.tenant_id, result.get("token_source")
            )
            return str(token)
        return self._raise(result if isinstance(result, dict) else {})

    def _raise(self, result: Mapping[str, Any]) -> str:
        error = token_error(result)
        log.debug("graph token refused for tenant %s: %s", self.tenant_id, error.detail)
        raise error

    def invalidate(self, token: str) -> None:
        """Drop an access token from msal's cache, so the next get() asks for a new one."""
        with _apps_lock:
            entry = _apps.get(self._key)
        if entry is None or entry.app is None:
            return
        with entry.lock:
            cache = entry.app.token_cache
            stale = [
                at
                for at in cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)
                if at.get("secret") == token
            ]
            for at in stale:
                cache.remove_at(at)
        log.debug("graph token dropped for tenant %s", self.tenant_id)
