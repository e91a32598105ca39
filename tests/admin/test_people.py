"""Logging in by membership, memberships, API keys and group members in the admin."""

from __future__ import annotations

from django.contrib.messages import get_messages
from django.urls import reverse

from mailboxes.models import ApiKey, AuditEvent, GroupMembership, Membership
from mailboxes.models.tenancy import hash_api_key
from tests.admin.helpers import AdminTestCase, admin_url, change_url
from tests.factories import make_user


class LoginTests(AdminTestCase):
    def test_it_lets_a_member_without_is_staff_log_in(self) -> None:
        self.assertFalse(self.vera.is_staff)
        response = self.client.post(
            reverse("admin:login"),
            {"username": "vera", "password": "pw-veravera", "next": reverse("admin:index")},
        )
        self.assertRedirects(response, reverse("admin:index"))
        self.assertEqual(self.client.get(reverse("admin:index")).status_code, 200)

    def test_it_keeps_out_users_without_any_membership(self) -> None:
        make_user("nobody")
        response = self.client.post(
            reverse("admin:login"), {"username": "nobody", "password": "pw-nobodynobody"}
        )
        self.assertContains(response, "access to at least one tenant")
        self.client.force_login(make_user("staffer"))
        self.assertRedirects(
            self.client.get(admin_url(Membership)),
            f"{reverse('admin:login')}?next={admin_url(Membership)}",
        )


class MembershipTests(AdminTestCase):
    def test_it_lets_a_tenant_admin_add_a_member_by_user_name(self) -> None:
        dave = make_user("dave")
        response = self.post_as(
            self.alice,
            admin_url(Membership, "add"),
            {"tenant": self.alpha.pk, "username": "dave", "role": "analyst"},
        )
        self.assertEqual(response.status_code, 302)
        self.assertEqual(Membership.objects.get(user=dave).role, "analyst")
        event = AuditEvent.objects.get(action="membership.created")
        self.assertEqual(event.data, {"user": "dave", "role": "analyst", "via": "admin"})

    def test_it_offers_no_user_list_and_only_administered_tenants(self) -> None:
        form = self.get_as(self.alice, admin_url(Membership, "add")).context["adminform"].form
        self.assertNotIn("user", form.fields)
        self.assertEqual(list(form.fields["tenant"].queryset), [self.alpha])
        make_user("dave")
        response = self.post_as(
            self.alice,
            admin_url(Membership, "add"),
            {"tenant": self.beta.pk, "username": "dave", "role": "admin"},
        )
        self.assertContains(response, "Select a valid choice")
        self.assertFalse(Membership.objects.filter(user__username="dave").exists())

    def test_it_rejects_unknown_users_and_duplicates(self) -> None:
        for username, error in (("ghost", "no active user"), ("bob", "already has a role")):
            with self.subTest(username=username):
                response = self.post_as(
                    self.alice,
                    admin_url(Membership, "add"),
                    {"tenant": self.alpha.pk, "username": username, "role": "viewer"},
                )
                self.assertContains(response, error)
        self.assertEqual(Membership.objects.get(user=self.bob).role, "analyst")

    def test_it_lets_a_tenant_admin_change_and_remove_roles(self) -> None:
        membership = Membership.objects.get(user=self.vera)
        response = self.post_as(self.alice, change_url(membership), {"role": "analyst"})
        self.assertEqual(response.status_code, 302)
        membership.refresh_from_db()
        self.assertEqual(membership.role, "analyst")
        response = self.post_as(
            self.alice, admin_url(membership, "delete", membership.pk), {"post": "yes"}
        )
        self.assertEqual(response.status_code, 302)
        self.assertFalse(Membership.objects.filter(user=self.vera).exists())
        self.assertEqual(
            list(
                AuditEvent.objects.filter(action__startswith="membership.")
                .order_by("id")
                .values_list("action", flat=True)
            ),
            ["membership.changed", "membership.deleted"],
        )


