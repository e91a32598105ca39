"""Google's HTTP batch: multipart/mixed in, multipart/mixed out, one application/http part per call.

https://developers.google.com/workspace/gmail/api/guides/batch
"""

from __future__ import annotations

import re
import secrets
from email.parser import BytesParser
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from mailboxes.providers.emulator.wire import (
    Request,
    Response,
    google_error,
    phrase,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator

MAX_BATCH = 100


# --- HTTP batch (multipart/mixed) --------------------------------------------------------------


def _parse_part(text: str) -> tuple[str, str, dict[str, str], bytes] | None:
    """An application/http part: method, target, headers, body."""
    text = text.lstrip("\r\n")
    split = re.split(r"\r?\n\r?\n", text, maxsplit=1)
    head, body = split[0], (split[1] if len(split) > 1 else "")
    lines = head.splitlines()
    if not lines:
        return None
    request_line = lines[0].split()
    if len(request_line) < 2:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return (
        request_line[0].upper(),
        request_line[1],
        headers,
        body.encode("utf-8", "surrogateescape"),
    )


def batch(emu: Emulator, req: Request) -> Response:
    ctype = req.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/"):
        return google_error(400, "badRequest", "Content-Type must be multipart/mixed.")
    message = BytesParser().parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + req.body
    )
    parts = message.get_payload() if message.is_multipart() else None
    if not parts:
        return google_error(400, "badRequest", "Bad Request: no parts in the batch.")
    if len(parts) > MAX_BATCH:
        return google_error(
            400, "badRequest", f"Exceeded the maximum calls({MAX_BATCH}) in a single batch request."
        )
    outer_auth = req.headers.get("authorization", "")
    jobs = []
    content_ids = []
    for index, part in enumerate(parts):
        content_id = (part.get("Content-ID") or "").strip()
        content_ids.append(
            content_id[1:-1] if content_id.startswith("<") else content_id or str(index + 1)
        )
        payload = part.get_payload()
        parsed = _parse_part(payload if isinstance(payload, str) else "")
        if parsed is None:
            jobs.append(("", lambda: google_error(400, "badRequest", "Bad Request")))
            continue
        method, target, headers, body = parsed
        split = urlsplit(target)
        headers.setdefault("authorization", outer_auth)
        headers["host"] = req.host
        sub = Request(
            method=method,
            path=split.path,
            query_string=split.query,
            headers=headers,
            body=body,
            scheme=req.scheme,
            top_level=False,
        )
        match = re.match(r"/gmail/v1/users/([^/]+)", split.path)
        key = f"{headers['authorization']}|{unquote(match.group(1)).lower() if match else ''}"
        jobs.append((key, lambda sub=sub: _batch_item(emu, sub)))
    parallelism = int(emu.state.global_knobs.get("batch_parallelism") or 4)
    results, _ = emu.run_grouped(jobs, parallelism)
    boundary = "batch_" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")
    chunks = []
    for content_id, resp in zip(content_ids, results, strict=True):
        lines = [f"HTTP/1.1 {resp.status} {phrase(resp.status)}"]
        lines += [f"{k}: {v}" for k, v in resp.headers if k.lower() != "content-length"]
        if not any(k.lower() == "vary" for k, _ in resp.headers):
            lines.append("Vary: Origin")
        lines.append(f"Content-Length: {len(resp.body)}")
        inner = "\r\n".join(lines) + "\r\n\r\n" + resp.body.decode("utf-8", "replace")
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/http\r\n"
            f"Content-ID: <response-{content_id}>\r\n\r\n{inner}\r\n"
        )
    body = "".join(chunks) + f"--{boundary}--\r\n"
    return Response(
        200,
        body.encode("utf-8"),
        [("Content-Type", f"multipart/mixed; boundary={boundary}"), ("Vary", "Origin")],
    )


def _batch_item(emu: Emulator, sub: Request) -> Response:
    if not sub.path.startswith("/gmail/"):
        return google_error(404, "notFound", "Not Found")
    resp = emu.handle(sub)
    if resp.reset:
        return google_error(503, "backendError", "The service is currently unavailable.")
    return resp
