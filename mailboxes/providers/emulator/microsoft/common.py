"""Graph plumbing every endpoint shares: authentication, mailbox look-up, OData query options."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from mailboxes.providers.emulator.odata import FilterError, compile_filter
from mailboxes.providers.emulator.state import (
    GROUP,
    MICROSOFT,
    Mailbox,
    Tenant,
    Token,
)
from mailboxes.providers.emulator.wire import (
    Request,
    Response,
    graph_error,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator

GRAPH_ROOT = "https://graph.microsoft.com/v1.0"
ID_CHARS = re.compile(r"[A-Za-z0-9_\-+/]{20,}=*")

MAIL_READ_ROLES = {"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All", "Mail.ReadBasic"}
MAIL_WRITE_ROLES = {"Mail.ReadWrite"}
USER_ROLES = {
    "User.Read.All",
    "User.ReadBasic.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
}
GROUP_ROLES = {
    "Group.Read.All",
    "GroupMember.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
}


# --- Graph: authentication and mailbox resolution -----------------------------------------


def graph_auth(
    emu: Emulator, req: Request, roles: set[str], directory: bool = False
) -> tuple[Token, Tenant] | Response:
    header = req.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
    token = emu.state.token(header[7:].strip())
    if token is None or token.provider != MICROSOFT:
        if header[7:].strip() in emu.state.tokens:
            message = "Lifetime validation failed, the token is expired."
        else:
            message = "IDX14100: JWT is not well formed, there are no dots (.)."
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            message,
            [("WWW-Authenticate", 'Bearer realm="", error="invalid_token"')],
        )
    tenant = token.tenant
    app = tenant.apps.get(token.client_id)
    if not tenant.authorized or app is None or not app.consented:
        if directory:
            return graph_error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        return graph_error(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    if app.roles is not None:
        if not app.roles:
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "The token contains no permissions, or permissions can not be understood.",
            )
        if not set(app.roles) & roles:
            if directory:
                return graph_error(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )
            return graph_error(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
    return token, tenant


def mailbox_for_mail(emu: Emulator, tenant: Tenant, user: str) -> Mailbox | Response:
    box = emu.state.mailbox_in(tenant, user)
    if box is None or box.kind == GROUP:
        return graph_error(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
    if not box.mail_enabled:
        return graph_error(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    if box.app_access_denied:
        return graph_error(
            403,
            "ErrorAccessDenied",
            "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly "
            "AccessPolicy settings.",
        )
    return box


def mail_call(
    emu: Emulator, req: Request, user: str, write: bool
) -> tuple[Token, Mailbox] | Response:
    auth = graph_auth(emu, req, MAIL_WRITE_ROLES if write else MAIL_READ_ROLES)
    if isinstance(auth, Response):
        return auth
    token, tenant = auth
    box = mailbox_for_mail(emu, tenant, user)
    if isinstance(box, Response):
        return box
    return token, box


def wants_immutable_ids(req: Request) -> bool:
    prefer = req.headers.get("prefer", "")
    return 'idtype="immutableid"' in prefer.replace(" ", "").lower()


def prefer_headers(req: Request) -> list[tuple[str, str]]:
    return [("Preference-Applied", 'IdType="ImmutableId"')] if wants_immutable_ids(req) else []


def select_props(req: Request, props: dict[str, str], type_name: str) -> list[str] | Response:
    raw = req.q("$select")
    if not raw:
        return []
    chosen = []
    for name in raw.split(","):
        name = name.strip()
        canonical = props.get(name.casefold())
        if canonical is None:
            return graph_error(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type '{type_name}'.",
            )
        chosen.append(canonical)
    return chosen


def page_params(req: Request, default: int, maximum: int) -> tuple[int, int] | Response:
    try:
        top = int(req.q("$top") or default)
        skip = int(req.q("$skip") or req.q("$skiptoken") or 0)
    except ValueError:
        return graph_error(400, "BadRequest", "Invalid $top or $skip value.")
    if top < 1 or skip < 0:
        return graph_error(400, "BadRequest", "Invalid $top or $skip value.")
    return min(top, maximum), skip


def next_link(req: Request, skip: int) -> str:
    params = {k: v[0] for k, v in req.query.items() if k not in ("$skip", "$skiptoken")}
    params["$skip"] = str(skip)
    return f"{req.scheme}://{req.host}{req.path}?{urlencode(params)}"


def request_filter(req: Request, fields: set[str]) -> Any:
    raw = req.q("$filter")
    if raw is None:
        return None
    try:
        return compile_filter(raw, fields)
    except FilterError as exc:
        return graph_error(400, "BadRequest", f"Invalid filter clause: {exc}")


def bad_folder(folder: str) -> Response:
    if ID_CHARS.fullmatch(folder):
        return graph_error(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return graph_error(400, "ErrorInvalidIdMalformed", "Id is malformed.")
