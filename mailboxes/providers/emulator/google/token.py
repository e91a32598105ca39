"""Google's OAuth token endpoint: the JWT-bearer grant of a domain-wide delegated service account.

https://developers.google.com/identity/protocols/oauth2/service-account#httprest
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import TYPE_CHECKING, Any

from mailboxes.providers.emulator.state import (
    GOOGLE,
    GROUP,
    Token,
)
from mailboxes.providers.emulator.wire import (
    GOOGLE_JSON,
    Request,
    Response,
    google_token_error,
    json_response,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# --- token endpoint --------------------------------------------------------------------------

_UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)


def _jwt_payload(assertion: str) -> dict[str, Any] | None:
    try:
        _, payload, _ = assertion.split(".")
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def token_endpoint(emu: Emulator, req: Request) -> Response:
    form = req.form()
    grant = form.get("grant_type", "")
    if grant != JWT_BEARER:
        return google_token_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
    claims = _jwt_payload(form.get("assertion", ""))
    if claims is None:
        return google_token_error(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
        )
    issuer = str(claims.get("iss", "")).lower()
    subject = str(claims.get("sub", "")).lower()
    scopes = frozenset(str(claims.get("scope", "")).split())
    state = emu.state
    with state.lock:
        holders = [
            t
            for t in state.tenants.values()
            if t.provider == GOOGLE and issuer in t.service_accounts
        ]
        known = holders or [
            t
            for t in state.tenants.values()
            if t.provider == GOOGLE and issuer in t.seed_accounts()
        ]
        if not known:
            return google_token_error(400, "invalid_grant", "Invalid grant: account not found")
        if not scopes:
            return google_token_error(
                400, "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        lifetime = int(state.global_knobs["token_lifetime_s"])
        if not subject:
            # The service account as itself: a token, but no Gmail mailbox behind it.
            tenant = known[0]
            box_address = ""
        else:
            box = state.mailbox(subject)
            tenant = box.tenant if box is not None else None
            if tenant is None:
                domain = subject.rpartition("@")[2]
                tenant = state.tenant(domain)
            if tenant is None or tenant.provider != GOOGLE:
                return google_token_error(400, "invalid_grant", "Invalid email or User ID")
            account = tenant.service_accounts.get(issuer)
            if not tenant.authorized or account is None or not scopes <= account.scopes:
                return google_token_error(401, "unauthorized_client", _UNAUTHORIZED_CLIENT)
            if tenant.admin_policy_blocked:
                return google_token_error(
                    400, "access_denied", "admin_policy_enforced: Requested client not authorized."
                )
            if box is None or box.kind == GROUP or box.suspended:
                return google_token_error(400, "invalid_grant", "Invalid email or User ID")
            box_address = box.address
    value = state.issue_token(
        Token(
            provider=GOOGLE,
            tenant=tenant,
            expires=time.time() + lifetime,
            subject=box_address,
            service_account=issuer,
            scopes=scopes,
        )
    )
    return json_response(
        200,
        {"access_token": value, "expires_in": lifetime, "token_type": "Bearer"},
        [
            ("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
            ("Pragma", "no-cache"),
        ],
        GOOGLE_JSON,
    )
