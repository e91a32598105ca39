"""The provider emulator speaks the providers' wire protocols (plain requests against it)."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import httplib2
import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.http import BatchHttpRequest

from mailboxes.providers.emulator import EXAMPLE_SEED_PATH, Emulator, load_seed
from mailboxes.providers.emulator.credentials import certificate_credential, service_account_info

ALPHA = "alpha"
ALPHA_DIR = "6f1a2b3c-0d4e-4f50-8a61-7b8c9d0e1f2a"
APP = "11111111-2222-3333-4444-555555555555"
UNCONSENTED_APP = "99999999-8888-7777-6666-555555555555"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
SA = "clawback@clawback-test.iam.gserviceaccount.com"
MODIFY_ONLY_SA = "readonly@clawback-test.iam.gserviceaccount.com"
FULL = "https://mail.google.com/"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"
PHISH = "<phish-001@evil.example>"
VERIFY = "<verify-42@phish.example>"


# --- helpers ---------------------------------------------------------------------------------


def _http(method: str, url: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, url, timeout=10, **kwargs)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def jwt(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """An unsigned-looking JWT: the emulator reads it without checking the signature."""
    return f"{_b64(header or {'alg': 'RS256', 'typ': 'JWT'})}.{_b64(claims)}.c2ln"


def ms_token_request(
    emu: Emulator, s: requests.Session, tenant: str = ALPHA_DIR, **form: str
) -> requests.Response:
    data = {"grant_type": "client_credentials", "client_id": APP, "scope": GRAPH_SCOPE, **form}
    return s.post(f"{emu.https_url}/{tenant}/oauth2/v2.0/token", data=data)


def graph_headers(emu: Emulator, s: requests.Session, **extra: str) -> dict[str, str]:
    token = ms_token_request(emu, s, client_secret="alpha-secret").json()["access_token"]
    return {"Authorization": f"Bearer {token}", **extra}


def find(
    emu: Emulator, s: requests.Session, headers: dict[str, str], user: str, imid: str
) -> requests.Response:
    literal = imid.replace("'", "''")
    return s.get(
        f"{emu.graph_url}/users/{user}/messages",
        params={
            "$filter": f"internetMessageId eq '{literal}'",
            "$select": "id,isRead,parentFolderId,internetMessageId",
        },
        headers=headers,
    )


def google_token(
    emu: Emulator, subject: str, scopes: str = MODIFY, issuer: str = SA
) -> requests.Response:
    claims = {
        "iss": issuer,
        "sub": subject,
        "scope": scopes,
        "aud": "https://oauth2.googleapis.com/token",
    }
    return _http(
        "POST",
        emu.google_token_uri,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": jwt(claims),
        },
    )


def gmail_headers(emu: Emulator, subject: str, scopes: str = MODIFY) -> dict[str, str]:
    return {"Authorization": f"Bearer {google_token(emu, subject, scopes).json()['access_token']}"}


def gmail(emu: Emulator, user: str, path: str = "") -> str:
    return f"{emu.http_url}/gmail/v1/users/{user}/messages{path}"


def gmail_find(
    emu: Emulator, headers: dict[str, str], user: str, q: str, **params: Any
) -> list[str]:
    r = _http("GET", gmail(emu, user), params={"q": q, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json().get("messages", [])]


def control(emu: Emulator, path: str, body: Any = None, method: str = "POST") -> Any:
    r = _http(method, f"{emu.http_url}/_emulator/{path}", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def copies(emu: Emulator, address: str) -> list[dict[str, Any]]:
    return control(emu, f"mailboxes/{address}", method="GET")["copies"]


# --- Microsoft identity platform -------------------------------------------------------------


def test_it_issues_graph_tokens_and_answers_aad_errors(emulator, emulator_session):
    s = emulator_session
    ok = ms_token_request(emulator, s, client_secret="alpha-secret")
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] > 0

    wrong = ms_token_request(emulator, s, client_secret="nope")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert wrong.json()["error_codes"] == [7000215]
    assert wrong.json()["error_description"].startswith("AADSTS7000215")

    expired = ms_token_request(emulator, s, client_secret="alpha-old-secret")
    assert expired.json()["error_codes"] == [7000222]

    stranger = ms_token_request(
        emulator, s, client_id="00000000-0000-0000-0000-000000000000", client_secret="x"
    )
    assert (stranger.status_code, stranger.json()["error"]) == (400, "unauthorized_client")
    assert stranger.json()["error_codes"] == [700016]

    unconsented = ms_token_request(
        emulator, s, client_id=UNCONSENTED_APP, client_secret="unconsented-secret"
    )
    assert unconsented.json()["error_codes"] == [65001]

    unknown = ms_token_request(emulator, s, tenant="nowhere.example", client_secret="alpha-secret")
    assert (unknown.status_code, unknown.json()["error_codes"]) == (400, [90002])

    # The domain works as the tenant too.
    assert ms_token_request(emulator, s, tenant="alpha.example", client_secret="alpha-secret").ok


def test_it_answers_oidc_discovery_and_msal_uses_it(emulator, emulator_session):
    import msal

    s = emulator_session
    config = s.get(
        f"{emulator.https_url}/alpha.example/v2.0/.well-known/openid-configuration"
    ).json()
    assert config["token_endpoint"] == f"{emulator.https_url}/{ALPHA_DIR}/oauth2/v2.0/token"
    assert config["issuer"].startswith("https://")
    missing = s.get(f"{emulator.https_url}/nowhere/v2.0/.well-known/openid-configuration")
    assert missing.status_code == 400 and "AADSTS90002" in missing.json()["error_description"]

    app = msal.ConfidentialClientApplication(
        APP,
        authority=emulator.authority(ALPHA),
        client_credential="alpha-secret",
        http_client=s,
        instance_discovery=False,
    )
    assert "access_token" in app.acquire_token_for_client([GRAPH_SCOPE])
    with pytest.raises(ValueError):
        msal.ConfidentialClientApplication(
            APP,
            authority=f"{emulator.https_url}/nowhere.example",
            client_credential="x",
            http_client=s,
            instance_discovery=False,
        )


def test_it_accepts_a_client_assertion_with_a_registered_thumbprint(tmp_path):
    cert = certificate_credential()
    seed = load_seed(EXAMPLE_SEED_PATH)
    seed["tenants"][0]["apps"][0]["thumbprints"] = [cert["thumbprint"]]
    with Emulator(seed=seed, ca_path=tmp_path / "ca.pem") as emu:
        s = requests.Session()
        s.verify, s.trust_env = str(emu.ca_path), False
        x5t = base64.urlsafe_b64encode(bytes.fromhex(cert["thumbprint"])).decode().rstrip("=")
        form = {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        }
        good = jwt({"iss": APP, "sub": APP, "aud": "x"}, {"alg": "RS256", "x5t": x5t})
        assert ms_token_request(emu, s, client_assertion=good, **form).status_code == 200

        other = base64.urlsafe_b64encode(b"\x01" * 20).decode().rstrip("=")
        bad = jwt({"iss": APP, "sub": APP}, {"alg": "RS256", "x5t": other})
        r = ms_token_request(emu, s, client_assertion=bad, **form)
        assert (r.status_code, r.json()["error"], r.json()["error_codes"]) == (
            401,
            "invalid_client",
            [700027],
        )

        import msal

        app = msal.ConfidentialClientApplication(
            APP,
            authority=emu.authority(ALPHA),
            client_credential={
                "private_key": cert["private_key"],
                "thumbprint": cert["thumbprint"],
            },
            http_client=s,
            instance_discovery=False,
        )
        assert "access_token" in app.acquire_token_for_client([GRAPH_SCOPE])


def test_it_refuses_missing_expired_and_revoked_graph_tokens(emulator, emulator_session):
    s = emulator_session
    url = f"{emulator.graph_url}/users/adele@alpha.example/messages"
    missing = s.get(url)
    assert (missing.status_code, missing.json()["error"]["code"]) == (
        401,
        "InvalidAuthenticationToken",
    )
    garbage = s.get(url, headers={"Authorization": "Bearer nonsense"})
    assert garbage.status_code == 401

    headers = graph_headers(emulator, s)
    assert s.get(url, headers=headers).status_code == 200
    control(emulator, f"tenants/{ALPHA}/revoke", {})
    revoked = s.get(url, headers=headers)
    assert (revoked.status_code, revoked.json()["error"]["code"]) == (403, "ErrorAccessDenied")
    again = ms_token_request(emulator, s, client_secret="alpha-secret")
    assert again.json()["error_codes"] == [700016]
    control(emulator, f"tenants/{ALPHA}/restore", {})
    assert s.get(url, headers=headers).status_code == 200

    emulator.state.set_knobs({"token_lifetime_s": 0})
    short = graph_headers(emulator, s)
    time.sleep(0.01)
    assert s.get(url, headers=short).json()["error"]["code"] == "InvalidAuthenticationToken"


# --- Graph mail ----------------------------------------------------------------------------------


def test_it_finds_a_copy_by_message_id_with_a_quote_in_it(emulator, emulator_session):
    s = emulator_session
    headers = graph_headers(emulator, s)
    r = find(emulator, s, headers, "megan@alpha.example", "<o'brien.2024@partner.example>")
    assert r.status_code == 200
    [found] = r.json()["value"]
    assert found["internetMessageId"] == "<o'brien.2024@partner.example>"
    assert set(found) == {"@odata.etag", "id", "isRead", "parentFolderId", "internetMessageId"}
    assert found["parentFolderId"] == emulator.folder_id("megan@alpha.example", "inbox")
    inbox = s.get(
        f"{emulator.graph_url}/users/megan@alpha.example/mailFolders/inbox", headers=headers
    )
    assert inbox.json()["id"] == found["parentFolderId"]

    undoubled = s.get(
        f"{emulator.graph_url}/users/megan@alpha.example/messages",
        params={"$filter": "internetMessageId eq '<o'brien.2024@partner.example>'"},
        headers=headers,
    )
    assert undoubled.status_code == 400

    # An alias and the UPN reach the same mailbox; read state is reported.
    assert find(emulator, s, headers, "adele.vance@alpha.example", PHISH).json()["value"]
    [alex] = find(emulator, s, headers, "alex.wilber@alphacorp.onmicrosoft.com", PHISH).json()[
        "value"
    ]
    assert alex["isRead"] is True


def test_it_moves_with_a_new_id_unless_immutable_ids_are_asked_for(emulator, emulator_session):
    s = emulator_session
    headers = graph_headers(emulator, s)
    user = "adele@alpha.example"
    [copy] = find(emulator, s, headers, user, PHISH).json()["value"]
    moved = s.post(
        f"{emulator.graph_url}/users/{user}/messages/{copy['id']}/move",
        json={"destinationId": "junkemail"},
        headers=headers,
    )
    assert moved.status_code == 201
    assert moved.json()["id"] != copy["id"]
    assert moved.json()["parentFolderId"] == emulator.folder_id(user, "junkemail")
    stale = s.get(f"{emulator.graph_url}/users/{user}/messages/{copy['id']}", headers=headers)
    assert (stale.status_code, stale.json()["error"]["code"]) == (404, "ErrorItemNotFound")
    assert copies(emulator, user)[0]["folder"] == "junk"

    immutable = {**headers, "Prefer": 'IdType="ImmutableId"'}
    [copy] = find(emulator, s, immutable, user, PHISH).json()["value"]
    for destination in ("inbox", "deleteditems"):
        again = s.post(
            f"{emulator.graph_url}/users/{user}/messages/{copy['id']}/move",
            json={"destinationId": destination},
            headers=immutable,
        )
        assert again.status_code == 201 and again.json()["id"] == copy["id"]
    # Deleted Items is still searched.
    assert find(emulator, s, headers, user, PHISH).json()["value"]


def test_it_deletes_permanently_and_softly(emulator, emulator_session):
    s = emulator_session
    headers = graph_headers(emulator, s)
    user = "adele@alpha.example"
    [copy] = find(emulator, s, headers, user, PHISH).json()["value"]
    soft = s.delete(f"{emulator.graph_url}/users/{user}/messages/{copy['id']}", headers=headers)
    assert soft.status_code == 204
    assert find(emulator, s, headers, user, PHISH).json()["value"] == []
    recoverable = s.get(
        f"{emulator.graph_url}/users/{user}/mailFolders/recoverableitemsdeletions/messages",
        params={"$filter": f"internetMessageId eq '{PHISH}'"},
        headers=headers,
    ).json()["value"]
    assert len(recoverable) == 1

    purge = s.post(
        f"{emulator.graph_url}/users/{user}/messages/{recoverable[0]['id']}/permanentDelete",
        headers=headers,
    )
    assert purge.status_code == 204
    gone = s.get(
        f"{emulator.graph_url}/users/{user}/messages/{recoverable[0]['id']}", headers=headers
    )
    assert gone.status_code == 404
    assert copies(emulator, user)[0]["folder"] == "purged"


def test_it_tells_mailboxes_from_groups_and_unlicensed_users(emulator, emulator_session):
    s = emulator_session
    headers = graph_headers(emulator, s)
    group = find(emulator, s, headers, "sales@alpha.example", PHISH)
    assert (group.status_code, group.json()["error"]["code"]) == (404, "ErrorInvalidUser")
    unlicensed = find(emulator, s, headers, "contractor@alpha.example", PHISH)
    assert unlicensed.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    # A shared mailbox is a mailbox.
    assert find(emulator, s, headers, "finance@alpha.example", PHISH).json()["value"]

    g = emulator.graph_url
    assert s.get(f"{g}/users/sales@alpha.example", headers=headers).status_code == 404
    assert (
        s.get(f"{g}/users/adele@alpha.example", headers=headers).json()["displayName"]
        == "Adele Vance"
    )
    by_mail = s.get(
        f"{g}/users", params={"$filter": "mail eq 'MEGAN@alpha.example'"}, headers=headers
    )
    assert [u["mail"] for u in by_mail.json()["value"]] == ["megan@alpha.example"]
    by_proxy = s.get(
        f"{g}/users",
        params={"$filter": "proxyAddresses/any(p:p eq 'smtp:adele.vance@alpha.example')"},
        headers=headers,
    )
    assert [u["mail"] for u in by_proxy.json()["value"]] == ["adele@alpha.example"]
    [sales] = s.get(
        f"{g}/groups", params={"$filter": "mail eq 'sales@alpha.example'"}, headers=headers
    ).json()["value"]
    members = s.get(
        f"{g}/groups/{sales['id']}/transitiveMembers/microsoft.graph.user",
        params={"$count": "true"},
        headers={**headers, "ConsistencyLevel": "eventual"},
    ).json()
    assert sorted(m["mail"] for m in members["value"]) == [
        "adele@alpha.example",
        "alex@alpha.example",
        "megan@alpha.example",
    ]
    assert members["@odata.count"] == 3


def test_it_answers_a_json_batch_item_by_item(emulator, emulator_session):
    s = emulator_session
    headers = graph_headers(emulator, s)
    user = "adele@alpha.example"
    [copy] = find(emulator, s, headers, user, PHISH).json()["value"]
    emulator.state.set_knobs(
        {"fail_next": {"megan@alpha.example": {"count": 1, "status": 429, "retry_after": 2.5}}}
    )
    body = {
        "requests": [
            {"id": "1", "method": "GET", "url": f"/users/{user}/messages/{copy['id']}"},
            {
                "id": "2",
                "method": "POST",
                "url": f"/users/{user}/messages/{copy['id']}/move",
                "headers": {"Content-Type": "application/json"},
                "body": {"destinationId": "junkemail"},
            },
            {"id": "3", "method": "GET", "url": "/users/megan@alpha.example/messages"},
            {"id": "4", "method": "GET", "url": "/users/sales@alpha.example/messages"},
        ]
    }
    r = s.post(f"{emulator.graph_url}/$batch", json=body, headers=headers)
    assert r.status_code == 200
    answers = {a["id"]: a for a in r.json()["responses"]}
    assert answers["2"]["status"] == 201
    assert answers["2"]["body"]["parentFolderId"] == emulator.folder_id(user, "junkemail")
    assert answers["1"]["status"] in (200, 404)  # items run in parallel, in any order
    assert answers["3"]["status"] == 429 and answers["3"]["headers"]["Retry-After"] == "2.5"
    assert answers["4"]["status"] == 404
    assert answers["4"]["body"]["error"]["code"] == "ErrorInvalidUser"

    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]}
    assert s.post(f"{emulator.graph_url}/$batch", json=too_many, headers=headers).status_code == 400


# --- Google token endpoint and Gmail ---------------------------------------------------------


def test_it_issues_google_tokens_and_answers_google_errors(emulator):
    ok = google_token(emulator, "diego@beta.example")
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    for subject in ("nobody@beta.example", "former@beta.example", "engineering@beta.example"):
        r = google_token(emulator, subject)
        assert (r.status_code, r.json()) == (
            400,
            {"error": "invalid_grant", "error_description": "Invalid email or User ID"},
        ), subject
    not_delegated = google_token(emulator, "diego@beta.example", FULL, issuer=MODIFY_ONLY_SA)
    assert (not_delegated.status_code, not_delegated.json()["error"]) == (
        401,
        "unauthorized_client",
    )

    control(emulator, "tenants/beta/revoke", {"service_account": SA})
    assert google_token(emulator, "diego@beta.example").json()["error"] == "unauthorized_client"
    control(emulator, "tenants/beta/restore")
    control(emulator, "tenants/beta/revoke", {"admin_policy": True})
    assert google_token(emulator, "diego@beta.example").json()["error"] == "access_denied"


def test_it_lists_by_rfc822msgid_and_hides_spam_and_trash_unless_asked(emulator):
    headers = gmail_headers(emulator, "johanna@beta.example")
    assert gmail_find(emulator, headers, "me", "rfc822msgid:promo-7@bulk.example") == []  # in SPAM
    [spam] = gmail_find(
        emulator, headers, "me", "rfc822msgid:<promo-7@bulk.example>", includeSpamTrash="true"
    )
    [verify] = gmail_find(emulator, headers, "johanna@beta.example", f"rfc822msgid:{VERIFY}")
    meta = _http(
        "GET", gmail(emulator, "me", f"/{verify}"), params={"format": "metadata"}, headers=headers
    )
    assert meta.json()["labelIds"] == ["INBOX", "UNREAD"]
    headers_out = {h["name"]: h["value"] for h in meta.json()["payload"]["headers"]}
    assert headers_out["Message-ID"] == VERIFY
    minimal = _http(
        "GET", gmail(emulator, "me", f"/{spam}"), params={"format": "minimal"}, headers=headers
    )
    assert "SPAM" in minimal.json()["labelIds"] and "payload" not in minimal.json()

    isaiah = gmail_headers(emulator, "isaiah@beta.example")
    [read] = gmail_find(emulator, isaiah, "me", f"rfc822msgid:{VERIFY}")
    got = _http(
        "GET", gmail(emulator, "me", f"/{read}"), params={"format": "minimal"}, headers=isaiah
    )
    assert "UNREAD" not in got.json()["labelIds"]


def test_it_trashes_untrashes_modifies_and_deletes(emulator):
    headers = gmail_headers(emulator, "diego@beta.example")
    [mid] = gmail_find(emulator, headers, "me", f"rfc822msgid:{VERIFY}")
    trashed = _http("POST", gmail(emulator, "me", f"/{mid}/trash"), headers=headers).json()
    assert "TRASH" in trashed["labelIds"] and "INBOX" not in trashed["labelIds"]
    assert gmail_find(emulator, headers, "me", f"rfc822msgid:{VERIFY}") == []
    untrashed = _http("POST", gmail(emulator, "me", f"/{mid}/untrash"), headers=headers).json()
    assert untrashed["labelIds"] == ["INBOX", "UNREAD"]
    junked = _http(
        "POST",
        gmail(emulator, "me", f"/{mid}/modify"),
        json={"addLabelIds": ["SPAM"], "removeLabelIds": ["INBOX", "UNREAD"]},
        headers=headers,
    ).json()
    assert junked["labelIds"] == ["SPAM"]
    assert copies(emulator, "diego@beta.example")[0]["folder"] == "junk"
    bad_label = _http(
        "POST",
        gmail(emulator, "me", f"/{mid}/modify"),
        json={"addLabelIds": ["NOPE"]},
        headers=headers,
    )
    assert bad_label.status_code == 400

    denied = _http("DELETE", gmail(emulator, "me", f"/{mid}"), headers=headers)
    assert denied.status_code == 403
    assert denied.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    full = gmail_headers(emulator, "diego@beta.example", f"{FULL} {MODIFY}")
    assert _http("DELETE", gmail(emulator, "me", f"/{mid}"), headers=full).status_code == 204
    gone = _http("GET", gmail(emulator, "me", f"/{mid}"), headers=full)
    assert (gone.status_code, gone.json()["error"]["errors"][0]["reason"]) == (404, "notFound")
    assert _http("GET", gmail(emulator, "me", "/not-hex"), headers=full).status_code == 400

    nomail = gmail_headers(emulator, "nomail@beta.example")
    off = _http("GET", gmail(emulator, "me"), headers=nomail)
    assert off.status_code == 400
    assert off.json()["error"]["message"] == "Mail service not enabled"
    assert off.json()["error"]["errors"][0]["reason"] == "failedPrecondition"


def test_googleapiclient_parses_the_multipart_batch_answer(emulator):
    info = service_account_info(SA, emulator.google_token_uri)
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=[MODIFY]
    ).with_subject("diego@beta.example")
    service = build(
        "gmail",
        "v1",
        credentials=creds,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": emulator.gmail_api_endpoint},
    )
    messages = service.users().messages()
    [mid] = [
        m["id"] for m in messages.list(userId="me", q=f"rfc822msgid:{VERIFY}").execute()["messages"]
    ]
    answers: dict[str, Any] = {}

    def collect(request_id: str, response: Any, exception: Any) -> None:
        answers[request_id] = exception.status_code if exception else response

    batch = BatchHttpRequest(callback=collect, batch_uri=emulator.gmail_batch_uri)
    batch.add(
        messages.modify(
            userId="me", id=mid, body={"addLabelIds": ["SPAM"], "removeLabelIds": ["INBOX"]}
        ),
        request_id="junk",
    )
    batch.add(
        messages.get(userId="me", id="ffffffffffffffff", format="minimal"), request_id="stale"
    )
    batch.add(messages.delete(userId="me", id=mid), request_id="delete")
    batch.add(
        messages.batchModify(userId="me", body={"ids": [mid], "removeLabelIds": ["UNREAD"]}),
        request_id="read",
    )
    batch.execute()
    assert answers["junk"]["labelIds"] in (["SPAM", "UNREAD"], ["SPAM"])
    assert answers["stale"] == 404
    assert answers["delete"] == 403  # the token has gmail.modify only
    assert answers["read"] == ""  # 204
    assert copies(emulator, "diego@beta.example")[0]["labels"] == ["SPAM"]

    http = httplib2.Http()
    boundary = "xyz"
    part = (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <a + 1>\r\n\r\n"
        "GET /gmail/v1/users/me/profile HTTP/1.1\r\n\r\n"
    )
    resp, _ = http.request(
        emulator.gmail_batch_uri,
        "POST",
        body=part * 101 + f"--{boundary}--",
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
    )
    assert resp.status == 400


def test_it_answers_the_admin_sdk_directory(emulator):
    scopes = " ".join(
        f"https://www.googleapis.com/auth/admin.directory.{s}.readonly"
        for s in ("user", "group", "group.member")
    )
    info = service_account_info(SA, emulator.google_token_uri)
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=scopes.split()
    ).with_subject("diego@beta.example")
    directory = build(
        "admin",
        "directory_v1",
        credentials=creds,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": emulator.gmail_api_endpoint},
    )
    user = directory.users().get(userKey="isaiah@beta.example").execute()
    assert (user["primaryEmail"], user["name"]["fullName"]) == (
        "isaiah@beta.example",
        "Isaiah Langer",
    )
    group = directory.groups().get(groupKey="engineering@beta.example").execute()
    members = (
        directory.members().list(groupKey=group["id"], includeDerivedMembership=True).execute()
    )
    assert sorted(m["email"] for m in members["members"]) == [
        "isaiah@beta.example",
        "johanna@beta.example",
    ]

    base = f"{emulator.http_url}/admin/directory/v1"
    admin = gmail_headers(emulator, "diego@beta.example", scopes)
    assert _http("GET", f"{base}/users/engineering@beta.example", headers=admin).status_code == 404
    assert _http("GET", f"{base}/groups/isaiah@beta.example", headers=admin).status_code == 404
    not_admin = gmail_headers(emulator, "isaiah@beta.example", scopes)
    assert _http("GET", f"{base}/users/diego@beta.example", headers=not_admin).status_code == 403
    gmail_only = gmail_headers(emulator, "diego@beta.example")
    denied = _http("GET", f"{base}/users/isaiah@beta.example", headers=gmail_only)
    assert denied.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


def test_the_demo_world_seeds_the_emulator(tmp_path):
    from mailboxes.providers.emulator.demo import DEMO_MS_CLIENT_ID, demo_seed_document

    with Emulator(seed=demo_seed_document(), ca_path=tmp_path / "ca.pem") as emu:
        contoso = emu.state.require_tenant("contoso")
        assert DEMO_MS_CLIENT_ID in contoso.apps
        dump = emu.state.mailbox_dump("megan.bowen@contoso.example")
        assert dump["copies"] and any(c["read"] for c in dump["copies"])
        assert emu.state.mailbox_dump("sales@contoso.example")["copies"] == []


# --- knobs -------------------------------------------------------------------------------------


def test_it_throttles_concurrent_calls_to_one_mailbox(emulator):
    ca = str(emulator.ca_path)
    s = requests.Session()
    s.verify, s.trust_env = ca, False
    headers = graph_headers(emulator, s)
    emulator.state.set_knobs({"mailbox": "adele@alpha.example", "latency_ms": 400})
    statuses: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def call() -> None:
        r = _http(
            "GET",
            f"{emulator.graph_url}/users/adele@alpha.example/messages",
            headers=headers,
            verify=ca,
        )
        with lock:
            statuses.append((r.status_code, r.headers.get("Retry-After")))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [code for code, _ in statuses]
    # Four run at once; the rest (all of them, unless the machine is very slow) get 429.
    assert set(codes) == {200, 429} and codes.count(200) >= 4
    assert all(retry == "1" for code, retry in statuses if code == 429)
    stats = control(emulator, "stats", method="GET")
    assert stats["max_in_flight"]["adele@alpha.example"] == 4
    assert stats["throttled_by_mailbox"]["adele@alpha.example"] == codes.count(429)
    assert stats["by_mailbox"]["adele@alpha.example"] == 8


def test_it_enforces_a_request_budget_with_a_fractional_retry_after(emulator, emulator_session):
    s = emulator_session
    headers = graph_headers(emulator, s)
    control(
        emulator,
        "knobs",
        {"mailboxes": {"megan@alpha.example": {"budget_requests": 2, "budget_window_s": 30}}},
    )
    url = f"{emulator.graph_url}/users/megan@alpha.example/messages"
    assert [s.get(url, headers=headers).status_code for _ in range(2)] == [200, 200]
    throttled = s.get(url, headers=headers)
    assert throttled.status_code == 429
    assert 0 < float(throttled.headers["Retry-After"]) <= 30
    # Another mailbox has its own budget.
    assert s.get(f"{emulator.graph_url}/users/adele@alpha.example/messages", headers=headers).ok


def test_it_injects_server_errors_resets_and_scripted_failures(emulator, emulator_session):
    s = emulator_session
    headers = graph_headers(emulator, s)
    url = f"{emulator.graph_url}/users/adele@alpha.example/messages"

    control(emulator, "knobs", {"error_rate": 1.0, "error_statuses": [503]})
    assert s.get(url, headers=headers).status_code == 503
    gmail_503 = _http(
        "GET", gmail(emulator, "me"), headers=gmail_headers(emulator, "diego@beta.example")
    )
    assert gmail_503.status_code == 503 and gmail_503.json()["error"]["code"] == 503
    control(emulator, "knobs", method="DELETE")

    control(emulator, "knobs", {"reset_rate": 1.0})
    with pytest.raises(requests.ConnectionError):
        s.get(url, headers=headers)
    control(emulator, "knobs", method="DELETE")

    control(
        emulator,
        "knobs",
        {"mailbox": "adele@alpha.example", "fail_next": {"count": 2, "status": 504}},
    )
    assert [s.get(url, headers=headers).status_code for _ in range(3)] == [504, 504, 200]
    assert control(emulator, "stats", method="GET")["server_errors"] == 4


# --- control API -----------------------------------------------------------------------------


def test_the_control_api_delivers_marks_read_and_deletes_as_the_user(emulator, emulator_session):
    s = emulator_session
    result = control(
        emulator,
        "deliver",
        {
            "tenant": ALPHA,
            "internet_message_id": "<new@x.example>",
            "subject": "Hello",
            "sender": "s@x.example",
            "recipients": ["sales@alpha.example", "megan@alpha.example", "ghost@alpha.example"],
        },
    )
    delivered = {d["address"]: d["via_group"] for d in result["delivered"]}
    # The list fans out (nested lists too), a direct recipient gets one copy, the list none.
    assert delivered == {
        "alex@alpha.example": "sales@alpha.example",
        "megan@alpha.example": None,
        "adele@alpha.example": "sales@alpha.example",
    }
    assert result["skipped"] == [{"address": "ghost@alpha.example", "reason": "unknown recipient"}]

    control(
        emulator,
        "mark-read",
        {"address": "megan@alpha.example", "internet_message_id": "<new@x.example>", "read": True},
    )
    headers = graph_headers(emulator, s)
    [megan] = find(emulator, s, headers, "megan@alpha.example", "<new@x.example>").json()["value"]
    assert megan["isRead"] is True

    control(
        emulator,
        "user-delete",
        {"address": "alex@alpha.example", "internet_message_id": "<new@x.example>", "how": "junk"},
    )
    [alex] = find(emulator, s, headers, "alex@alpha.example", "<new@x.example>").json()["value"]
    assert alex["parentFolderId"] == emulator.folder_id("alex@alpha.example", "junkemail")
    control(
        emulator,
        "user-delete",
        {
            "address": "adele@alpha.example",
            "internet_message_id": "<new@x.example>",
            "how": "purge",
        },
    )
    assert (
        find(emulator, s, headers, "adele@alpha.example", "<new@x.example>").json()["value"] == []
    )

    control(
        emulator,
        "deliver",
        {
            "tenant": "beta",
            "internet_message_id": "<g@x.example>",
            "recipients": ["diego@beta.example"],
        },
    )
    control(
        emulator,
        "user-delete",
        {"address": "diego@beta.example", "internet_message_id": "<g@x.example>", "how": "delete"},
    )
    gh = gmail_headers(emulator, "diego@beta.example")
    assert gmail_find(emulator, gh, "me", "rfc822msgid:g@x.example") == []
    assert (
        len(gmail_find(emulator, gh, "me", "rfc822msgid:g@x.example", includeSpamTrash="true")) == 1
    )

    control(emulator, "reset")
    assert (
        find(
            emulator, s, graph_headers(emulator, s), "megan@alpha.example", "<new@x.example>"
        ).json()["value"]
        == []
    )


def test_the_management_command_refuses_without_allow_provider_emulator(settings):
    settings.ALLOW_PROVIDER_EMULATOR = False
    with pytest.raises(CommandError, match="ALLOW_PROVIDER_EMULATOR"):
        call_command("emulate_providers")
