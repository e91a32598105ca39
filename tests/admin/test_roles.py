"""Who may do what: viewer reads, analyst reads, tenant admin manages, only root adds tenants."""

from __future__ import annotations

from django.contrib import admin

from mailboxes.admin_site import AccessControlled
from mailboxes.models import ApiKey, AuditEvent, Mailbox, Membership, Tenant
from mailboxes.vocabulary import Disposition, PolicyAction
from retraction.models import RetractionPolicy
from tests.admin.helpers import AdminTestCase, admin_url, change_url


class ViewerTests(AdminTestCase):
    def rows_vera_can_see(self) -> dict:
        return {**self.alpha_rows(), ApiKey: self.vera_key}

    def test_it_shows_every_alpha_page_to_the_viewer(self) -> None:
        for model, row in self.rows_vera_can_see().items():
            with self.subTest(model=model.__name__):
                self.assertEqual(self.get_as(self.vera, admin_url(model)).status_code, 200)
                self.assertEqual(self.get_as(self.vera, change_url(row)).status_code, 200)

    def test_it_refuses_every_change_and_delete_to_the_viewer(self) -> None:
        for model, row in self.rows_vera_can_see().items():
            with self.subTest(model=model.__name__):
                response = self.post_as(self.vera, change_url(row), {"name": "changed"})
                self.assertEqual(response.status_code, 403)
                response = self.post_as(
                    self.vera, admin_url(row, "delete", row.pk), {"post": "yes"}
                )
                self.assertEqual(response.status_code, 403)
                self.assertTrue(model._default_manager.filter(pk=row.pk).exists())

    def test_it_refuses_every_add_to_the_viewer_but_her_own_api_keys(self) -> None:
        for model, model_admin in admin.site._registry.items():
            if not isinstance(model_admin, AccessControlled) or model is ApiKey:
                continue
            with self.subTest(model=model.__name__):
                self.assertEqual(self.get_as(self.vera, admin_url(model, "add")).status_code, 403)
                self.assertEqual(self.post_as(self.vera, admin_url(model, "add")).status_code, 403)

    def test_it_shows_the_viewer_no_change_controls(self) -> None:
        response = self.get_as(self.vera, change_url(self.alpha_objects["policy"]))
        self.assertNotContains(response, 'name="_save"')
        self.assertNotContains(response, 'name="action"')


class AnalystTests(AdminTestCase):
    def test_it_refuses_policy_changes_to_the_analyst(self) -> None:
        policy = self.alpha_objects["policy"]
        response = self.post_as(
            self.bob, change_url(policy), {"action": PolicyAction.HARD_DELETE, "enabled": "on"}
        )
        self.assertEqual(response.status_code, 403)
        policy.refresh_from_db()
        self.assertNotEqual(policy.action, PolicyAction.HARD_DELETE)

    def test_it_shows_the_analyst_no_credential_field(self) -> None:
        response = self.get_as(self.bob, change_url(self.alpha))
        self.assertEqual(response.status_code, 200)
        for name in ("ms_client_secret", "ms_certificate_private_key", "clear_credentials"):
            self.assertNotContains(response, f'name="{name}"')
        self.assertContains(response, "none")  # the credentials summary

    def test_it_refuses_credential_changes_to_the_analyst(self) -> None:
        response = self.post_as(
            self.bob, change_url(self.alpha), {"name": "Alpha Corp", "ms_client_secret": "x" * 20}
        )
        self.assertEqual(response.status_code, 403)
        self.alpha.refresh_from_db()
        self.assertFalse(self.alpha.has_credentials)

    def test_it_refuses_membership_and_mailbox_writes_to_the_analyst(self) -> None:
        self.assertEqual(self.get_as(self.bob, admin_url(Membership, "add")).status_code, 403)
        self.assertEqual(self.get_as(self.bob, admin_url(Mailbox, "add")).status_code, 403)
        membership = Membership.objects.get(user=self.vera)
        response = self.post_as(self.bob, change_url(membership), {"role": "admin"})
        self.assertEqual(response.status_code, 403)
        membership.refresh_from_db()
        self.assertEqual(membership.role, "viewer")


