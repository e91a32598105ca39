"""Requests, responses and each provider's error format."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from mailboxes.providers.emulator.admission import Rejection

JSON = "application/json"
GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
GOOGLE_JSON = "application/json; charset=UTF-8"


@dataclass
class Request:
    method: str
    path: str  # raw (still percent-encoded), without the query
    query_string: str
    headers: dict[str, str]  # lowercase names
    body: bytes = b""
    scheme: str = "http"
    top_level: bool = True  # False for the items of a batch
    _query: dict[str, list[str]] | None = field(default=None, repr=False)

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(self.query_string, keep_blank_values=True)
        return self._query

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    @property
    def host(self) -> str:
        return self.headers.get("host", "")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reset: bool = False

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


RESET = Response(0, reset=True)


def json_response(
    status: int, obj: Any, headers: list[tuple[str, str]] | None = None, ctype: str = JSON
) -> Response:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Response(status, body, [("Content-Type", ctype), *(headers or [])])


def empty(status: int = 204, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, b"", list(headers or []))


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _retry_after(value: float | None) -> list[tuple[str, str]]:
    if value is None:
        return []
    text = f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return [("Retry-After", text)]


# --- Microsoft Graph -------------------------------------------------------------------


def graph_error(
    status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None
) -> Response:
    request_id = str(uuid.uuid4())
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }
    }
    return json_response(status, body, [("request-id", request_id), *(headers or [])])


_GRAPH_CODES = {
    400: ("BadRequest", "Bad request."),
    401: ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    403: ("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
    404: ("ErrorItemNotFound", "The specified object was not found in the store."),
    409: ("ErrorIrresolvableConflict", "The change key passed in the request does not match."),
    429: ("TooManyRequests", "The request has been throttled."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "Service is temporarily unavailable. Please try again later."),
    504: ("GatewayTimeout", "The gateway did not receive a response in time."),
}


def graph_rejection(rejection: Rejection) -> Response:
    status = int(rejection.status)
    code, message = _GRAPH_CODES.get(status, ("UnknownError", phrase(status)))
    if rejection.reason == "concurrency":
        code, message = "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
    elif rejection.reason == "budget":
        code, message = "ApplicationThrottled", "Application is over its MailboxRequests limit."
    retry = rejection.retry_after
    if retry is None and status in (429, 503):
        retry = 1.0
    return graph_error(status, rejection.code or code, message, _retry_after(retry))


# --- Microsoft identity platform (AAD) ----------------------------------------------------


def aad_error(status: int, error: str, code: int, description: str) -> Response:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {stamp}"
        ),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return json_response(status, body, [("Cache-Control", "no-store, no-cache")])


def aad_rejection(rejection: Rejection) -> Response:
    status = int(rejection.status)
    if status == 429:
        resp = aad_error(429, "temporarily_unavailable", 50196, "The server is throttling.")
    elif status >= 500:
        resp = aad_error(status, "temporarily_unavailable", 50196, "The service is unavailable.")
    elif status == 401:
        resp = aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    else:
        resp = aad_error(status, "invalid_request", 90014, "The request is not valid.")
    resp.headers.extend(_retry_after(rejection.retry_after))
    return resp


# --- Google APIs ---------------------------------------------------------------------------

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_error(
    status: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    status_text: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    detail: dict[str, Any] = {"message": message, "domain": domain, "reason": reason}
    if extra:
        detail.update(extra)
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [detail],
            "status": status_text or _GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }
    return json_response(status, body, [("Vary", "Origin"), *(headers or [])], GOOGLE_JSON)


def gmail_rejection(rejection: Rejection, throttle_status: int = 429) -> Response:
    status = rejection.status
    retry = _retry_after(rejection.retry_after)
    if rejection.reason in ("budget", "concurrency") or status == 429:
        if rejection.reason == "concurrency":
            message = "Too many concurrent requests for user."
        else:
            message = "User-rate limit exceeded."
        if rejection.reason in ("budget", "concurrency") and throttle_status == 403:
            return google_error(
                403, "userRateLimitExceeded", message, domain="usageLimits", headers=retry
            )
        return google_error(
            429,
            "rateLimitExceeded",
            message,
            domain="usageLimits",
            status_text="RESOURCE_EXHAUSTED",
            headers=retry,
        )
    status = int(status)
    if status == 401:
        return gmail_auth_error()
    if status == 403:
        reason = rejection.code or "forbidden"
        if reason in ("userRateLimitExceeded", "rateLimitExceeded"):
            return google_error(
                403, reason, "User-rate limit exceeded.", domain="usageLimits", headers=retry
            )
        return google_error(403, reason, "Forbidden", headers=retry)
    if status == 404:
        return google_error(404, "notFound", "Requested entity was not found.")
    if status == 400:
        return google_error(
            400, rejection.code or "failedPrecondition", "Precondition check failed."
        )
    if status >= 500:
        message = "The service is currently unavailable." if status == 503 else "Backend Error"
        return google_error(status, "backendError", message, headers=retry)
    return google_error(status, rejection.code or "unknown", phrase(status), headers=retry)


def gmail_auth_error(missing: bool = False) -> Response:
    if missing:
        return google_error(
            401,
            "required",
            "Request is missing required authentication credential. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential.",
            extra={"location": "Authorization", "locationType": "header"},
            headers=[("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')],
        )
    return google_error(
        401,
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
        extra={"location": "Authorization", "locationType": "header"},
        headers=[
            (
                "WWW-Authenticate",
                'Bearer realm="https://accounts.google.com/", error="invalid_token"',
            )
        ],
    )


def google_token_error(status: int, error: str, description: str) -> Response:
    return json_response(
        status, {"error": error, "error_description": description}, ctype=GOOGLE_JSON
    )


def google_token_rejection(rejection: Rejection) -> Response:
    status = int(rejection.status)
    if status >= 500 or status == 429:
        resp = google_token_error(status, "internal_failure", "Backend Error")
    elif status == 401:
        resp = google_token_error(401, "unauthorized_client", "Client is unauthorized.")
    else:
        resp = google_token_error(status, "invalid_request", phrase(status))
    resp.headers.extend(_retry_after(rejection.retry_after))
    return resp


def control_error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def render_rejection(api: str, rejection: Rejection, throttle_status: int = 429) -> Response:
    if rejection.status == "reset":
        return RESET
    if api == "graph":
        return graph_rejection(rejection)
    if api == "aad":
        return aad_rejection(rejection)
    if api == "gmail":
        return gmail_rejection(rejection, throttle_status)
    if api == "gtoken":
        return google_token_rejection(rejection)
    return control_error(int(rejection.status), phrase(int(rejection.status)))
