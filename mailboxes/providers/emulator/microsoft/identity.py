"""Microsoft identity platform: OIDC discovery and the client-credentials token endpoint.

https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
https://learn.microsoft.com/entra/identity-platform/reference-error-codes
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from mailboxes.providers.emulator.state import (
    MICROSOFT,
    Token,
)
from mailboxes.providers.emulator.wire import (
    Request,
    Response,
    aad_error,
    json_response,
)

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator

# --- identity platform --------------------------------------------------------------------


def _authority_base(emu: Emulator, req: Request) -> str:
    """The HTTPS base the client reached us by (msal insists on https)."""
    host = req.host.rsplit(":", 1)[0] if req.host and not req.host.endswith("]") else req.host
    if host in ("127.0.0.1", "localhost", "[::1]", emu.host):
        return f"https://{host}:{emu.https_port}"
    return emu.https_url


def _unknown_tenant(name: str) -> Response:
    return aad_error(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


def discovery(emu: Emulator, req: Request, tenant: str) -> Response:
    t = emu.state.tenant(tenant)
    if t is None or t.provider != MICROSOFT:
        return _unknown_tenant(tenant)
    base = f"{_authority_base(emu, req)}/{t.directory_id}"
    return json_response(
        200,
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        },
    )


def instance_discovery(emu: Emulator, req: Request) -> Response:
    authorize = req.q("authorization_endpoint") or ""
    tenant = authorize.rstrip("/").split("/")[-4] if authorize.count("/") >= 6 else "common"
    base = _authority_base(emu, req)
    return json_response(
        200,
        {
            "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [],
        },
    )


def _b64json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def _thumbprint_hex(value: str) -> str:
    padded = value + "=" * (-len(value) % 4)
    return base64.urlsafe_b64decode(padded).hex()


def _assertion_thumbprints(header: dict[str, Any]) -> set[str]:
    """Thumbprints (hex) the assertion claims: x5t, x5t#S256, or those of x5c certificates."""
    found: set[str] = set()
    for key in ("x5t", "x5t#S256"):
        if isinstance(header.get(key), str):
            with contextlib.suppress(ValueError, binascii.Error):
                found.add(_thumbprint_hex(header[key]))
    chain = header.get("x5c")
    if isinstance(chain, list) and chain:
        try:
            der = base64.b64decode(chain[0])
            found.add(hashlib.sha1(der).hexdigest())  # noqa: S324 (a thumbprint, not security)
            found.add(hashlib.sha256(der).hexdigest())
        except (ValueError, binascii.Error):
            pass
    return found


def token_endpoint(emu: Emulator, req: Request, tenant: str) -> Response:
    form = req.form()
    t = emu.state.tenant(tenant)
    if t is None or t.provider != MICROSOFT:
        return _unknown_tenant(tenant)
    grant = form.get("grant_type", "")
    if grant != "client_credentials":
        return aad_error(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'.",
        )
    basic = req.headers.get("authorization", "")
    if basic.lower().startswith("basic ") and "client_secret" not in form:
        # client_secret_basic: the id and secret in the Authorization header.
        with contextlib.suppress(ValueError, binascii.Error, UnicodeDecodeError):
            user, _, secret = base64.b64decode(basic[6:].strip()).decode().partition(":")
            form.setdefault("client_id", unquote_plus(user))
            form["client_secret"] = unquote_plus(secret)
    client_id = form.get("client_id", "")
    assertion = form.get("client_assertion")
    assertion_header: dict[str, Any] = {}
    if assertion:
        try:
            head, payload, _ = assertion.split(".")
            assertion_header = _b64json(head)
            claims = _b64json(payload)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return aad_error(400, "invalid_client", 50027, "JWT token is invalid or malformed.")
        issuer = claims.get("iss") or claims.get("sub") or ""
        if client_id and issuer != client_id:
            return aad_error(
                401,
                "invalid_client",
                700023,
                "Client assertion audience claim does not match Realm issuer.",
            )
        client_id = client_id or issuer
        if (
            form.get("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return aad_error(
                400,
                "invalid_request",
                7000219,
                "'client_assertion_type' must be "
                "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
            )
    if not client_id:
        return aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    scope = form.get("scope", "")
    if not scope or not all(s.endswith("/.default") for s in scope.split()):
        return aad_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier.",
        )
    with emu.state.lock:
        app = t.apps.get(client_id)
        if app is None or not t.authorized:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{t.display_name}'. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant.",
            )
        if assertion:
            if not (_assertion_thumbprints(assertion_header) & app.thumbprints):
                return aad_error(
                    401,
                    "invalid_client",
                    700027,
                    "Client assertion failed signature validation. The key was not found.",
                )
        else:
            secret = form.get("client_secret")
            if secret is None:
                return aad_error(
                    401,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: "
                    "'client_assertion' or 'client_secret'.",
                )
            if secret in app.expired_secrets:
                return aad_error(
                    401,
                    "invalid_client",
                    7000222,
                    f"The provided client secret keys for app '{client_id}' are expired.",
                )
            if secret not in app.secrets:
                return aad_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    "request is the client secret value, not the client secret ID, for a "
                    f"secret added to app '{client_id}'.",
                )
        if not app.consented:
            return aad_error(
                400,
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID "
                f"'{client_id}'. Send an interactive authorization request for this user and "
                "resource.",
            )
        lifetime = int(emu.state.global_knobs["token_lifetime_s"])
    value = emu.state.issue_token(
        Token(
            provider=MICROSOFT,
            tenant=t,
            expires=time.time() + lifetime,
            client_id=client_id,
            scopes=frozenset(scope.split()),
        )
    )
    return json_response(
        200,
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": value,
        },
        [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")],
    )
