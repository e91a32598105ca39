"""Admin SDK Directory API: users.get, groups.get, members.list (resolve() and group_members()).

https://developers.google.com/admin-sdk/directory/reference/rest/v1/users/get
https://developers.google.com/admin-sdk/directory/reference/rest/v1/groups/get
https://developers.google.com/admin-sdk/directory/reference/rest/v1/members/list
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailboxes.providers.emulator.google.gmail import insufficient_scopes
from mailboxes.providers.emulator.state import (
    DIRECTORY_GROUP_SCOPE,
    DIRECTORY_MEMBER_SCOPE,
    DIRECTORY_USER_SCOPE,
    GOOGLE,
    GROUP,
    Mailbox,
    Tenant,
)
from mailboxes.providers.emulator.wire import (
    GOOGLE_JSON,
    Request,
    Response,
    gmail_auth_error,
    google_error,
    json_response,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator

# --- Admin SDK Directory API (what resolve() and group_members() use) -------------------------
# https://developers.google.com/admin-sdk/directory/reference/rest/v1/users/get
# https://developers.google.com/admin-sdk/directory/reference/rest/v1/groups/get
# https://developers.google.com/admin-sdk/directory/reference/rest/v1/members/list

_ADMIN = "https://www.googleapis.com/auth/admin.directory."
USER_READ_SCOPES = {DIRECTORY_USER_SCOPE, _ADMIN + "user"}
GROUP_READ_SCOPES = {DIRECTORY_GROUP_SCOPE, _ADMIN + "group"}
MEMBER_READ_SCOPES = GROUP_READ_SCOPES | {DIRECTORY_MEMBER_SCOPE, _ADMIN + "group.member"}


def _not_authorized_for_api() -> Response:
    return google_error(403, "forbidden", "Not Authorized to access this resource/api")


def _directory_call(emu: Emulator, req: Request, scopes: set[str]) -> Tenant | Response:
    header = req.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        return gmail_auth_error(missing=True)
    token = emu.state.token(header[7:].strip())
    if token is None or token.provider != GOOGLE:
        return gmail_auth_error()
    tenant = token.tenant
    if (
        not tenant.authorized
        or tenant.admin_policy_blocked
        or token.service_account not in tenant.service_accounts
    ):
        return gmail_auth_error()
    if not token.scopes & scopes:
        return insufficient_scopes()
    box = emu.state.mailbox(token.subject) if token.subject else None
    if box is None:
        return _not_authorized_for_api()
    admins = [b for b in emu.state.mailboxes.values() if b.tenant is tenant and b.admin]
    if admins and not box.admin:
        return _not_authorized_for_api()
    return tenant


def _directory_lookup(emu: Emulator, tenant: Tenant, key: str, what: str) -> Mailbox | Response:
    low = key.lower()
    box = emu.state.mailbox(low) or emu.state.by_object_id.get(low)
    if box is None or box.tenant is not tenant:
        domain = low.rpartition("@")[2]
        if "@" in low and domain not in tenant.domains:
            return _not_authorized_for_api()
        return google_error(404, "notFound", f"Resource Not Found: {what}")
    return box


def _directory_user_json(box: Mailbox) -> dict[str, Any]:
    given, _, family = box.display_name.partition(" ")
    return {
        "kind": "admin#directory#user",
        "id": box.object_id,
        "etag": f'"{box.object_id}"',
        "primaryEmail": box.address,
        "name": {"givenName": given, "familyName": family, "fullName": box.display_name},
        "isAdmin": box.admin,
        "isDelegatedAdmin": False,
        "suspended": box.suspended,
        "archived": False,
        "isMailboxSetup": box.mail_enabled,
        "emails": [{"address": box.address, "primary": True}]
        + [{"address": a} for a in box.aliases],
        "aliases": box.aliases,
        "customerId": box.tenant.directory_id,
        "orgUnitPath": "/",
    }


def directory_user(emu: Emulator, req: Request, user_key: str) -> Response:
    tenant = _directory_call(emu, req, USER_READ_SCOPES)
    if isinstance(tenant, Response):
        return tenant
    with emu.state.lock:
        box = _directory_lookup(emu, tenant, user_key, "userKey")
        if isinstance(box, Response):
            return box
        if box.kind == GROUP:
            return google_error(404, "notFound", "Resource Not Found: userKey")
        body = _directory_user_json(box)
    return json_response(200, body, [("Vary", "Origin")], GOOGLE_JSON)


def directory_group(emu: Emulator, req: Request, group_key: str) -> Response:
    tenant = _directory_call(emu, req, GROUP_READ_SCOPES)
    if isinstance(tenant, Response):
        return tenant
    with emu.state.lock:
        box = _directory_lookup(emu, tenant, group_key, "groupKey")
        if isinstance(box, Response):
            return box
        if box.kind != GROUP:
            return google_error(404, "notFound", "Resource Not Found: groupKey")
        body = {
            "kind": "admin#directory#group",
            "id": box.object_id,
            "etag": f'"{box.object_id}"',
            "email": box.address,
            "name": box.display_name,
            "directMembersCount": str(len(box.members)),
            "description": "",
            "adminCreated": True,
            "aliases": box.aliases,
            "nonEditableAliases": [],
        }
    return json_response(200, body, [("Vary", "Origin")], GOOGLE_JSON)


def directory_members(emu: Emulator, req: Request, group_key: str) -> Response:
    tenant = _directory_call(emu, req, MEMBER_READ_SCOPES)
    if isinstance(tenant, Response):
        return tenant
    derived = (req.q("includeDerivedMembership") or "false").lower() == "true"
    try:
        max_results = min(max(int(req.q("maxResults") or 200), 1), 200)
        offset = int(req.q("pageToken") or 0)
    except ValueError:
        return google_error(400, "invalid", "Invalid Input")
    with emu.state.lock:
        box = _directory_lookup(emu, tenant, group_key, "groupKey")
        if isinstance(box, Response):
            return box
        if box.kind != GROUP:
            return google_error(404, "notFound", "Resource Not Found: groupKey")
        members: list[Mailbox] = []
        seen = {box.address}
        pending = [box]
        while pending:
            group = pending.pop(0)
            for address in group.members:
                member = emu.state.mailbox(address)
                if member is None or member.address in seen:
                    continue
                seen.add(member.address)
                members.append(member)
                if derived and member.kind == GROUP:
                    pending.append(member)
        entries = [
            {
                "kind": "admin#directory#member",
                "etag": f'"{m.object_id}"',
                "id": m.object_id,
                "email": m.address,
                "role": "MEMBER",
                "type": "GROUP" if m.kind == GROUP else "USER",
                "status": "ACTIVE" if not m.suspended else "SUSPENDED",
            }
            for m in members
        ]
    body: dict[str, Any] = {"kind": "admin#directory#members", "etag": '"members"'}
    page = entries[offset : offset + max_results]
    if page:
        body["members"] = page
    if offset + max_results < len(entries):
        body["nextPageToken"] = str(offset + max_results)
    return json_response(200, body, [("Vary", "Origin")], GOOGLE_JSON)