class TenantAdminTests(AdminTestCase):
    def test_it_lets_the_tenant_admin_change_a_policy_through_the_service(self) -> None:
        policy = RetractionPolicy.objects.get(tenant=self.alpha, disposition=Disposition.SPAM)
        response = self.post_as(self.alice, change_url(policy), {"action": PolicyAction.TRASH})
        self.assertRedirects(response, admin_url(RetractionPolicy))
        policy.refresh_from_db()
        self.assertEqual((policy.action, policy.enabled), (PolicyAction.TRASH, False))
        self.assertEqual(policy.updated_by, self.alice)
        event = AuditEvent.objects.get(action="policy.updated")
        self.assertEqual(event.tenant, self.alpha)
        self.assertEqual(event.data["via"], "admin")
        self.assertEqual(event.data["after"], {"action": "trash", "enabled": False})

    def test_it_keeps_the_tenant_admin_off_msp_fields(self) -> None:
        response = self.post_as(
            self.alice,
            change_url(self.alpha),
            {
                "name": "Alpha Corporation",
                "slug": "stolen",
                "provider": "google",
                "domains": "x.com",
            },
        )
        self.assertEqual(response.status_code, 302)
        self.alpha.refresh_from_db()
        self.assertEqual(self.alpha.name, "Alpha Corporation")
        self.assertEqual((self.alpha.slug, self.alpha.provider), ("alpha-corp", "microsoft"))
        self.assertEqual(self.alpha.domains, ["alpha.example"])
        event = AuditEvent.objects.get(action="tenant.changed")
        self.assertEqual(event.data["fields"], ["name"])

    def test_it_lets_the_tenant_admin_correct_a_mailbox_and_audits_it(self) -> None:
        mailbox = self.alpha_objects["shared"]
        response = self.post_as(
            self.alice,
            change_url(mailbox),
            {"kind": "group", "display_name": "Front desk", "external_id": ""},
        )
        self.assertEqual(response.status_code, 302)
        mailbox.refresh_from_db()
        self.assertEqual((mailbox.kind, mailbox.display_name), ("group", "Front desk"))
        self.assertTrue(AuditEvent.objects.filter(action="mailbox.changed", tenant=self.alpha))

    def test_it_limits_bulk_deletes_to_tenants_where_the_user_is_admin(self) -> None:
        # alice is admin on alpha, viewer on beta: she sees beta's mailboxes, may not delete them.
        Membership.objects.create(user=self.alice, tenant=self.beta, role="viewer")
        alpha_box, beta_box = self.alpha_objects["shared"], self.beta_objects["shared"]
        data = {"action": "delete_selected", "_selected_action": [alpha_box.pk, beta_box.pk]}
        response = self.post_as(self.alice, admin_url(Mailbox), data)
        self.assertContains(response, "have permission to delete the following")
        response = self.post_as(self.alice, admin_url(Mailbox), {**data, "post": "yes"})
        self.assertEqual(response.status_code, 403)
        self.assertTrue(Mailbox.objects.filter(pk__in=[alpha_box.pk, beta_box.pk]).count() == 2)


class OwnerTests(AdminTestCase):
    def test_it_lets_only_root_add_tenants(self) -> None:
        for user in (self.alice, self.bob, self.vera, self.charlie):
            self.assertEqual(self.get_as(user, admin_url(Tenant, "add")).status_code, 403)
        self.assertEqual(self.get_as(self.root, admin_url(Tenant, "add")).status_code, 200)

    def test_it_creates_a_tenant_with_default_policies_through_the_service(self) -> None:
        response = self.post_as(
            self.root,
            admin_url(Tenant, "add"),
            {
                "name": "Gamma GmbH",
                "slug": "gamma",
                "provider": "microsoft",
                "domains": "gamma.example, Gamma.test",
                "ingestion_mode": "api",
                "ms_client_secret": "gamma-client-secret-value",
            },
        )
        self.assertEqual(response.status_code, 302)
        gamma = Tenant.objects.get(slug="gamma")
        self.assertEqual(gamma.domains, ["gamma.example", "gamma.test"])
        self.assertEqual(gamma.get_credentials(), {"client_secret": "gamma-client-secret-value"})
        self.assertEqual(RetractionPolicy.objects.for_tenant(gamma).count(), 5)
        event = AuditEvent.objects.get(action="tenant.created", tenant=gamma)
        self.assertEqual((event.actor, event.data["via"]), (self.root, "admin"))

    def test_it_deletes_no_tenant_from_the_admin(self) -> None:
        response = self.post_as(
            self.root, admin_url(self.alpha, "delete", self.alpha.pk), {"post": "yes"}
        )
        self.assertEqual(response.status_code, 403)


class AuditTrailTests(AdminTestCase):
    def test_it_keeps_audit_events_read_only_even_for_root(self) -> None:
        event = AuditEvent.objects.filter(tenant=self.alpha).earliest("id")
        self.assertEqual(self.get_as(self.root, admin_url(AuditEvent, "add")).status_code, 403)
        response = self.post_as(self.root, change_url(event), {"action": "forged"})
        self.assertEqual(response.status_code, 403)
        response = self.post_as(self.root, admin_url(event, "delete", event.pk), {"post": "yes"})
        self.assertEqual(response.status_code, 403)
        response = self.post_as(
            self.root,
            admin_url(AuditEvent),
            {"action": "delete_selected", "_selected_action": [event.pk]},
        )
        self.assertTrue(AuditEvent.objects.filter(pk=event.pk, action="tenant.created").exists())
        page = self.get_as(self.root, admin_url(AuditEvent))
        self.assertNotContains(page, 'name="_selected_action"')

    def test_it_shows_a_tenants_audit_events_to_its_viewer(self) -> None:
        response = self.get_as(self.vera, admin_url(AuditEvent))
        self.assertContains(response, "tenant.created")
        self.assertContains(response, "Alpha Corp")
