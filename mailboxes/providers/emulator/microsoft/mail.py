"""Graph mail: messages (list, get, move, delete, permanentDelete) and mail folders.

https://learn.microsoft.com/graph/api/user-list-messages
https://learn.microsoft.com/graph/api/message-move
https://learn.microsoft.com/graph/api/message-permanentdelete
https://learn.microsoft.com/graph/api/message-delete
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mailboxes.providers.emulator.microsoft.common import (
    GRAPH_ROOT,
    ID_CHARS,
    bad_folder,
    mail_call,
    next_link,
    page_params,
    prefer_headers,
    request_filter,
    select_props,
    wants_immutable_ids,
)
from mailboxes.providers.emulator.odata import record
from mailboxes.providers.emulator.state import (
    GRAPH_FOLDERS,
    GRAPH_HIDDEN_FOLDERS,
    Copy,
    Mailbox,
)
from mailboxes.providers.emulator.wire import (
    GRAPH_JSON,
    Request,
    Response,
    empty,
    graph_error,
    json_response,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator

_EXACT_ID = re.compile(r"\s*internetMessageId\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)


# --- Graph: messages -------------------------------------------------------------------------


def _sender(copy: Copy) -> dict[str, Any]:
    name = copy.sender.split("@")[0] if copy.sender else ""
    return {"emailAddress": {"name": name, "address": copy.sender}}


def _change_key(copy: Copy) -> str:
    return f"CQAAABYAAAA{copy.rest_id[-12:-4]}"


def _ident(copy: Copy, immutable: bool) -> str:
    return copy.immutable_id if immutable else copy.rest_id


# Each message property, computed only when asked for (a list or a $select needs few).
_MESSAGE_GETTERS: dict[str, Callable[[Copy, bool], Any]] = {
    "id": _ident,
    "createdDateTime": lambda c, i: c.received_iso,
    "lastModifiedDateTime": lambda c, i: c.received_iso,
    "changeKey": lambda c, i: _change_key(c),
    "categories": lambda c, i: [],
    "receivedDateTime": lambda c, i: c.received_iso,
    "sentDateTime": lambda c, i: c.received_iso,
    "hasAttachments": lambda c, i: False,
    "internetMessageId": lambda c, i: c.internet_message_id,
    "subject": lambda c, i: c.subject,
    "bodyPreview": lambda c, i: "",
    "importance": lambda c, i: "normal",
    "parentFolderId": lambda c, i: c.mailbox.folder_id(c.folder),
    "conversationId": lambda c, i: c.conversation_id,
    "conversationIndex": lambda c, i: "",
    "isDeliveryReceiptRequested": lambda c, i: False,
    "isReadReceiptRequested": lambda c, i: False,
    "isRead": lambda c, i: c.is_read,
    "isDraft": lambda c, i: False,
    "webLink": lambda c, i: (
        f"https://outlook.office365.com/owa/?ItemID={_ident(c, i)}"
        "&exvsurl=1&viewmodel=ReadMessageItem"
    ),
    "inferenceClassification": lambda c, i: "focused",
    "sender": lambda c, i: _sender(c),
    "from": lambda c, i: _sender(c),
    "toRecipients": lambda c, i: c.to_json,
    "ccRecipients": lambda c, i: [],
    "bccRecipients": lambda c, i: [],
    "replyTo": lambda c, i: [],
    "flag": lambda c, i: {"flagStatus": "notFlagged"},
}
# Selectable but not in the default projection.
_MESSAGE_EXTRA_GETTERS: dict[str, Callable[[Copy, bool], Any]] = {
    "body": lambda c, i: {"contentType": "text", "content": ""},
    "uniqueBody": lambda c, i: {"contentType": "text", "content": ""},
    "internetMessageHeaders": lambda c, i: [
        {"name": "Message-ID", "value": c.internet_message_id},
        {"name": "Subject", "value": c.subject},
        {"name": "From", "value": c.sender},
    ],
}
_MESSAGE_PROPS = set(_MESSAGE_GETTERS) | set(_MESSAGE_EXTRA_GETTERS)
_MESSAGE_PROPS_FOLDED = {p.casefold(): p for p in _MESSAGE_PROPS}
# What a $filter may look at without building the whole message.
_FILTER_FIELDS = (
    "id",
    "internetMessageId",
    "subject",
    "isRead",
    "parentFolderId",
    "receivedDateTime",
    "conversationId",
    "from",
    "sender",
    "hasAttachments",
    "importance",
    "isDraft",
    "categories",
    "inferenceClassification",
)


def _message_json(copy: Copy, immutable: bool, chosen: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"@odata.etag": f'W/"{_change_key(copy)}"'}
    if chosen:
        out["id"] = _ident(copy, immutable)
        for name in chosen:
            getter = _MESSAGE_GETTERS.get(name) or _MESSAGE_EXTRA_GETTERS[name]
            out[name] = getter(copy, immutable)
    else:
        for name, getter in _MESSAGE_GETTERS.items():
            out[name] = getter(copy, immutable)
    return out


def _message_record(copy: Copy, immutable: bool, with_recipients: bool) -> dict[str, Any]:
    values = {name: _MESSAGE_GETTERS[name](copy, immutable) for name in _FILTER_FIELDS}
    if with_recipients:
        values["toRecipients"] = copy.to_json
    return record(values)


def messages_list(emu: Emulator, req: Request, user: str, folder: str | None = None) -> Response:
    call = mail_call(emu, req, user, write=False)
    if isinstance(call, Response):
        return call
    _, box = call
    folder_name = None
    if folder is not None:
        folder_name = box.folder_name(folder)
        if folder_name is None:
            return bad_folder(folder)
    predicate = request_filter(req, set(_FILTER_FIELDS) | {"toRecipients"})
    if isinstance(predicate, Response):
        return predicate
    with_recipients = "torecipients" in (req.q("$filter") or "").lower()
    # The call retraction makes all the time, answered without building records.
    exact = _EXACT_ID.fullmatch(req.q("$filter") or "")
    wanted_id = exact.group(1).replace("''", "'").casefold() if exact else None
    chosen = select_props(req, _MESSAGE_PROPS_FOLDED, "microsoft.graph.message")
    if isinstance(chosen, Response):
        return chosen
    paging = page_params(req, 10, 1000)
    if isinstance(paging, Response):
        return paging
    top, skip = paging
    immutable = wants_immutable_ids(req)

    def work() -> Response:
        with emu.state.lock:
            found = []
            for copy in box.copies:
                if folder_name is not None:
                    if copy.folder != folder_name:
                        continue
                elif copy.folder in GRAPH_HIDDEN_FOLDERS:
                    continue
                if wanted_id is not None:
                    if copy.internet_message_id.casefold() == wanted_id:
                        found.append(copy)
                elif predicate is None or predicate(
                    _message_record(copy, immutable, with_recipients)
                ):
                    found.append(copy)
            found.sort(key=lambda c: c.received, reverse=True)
            page = [_message_json(c, immutable, chosen) for c in found[skip : skip + top]]
        body: dict[str, Any] = {
            "@odata.context": f"{GRAPH_ROOT}/$metadata#users('{box.address}')/messages",
            "value": page,
        }
        if (req.q("$count") or "").lower() == "true":
            body["@odata.count"] = len(found)
        if skip + top < len(found):
            body["@odata.nextLink"] = next_link(req, skip + top)
        return json_response(200, body, prefer_headers(req), GRAPH_JSON)

    return emu.gate(req, "graph", box.address, "graph.messages.list", work)


def _find(box: Mailbox, message_id: str, folder: str | None) -> Copy | Response:
    """The live copy with this id (caller holds the lock), else Graph's error."""
    copy = box.by_rest_id.get(message_id) or box.by_immutable_id.get(message_id)
    if copy is None or copy.gone or copy.folder == "recoverableitemspurges":
        if not ID_CHARS.fullmatch(message_id):
            return graph_error(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        return graph_error(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    if folder is not None and box.folder_name(folder) != copy.folder:
        return graph_error(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return copy


def message_get(
    emu: Emulator, req: Request, user: str, message_id: str, folder: str | None = None
) -> Response:
    call = mail_call(emu, req, user, write=False)
    if isinstance(call, Response):
        return call
    _, box = call
    chosen = select_props(req, _MESSAGE_PROPS_FOLDED, "microsoft.graph.message")
    if isinstance(chosen, Response):
        return chosen

    def work() -> Response:
        with emu.state.lock:
            copy = _find(box, message_id, folder)
            if isinstance(copy, Response):
                return copy
            message = _message_json(copy, wants_immutable_ids(req), chosen)
        body = {
            "@odata.context": f"{GRAPH_ROOT}/$metadata#users('{box.address}')/messages/$entity",
            **message,
        }
        return json_response(200, body, prefer_headers(req), GRAPH_JSON)

    return emu.gate(req, "graph", box.address, "graph.messages.get", work)


def message_patch(
    emu: Emulator, req: Request, user: str, message_id: str, folder: str | None = None
) -> Response:
    call = mail_call(emu, req, user, write=True)
    if isinstance(call, Response):
        return call
    _, box = call
    try:
        body = req.json() or {}
    except ValueError:
        return graph_error(400, "BadRequest", "Unable to read JSON request payload.")

    def work() -> Response:
        with emu.state.lock:
            copy = _find(box, message_id, folder)
            if isinstance(copy, Response):
                return copy
            if "isRead" in body:
                copy.is_read = bool(body["isRead"])
            full = _message_json(copy, wants_immutable_ids(req))
        return json_response(200, full, prefer_headers(req), GRAPH_JSON)

    return emu.gate(req, "graph", box.address, "graph.messages.patch", work)


def message_move(
    emu: Emulator, req: Request, user: str, message_id: str, folder: str | None = None
) -> Response:
    call = mail_call(emu, req, user, write=True)
    if isinstance(call, Response):
        return call
    _, box = call
    try:
        body = req.json() or {}
    except ValueError:
        return graph_error(400, "BadRequest", "Unable to read JSON request payload.")
    destination = body.get("destinationId") if isinstance(body, dict) else None
    if not destination or not isinstance(destination, str):
        return graph_error(
            400, "ErrorInvalidParameter", "Missing or invalid parameter 'DestinationId'."
        )

    def work() -> Response:
        with emu.state.lock:
            target = box.folder_name(destination)
            if target is None:
                return bad_folder(destination)
            copy = _find(box, message_id, folder)
            if isinstance(copy, Response):
                return copy
            emu.state.graph_move(copy, target)
            full = _message_json(copy, wants_immutable_ids(req))
        full = {
            "@odata.context": f"{GRAPH_ROOT}/$metadata#users('{box.address}')/messages/$entity",
            **full,
        }
        return json_response(201, full, prefer_headers(req), GRAPH_JSON)

    return emu.gate(req, "graph", box.address, "graph.messages.move", work)


def message_permanent_delete(
    emu: Emulator, req: Request, user: str, message_id: str, folder: str | None = None
) -> Response:
    call = mail_call(emu, req, user, write=True)
    if isinstance(call, Response):
        return call
    _, box = call

    def work() -> Response:
        with emu.state.lock:
            copy = _find(box, message_id, folder)
            if isinstance(copy, Response):
                return copy
            emu.state.graph_move(copy, "recoverableitemspurges")
        return empty(204)

    return emu.gate(req, "graph", box.address, "graph.messages.permanentDelete", work)


def message_delete(
    emu: Emulator, req: Request, user: str, message_id: str, folder: str | None = None
) -> Response:
    call = mail_call(emu, req, user, write=True)
    if isinstance(call, Response):
        return call
    _, box = call

    def work() -> Response:
        with emu.state.lock:
            copy = _find(box, message_id, folder)
            if isinstance(copy, Response):
                return copy
            # A soft delete: Recoverable Items (Deletions); from there, on to Purges.
            target = (
                "recoverableitemspurges"
                if copy.folder == "recoverableitemsdeletions"
                else "recoverableitemsdeletions"
            )
            emu.state.graph_move(copy, target)
        return empty(204)

    return emu.gate(req, "graph", box.address, "graph.messages.delete", work)


# --- Graph: folders ----------------------------------------------------------------------------


def _folder_json(box: Mailbox, name: str) -> dict[str, Any]:
    copies = [c for c in box.copies if c.folder == name and not c.gone]
    return {
        "id": box.folder_id(name),
        "displayName": GRAPH_FOLDERS[name][0],
        "parentFolderId": box.folder_id("msgfolderroot"),
        "childFolderCount": 0,
        "unreadItemCount": sum(1 for c in copies if not c.is_read),
        "totalItemCount": len(copies),
        "sizeInBytes": 0,
        "isHidden": name in GRAPH_HIDDEN_FOLDERS,
    }


def folders_list(emu: Emulator, req: Request, user: str) -> Response:
    call = mail_call(emu, req, user, write=False)
    if isinstance(call, Response):
        return call
    _, box = call

    def work() -> Response:
        with emu.state.lock:
            value = [
                _folder_json(box, name)
                for name in GRAPH_FOLDERS
                if name not in GRAPH_HIDDEN_FOLDERS
            ]
        return json_response(
            200,
            {
                "@odata.context": f"{GRAPH_ROOT}/$metadata#users('{box.address}')/mailFolders",
                "value": value,
            },
            ctype=GRAPH_JSON,
        )

    return emu.gate(req, "graph", box.address, "graph.folders", work)


def folder_get(emu: Emulator, req: Request, user: str, folder: str) -> Response:
    call = mail_call(emu, req, user, write=False)
    if isinstance(call, Response):
        return call
    _, box = call

    def work() -> Response:
        with emu.state.lock:
            name = box.folder_name(folder)
            if name is None:
                return bad_folder(folder)
            body = _folder_json(box, name)
        return json_response(
            200,
            {
                "@odata.context": (
                    f"{GRAPH_ROOT}/$metadata#users('{box.address}')/mailFolders/$entity"
                ),
                **body,
            },
            ctype=GRAPH_JSON,
        )

    return emu.gate(req, "graph", box.address, "graph.folders", work)
