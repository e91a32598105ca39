"""Refuse oversize request bodies before reading them: 413 from the Content-Length alone.

Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only once a view touches `request.body`
or the form data, and DRF's JSON parser streams the body without that check. This
middleware, placed early in MIDDLEWARE, answers from the header instead, so a client
announcing a gigabyte gets 413 while its body is still on the wire:

- the endpoints named in settings.REQUEST_SIZE_LIMITS get their own limit (a raw
  message upload: INGEST_MAX_MESSAGE_BYTES, plus multipart framing for the admin's
  .eml form, whose file part DATA_UPLOAD_MAX_MEMORY_SIZE does not count);
- every other request: DATA_UPLOAD_MAX_MEMORY_SIZE (MAX_REQUEST_BYTES).

A body without Content-Length (chunked) is not read by Django's WSGI request at all.
API paths get JSON errors (`{"non_field_errors": [...]}`), including Django's own
refusals raised while a view reads the body (too many form fields, RequestDataTooBig).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

API_PREFIX = "/api/"


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


def body_limit(request: HttpRequest) -> int | None:
    """The largest body this request's endpoint accepts, in bytes (None: no limit)."""
    general = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        view_name = resolve(request.path_info).view_name
    except Resolver404:
        return general
    special = getattr(settings, "REQUEST_SIZE_LIMITS", {}).get(view_name)
    if special is None:
        return general
    setting, framing = special
    limit = getattr(settings, setting) + framing
    # Without framing the body is read as a whole (request.body), so the general cap holds too.
    return limit if framing or general is None else min(limit, general)


class RequestSizeLimitMiddleware:
    """413 for a declared Content-Length over the endpoint's limit; 400 for a malformed one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.strip():
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                return refusal(request, 400, "Malformed Content-Length header.")
            limit = body_limit(request) if length > 0 else None
            if limit is not None and length > limit:
                return refusal(
                    request,
                    413,
                    f"The request body is {_size(length)}; the limit for this endpoint is "
                    f"{_size(limit)} ({limit:,} bytes).",
                )
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Django's body refusals raised inside an API view, as JSON rather than an HTML 400."""
        if not request.path_info.startswith(API_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            return refusal(request, 413, "The request body is larger than this endpoint accepts.")
        if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
            return refusal(request, 400, "The request has too many form fields or files.")
        return None


def refusal(request: HttpRequest, status: int, detail: str) -> HttpResponse:
    if request.path_info.startswith(API_PREFIX):
        # The API's error shape, as the raw upload's own size check answers too.
        response = JsonResponse({"non_field_errors": [detail]}, status=status)
    else:
        response = HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
    # Said here because the middleware that would add it is never reached: without it the
    # client has to wait for the connection to close, which it cannot while still sending.
    response["Content-Length"] = str(len(response.content))
    return response
