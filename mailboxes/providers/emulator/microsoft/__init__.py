"""Microsoft identity platform and Graph mail, as the real clients see them.

References (what each endpoint emulates) are in the modules: identity, mail, directory, batch.
Graph limits: https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailboxes.providers.emulator.microsoft.batch import batch
from mailboxes.providers.emulator.microsoft.directory import (
    group_get,
    group_members,
    groups_list,
    organization,
    user_get,
    users_list,
)
from mailboxes.providers.emulator.microsoft.identity import (
    discovery,
    instance_discovery,
    token_endpoint,
)
from mailboxes.providers.emulator.microsoft.mail import (
    folder_get,
    folders_list,
    message_delete,
    message_get,
    message_move,
    message_patch,
    message_permanent_delete,
    messages_list,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Router


def register(router: Router) -> None:
    t = r"(?P<tenant>[^/]+)"
    add = router.add
    # Identity platform.
    for pattern in (
        rf"/{t}/v2\.0/\.well-known/openid-configuration",
        rf"/{t}/\.well-known/openid-configuration",
    ):
        add(
            "GET", pattern, discovery, api="aad", kind="aad.discovery", token=True, ignore_case=True
        )
    add(
        "GET",
        r"/common/discovery/instance",
        instance_discovery,
        api="aad",
        kind="aad.discovery",
        token=True,
    )
    add(
        "POST",
        rf"/{t}/oauth2/v2\.0/token",
        token_endpoint,
        api="aad",
        kind="aad.token",
        token=True,
        ignore_case=True,
    )

    # Graph. Paths are case-insensitive, as Graph's are.
    v = r"/v1\.0"
    u = r"/users/(?P<user>[^/]+)"
    m = r"/messages/(?P<message_id>[^/]+)"
    f = r"/mailFolders/(?P<folder>[^/]+)"

    def g(method: str, pattern: str, fn: Any, kind: str, **kw: Any) -> None:
        add(method, v + pattern, fn, api="graph", kind=kind, ignore_case=True, **kw)

    g("POST", r"/(?:\$|%24)batch", batch, "graph.batch", envelope=True)
    g("GET", r"/organization", organization, "graph.directory")
    g("GET", r"/users", users_list, "graph.directory")
    g("GET", u, user_get, "graph.directory")
    g("GET", r"/groups", groups_list, "graph.directory")
    g("GET", r"/groups/(?P<group>[^/]+)", group_get, "graph.directory")
    g(
        "GET",
        r"/groups/(?P<group>[^/]+)/(?P<relation>members|transitiveMembers)(?:/(?P<cast>microsoft\.graph\.\w+))?",
        group_members,
        "graph.directory",
    )
    g("GET", u + r"/messages", messages_list, "graph.messages.list", scoped=True)
    g("GET", u + f + r"/messages", messages_list, "graph.messages.list", scoped=True)
    g("GET", u + r"/mailFolders", folders_list, "graph.folders", scoped=True)
    g("GET", u + f, folder_get, "graph.folders", scoped=True)
    for prefix in (u, u + f):
        g("GET", prefix + m, message_get, "graph.messages.get", scoped=True)
        g("PATCH", prefix + m, message_patch, "graph.messages.patch", scoped=True)
        g("DELETE", prefix + m, message_delete, "graph.messages.delete", scoped=True)
        g("POST", prefix + m + r"/move", message_move, "graph.messages.move", scoped=True)
        g(
            "POST",
            prefix + m + r"/permanentDelete",
            message_permanent_delete,
            "graph.messages.permanentDelete",
            scoped=True,
        )
