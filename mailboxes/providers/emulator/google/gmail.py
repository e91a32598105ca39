"""Gmail users.messages (list, get, modify, trash, untrash, delete, batchModify), profile, labels.

https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages
https://developers.google.com/workspace/gmail/api/reference/quota
https://developers.google.com/workspace/gmail/api/guides/handle-errors
"""

from __future__ import annotations

import base64
import re
from datetime import UTC
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from mailboxes.providers.emulator.state import (
    GMAIL_FULL_SCOPE,
    GMAIL_METADATA_SCOPE,
    GMAIL_MODIFY_SCOPE,
    GMAIL_READONLY_SCOPE,
    GMAIL_SYSTEM_LABELS,
    GOOGLE,
    Copy,
    Mailbox,
    Token,
)
from mailboxes.providers.emulator.wire import (
    GOOGLE_JSON,
    Request,
    Response,
    empty,
    gmail_auth_error,
    google_error,
    json_response,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator

MAX_BATCH_MODIFY = 1000

READ_SCOPES = {GMAIL_FULL_SCOPE, GMAIL_MODIFY_SCOPE, GMAIL_READONLY_SCOPE, GMAIL_METADATA_SCOPE}
WRITE_SCOPES = {GMAIL_FULL_SCOPE, GMAIL_MODIFY_SCOPE}
DELETE_SCOPES = {GMAIL_FULL_SCOPE}

# Quota units per method (https://developers.google.com/workspace/gmail/api/reference/quota).
COST = {
    "list": 5,
    "get": 5,
    "modify": 5,
    "trash": 5,
    "untrash": 5,
    "delete": 10,
    "batchModify": 50,
    "batchDelete": 50,
    "profile": 1,
    "labels": 1,
}
_GMAIL_ID = re.compile(r"[0-9a-fA-F]{1,24}")


# --- Gmail: authentication -----------------------------------------------------------------


def insufficient_scopes() -> Response:
    return google_error(
        403,
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
        status_text="PERMISSION_DENIED",
        headers=[
            (
                "WWW-Authenticate",
                'Bearer realm="https://accounts.google.com/", error="insufficient_scope"',
            )
        ],
    )


def _gmail_call(
    emu: Emulator, req: Request, user: str, scopes: set[str]
) -> tuple[Token, Mailbox] | Response:
    header = req.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        return gmail_auth_error(missing=True)
    token = emu.state.token(header[7:].strip())
    if token is None or token.provider != GOOGLE:
        return gmail_auth_error()
    tenant = token.tenant
    account = tenant.service_accounts.get(token.service_account)
    if not tenant.authorized or account is None or tenant.admin_policy_blocked:
        # Delegation withdrawn after the token was issued.
        return gmail_auth_error()
    if not token.subject:
        return google_error(
            400,
            "failedPrecondition",
            "Precondition check failed.",
            status_text="FAILED_PRECONDITION",
        )
    box = emu.state.mailbox(token.subject)
    if box is None:
        return gmail_auth_error()
    if user != "me" and user.lower() not in box.all_addresses():
        return google_error(403, "forbidden", f"Delegation denied for {token.subject}")
    if not box.mail_enabled:
        return google_error(
            400, "failedPrecondition", "Mail service not enabled", status_text="FAILED_PRECONDITION"
        )
    if not token.scopes & scopes:
        return insufficient_scopes()
    return token, box


def _invalid_id() -> Response:
    return google_error(400, "invalidArgument", "Invalid id value", status_text="INVALID_ARGUMENT")


def _not_found() -> Response:
    return google_error(404, "notFound", "Requested entity was not found.")


def _lookup(box: Mailbox, message_id: str) -> Copy | Response:
    if not _GMAIL_ID.fullmatch(message_id):
        return _invalid_id()
    copy = box.by_gmail_id.get(message_id.lower())
    if copy is None or copy.gone:
        return _not_found()
    return copy


def _short(copy: Copy) -> dict[str, Any]:
    return {"id": copy.gmail_id, "threadId": copy.thread_id, "labelIds": copy.gmail_labels()}


# --- Gmail: search ---------------------------------------------------------------------------

_TERM = re.compile(r'(-?)(?:(\w+):)?("[^"]*"|\S+)')


def _norm_msgid(value: str) -> str:
    return value.strip().strip('"').strip().lstrip("<").rstrip(">").lower()


def _query_predicate(q: str) -> tuple[Any, bool]:
    """A predicate over copies for Gmail's `q`, and whether it said `in:anywhere`/spam/trash."""
    tests: list[Any] = []
    anywhere = False
    for negate, op, raw in _TERM.findall(q):
        value = raw.strip('"')
        op = op.lower()
        low = value.lower()
        if op == "rfc822msgid":
            want = _norm_msgid(value)
            test = lambda c, want=want: _norm_msgid(c.internet_message_id) == want  # noqa: E731
        elif op == "in":
            if low == "anywhere":
                anywhere = True
                continue
            label = {"inbox": "INBOX", "spam": "SPAM", "trash": "TRASH"}.get(low, value.upper())
            anywhere = anywhere or label in ("SPAM", "TRASH")
            test = lambda c, label=label: label in c.labels  # noqa: E731
        elif op == "is":
            if low == "unread":
                test = lambda c: not c.is_read  # noqa: E731
            elif low == "read":
                test = lambda c: c.is_read  # noqa: E731
            else:
                test = lambda c, low=low: low.upper() in c.labels  # noqa: E731
        elif op == "label":
            label = value.upper() if value.upper() in GMAIL_SYSTEM_LABELS else value
            test = lambda c, label=label: label in c.gmail_labels()  # noqa: E731
        elif op == "from":
            test = lambda c, low=low: low in c.sender.lower()  # noqa: E731
        elif op == "subject":
            test = lambda c, low=low: low in c.subject.lower()  # noqa: E731
        else:
            word = f"{op}:{low}" if op else low
            test = lambda c, word=word: word in c.subject.lower() or word in c.sender.lower()  # noqa: E731
        if negate:
            test = lambda c, inner=test: not inner(c)  # noqa: E731
        tests.append(test)
    return (lambda c: all(t(c) for t in tests)), anywhere


def messages_list(emu: Emulator, req: Request, user: str) -> Response:
    call = _gmail_call(emu, req, user, READ_SCOPES)
    if isinstance(call, Response):
        return call
    token, box = call
    q = req.q("q") or ""
    if q and token.scopes <= {GMAIL_METADATA_SCOPE}:
        return google_error(403, "forbidden", "Metadata scope does not support 'q' parameter")
    include_spam_trash = (req.q("includeSpamTrash") or "false").lower() == "true"
    label_ids = req.query.get("labelIds", [])
    try:
        max_results = min(int(req.q("maxResults") or 100), 500)
        offset = int(req.q("pageToken") or 0)
    except ValueError:
        return google_error(400, "invalidArgument", "Invalid value", status_text="INVALID_ARGUMENT")
    predicate, anywhere = _query_predicate(q)

    def work() -> Response:
        with emu.state.lock:
            found = []
            for copy in box.live_copies():
                labels = copy.gmail_labels()
                if not (include_spam_trash or anywhere) and ("SPAM" in labels or "TRASH" in labels):
                    continue
                if any(label not in labels for label in label_ids):
                    continue
                if predicate(copy):
                    found.append(copy)
            found.sort(key=lambda c: c.received, reverse=True)
            page = [
                {"id": c.gmail_id, "threadId": c.thread_id}
                for c in found[offset : offset + max_results]
            ]
        body: dict[str, Any] = {}
        if page:
            body["messages"] = page
        if offset + max_results < len(found):
            body["nextPageToken"] = str(offset + max_results)
        body["resultSizeEstimate"] = len(found)
        return json_response(200, body, [("Vary", "Origin")], GOOGLE_JSON)

    return emu.gate(req, "gmail", box.address, "gmail.list", work, COST["list"])


def _message_resource(copy: Copy, fmt: str, wanted: list[str]) -> dict[str, Any]:
    millis = int(copy.received.timestamp() * 1000)
    out: dict[str, Any] = {
        **_short(copy),
        "snippet": "",
        "sizeEstimate": 1024 + len(copy.subject),
        "historyId": str(copy.history_id),
        "internalDate": str(millis),
    }
    if fmt == "minimal":
        return out
    headers = [
        {"name": "From", "value": copy.sender},
        {"name": "To", "value": ", ".join(copy.to)},
        {"name": "Subject", "value": copy.subject},
        {"name": "Date", "value": format_datetime(copy.received.astimezone(UTC))},
        {"name": "Message-ID", "value": copy.internet_message_id},
    ]
    if wanted:
        lowered = {w.lower() for w in wanted}
        headers = [h for h in headers if h["name"].lower() in lowered]
    if fmt == "raw":
        raw = "\r\n".join(f"{h['name']}: {h['value']}" for h in headers) + "\r\n\r\n"
        out["raw"] = base64.urlsafe_b64encode(raw.encode()).decode()
        return out
    out["payload"] = {
        "partId": "",
        "mimeType": "text/plain",
        "filename": "",
        "headers": headers,
    }
    if fmt == "full":
        out["payload"]["body"] = {"size": 0}
    return out


def message_get(emu: Emulator, req: Request, user: str, message_id: str) -> Response:
    call = _gmail_call(emu, req, user, READ_SCOPES)
    if isinstance(call, Response):
        return call
    token, box = call
    fmt = (req.q("format") or "full").lower()
    if fmt not in ("minimal", "full", "raw", "metadata"):
        return google_error(
            400,
            "invalidArgument",
            f"Invalid value at 'format' ({fmt})",
            status_text="INVALID_ARGUMENT",
        )
    if fmt in ("full", "raw") and token.scopes <= {GMAIL_METADATA_SCOPE}:
        return google_error(403, "forbidden", f"Metadata scope doesn't allow format {fmt.upper()}")
    wanted = req.query.get("metadataHeaders", [])

    def work() -> Response:
        with emu.state.lock:
            copy = _lookup(box, message_id)
            if isinstance(copy, Response):
                return copy
            body = _message_resource(copy, fmt, wanted)
        return json_response(200, body, [("Vary", "Origin")], GOOGLE_JSON)

    return emu.gate(req, "gmail", box.address, "gmail.get", work, COST["get"])


def _mutation(
    emu: Emulator,
    req: Request,
    user: str,
    message_id: str,
    kind: str,
    change: Any,
    scopes: set[str] = WRITE_SCOPES,
) -> Response:
    call = _gmail_call(emu, req, user, scopes)
    if isinstance(call, Response):
        return call
    _, box = call

    def work() -> Response:
        with emu.state.lock:
            copy = _lookup(box, message_id)
            if isinstance(copy, Response):
                return copy
            result = change(copy)
            if isinstance(result, Response):
                return result
            if result is None:
                return empty(204, [("Vary", "Origin")])
            body = _short(copy)
        return json_response(200, body, [("Vary", "Origin")], GOOGLE_JSON)

    return emu.gate(req, "gmail", box.address, f"gmail.{kind}", work, COST[kind])


def message_trash(emu: Emulator, req: Request, user: str, message_id: str) -> Response:
    def change(copy: Copy) -> bool:
        emu.state.gmail_trash(copy)
        return True

    return _mutation(emu, req, user, message_id, "trash", change)


def message_untrash(emu: Emulator, req: Request, user: str, message_id: str) -> Response:
    def change(copy: Copy) -> bool:
        emu.state.gmail_untrash(copy)
        return True

    return _mutation(emu, req, user, message_id, "untrash", change)


def message_delete(emu: Emulator, req: Request, user: str, message_id: str) -> Response:
    def change(copy: Copy) -> None:
        emu.state.gmail_delete(copy)

    return _mutation(emu, req, user, message_id, "delete", change, DELETE_SCOPES)


def _label_change(box: Mailbox, body: Any) -> tuple[list[str], list[str]] | Response:
    if body is not None and not isinstance(body, dict):
        return google_error(
            400, "invalidArgument", "Invalid JSON payload received.", status_text="INVALID_ARGUMENT"
        )
    body = body or {}
    add = list(body.get("addLabelIds") or [])
    remove = list(body.get("removeLabelIds") or [])
    for label in add + remove:
        if label not in GMAIL_SYSTEM_LABELS and label not in box.labels:
            return google_error(
                400, "invalidArgument", f"Invalid label: {label}", status_text="INVALID_ARGUMENT"
            )
    for label in add:
        if label in ("SENT", "DRAFT"):
            return google_error(
                400, "invalidArgument", f"Invalid label: {label}", status_text="INVALID_ARGUMENT"
            )
    return add, remove


def _apply_labels(emu: Emulator, copy: Copy, add: list[str], remove: list[str]) -> None:
    for label in remove:
        if label == "UNREAD":
            copy.is_read = True
        else:
            copy.labels.discard(label)
    for label in add:
        if label == "UNREAD":
            copy.is_read = False
        else:
            copy.labels.add(label)
    copy.history_id = emu.state._next_history()


def message_modify(emu: Emulator, req: Request, user: str, message_id: str) -> Response:
    try:
        body = req.json()
    except ValueError:
        return google_error(400, "parseError", "Parse Error")
    call = _gmail_call(emu, req, user, WRITE_SCOPES)
    if isinstance(call, Response):
        return call
    labels = _label_change(call[1], body)
    if isinstance(labels, Response):
        return labels
    add, remove = labels

    def change(copy: Copy) -> bool:
        _apply_labels(emu, copy, add, remove)
        return True

    return _mutation(emu, req, user, message_id, "modify", change)


def batch_modify(emu: Emulator, req: Request, user: str) -> Response:
    try:
        body = req.json() or {}
    except ValueError:
        return google_error(400, "parseError", "Parse Error")
    call = _gmail_call(emu, req, user, WRITE_SCOPES)
    if isinstance(call, Response):
        return call
    _, box = call
    labels = _label_change(box, body)
    if isinstance(labels, Response):
        return labels
    add, remove = labels
    ids = body.get("ids") or []
    if not ids:
        return google_error(
            400, "invalidArgument", "No message ids specified.", status_text="INVALID_ARGUMENT"
        )
    if len(ids) > MAX_BATCH_MODIFY:
        return google_error(
            400,
            "invalidArgument",
            f"Too many ids: {len(ids)} (at most 1000).",
            status_text="INVALID_ARGUMENT",
        )
    if any(not isinstance(i, str) or not _GMAIL_ID.fullmatch(i) for i in ids):
        return _invalid_id()

    def work() -> Response:
        with emu.state.lock:
            for ident in ids:
                copy = box.by_gmail_id.get(ident.lower())
                if copy is not None and not copy.gone:
                    _apply_labels(emu, copy, add, remove)
        return empty(204, [("Vary", "Origin")])

    return emu.gate(req, "gmail", box.address, "gmail.batchModify", work, COST["batchModify"])


def batch_delete(emu: Emulator, req: Request, user: str) -> Response:
    try:
        body = req.json() or {}
    except ValueError:
        return google_error(400, "parseError", "Parse Error")
    call = _gmail_call(emu, req, user, DELETE_SCOPES)
    if isinstance(call, Response):
        return call
    _, box = call
    ids = body.get("ids") or []
    if len(ids) > MAX_BATCH_MODIFY:
        return google_error(400, "invalidArgument", "Too many ids.", status_text="INVALID_ARGUMENT")

    def work() -> Response:
        with emu.state.lock:
            for ident in ids:
                copy = box.by_gmail_id.get(str(ident).lower())
                if copy is not None:
                    emu.state.gmail_delete(copy)
        return empty(204, [("Vary", "Origin")])

    return emu.gate(req, "gmail", box.address, "gmail.batchDelete", work, COST["batchDelete"])


def profile(emu: Emulator, req: Request, user: str) -> Response:
    call = _gmail_call(emu, req, user, READ_SCOPES)
    if isinstance(call, Response):
        return call
    _, box = call

    def work() -> Response:
        with emu.state.lock:
            live = box.live_copies()
            body = {
                "emailAddress": box.address,
                "messagesTotal": len(live),
                "threadsTotal": len({c.thread_id for c in live}),
                "historyId": str(emu.state.history_counter),
            }
        return json_response(200, body, [("Vary", "Origin")], GOOGLE_JSON)

    return emu.gate(req, "gmail", box.address, "gmail.profile", work, COST["profile"])


def labels_list(emu: Emulator, req: Request, user: str) -> Response:
    call = _gmail_call(emu, req, user, READ_SCOPES)
    if isinstance(call, Response):
        return call
    _, box = call

    def work() -> Response:
        labels = [
            {"id": name, "name": name, "type": "system"} for name in sorted(GMAIL_SYSTEM_LABELS)
        ]
        labels += [{"id": name, "name": name, "type": "user"} for name in sorted(box.labels)]
        return json_response(200, {"labels": labels}, [("Vary", "Origin")], GOOGLE_JSON)

    return emu.gate(req, "gmail", box.address, "gmail.labels", work, COST["labels"])
