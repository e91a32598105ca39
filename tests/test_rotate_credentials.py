"""`manage.py rotate_credentials`: every stored credential moves to the newest key."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.test import TestCase, TransactionTestCase, override_settings

from mailboxes import crypto
from mailboxes.credentials_rotation import credentials_rotate
from mailboxes.models import AuditEvent, Provider, Tenant
from mailboxes.services import tenant_set_credentials
from tests.factories import make_tenant

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
LOST = Fernet.generate_key().decode()  # a key nobody configured any more

ALPHA = {"client_secret": "alpha-client-secret-rotation-1"}
BETA = {"service_account_info": {"client_email": "sa@beta.example", "private_key": "pk-beta-1"}}
GAMMA = {"certificate_private_key": "-----BEGIN PRIVATE KEY-----\ngamma\n", "thumbprint": "AB"}


def keys(*values: str) -> override_settings:
    return override_settings(CREDENTIALS_KEYS=list(values))


def rotate(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rotate_credentials", *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def readable_with(tenant: Tenant, *values: str) -> bool:
    tenant.refresh_from_db()
    with keys(*values):
        try:
            tenant.get_credentials()
        except crypto.CredentialsUnreadable:
            return False
    return True


class RotateCredentialsTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        with keys(OLD):
            cls.alpha = make_tenant("Alpha Corp", credentials=ALPHA)
            cls.beta = make_tenant("Beta Ltd", Provider.GOOGLE, credentials=BETA)
        with keys(NEW, OLD):
            cls.gamma = make_tenant("Gamma", credentials=GAMMA)  # already on the newest key
        cls.empty = make_tenant("No Credentials Yet")

    def ciphertexts(self) -> dict[str, str]:
        return dict(Tenant.objects.all_tenants().values_list("slug", "credentials_ciphertext"))

    def test_it_moves_old_rows_to_the_newest_key_and_keeps_them_readable(self) -> None:
        updated_at = {t.slug: t.credentials_updated_at for t in Tenant.objects.all_tenants()}
        with keys(NEW, OLD):
            out, err = rotate()
        self.assertIn("Rotated 2 of 3 stored credentials to the newest key; 1 already", out)
        self.assertIn("older keys can be removed", out)
        self.assertEqual(err, "")
        # Only the new key configured: everything still decrypts, to the same values.
        with keys(NEW):
            for tenant, expected in ((self.alpha, ALPHA), (self.beta, BETA), (self.gamma, GAMMA)):
                tenant.refresh_from_db()
                self.assertEqual(tenant.get_credentials(), expected)
        self.assertFalse(readable_with(self.alpha, OLD))
        self.assertEqual(self.ciphertexts()["no-credentials-yet"], "")
        # The secret did not change, so neither did its timestamp (nor the provider cache key).
        self.assertEqual(
            {t.slug: t.credentials_updated_at for t in Tenant.objects.all_tenants()}, updated_at
        )
        event = AuditEvent.objects.get(action="credentials.rotated")
        self.assertIsNone(event.actor)
        self.assertIn("(manage.py)", event.actor_label)
        self.assertEqual(
            event.data,
            {
                "checked": 3,
                "rotated": 2,
                "already_current": 1,
                "unreadable": 0,
                "unreadable_tenants": [],
                "via": "command",
            },
        )

    def test_it_is_idempotent(self) -> None:
        with keys(NEW, OLD):
            rotate()
            before = self.ciphertexts()
            out, _ = rotate()
        self.assertIn("Rotated 0 of 3 stored credentials to the newest key; 3 already", out)
        self.assertEqual(self.ciphertexts(), before)

    def test_it_works_in_small_batches(self) -> None:
        with keys(NEW, OLD):
            out, _ = rotate("--batch-size", "1")
        self.assertIn("Rotated 2 of 3", out)
        self.assertTrue(readable_with(self.beta, NEW))

    def test_a_dry_run_counts_old_rows_and_changes_nothing(self) -> None:
        before = self.ciphertexts()
        with keys(NEW, OLD):
            out, _ = rotate("--dry-run")
        self.assertIn("Dry run: 2 of 3 stored credentials are on an older key, 1 on the", out)
        self.assertEqual(self.ciphertexts(), before)
        self.assertFalse(readable_with(self.alpha, NEW))
        self.assertFalse(AuditEvent.objects.filter(action="credentials.rotated").exists())

    def test_it_reports_an_unreadable_row_and_rotates_the_others(self) -> None:
        with keys(LOST):
            lost = make_tenant("Lost Key Inc", credentials={"client_secret": "lost-secret-1234"})
        lost_token = Tenant.objects.get(pk=lost.pk).credentials_ciphertext
        with keys(NEW, OLD), self.assertRaises(CommandError) as raised:
            call_command(
                "rotate_credentials", "--no-progress", stdout=StringIO(), stderr=(err := StringIO())
            )
        self.assertIn("1 tenant(s) could not be decrypted: lost-key-inc", str(raised.exception))
        self.assertIn("CLAWBACK_CREDENTIALS_KEYS", str(raised.exception))
        self.assertIn(f"Tenant Lost Key Inc (lost-key-inc, id {lost.pk})", err.getvalue())
        self.assertTrue(readable_with(self.alpha, NEW))
        self.assertTrue(readable_with(self.beta, NEW))
        self.assertEqual(Tenant.objects.get(pk=lost.pk).credentials_ciphertext, lost_token)
        event = AuditEvent.objects.get(action="credentials.rotated")
        self.assertEqual((event.data["rotated"], event.data["unreadable"]), (2, 1))
        self.assertEqual(event.data["unreadable_tenants"], ["lost-key-inc"])

    def test_it_refuses_malformed_keys_with_a_clear_message(self) -> None:
        with keys("not-a-fernet-key"), self.assertRaises(CommandError) as raised:
            rotate()
        self.assertIn("CLAWBACK_CREDENTIALS_KEYS must be Fernet keys", str(raised.exception))

    def test_a_row_changed_meanwhile_is_not_rotated_again(self) -> None:
        # The row is read afresh under its lock: a token already on the newest key stays.
        from mailboxes.credentials_rotation import _rotate_row

        with keys(NEW, OLD):
            tenant_set_credentials(
                tenant=self.alpha, actor=None, credentials={"client_secret": "x-new-secret"}
            )
            token = Tenant.objects.get(pk=self.alpha.pk).credentials_ciphertext
            self.assertFalse(_rotate_row(self.alpha.pk))
        self.assertEqual(Tenant.objects.get(pk=self.alpha.pk).credentials_ciphertext, token)


class ExitStatusTests(TransactionTestCase):
    """As from the shell: a readable message and a non-zero exit, no traceback."""

    # run_from_argv closes the database connections, which a TestCase's transaction
    # would not survive.

    def test_it_exits_non_zero_without_a_traceback(self) -> None:
        from mailboxes.management.commands.rotate_credentials import Command

        with keys(LOST):
            make_tenant("Lost Key Inc", credentials={"client_secret": "lost-secret-1234"})
        with keys(OLD):
            make_tenant("Alpha Corp", credentials=ALPHA)
        out, err = StringIO(), StringIO()
        with keys(NEW, OLD), self.assertRaises(SystemExit) as exited:
            Command(stdout=out, stderr=err).run_from_argv(
                ["manage.py", "rotate_credentials", "--no-progress"]
            )
        self.assertEqual(exited.exception.code, 1)
        self.assertIn("Rotated 1 of 2", out.getvalue())
        self.assertIn(
            "CommandError: 1 tenant(s) could not be decrypted: lost-key-inc", err.getvalue()
        )
        self.assertNotIn("Traceback", err.getvalue())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
class ConcurrentChangeTests(TransactionTestCase):
    """A credential change committed while rotation waits for the row is kept."""

    def test_a_change_saved_during_rotation_is_never_lost(self) -> None:
        with keys(OLD):
            tenant = make_tenant("Alpha Corp", credentials=ALPHA)
        changed = {"client_secret": "changed-while-rotating-42"}
        locked, release, failures = threading.Event(), threading.Event(), []

        def admin_saves_new_credentials() -> None:
            try:
                with transaction.atomic():
                    row = Tenant.objects.all_tenants().select_for_update().get(pk=tenant.pk)
                    locked.set()
                    release.wait(60)
                    tenant_set_credentials(tenant=row, actor=None, credentials=changed)
            except Exception as exc:  # reported by the assertion below
                failures.append(exc)
                locked.set()
            finally:
                connections.close_all()

        def rotation() -> None:
            try:
                credentials_rotate(actor=None)
            except Exception as exc:  # reported by the assertion below
                failures.append(exc)
            finally:
                connections.close_all()

        # override_settings is process-wide, so both threads see these keys.
        with keys(NEW, OLD):
            writer = threading.Thread(target=admin_saves_new_credentials)
            writer.start()
            locked.wait(60)
            # The rotation reads the row on the old key, then waits for its lock...
            rotator = threading.Thread(target=rotation)
            rotator.start()
            try:
                self.wait_until_a_backend_waits_for_a_lock()
            finally:
                # ...which it gets once the new credentials are committed.
                release.set()
                writer.join(60)
            rotator.join(60)
        self.assertEqual(failures, [])
        tenant.refresh_from_db()
        with keys(NEW):
            self.assertEqual(tenant.get_credentials(), changed)

    def wait_until_a_backend_waits_for_a_lock(self) -> None:
        """Poll pg_stat_activity until the rotation blocks on the row lock."""
        with connection.cursor() as cursor:
            for _ in range(100_000):
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    return
        raise AssertionError("the rotation never waited for the locked row")


class WebhookSecretRotationTests(TestCase):
    """Webhook signing secrets are encrypted with the same keys: rotated with the rest."""

    def test_it_rotates_webhook_signing_secrets_too(self) -> None:
        from webhooks.models import WebhookEndpoint

        with keys(OLD):
            tenant = make_tenant("Hooked")
            endpoint = WebhookEndpoint(tenant=tenant, name="SIEM", url="https://siem.example/")
            endpoint.set_secret("whsec_rotation-test-secret-1")
            endpoint.save()
        with keys(NEW, OLD):
            out, _ = rotate()
        self.assertIn("Rotated 1 of 1", out)
        endpoint.refresh_from_db()
        with keys(NEW):
            self.assertEqual(endpoint.get_secret(), "whsec_rotation-test-secret-1")
