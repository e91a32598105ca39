"""Tenant credentials are write-only: validated, stored through the service, never shown."""

from __future__ import annotations

import json

from mailboxes.models import AuditEvent, Tenant
from tests.admin.helpers import AdminTestCase, admin_url, change_url, key_material

CLIENT_SECRET = "Zq8~clawback-DISTINCTIVE-client-secret-7731"
BAD_PEM = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"


def alpha_form(**fields: str) -> dict[str, str]:
    """What alice's tenant change form posts (the fields a tenant admin may edit)."""
    return {"name": "Alpha Corp", "ms_directory_tenant_id": "", "ms_client_id": "", **fields}


def service_account(**overrides: str) -> dict[str, str]:
    info = {
        "type": "service_account",
        "client_email": "clawback@beta-project.iam.gserviceaccount.com",
        "private_key": key_material()["key"],
        "private_key_id": "f00dfeed",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    info.update(overrides)
    return {k: v for k, v in info.items() if v is not None}


class CredentialFormTests(AdminTestCase):
    def pages(self, tenant: Tenant, user) -> list[str]:
        """Every admin page that shows the tenant or its audit trail, as `user` sees it."""
        urls = [
            admin_url(Tenant),
            change_url(tenant),
            admin_url(tenant, "history", tenant.pk),
            admin_url(AuditEvent),
        ]
        urls += [change_url(e) for e in AuditEvent.objects.filter(tenant=tenant)]
        return [self.get_as(user, url).content.decode() for url in urls]

    def assert_never_shown(self, secret: str, tenant: Tenant) -> None:
        for user in (self.alice, self.root) if tenant == self.alpha else (self.charlie, self.root):
            for html in self.pages(tenant, user):
                self.assertNotIn(secret, html)

    def test_it_stores_a_client_secret_through_the_service_and_never_shows_it(self) -> None:
        response = self.post_as(
            self.alice, change_url(self.alpha), alpha_form(ms_client_secret=CLIENT_SECRET)
        )
        self.assertEqual(response.status_code, 302)
        self.alpha.refresh_from_db()
        self.assertEqual(self.alpha.get_credentials(), {"client_secret": CLIENT_SECRET})
        event = AuditEvent.objects.get(action="tenant.credentials_changed")
        self.assertEqual((event.actor, event.data["via"]), (self.alice, "admin"))
        self.assertContains(self.get_as(self.alice, admin_url(Tenant)), "client secret")
        self.assert_never_shown(CLIENT_SECRET, self.alpha)

    def test_it_does_not_echo_secrets_after_a_failed_submission(self) -> None:
        material = key_material()
        response = self.post_as(
            self.alice,
            change_url(self.alpha),
            alpha_form(
                ms_client_secret=CLIENT_SECRET,
                ms_certificate_private_key=material["key"],
                ms_certificate=material["cert"],
            ),
        )
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Enter a client secret or a certificate, not both.")
        html = response.content.decode()
        self.assertNotIn(CLIENT_SECRET, html)
        self.assertNotIn(material["key"].splitlines()[1], html)
        self.alpha.refresh_from_db()
        self.assertFalse(self.alpha.has_credentials)
        self.assertFalse(AuditEvent.objects.filter(action="tenant.credentials_changed").exists())

    def test_it_stores_a_certificate_with_its_thumbprint(self) -> None:
        material = key_material()
        response = self.post_as(
            self.alice,
            change_url(self.alpha),
            alpha_form(ms_certificate_private_key=material["key"], ms_certificate=material["cert"]),
        )
        self.assertEqual(response.status_code, 302)
        self.alpha.refresh_from_db()
        creds = self.alpha.get_credentials()
        self.assertEqual(creds["certificate_thumbprint"], material["thumbprint"])
        self.assertEqual(creds["certificate_private_key"].strip(), material["key"].strip())
        self.assertEqual(
            self.alpha.credentials_summary(), f"certificate {material['thumbprint'][:8]}…"
        )
        self.assert_never_shown(material["key"].splitlines()[1], self.alpha)

    def test_it_accepts_a_typed_thumbprint(self) -> None:
        material = key_material()
        typed = ":".join(material["thumbprint"][i : i + 2] for i in range(0, 40, 2)).lower()
        self.post_as(
            self.alice,
            change_url(self.alpha),
            alpha_form(ms_certificate_private_key=material["key"], ms_certificate=typed),
        )
        self.alpha.refresh_from_db()
        self.assertEqual(
            self.alpha.get_credentials()["certificate_thumbprint"], material["thumbprint"]
        )

    def test_it_rejects_malformed_or_mismatched_certificates(self) -> None:
        material = key_material()
        cases = [
            (
                {
                    "ms_certificate_private_key": BAD_PEM,
                    "ms_certificate": material["thumbprint"],
                },
                "This is not a PEM private key",
            ),
            (
                {"ms_certificate_private_key": material["key"], "ms_certificate": "12AB"},
                "40 hexadecimal digits",
            ),
            (
                {
                    "ms_certificate_private_key": material["other_key"],
                    "ms_certificate": material["cert"],
                },
                "does not belong to the private key",
            ),
            ({"ms_certificate": material["cert"]}, "needs its private key as well"),
            (
                {"ms_certificate_private_key": material["key"]},
                "Enter the certificate or its thumbprint",
            ),
        ]
        for fields, error in cases:
            with self.subTest(error=error):
                response = self.post_as(self.alice, change_url(self.alpha), alpha_form(**fields))
                self.assertContains(response, error)
                self.assertNotIn(material["other_key"].splitlines()[1], response.content.decode())
                self.assertNotIn(material["key"].splitlines()[1], response.content.decode())
        self.alpha.refresh_from_db()
        self.assertFalse(self.alpha.has_credentials)

    def test_it_stores_a_google_service_account_key(self) -> None:
        info = service_account()
        response = self.post_as(
            self.charlie,
            change_url(self.beta),
            {
                "name": "Beta Ltd",
                "google_admin_subject": "",
                "google_service_account_key": json.dumps(info),
            },
        )
        self.assertEqual(response.status_code, 302)
        self.beta.refresh_from_db()
        self.assertEqual(self.beta.get_credentials(), {"service_account_info": info})
        self.assertEqual(self.beta.credentials_summary(), f"service account {info['client_email']}")
        self.assert_never_shown(info["private_key"].splitlines()[1], self.beta)

    def test_it_rejects_invalid_service_account_keys_and_stores_nothing(self) -> None:
        cases = [
            ("{not json", "This is not JSON"),
            (json.dumps(service_account(token_uri=None)), "The key file lacks token_uri."),
            (
                json.dumps(service_account(client_email=None, private_key=None)),
                "lacks client_email, private_key",
            ),
            (
                json.dumps(service_account(private_key="not a key but DISTINCTIVE-PK")),
                "is not a PEM private key",
            ),
            (json.dumps(service_account(type="authorized_user")), "not a service-account key"),
        ]
        for text, error in cases:
            with self.subTest(error=error):
                response = self.post_as(
                    self.charlie,
                    change_url(self.beta),
                    {
                        "name": "Beta Ltd",
                        "google_admin_subject": "",
                        "google_service_account_key": text,
                    },
                )
                self.assertContains(response, error)
                html = response.content.decode()
                self.assertNotIn("DISTINCTIVE-PK", html)
                self.assertNotIn(key_material()["key"].splitlines()[1], html)
        self.beta.refresh_from_db()
        self.assertFalse(self.beta.has_credentials)

    def test_it_refuses_credentials_of_the_other_provider(self) -> None:
        response = self.post_as(
            self.alice,
            change_url(self.alpha),
            alpha_form(google_service_account_key=json.dumps(service_account())),
        )
        # Alpha is on Microsoft 365: its form has no service-account field at all.
        self.assertEqual(response.status_code, 302)
        self.alpha.refresh_from_db()
        self.assertFalse(self.alpha.has_credentials)
        response = self.post_as(
            self.root,
            admin_url(Tenant, "add"),
            {
                "name": "G",
                "slug": "g",
                "provider": "google",
                "ingestion_mode": "api",
                "ms_client_secret": CLIENT_SECRET,
            },
        )
        self.assertContains(response, "This tenant is on Google Workspace")
        self.assertNotIn(CLIENT_SECRET, response.content.decode())
        self.assertFalse(Tenant.objects.filter(slug="g").exists())

    def test_it_keeps_stored_credentials_when_the_fields_stay_empty(self) -> None:
        self.alpha.set_credentials({"client_secret": CLIENT_SECRET})
        self.alpha.save()
        response = self.post_as(self.alice, change_url(self.alpha), alpha_form(name="Alpha Two"))
        self.assertEqual(response.status_code, 302)
        self.alpha.refresh_from_db()
        self.assertEqual(self.alpha.name, "Alpha Two")
        self.assertEqual(self.alpha.get_credentials(), {"client_secret": CLIENT_SECRET})
        self.assertFalse(AuditEvent.objects.filter(action="tenant.credentials_changed").exists())

    def test_it_clears_credentials_on_request(self) -> None:
        self.alpha.set_credentials({"client_secret": CLIENT_SECRET})
        self.alpha.save()
        response = self.post_as(
            self.alice, change_url(self.alpha), alpha_form(clear_credentials="on")
        )
        self.assertEqual(response.status_code, 302)
        self.alpha.refresh_from_db()
        self.assertFalse(self.alpha.has_credentials)
        self.assertEqual(
            AuditEvent.objects.get(action="tenant.credentials_changed").data["kind"], "none"
        )
        response = self.post_as(
            self.alice,
            change_url(self.alpha),
            alpha_form(clear_credentials="on", ms_client_secret=CLIENT_SECRET),
        )
        self.assertContains(response, "Either clear the credentials or enter new ones.")
        self.assertNotIn(CLIENT_SECRET, response.content.decode())

    def test_it_renders_every_secret_input_empty(self) -> None:
        self.alpha.set_credentials({"client_secret": CLIENT_SECRET})
        self.alpha.save()
        response = self.get_as(self.alice, change_url(self.alpha))
        self.assertContains(response, 'type="password" name="ms_client_secret"')
        self.assertContains(response, "client secret")  # the summary
        self.assertNotContains(response, CLIENT_SECRET)
