"""Another tenant's rows do not exist: every registered admin, every door, for the outsider.

The loops run over admin.site._registry, so a model registered tomorrow is covered
(or fails until it is given a row in AdminTestCase.alpha_rows).
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.test import SimpleTestCase
from django.urls import reverse

from mailboxes.admin_base import TenantFilter
from mailboxes.admin_site import AccessControlled
from tests.admin.helpers import AdminTestCase, admin_url, alpha_markers_in, change_url


def scoped_admins() -> dict:
    return {m: a for m, a in admin.site._registry.items() if isinstance(a, AccessControlled)}


def superuser_only_admins() -> dict:
    return {m: a for m, a in admin.site._registry.items() if not isinstance(a, AccessControlled)}


def autocomplete_source(model: type):
    """Some foreign key pointing at `model`, to ask the autocomplete view through."""
    for source in apps.get_models():
        for field in source._meta.get_fields():
            if field.many_to_one and field.concrete and field.remote_field.model is model:
                return source, field
    return None, None


class OutsiderTests(AdminTestCase):
    def test_it_has_alpha_rows_for_every_scoped_admin(self) -> None:
        missing = set(scoped_admins()) - set(self.alpha_rows())
        self.assertFalse(missing, f"registered without isolation test data: {missing}")

    def test_it_answers_404_on_alpha_change_and_history_pages(self) -> None:
        for model, row in self.alpha_rows().items():
            with self.subTest(model=model.__name__):
                for url in (change_url(row), admin_url(row, "history", row.pk)):
                    self.assertEqual(self.get_as(self.charlie, url).status_code, 404, url)
                # The positive control: the same page exists for whoever may see it.
                self.assertEqual(self.get_as(self.root, change_url(row)).status_code, 200)

    def test_it_never_lets_the_outsider_post_or_delete_alpha_rows(self) -> None:
        for model, row in self.alpha_rows().items():
            with self.subTest(model=model.__name__):
                response = self.post_as(self.charlie, change_url(row), {"name": "hijacked"})
                self.assertIn(response.status_code, (403, 404))
                response = self.post_as(
                    self.charlie, admin_url(row, "delete", row.pk), {"post": "yes"}
                )
                self.assertIn(response.status_code, (403, 404))
                self.assertTrue(model._default_manager.filter(pk=row.pk).exists())
                self.assertNotEqual(
                    getattr(model._default_manager.get(pk=row.pk), "name", ""), "hijacked"
                )

    def test_it_shows_no_alpha_row_filter_choice_or_name_in_changelists(self) -> None:
        for model in scoped_admins():
            with self.subTest(model=model.__name__):
                url = admin_url(model)
                response = self.get_as(self.charlie, url)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(alpha_markers_in(response.content.decode()), [])
                # Asking for alpha by filter or search finds nothing either.
                for params in ({"tenant__id__exact": self.alpha.pk}, {"q": "alpha"}):
                    response = self.get_as(self.charlie, url, **params)
                    self.assertEqual(alpha_markers_in(response.content.decode()), [], params)
                # The positive control: root does see alpha there.
                self.assertNotEqual(
                    alpha_markers_in(self.get_as(self.root, url).content.decode()), []
                )

    def test_it_shows_no_alpha_name_on_the_outsiders_own_change_pages(self) -> None:
        for model, row in self.rows_of("beta").items():
            with self.subTest(model=model.__name__):
                response = self.get_as(self.charlie, change_url(row))
                self.assertEqual(response.status_code, 200)
                self.assertEqual(alpha_markers_in(response.content.decode()), [])
        group = self.beta_objects["group"]
        response = self.get_as(self.charlie, change_url(group))
        self.assertContains(response, 'name="memberships-0-member"')  # the editable inline
        self.assertEqual(alpha_markers_in(response.content.decode()), [])

    def test_it_offers_no_alpha_choice_on_add_pages(self) -> None:
        for model in scoped_admins():
            with self.subTest(model=model.__name__):
                response = self.get_as(self.charlie, admin_url(model, "add"))
                self.assertIn(response.status_code, (200, 403))
                self.assertEqual(alpha_markers_in(response.content.decode()), [])
        # Charlie's tenant dropdown for a new mailbox holds beta only.
        form = (
            self.get_as(self.charlie, admin_url(self.beta_objects["mailbox"], "add"))
            .context["adminform"]
            .form
        )
        self.assertEqual(list(form.fields["tenant"].queryset), [self.beta])

    def test_it_returns_no_alpha_row_from_autocomplete(self) -> None:
        rows = self.alpha_rows()
        checked = 0
        for model, model_admin in admin.site._registry.items():
            source, field = autocomplete_source(model)
            if source is None or not model_admin.search_fields:
                continue
            params = {
                "app_label": source._meta.app_label,
                "model_name": source._meta.model_name,
                "field_name": field.name,
                "term": "",
            }
            with self.subTest(model=model.__name__, via=f"{source.__name__}.{field.name}"):
                response = self.get_as(self.charlie, reverse("admin:autocomplete"), **params)
                if not isinstance(model_admin, AccessControlled):
                    self.assertEqual(response.status_code, 403)
                    continue
                ids = {r["id"] for r in response.json()["results"]}
                self.assertNotIn(str(rows[model].pk), ids)
                self.assertEqual(alpha_markers_in(response.content.decode()), [])
                root_ids = {
                    r["id"]
                    for r in self.get_as(self.root, reverse("admin:autocomplete"), **params).json()[
                        "results"
                    ]
                }
                self.assertIn(str(rows[model].pk), root_ids)
                checked += 1
        self.assertGreaterEqual(checked, 3)

    def test_it_answers_404_to_tenant_admins_on_other_tenants(self) -> None:
        self.assertEqual(self.get_as(self.alice, change_url(self.beta)).status_code, 404)
        self.assertEqual(
            self.get_as(self.alice, change_url(self.beta_objects["message"])).status_code, 404
        )


class FilterTests(SimpleTestCase):
    def test_it_scopes_every_related_list_filter(self) -> None:
        from django.contrib.admin.utils import get_fields_from_path

        for model, model_admin in scoped_admins().items():
            for item in model_admin.list_filter:
                path, spec = item if isinstance(item, tuple) else (item, None)
                if not isinstance(path, str):
                    continue  # a SimpleListFilter computes its own choices
                field = get_fields_from_path(model, path)[-1]
                if field.is_relation:
                    with self.subTest(model=model.__name__, filter=path):
                        self.assertTrue(
                            spec is TenantFilter
                            or (spec and issubclass(spec, admin.RelatedOnlyFieldListFilter)),
                            f"{model.__name__}.{path} lists every tenant's rows",
                        )


class SuperuserOnlyTests(AdminTestCase):
    def test_it_keeps_unscoped_models_to_superusers(self) -> None:
        others = superuser_only_admins()
        self.assertIn("auth.user", {m._meta.label_lower for m in others})
        for model in others:
            with self.subTest(model=model._meta.label):
                for user in (self.alice, self.charlie, self.vera):
                    self.assertEqual(self.get_as(user, admin_url(model)).status_code, 403)
                    self.assertEqual(self.get_as(user, admin_url(model, "add")).status_code, 403)
                self.assertEqual(self.get_as(self.root, admin_url(model)).status_code, 200)

    def test_it_lists_only_tenant_models_on_a_members_index(self) -> None:
        html = self.get_as(self.alice, reverse("admin:index")).content.decode()
        self.assertIn(admin_url(self.alpha), html)
        self.assertNotIn("/admin/auth/", html)
        self.assertNotIn("/admin/django_q/", html)
        self.assertIn(
            "/admin/auth/", self.get_as(self.root, reverse("admin:index")).content.decode()
        )
