"""The production configuration: `check --deploy` is clean, every answer carries the
security headers, and the demo tools refuse to run.

Settings are read once at import, so the production cases run manage.py in a fresh
interpreter with exactly the environment README.md documents.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase, override_settings

from config.security import CSP, build_policy, csp_hash, literal_style_blocks
from mailboxes.services import api_key_issue
from tests.factories import make_tenant, make_user

BASE_DIR = Path(__file__).resolve().parent.parent

# README.md, "Running in production": the secrets, the host, and the proxy in front.
PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "CLAWBACK_CREDENTIALS_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "clawback.msp.example",
    "CSRF_TRUSTED_ORIGINS": "https://clawback.msp.example",
    "BEHIND_PROXY": "1",
}


def manage(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    """manage.py (or a script) in a fresh interpreter with only the given environment."""
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CLAWBACK_VAR_DIR": str(tmp_path / "var"),
        **(PRODUCTION if env is None else env),
    }
    argv = [sys.executable, "-c", code] if code else [sys.executable, "manage.py", *args]
    return subprocess.run(
        argv, cwd=BASE_DIR, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_the_documented_environment(tmp_path: Path) -> None:
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("name", "value", "warning"),
    [("SECURE_SSL_REDIRECT", "0", "security.W008"), ("SECURE_HSTS_SECONDS", "0", "security.W004")],
)
def test_check_deploy_warns_when_a_protection_is_turned_off(
    tmp_path: Path, name: str, value: str, warning: str
) -> None:
    result = manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, name: value}
    )
    assert result.returncode != 0
    assert warning in result.stderr + result.stdout


# Requests through the production settings, without a database: what a browser and an
# API client see before they sign in.
HEADERS = """
import json
import django
from django.conf import settings
from django.test import Client, override_settings
django.setup()
# A release runs collectstatic first; without it the hashed-name storage has no manifest.
plain = {**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
override_settings(STORAGES=plain).enable()
client = Client()
seen = {}
for name, url, secure in [("admin", "/admin/login/", True), ("api", "/api/v1/tenants/", True),
                          ("http", "/admin/login/", False)]:
    r = client.get(url, secure=secure, headers={"host": "clawback.msp.example"})
    cookies = {name: bool(morsel["secure"]) for name, morsel in r.cookies.items()}
    seen[name] = {"status": r.status_code, "cookies": cookies, **r.headers}
print(json.dumps(seen))
"""


def test_production_answers_carry_the_security_headers(tmp_path: Path) -> None:
    result = manage(tmp_path, code=HEADERS)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["http"]["status"] == 301
    assert seen["http"]["Location"] == "https://clawback.msp.example/admin/login/"
    assert (seen["admin"]["status"], seen["api"]["status"]) == (200, 401)
    for page in ("admin", "api"):
        headers = seen[page]
        assert headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Content-Security-Policy"].startswith(
            "default-src 'none'; script-src 'self';"
        )
    assert seen["admin"]["X-Frame-Options"] == "DENY"
    assert seen["admin"]["cookies"] == {"csrftoken": True}  # sent over HTTPS only


class SecurityHeaderTests(TestCase):
    """The headers on a signed-in admin page and an authenticated API answer."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.tenant = make_tenant("Alpha Corp")
        cls.root = make_user("root", superuser=True)
        _, cls.key = api_key_issue(user=cls.root, name="headers", actor=None)

    def assert_secure_headers(self, response) -> None:
        self.assertEqual(response["X-Content-Type-Options"], "nosniff")
        self.assertEqual(response["Referrer-Policy"], "same-origin")
        self.assertEqual(response["Cross-Origin-Opener-Policy"], "same-origin")
        self.assertEqual(response["X-Frame-Options"], "DENY")
        policy = dict(
            (part.split(" ", 1) + [""])[:2]
            for part in response["Content-Security-Policy"].split("; ")
        )
        self.assertEqual(policy["default-src"], "'none'")
        self.assertEqual(policy["script-src"], "'self'")
        self.assertEqual(policy["frame-ancestors"], "'none'")
        self.assertEqual(policy["object-src"], "'none'")
        self.assertNotIn("unsafe", response["Content-Security-Policy"])
        self.assertTrue(policy["style-src"].startswith("'self' 'sha256-"))

    @override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_SSL_REDIRECT=True)
    def test_an_admin_page_carries_them(self) -> None:
        self.client.force_login(self.root)
        response = self.client.get("/admin/mailboxes/tenant/", secure=True)
        self.assertEqual(response.status_code, 200)
        self.assert_secure_headers(response)
        self.assertIn("max-age=31536000", response["Strict-Transport-Security"])

    @override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_SSL_REDIRECT=True)
    def test_an_api_answer_carries_them(self) -> None:
        response = self.client.get(
            f"/api/v1/tenants/{self.tenant.pk}/",
            secure=True,
            HTTP_AUTHORIZATION=f"Bearer {self.key}",
        )
        self.assertEqual(response.status_code, 200)
        self.assert_secure_headers(response)
        self.assertIn("max-age=31536000", response["Strict-Transport-Security"])

    def test_the_api_docs_load_their_script_from_a_file(self) -> None:
        # No inline script on the Swagger UI page: the CSP would block it.
        page = self.client.get("/api/docs/")
        self.assertEqual(page.status_code, 200)
        html = page.content.decode()
        self.assertNotIn("<script>", html)
        self.assertIn('src="/api/docs/?script=', html)
        script = self.client.get("/api/docs/?script=")
        self.assertEqual(script["Content-Type"], "application/javascript")
        self.assertIn(b"SwaggerUIBundle", script.content)


