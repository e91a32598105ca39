"""Building the mail requests and reading their answers (no I/O here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from mailboxes.providers.base import ACTION_TARGET_FOLDER, Folder, LocatedCopy, ProviderError
from mailboxes.providers.graph.transport import Reply, Sub
from mailboxes.vocabulary import Action, FailureReason, ReadState

# Well-known folder names Graph accepts in place of ids, and what they are to us.
# https://learn.microsoft.com/graph/api/resources/mailfolder
WELL_KNOWN_FOLDERS = {
    "inbox": Folder.INBOX,
    "junkemail": Folder.JUNK,
    "deleteditems": Folder.TRASH,
    "recoverableitemsdeletions": Folder.RECOVERABLE,
}
# The ids a look-up needs to classify what `…/messages` finds. The inbox is asked
# with the first look-up in a mailbox (most copies sit there: that settles them);
# junk and deleted items only when a copy sits elsewhere. Recoverable Items copies
# are known by the query that found them.
FIRST_FOLDERS = ("inbox",)
DECISION_FOLDERS = ("junkemail", "deleteditems")
DESTINATION = {
    Action.JUNK: "junkemail",
    Action.TRASH: "deleteditems",
    Action.SOFT_DELETE: "recoverableitemsdeletions",
    Action.INBOX: "inbox",
}
# How far out of the user's sight a folder is. A retraction never brings a copy
# back into view: a copy the user already deleted stays deleted when the action
# is "junk" (it counts as already there).
_DEPTH = {Folder.INBOX: 0, Folder.OTHER: 0, Folder.JUNK: 1, Folder.TRASH: 2, Folder.RECOVERABLE: 3}
MESSAGE_FIELDS = "id,isRead,parentFolderId,internetMessageId"


def user_path(mailbox: str) -> str:
    return f"/users/{quote(mailbox.strip(), safe='@')}"


def odata_string(value: str) -> str:
    """An OData string literal: single quotes doubled, URL encoding left to the caller."""
    return "'" + value.replace("'", "''") + "'"


def _filter(internet_message_id: str) -> dict[str, str]:
    return {
        "$filter": f"internetMessageId eq {odata_string(internet_message_id)}",
        "$select": MESSAGE_FIELDS,
    }


def locate_sub(mailbox: str, internet_message_id: str) -> Sub:
    """The whole mailbox: every folder but Recoverable Items (Deleted Items included)."""
    # https://learn.microsoft.com/graph/api/user-list-messages
    return Sub("GET", f"{user_path(mailbox)}/messages", _filter(internet_message_id))


def recoverable_sub(mailbox: str, internet_message_id: str) -> Sub:
    """Recoverable Items (Deletions): where a soft delete, or a purge of Deleted Items, puts it."""
    path = f"{user_path(mailbox)}/mailFolders/recoverableitemsdeletions/messages"
    # https://learn.microsoft.com/graph/api/mailfolder-list-messages
    return Sub("GET", path, _filter(internet_message_id))


def folder_subs(mailbox: str, names: Sequence[str]) -> list[Sub]:
    user = user_path(mailbox)
    # https://learn.microsoft.com/graph/api/mailfolder-get
    return [Sub("GET", f"{user}/mailFolders/{name}", {"$select": "id"}) for name in names]


def missing_folders(known: Mapping[str, str] | None, names: Sequence[str]) -> list[str]:
    have = set((known or {}).values())
    return [name for name in names if WELL_KNOWN_FOLDERS[name] not in have]


def folder_map(
    names: Sequence[str], replies: Sequence[Reply]
) -> tuple[dict[str, str], ProviderError | None]:
    """Folder id -> Folder from the answers to folder_subs(names), and the first failure."""
    folders: dict[str, str] = {}
    error = None
    for name, reply in zip(names, replies, strict=True):
        folder = WELL_KNOWN_FOLDERS[name]
        body = reply.body if isinstance(reply.body, Mapping) else {}
        if reply.ok and body.get("id"):
            folders[str(body["id"])] = folder
        elif error is None:
            error = reply.error or ProviderError(
                FailureReason.PROVIDER_ERROR, "folder answer without an id"
            )
    return folders, error


def messages_found(reply: Reply, internet_message_id: str) -> list[Mapping[str, Any]]:
    """The messages a look-up answered with (a failed look-up raises its error)."""
    if reply.error is not None:
        raise reply.error
    body = reply.body if isinstance(reply.body, Mapping) else {}
    found = body.get("value")
    found = (
        [m for m in found if isinstance(m, Mapping) and m.get("id")]
        if isinstance(found, list)
        else []
    )
    wanted = internet_message_id.strip().lower()
    return [
        m
        for m in found
        if not m.get("internetMessageId") or str(m["internetMessageId"]).strip().lower() == wanted
    ]


def parent_ids(messages: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(m.get("parentFolderId") or "") for m in messages}


def copies_from(
    internet_message_id: str,
    main: Sequence[Mapping[str, Any]],
    recoverable: Sequence[Mapping[str, Any]],
    folders: Mapping[str, str],
    folder_error: ProviderError | None = None,
) -> list[LocatedCopy]:
    """The copies the look-ups found, most visible first.

    A copy in a folder whose id is not among `folders` is OTHER, unless the
    well-known ids could not be had (`folder_error`, raised): then junk or trash
    cannot be told from a custom folder.
    """
    copies: dict[str, LocatedCopy] = {}
    for found, in_recoverable in ((main, False), (recoverable, True)):
        for message in found:
            parent = str(message.get("parentFolderId") or "")
            if in_recoverable:
                folder = Folder.RECOVERABLE
            elif parent in folders:
                folder = folders[parent]
            elif folder_error is not None:
                raise folder_error
            else:
                folder = Folder.OTHER
            read = message.get("isRead")
            copies[str(message["id"])] = LocatedCopy(
                provider_id=str(message["id"]),
                folder=folder,
                read=read if isinstance(read, bool) else None,
                internet_message_id=internet_message_id,
            )
    return sorted(copies.values(), key=lambda c: _DEPTH.get(c.folder, 0))


def needs_action(folder: str, action: Action | str) -> bool:
    """Whether a copy in `folder` must be moved (or deleted) for `action`."""
    if action == Action.HARD_DELETE:
        return True
    target = ACTION_TARGET_FOLDER[Action(action)]
    if target == Folder.INBOX:  # the undo: bring back what a retraction hid
        return folder in (Folder.JUNK, Folder.TRASH, Folder.RECOVERABLE)
    return _DEPTH.get(folder, 0) < _DEPTH[target]


def action_sub(mailbox: str, provider_id: str, action: Action | str) -> Sub:
    path = f"{user_path(mailbox)}/messages/{quote(provider_id, safe='')}"
    if action == Action.HARD_DELETE:
        # https://learn.microsoft.com/graph/api/message-permanentdelete
        return Sub("POST", f"{path}/permanentDelete")
    # https://learn.microsoft.com/graph/api/message-move
    return Sub("POST", f"{path}/move", body={"destinationId": DESTINATION[Action(action)]})


def moved_id(reply: Reply, old_id: str) -> str:
    """The id of the moved message (201 body), "" after a permanent delete."""
    if reply.status == 204:
        return ""
    body = reply.body if isinstance(reply.body, Mapping) else {}
    return str(body.get("id") or old_id)


def read_state(copies: Iterable[LocatedCopy]) -> ReadState:
    states = [c.read for c in copies if c.read is not None]
    if not states:
        return ReadState.UNKNOWN
    return ReadState.READ if any(states) else ReadState.UNREAD
