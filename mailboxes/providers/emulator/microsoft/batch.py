"""Graph JSON batching: up to 20 requests, answered one by one.

https://learn.microsoft.com/graph/json-batching
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any

from mailboxes.providers.emulator.state import (
    MICROSOFT,
)
from mailboxes.providers.emulator.wire import (
    Request,
    Response,
    graph_error,
    json_response,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator

MAX_BATCH = 20


# --- Graph: JSON batching -------------------------------------------------------------------


def batch(emu: Emulator, req: Request) -> Response:
    try:
        payload = req.json()
    except ValueError:
        return graph_error(400, "BadRequest", "Invalid batch payload format.")
    items = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        return graph_error(400, "BadRequest", "Invalid batch payload format.")
    if len(items) > MAX_BATCH:
        return graph_error(
            400,
            "BadRequest",
            f"The number of batch requests ({len(items)}) exceeds the limit of {MAX_BATCH}.",
        )
    ids = [str(item.get("id", "")) if isinstance(item, dict) else "" for item in items]
    if any(not i for i in ids) or len(set(ids)) != len(ids):
        return graph_error(400, "BadRequest", "Batch request ids must be present and unique.")
    header = req.headers.get("authorization", "")
    token = emu.state.token(header[7:].strip()) if header.lower().startswith("bearer ") else None
    if token is None or token.provider != MICROSOFT:
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token is empty." if not header else "Access token validation failure.",
        )
    sequential = any(isinstance(i, dict) and i.get("dependsOn") for i in items)

    def run(item: dict[str, Any]) -> dict[str, Any]:
        return _batch_item(emu, req, item)

    if sequential:
        answers: dict[str, dict[str, Any]] = {}
        order = []
        for item, item_id in zip(items, ids, strict=True):
            depends = item.get("dependsOn") or []
            failed = [
                d for d in depends if str(d) not in answers or answers[str(d)]["status"] >= 400
            ]
            if failed:
                answers[item_id] = {
                    "id": item_id,
                    "status": 424,
                    "headers": {"Content-Type": "application/json"},
                    "body": {
                        "error": {
                            "code": "FailedDependency",
                            "message": "Failed dependency: " + ", ".join(map(str, failed)),
                        }
                    },
                }
            else:
                answers[item_id] = run(item)
            order.append(item_id)
        responses = [answers[i] for i in order]
    else:
        # "Microsoft Graph dispatches up to four individual requests from a batch to the
        # Outlook service simultaneously, irrespective of the target mailboxes" (Microsoft
        # Q&A 1660054): one group for the whole batch. Each item still counts against its
        # own mailbox's concurrency (admission).
        parallelism = int(emu.state.global_knobs.get("batch_parallelism") or 4)
        jobs = [("", lambda item=item: run(item)) for item in items]
        results, done = emu.run_grouped(jobs, parallelism)
        # Graph answers in whatever order the items finish.
        responses = [results[i] for i in done]
    return json_response(200, {"responses": responses})


def _batch_item(emu: Emulator, outer: Request, item: dict[str, Any]) -> dict[str, Any]:
    item_id = str(item.get("id"))
    method = str(item.get("method", "")).upper()
    url = str(item.get("url", ""))
    headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}

    def fail(status: int, code: str, message: str) -> dict[str, Any]:
        return {
            "id": item_id,
            "status": status,
            "headers": {"Content-Type": "application/json"},
            "body": {"error": {"code": code, "message": message}},
        }

    if method not in ("GET", "POST", "PATCH", "PUT", "DELETE") or not url:
        return fail(400, "BadRequest", "Invalid request: method and url are required.")
    if url.lower().startswith(("http://", "https://")):
        return fail(400, "BadRequest", "Invalid request: the url must be relative.")
    body = b""
    if "body" in item and item["body"] is not None:
        if "content-type" not in headers:
            return fail(
                400,
                "BadRequest",
                f"Write request id : {item_id} does not contain Content-Type header or body.",
            )
        raw = item["body"]
        body = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
    path, _, query = ("/" + url.lstrip("/")).partition("?")
    if re.fullmatch(r"/(\$|%24)batch", path, re.IGNORECASE):
        return fail(400, "BadRequest", "Nested batch requests are not supported.")
    headers["authorization"] = outer.headers.get("authorization", "")
    headers["host"] = outer.host
    sub = Request(
        method=method,
        path="/v1.0" + path,
        query_string=query,
        headers=headers,
        body=body,
        scheme=outer.scheme,
        top_level=False,
    )
    resp = emu.handle(sub)
    if resp.reset:
        return fail(503, "ServiceUnavailable", "Service is temporarily unavailable.")
    answer: dict[str, Any] = {"id": item_id, "status": resp.status, "headers": {}}
    for name, value in resp.headers:
        if name.lower() in ("content-type", "retry-after", "location", "preference-applied"):
            answer["headers"][name] = value
    if resp.body:
        try:
            answer["body"] = json.loads(resp.body)
        except ValueError:
            answer["body"] = base64.b64encode(resp.body).decode()
    return answer