def test_only_literal_style_blocks_of_templates_are_allowed(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<style>\n  .x { color: red; }\n</style>")
    (tmp_path / "b.html").write_text("<style>{{ user_controlled }}</style>")
    blocks = literal_style_blocks([tmp_path])
    assert blocks == {"\n  .x { color: red; }\n"}
    policy = build_policy(CSP, inline_styles=blocks)
    assert f"style-src 'self' {csp_hash(blocks.pop())};" in policy
    # The known value for this text, as a browser computes it.
    assert csp_hash("") == "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"


# --- The demo refuses a production configuration ------------------------------------------
@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("run_demo", "run_demo is the demo and only runs in demo mode (DEBUG=1)"),
        ("emulate_providers", "The provider emulator is disabled in this configuration"),
    ],
)
def test_demo_tools_refuse_production_without_a_traceback(
    tmp_path: Path, command: str, message: str
) -> None:
    result = manage(tmp_path, command)
    assert result.returncode == 1
    assert f"CommandError: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "clawback.sqlite3").exists()  # nothing migrated or seeded


class DemoRefusalTests(TestCase):
    @override_settings(DEMO=False, ALLOW_PROVIDER_EMULATOR=False)
    def test_run_demo_refuses_outside_demo_mode(self) -> None:
        out = StringIO()
        with self.assertRaisesMessage(CommandError, "only runs in demo mode (DEBUG=1)"):
            call_command("run_demo", stdout=out)
        self.assertNotIn("DEMO", out.getvalue())

    @override_settings(DEMO=False, ALLOW_PROVIDER_EMULATOR=False)
    def test_emulate_providers_refuses_outside_demo_mode(self) -> None:
        with self.assertRaisesMessage(CommandError, "ALLOW_PROVIDER_EMULATOR is false"):
            call_command("emulate_providers", stdout=StringIO())

    def test_run_demo_says_it_is_a_demo_first(self) -> None:
        import socket

        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            out = StringIO()
            with self.assertRaisesMessage(CommandError, f"Port {port} is already in use"):
                call_command("run_demo", "--port", str(port), stdout=out)
        self.assertIn("THIS IS THE CLAWBACK DEMO, NOT A PRODUCTION SETUP.", out.getvalue())
