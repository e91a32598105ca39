"""Google's token endpoint, Gmail and the Admin SDK Directory API, as the real clients see them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailboxes.providers.emulator.google.batch import batch
from mailboxes.providers.emulator.google.directory import (
    directory_group,
    directory_members,
    directory_user,
)
from mailboxes.providers.emulator.google.gmail import (
    batch_delete,
    batch_modify,
    labels_list,
    message_delete,
    message_get,
    message_modify,
    message_trash,
    message_untrash,
    messages_list,
    profile,
)
from mailboxes.providers.emulator.google.token import token_endpoint

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Router


def register(router: Router) -> None:
    add = router.add
    for path in ("/token", "/oauth2/v4/token"):
        add("POST", path, token_endpoint, api="gtoken", kind="google.token", token=True)
    for path in ("/batch/gmail/v1", "/batch"):
        add("POST", path, batch, api="gmail", kind="gmail.batch", envelope=True)
    u = r"/gmail/v1/users/(?P<user>[^/]+)"
    m = r"/messages/(?P<message_id>[^/]+)"

    def g(method: str, pattern: str, fn: Any, kind: str) -> None:
        add(method, u + pattern, fn, api="gmail", kind=kind, scoped=True)

    d = r"/admin/directory/v1"
    add(
        "GET", d + r"/users/(?P<user_key>[^/]+)", directory_user, api="gmail", kind="gdir.users.get"
    )
    add(
        "GET",
        d + r"/groups/(?P<group_key>[^/]+)",
        directory_group,
        api="gmail",
        kind="gdir.groups.get",
    )
    add(
        "GET",
        d + r"/groups/(?P<group_key>[^/]+)/members",
        directory_members,
        api="gmail",
        kind="gdir.members.list",
    )

    g("GET", r"/profile", profile, "gmail.profile")
    g("GET", r"/labels", labels_list, "gmail.labels")
    g("GET", r"/messages", messages_list, "gmail.list")
    g("POST", r"/messages/batchModify", batch_modify, "gmail.batchModify")
    g("POST", r"/messages/batchDelete", batch_delete, "gmail.batchDelete")
    g("GET", m, message_get, "gmail.get")
    g("DELETE", m, message_delete, "gmail.delete")
    g("POST", m + r"/trash", message_trash, "gmail.trash")
    g("POST", m + r"/untrash", message_untrash, "gmail.untrash")
    g("POST", m + r"/modify", message_modify, "gmail.modify")
