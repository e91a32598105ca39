"""Graph directory: users, groups, (transitive) members, the organization.

https://learn.microsoft.com/graph/api/user-get
https://learn.microsoft.com/graph/api/group-list-transitivemembers
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailboxes.providers.emulator.microsoft.common import (
    GRAPH_ROOT,
    GROUP_ROLES,
    USER_ROLES,
    graph_auth,
    next_link,
    page_params,
    request_filter,
    select_props,
)
from mailboxes.providers.emulator.odata import record
from mailboxes.providers.emulator.state import (
    GROUP,
    SHARED,
    Mailbox,
    Tenant,
)
from mailboxes.providers.emulator.wire import (
    GRAPH_JSON,
    Request,
    Response,
    graph_error,
    json_response,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator

# --- Graph: directory -----------------------------------------------------------------------

_USER_PROPS = {
    p.casefold(): p
    for p in (
        "id",
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "proxyAddresses",
        "accountEnabled",
        "userType",
        "mailNickname",
        "otherMails",
    )
}
_USER_DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
_GROUP_PROPS = {
    p.casefold(): p
    for p in (
        "id",
        "displayName",
        "mail",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
        "groupTypes",
        "proxyAddresses",
        "description",
        "visibility",
    )
}


def _user_full(box: Mailbox) -> dict[str, Any]:
    return {
        "id": box.object_id,
        "businessPhones": [],
        "displayName": box.display_name,
        "givenName": None,
        "jobTitle": None,
        "mail": box.address,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": None,
        "userPrincipalName": box.upn,
        "proxyAddresses": box.proxy_addresses(),
        "accountEnabled": box.kind != SHARED,
        "userType": "Member",
        "mailNickname": box.address.split("@")[0],
        "otherMails": [],
    }


def _user_json(box: Mailbox, chosen: list[str]) -> dict[str, Any]:
    full = _user_full(box)
    names = chosen or list(_USER_DEFAULT)
    return {name: full[name] for name in names if name in full}


def _group_full(box: Mailbox) -> dict[str, Any]:
    return {
        "id": box.object_id,
        "displayName": box.display_name,
        "mail": box.address,
        "mailEnabled": True,
        "mailNickname": box.address.split("@")[0],
        "securityEnabled": False,
        "groupTypes": [],
        "proxyAddresses": box.proxy_addresses(),
        "description": None,
        "visibility": None,
    }


def _group_json(box: Mailbox, chosen: list[str]) -> dict[str, Any]:
    full = _group_full(box)
    return {name: full[name] for name in (chosen or full)}


def _directory_auth(emu: Emulator, req: Request, roles: set[str]) -> Tenant | Response:
    auth = graph_auth(emu, req, roles, directory=True)
    return auth if isinstance(auth, Response) else auth[1]


def _not_in_directory(ident: str) -> Response:
    return graph_error(
        404,
        "Request_ResourceNotFound",
        f"Resource '{ident}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )


def organization(emu: Emulator, req: Request) -> Response:
    tenant = _directory_auth(emu, req, USER_ROLES)
    if isinstance(tenant, Response):
        return tenant
    org = {
        "id": tenant.directory_id,
        "displayName": tenant.display_name,
        "verifiedDomains": [
            {"name": d, "isDefault": i == 0, "isInitial": i == 0, "type": "Managed"}
            for i, d in enumerate(tenant.domains)
        ],
    }
    return json_response(
        200,
        {"@odata.context": f"{GRAPH_ROOT}/$metadata#organization", "value": [org]},
        ctype=GRAPH_JSON,
    )


def user_get(emu: Emulator, req: Request, user: str) -> Response:
    tenant = _directory_auth(emu, req, USER_ROLES)
    if isinstance(tenant, Response):
        return tenant
    chosen = select_props(req, _USER_PROPS, "microsoft.graph.user")
    if isinstance(chosen, Response):
        return chosen
    with emu.state.lock:
        low = user.lower()
        box = emu.state.by_upn.get(low) or emu.state.by_object_id.get(low)
        if box is None or box.tenant is not tenant or box.kind == GROUP:
            return _not_in_directory(user)
        body = _user_json(box, chosen)
    return json_response(
        200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#users/$entity", **body}, ctype=GRAPH_JSON
    )


def _directory_list(
    emu: Emulator,
    req: Request,
    roles: set[str],
    props: dict[str, str],
    type_name: str,
    want_group: bool,
) -> Response:
    tenant = _directory_auth(emu, req, roles)
    if isinstance(tenant, Response):
        return tenant
    predicate = request_filter(req, set(props.values()))
    if isinstance(predicate, Response):
        return predicate
    chosen = select_props(req, props, type_name)
    if isinstance(chosen, Response):
        return chosen
    paging = page_params(req, 100, 999)
    if isinstance(paging, Response):
        return paging
    top, skip = paging
    with emu.state.lock:
        boxes = {id(b): b for b in emu.state.mailboxes.values() if b.tenant is tenant}
        found = []
        for box in sorted(boxes.values(), key=lambda b: b.address):
            if (box.kind == GROUP) != want_group:
                continue
            full = _group_full(box) if want_group else _user_full(box)
            if predicate is None or predicate(record(full)):
                found.append(_group_json(box, chosen) if want_group else _user_json(box, chosen))
    collection = "groups" if want_group else "users"
    body: dict[str, Any] = {
        "@odata.context": f"{GRAPH_ROOT}/$metadata#{collection}",
        "value": found[skip : skip + top],
    }
    if (req.q("$count") or "").lower() == "true":
        body["@odata.count"] = len(found)
    if skip + top < len(found):
        body["@odata.nextLink"] = next_link(req, skip + top)
    return json_response(200, body, ctype=GRAPH_JSON)


def users_list(emu: Emulator, req: Request) -> Response:
    return _directory_list(emu, req, USER_ROLES, _USER_PROPS, "microsoft.graph.user", False)


def groups_list(emu: Emulator, req: Request) -> Response:
    return _directory_list(emu, req, GROUP_ROLES, _GROUP_PROPS, "microsoft.graph.group", True)


def _group_by_id(emu: Emulator, tenant: Tenant, group: str) -> Mailbox | None:
    box = emu.state.by_object_id.get(group.lower())
    if box is None or box.tenant is not tenant or box.kind != GROUP:
        return None
    return box


def group_get(emu: Emulator, req: Request, group: str) -> Response:
    tenant = _directory_auth(emu, req, GROUP_ROLES)
    if isinstance(tenant, Response):
        return tenant
    chosen = select_props(req, _GROUP_PROPS, "microsoft.graph.group")
    if isinstance(chosen, Response):
        return chosen
    with emu.state.lock:
        box = _group_by_id(emu, tenant, group)
        if box is None:
            return _not_in_directory(group)
        body = _group_json(box, chosen)
    return json_response(
        200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#groups/$entity", **body}, ctype=GRAPH_JSON
    )


def group_members(
    emu: Emulator, req: Request, group: str, relation: str, cast: str | None = None
) -> Response:
    tenant = _directory_auth(emu, req, GROUP_ROLES)
    if isinstance(tenant, Response):
        return tenant
    if cast is not None and cast.lower() not in ("microsoft.graph.user", "microsoft.graph.group"):
        return graph_error(400, "Request_UnsupportedQuery", "Unsupported query.")
    paging = page_params(req, 100, 999)
    if isinstance(paging, Response):
        return paging
    top, skip = paging
    with emu.state.lock:
        box = _group_by_id(emu, tenant, group)
        if box is None:
            return _not_in_directory(group)
        transitive = relation.lower() == "transitivemembers"
        members: list[Mailbox] = []
        seen: set[str] = {box.address}
        pending = [box]
        while pending:
            current = pending.pop(0)
            for address in current.members:
                member = emu.state.mailbox(address)
                if member is None or member.tenant is not tenant or member.address in seen:
                    continue
                seen.add(member.address)
                members.append(member)
                if transitive and member.kind == GROUP:
                    pending.append(member)
        out = []
        for member in members:
            is_group = member.kind == GROUP
            if cast is not None and is_group != (cast.lower() == "microsoft.graph.group"):
                continue
            if is_group:
                item = {"@odata.type": "#microsoft.graph.group", **_group_json(member, [])}
            else:
                item = {"@odata.type": "#microsoft.graph.user", **_user_json(member, [])}
            out.append(item)
    body: dict[str, Any] = {
        "@odata.context": f"{GRAPH_ROOT}/$metadata#directoryObjects",
        "value": out[skip : skip + top],
    }
    if (req.q("$count") or "").lower() == "true":
        body["@odata.count"] = len(out)
    if skip + top < len(out):
        body["@odata.nextLink"] = next_link(req, skip + top)
    return json_response(200, body, ctype=GRAPH_JSON)
