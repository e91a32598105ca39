"""A tenant's secrets never leave the encrypted column.

Each tenant holds a recognisable secret (a client secret, a certificate's private
key, a Google service-account key); the provider emulator refuses all three, so
verifying and calling the provider fail. None of the secrets may then appear in
the admin, the API, log records, exception texts, reprs or Django's error reports
(the technical 500 page and the report mailed to ADMINS). Pages and API answers for
tenants that never fail are covered by tests/admin/test_credentials.py and
tests/api/test_secrets.py.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path, reverse
from django.views.debug import get_exception_reporter_class

from config.security import SecretsExceptionReporterFilter
from mailboxes import crypto
from mailboxes.models import AuditEvent, AuthorizationStatus, Provider, Tenant
from mailboxes.providers import provider_for
from mailboxes.providers.base import ProviderError, WorkItem
from mailboxes.providers.emulator import Emulator
from mailboxes.providers.emulator.credentials import service_account_info
from mailboxes.services import api_key_issue, tenant_verify
from mailboxes.vocabulary import Action
from tests.emulated import ALPHA_CLIENT_ID, BETA_SERVICE_ACCOUNT, reset_client_caches
from tests.factories import make_tenant, make_user

CLIENT_SECRET = "ZZ-leak-marker-client-secret-4f1d9c"
SECRET_KEY = "ZZ-leak-marker-django-secret-key-" + "k" * 30
CREDENTIALS_KEY = Fernet.generate_key().decode()
DB_PASSWORD = "ZZ-leak-marker-db-password"
DATABASE_URL = f"postgres://clawback:{DB_PASSWORD}@db.internal:5432/clawback"
CREDENTIAL_KEYS_ENV = f"{CREDENTIALS_KEY},{Fernet.generate_key().decode()}"


@functools.cache
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@functools.cache
def certificate() -> dict[str, str]:
    """A private key and a thumbprint the emulator has never heard of."""
    key = serialization.load_pem_private_key(private_key_pem().encode(), password=None)
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303 (a certificate thumbprint)
    digest.update(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return {
        "certificate_private_key": private_key_pem(),
        "certificate_thumbprint": digest.finalize().hex().upper(),
    }


def service_account_key(emulator: Emulator) -> dict[str, Any]:
    info = service_account_info(BETA_SERVICE_ACCOUNT, emulator.google_token_uri)
    # Another key than the emulator's own; the emulator refuses the account (revoked below).
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {**info, "private_key": pem.decode()}


def fragments(secret: str) -> list[str]:
    """What must never show: the secret, and every line of key material in it."""
    lines = [line for line in secret.splitlines() if len(line) >= 16 and "-----" not in line]
    return [secret, *lines]


class World:
    def __init__(self, emulator: Emulator) -> None:
        reset_client_caches()
        directory = emulator.authority("alpha").rsplit("/", 1)[1]
        microsoft = {
            "provider": Provider.MICROSOFT,
            "domains": ["alpha.example"],
            "ms_directory_tenant_id": directory,
            "ms_client_id": ALPHA_CLIENT_ID,
            "provider_endpoint": emulator.https_url,
        }
        self.secret = make_tenant(
            "Alpha Secret",
            slug="alpha-secret",
            credentials={"client_secret": CLIENT_SECRET},
            **microsoft,
        )
        self.cert = make_tenant(
            "Alpha Cert", slug="alpha-cert", credentials=certificate(), **microsoft
        )
        self.sa_key = service_account_key(emulator)
        self.google = make_tenant(
            "Beta Google",
            Provider.GOOGLE,
            slug="beta-google",
            domains=["beta.example"],
            google_admin_subject="diego@beta.example",
            provider_endpoint=emulator.http_url,
            credentials={"service_account_info": self.sa_key},
        )
        emulator.state.revoke("beta", service_account=BETA_SERVICE_ACCOUNT)
        self.tenants = [self.secret, self.cert, self.google]
        self.root = make_user("root", superuser=True)
        self.forbidden = [
            *fragments(CLIENT_SECRET),
            *fragments(private_key_pem()),
            *fragments(self.sa_key["private_key"]),
            SECRET_KEY,
            CREDENTIALS_KEY,
            DB_PASSWORD,
        ] + [t.credentials_ciphertext[:24] for t in Tenant.objects.all_tenants()]

    def assert_clean(self, text: str, where: str) -> None:
        leaked = [secret[:20] + "…" for secret in self.forbidden if secret in text]
        assert not leaked, f"{where} shows {leaked}"


@pytest.fixture
def world(db: Any, emulator: Emulator, settings: Any) -> Iterator[World]:
    settings.ALLOW_PROVIDER_EMULATOR = True
    settings.PROVIDER_EMULATOR_CA = str(emulator.ca_path)
    settings.SECRET_KEY = SECRET_KEY
    settings.CREDENTIALS_KEYS = [CREDENTIALS_KEY]
    settings.DATABASE_URL = DATABASE_URL
    yield World(emulator)
    reset_client_caches()


@contextmanager
def every_log_record() -> Iterator[list[str]]:
    """Every record any logger emits meanwhile, at DEBUG, formatted with its traceback.

    Raw records, before the redacting filter of the configured handlers: the code
    itself must not log secrets; the filter is only the last line of defence.
    """
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_verifying_failing_credentials_leaks_nothing(world: World) -> None:
    with every_log_record() as logs:
        for tenant in world.tenants:
            tenant_verify(tenant=tenant, actor=world.root, via="test")
        client = Client()
        client.force_login(world.root)
        admin = client.post(
            reverse("admin:mailboxes_tenant_changelist"),
            {"action": "verify_connection", "_selected_action": [t.pk for t in world.tenants]},
            follow=True,
        )
        _, key = api_key_issue(user=world.root, name="leaks", actor=None)
        api = [
            client.post(f"/api/v1/tenants/{t.pk}/verify/", HTTP_AUTHORIZATION=f"Bearer {key}")
            for t in world.tenants
        ]
    for tenant in world.tenants:
        tenant.refresh_from_db()
        # The credentials really were refused: this is the failure path.
        assert tenant.authorization_status == AuthorizationStatus.UNAUTHORIZED, tenant.slug
        assert tenant.authorization_error
        world.assert_clean(tenant.authorization_error, f"{tenant.slug} authorization_error")
    assert "Not authorized" in admin.content.decode()
    world.assert_clean(admin.content.decode(), "admin verify action")
    for response in api:
        assert response.json()["authorization_status"] == "unauthorized"
        world.assert_clean(response.content.decode(), "API verify")
    for event in AuditEvent.objects.filter(action="tenant.verified"):
        world.assert_clean(repr(event.data), "audit event")
    assert any("token" in line.lower() for line in logs), "no log record captured"
    world.assert_clean("\n".join(logs), "log records")


def test_a_failing_provider_call_leaks_nothing(world: World) -> None:
    errors: list[ProviderError] = []
    details: list[str] = []
    with every_log_record() as logs:
        for tenant, mailbox in (
            (world.secret, "adele@alpha.example"),
            (world.cert, "adele@alpha.example"),
            (world.google, "isaiah@beta.example"),
        ):
            provider = provider_for(tenant)
            world.assert_clean(repr(provider), "repr of the provider client")
            with pytest.raises(ProviderError) as raised:
                provider.locate(mailbox, "<none@example>")
            errors.append(raised.value)
            outcomes = provider.perform_many([WorkItem(mailbox, "<none@example>", Action.TRASH)])
            assert not outcomes[0].ok
            details.append(outcomes[0].detail)
    for error in errors:
        assert error.reason == "not_authorized", error
        world.assert_clean(f"{error} {error.detail} {error!r} {error.args}", "ProviderError")
    world.assert_clean("\n".join(details), "outcome details")
    assert logs, "no log record captured"
    world.assert_clean("\n".join(logs), "log records")


def test_admin_pages_and_api_answers_leak_nothing_after_failures(world: World) -> None:
    for tenant in world.tenants:
        tenant_verify(tenant=tenant, actor=world.root, via="test")
    client = Client()
    client.force_login(world.root)
    urls = [reverse("admin:index"), reverse("admin:mailboxes_tenant_changelist")]
    for tenant in world.tenants:
        urls += [
            reverse("admin:mailboxes_tenant_change", args=[tenant.pk]),
            reverse("admin:mailboxes_tenant_history", args=[tenant.pk]),
            f"/api/v1/tenants/{tenant.pk}/",
        ]
    urls += [reverse("admin:mailboxes_auditevent_changelist"), "/api/v1/tenants/"]
    urls += [
        reverse("admin:mailboxes_auditevent_change", args=[event.pk])
        for event in AuditEvent.objects.all()
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        world.assert_clean(response.content.decode(), url)


def test_reprs_leak_nothing(world: World) -> None:
    for tenant in world.tenants:
        tenant.get_credentials()  # decrypted in memory, as a worker holds them
        for text in (repr(tenant), str(tenant), tenant.credentials_summary()):
            world.assert_clean(text, "tenant repr")
    world.assert_clean(repr(list(Tenant.objects.all_tenants())), "queryset repr")


# --- Error reports ----------------------------------------------------------------------
def crash_with_credentials(request: HttpRequest) -> HttpResponse:
    """A view that holds decrypted credentials when it fails, as a provider call would."""
    tenant = Tenant.objects.all_tenants().get(slug=request.POST["tenant"])
    credentials = tenant.get_credentials()
    config = {"tenant_id": tenant.ms_directory_tenant_id, **credentials}
    # A careless message that quotes the configuration, secret and all.
    raise RuntimeError(f"the provider client failed for {tenant.slug} with {config}")


urlpatterns = [path("crash/", crash_with_credentials)]


@pytest.mark.parametrize("debug", [True, False], ids=["technical-500", "report-to-admins"])
def test_error_reports_leak_nothing(world: World, debug: bool) -> None:
    client = Client(raise_request_exception=False)
    form = {
        "ms_client_secret": CLIENT_SECRET,
        "google_service_account_key": world.sa_key["private_key"],
    }
    with override_settings(DEBUG=debug, ROOT_URLCONF=__name__), every_log_record():
        reports: list[str] = []
        for tenant in world.tenants:
            response = client.post(
                "/crash/",
                {"tenant": tenant.slug, **form},
                # As runserver's WSGI environ carries the process environment.
                CLAWBACK_CREDENTIALS_KEYS=CREDENTIAL_KEYS_ENV,
                DATABASE_URL=DATABASE_URL,
                HTTP_AUTHORIZATION="Bearer cbk_deadbeef_ZZ-leak-marker-api-key",
            )
            assert response.status_code == 500
            if debug:
                assert b"the provider client failed" in response.content  # the technical page
                reports.append(response.content.decode())
            reports.append(_mailed_report(response.wsgi_request))
    assert "ZZ-leak-marker-api-key" not in "".join(reports)
    for report in reports:
        world.assert_clean(report, "error report")
        # The settings are shown, the database password is not.
        assert "postgres://clawback:********************@db.internal" in report


def _mailed_report(request: HttpRequest) -> str:
    """The text AdminEmailHandler mails for this failure (is_email, DEBUG off or on)."""
    try:
        crash_with_credentials(request)
    except RuntimeError:
        exc_info = sys.exc_info()
    reporter = get_exception_reporter_class(request)(request, *exc_info, is_email=True)
    return reporter.get_traceback_text() + reporter.get_traceback_html()


def test_the_technical_404_page_hides_the_settings(world: World) -> None:
    with override_settings(DEBUG=True):
        response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    world.assert_clean(response.content.decode(), "technical 404")


def test_the_filter_hides_secret_settings_and_url_passwords() -> None:
    report_filter = SecretsExceptionReporterFilter()
    cleansed = report_filter.cleansed_substitute
    assert report_filter.cleanse_setting("CREDENTIALS_KEYS", [CREDENTIALS_KEY]) == cleansed
    assert report_filter.cleanse_setting("CLAWBACK_CREDENTIALS_KEYS", CREDENTIALS_KEY) == cleansed
    assert report_filter.cleanse_setting("SECRET_KEY", SECRET_KEY) == cleansed
    assert report_filter.cleanse_setting("DATABASE_URL", DATABASE_URL) == (
        f"postgres://clawback:{cleansed}@db.internal:5432/clawback"
    )
    assert report_filter.cleanse_setting("REDIS_URL", "redis://:hunter2pw@redis:6379/0") == (
        f"redis://:{cleansed}@redis:6379/0"
    )
    assert report_filter.cleanse_setting("STATIC_URL", "static/") == "static/"


def test_the_log_filter_redacts_every_kind_of_secret(world: World) -> None:
    """The last line of defence: whatever a record says, known secrets are blanked."""
    for tenant in world.tenants:
        tenant.get_credentials()
    pem_line = private_key_pem().splitlines()[3]
    output = _Buffer()
    handler = logging.StreamHandler(output)
    handler.addFilter(crypto.RedactSecretsFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.leaks")
    logger.addHandler(handler)
    try:
        logger.error("secret %s", CLIENT_SECRET)
        logger.error("a key line %s", pem_line)
        logger.error("the whole key %s", world.sa_key["private_key"])
        try:
            raise ValueError(f"cannot load {private_key_pem()}")
        except ValueError:
            logger.exception("loading failed")
    finally:
        logger.removeHandler(handler)
    text = output.text
    assert text.count(crypto.REDACTED) >= 4
    world.assert_clean(text, "redacted log output")


class _Buffer:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