class ApiKeyTests(AdminTestCase):
    def test_it_shows_a_new_key_exactly_once(self) -> None:
        response = self.post_as(self.alice, admin_url(ApiKey, "add"), {"name": "siem"})
        self.assertRedirects(response, admin_url(ApiKey))
        notes = [str(m) for m in get_messages(response.wsgi_request)]
        raw = next(w for note in notes for w in note.split() if w.startswith("cbk_"))
        key = ApiKey.objects.get(name="siem")
        self.assertEqual((key.user, key.key_hash), (self.alice, hash_api_key(raw)))
        self.assertEqual(ApiKey.lookup(raw), key)
        page = self.get_as(self.alice, admin_url(ApiKey)).content.decode()
        self.assertNotIn(raw, page)
        self.assertIn(f"cbk_{key.prefix}_", page)
        self.assertNotIn(raw, self.get_as(self.alice, change_url(key)).content.decode())
        self.assertTrue(AuditEvent.objects.filter(action="api_key.issued", target_id=key.pk))

    def test_it_issues_keys_for_others_only_to_superusers(self) -> None:
        self.post_as(self.alice, admin_url(ApiKey, "add"), {"name": "sneaky", "username": "bob"})
        self.assertEqual(ApiKey.objects.get(name="sneaky").user, self.alice)
        self.post_as(self.root, admin_url(ApiKey, "add"), {"name": "for-bob", "username": "bob"})
        self.assertEqual(ApiKey.objects.get(name="for-bob").user, self.bob)

    def test_it_lists_only_the_users_own_keys(self) -> None:
        page = self.get_as(self.alice, admin_url(ApiKey)).content.decode()
        self.assertIn("alice-laptop", page)
        self.assertNotIn("vera-ci", page)
        self.assertEqual(self.get_as(self.alice, change_url(self.vera_key)).status_code, 404)

    def test_it_revokes_selected_keys_through_the_service(self) -> None:
        response = self.post_as(
            self.alice,
            admin_url(ApiKey),
            {"action": "revoke", "_selected_action": [self.alice_key.pk, self.charlie_key.pk]},
        )
        self.assertEqual(response.status_code, 302)
        self.alice_key.refresh_from_db()
        self.charlie_key.refresh_from_db()
        self.assertIsNotNone(self.alice_key.revoked_at)
        self.assertIsNone(self.charlie_key.revoked_at)  # not hers: not even selectable
        self.assertEqual(
            AuditEvent.objects.filter(action="api_key.revoked").get().target_id,
            str(self.alice_key.pk),
        )


class GroupMemberTests(AdminTestCase):
    def inline_post(self, group, member) -> dict:
        prefix = "memberships"
        return {
            "kind": "group",
            "display_name": "",
            "external_id": "",
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-0-member": member.pk,
            f"{prefix}-0-group": group.pk,
        }

    def test_it_lets_a_tenant_admin_add_a_group_member(self) -> None:
        group, shared = self.alpha_objects["group"], self.alpha_objects["shared"]
        response = self.post_as(self.alice, change_url(group), self.inline_post(group, shared))
        self.assertEqual(response.status_code, 302)
        membership = GroupMembership.objects.get(group=group, member=shared)
        self.assertEqual(membership.tenant, self.alpha)
        self.assertTrue(AuditEvent.objects.filter(action="groupmembership.created"))

    def test_it_refuses_a_member_of_another_tenant(self) -> None:
        group, foreign = self.alpha_objects["group"], self.beta_objects["shared"]
        response = self.post_as(self.root, change_url(group), self.inline_post(group, foreign))
        self.assertContains(response, "Choose a row of the same tenant.")
        self.assertFalse(GroupMembership.objects.filter(member=foreign, group=group).exists())

    def test_it_suggests_only_visible_mailboxes_as_members(self) -> None:
        params = {
            "app_label": "mailboxes",
            "model_name": "groupmembership",
            "field_name": "member",
            "term": "shared",
        }
        results = self.get_as(self.alice, reverse("admin:autocomplete"), **params).json()["results"]
        self.assertEqual([r["text"] for r in results], ["a-shared@alpha.example"])
