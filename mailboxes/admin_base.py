"""The one scoped base for admin classes: rows, permissions, widgets and lists per tenant.

Rows: `get_queryset` goes through the model's `.for_user(request.user)`, so a row
of a tenant the user may not see does not exist for them; its change, history
and delete pages answer 404 (not Django's "perhaps it was deleted" redirect).

Permissions come from `mailboxes.access` roles, never from Django's per-model
auth permissions: each class names the role a tenant needs for view, add,
change and delete (`None` = nobody, superusers included: rows only services
write, and the audit trail). Without an object the question is "on any tenant"
(the index, the changelist, the add page); with one it is "on that row's
tenant". Bulk deletes are re-scoped to the tenants where the user holds the
delete role.

Widgets and lists: foreign-key choices are scoped (a new row's tenant is one
where the user holds the add role), related filters only list what the user
may see (`TenantFilter`, `RelatedOnlyFieldListFilter`), and large tables use
autocomplete (served by the related admin's scoped `get_queryset`), never
raw_id_fields, whose widget looks up the label of any id through the unscoped
default manager.

Speed on millions of rows: no full-count (`show_full_result_count = False`),
a `CappedPaginator` whose COUNT runs over at most `count_cap + 1` rows, no facet
counts, `list_select_related` on every class, and date filters from
`DateFieldListFilter` (fixed ranges) instead of `date_hierarchy`, whose
year/month links need a DISTINCT over the whole table.

Writes without a service of their own (mailboxes, memberships, group members)
are audited here; the others (tenants, policies, API keys) call their service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import flatten_fieldsets
from django.core.paginator import Paginator
from django.db import DataError, models
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest
from django.utils.functional import cached_property

from mailboxes.access import Role, roles_at_least
from mailboxes.admin_site import AccessControlled, tenant_roles
from mailboxes.audit import audit_record
from mailboxes.models import Tenant

COUNT_CAP = 10_000


def holds(request: HttpRequest, role: Role | str | None, tenant_id: int | None = None) -> bool:
    """Whether the user holds `role` on that tenant (or, without one, on any tenant)."""
    if role is None:
        return False
    roles = tenant_roles(request)
    if roles is None:
        return True
    enough = roles_at_least(role)
    if tenant_id is None:
        return any(held in enough for held in roles.values())
    return roles.get(tenant_id) in enough


def tenant_ids_holding(request: HttpRequest, role: Role | str) -> list[int] | None:
    """Tenant ids where the user holds `role`; None means every tenant."""
    roles = tenant_roles(request)
    if roles is None:
        return None
    enough = roles_at_least(role)
    return [tenant_id for tenant_id, held in roles.items() if held in enough]


def scoped_choices(request: HttpRequest, model: type[models.Model], role: Role | str) -> Any:
    """The rows of `model` a form may offer this user; nothing for unknown models."""
    manager = model._default_manager
    if model is Tenant:
        return manager.for_user(request.user, role)
    if hasattr(manager.get_queryset(), "for_user"):
        return manager.for_user(request.user)
    return manager.all() if tenant_roles(request) is None else manager.none()


class CappedPaginator(Paginator):
    """A paginator that never counts more than `cap + 1` rows (`capped` says it stopped)."""

    def __init__(self, *args: Any, cap: int = COUNT_CAP, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap = cap
        self.capped = False

    @cached_property
    def count(self) -> int:
        objects = self.object_list
        if isinstance(objects, models.QuerySet):
            # COUNT(*) over a LIMITed subquery: bounded work however big the table.
            n = objects.order_by().values("pk")[: self.cap + 1].count()
        else:
            n = len(objects)
        self.capped = n > self.cap
        return min(n, self.cap)


class TenantFilter(admin.RelatedFieldListFilter):
    """A tenant filter listing only the user's tenants, without scanning the filtered table."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        return [(t.pk, str(t)) for t in Tenant.objects.for_user(request.user).only("pk", "name")]


def adopt(obj: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved `obj` the row a service just created (pk and all)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


class ScopedModelAdmin(AccessControlled, admin.ModelAdmin):
    """What every Clawback admin class shares: 404 for invisible rows, bounded counts."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedPaginator
    count_cap = COUNT_CAP
    list_per_page = 100

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: Any,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> Paginator:
        return self.paginator(
            queryset, per_page, orphans, allow_empty_first_page, cap=self.count_cap
        )

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # A lookup in the address bar the database cannot take (a date past year 9999
        # once in UTC, an offset PostgreSQL refuses) is a bad parameter, not a 500:
        # Django answers those with the list and "?e=1".
        # (No transaction of its own: on SQLite every one takes the write lock; in
        # autocommit a refused statement spoils nothing.)
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, ValueError, DataError) as exc:
            raise IncorrectLookupParameters(exc) from exc

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str):
        # Missing and forbidden look the same: 404, never "perhaps it was deleted".
        raise Http404(f"No {opts.verbose_name} matches the given query.")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        # Declared form fields (secrets, user names) exist only where the page shows them
        # as editable, so a role that may not see them cannot post them either.
        # (fields=None is Django asking which fields the form has: leave it whole.)
        if "fields" not in kwargs:
            kwargs["fields"] = flatten_fieldsets(self.get_fieldsets(request, obj))
        if kwargs["fields"] is not None:
            editable = set(kwargs["fields"]) - set(self.get_readonly_fields(request, obj))
            unused = dict.fromkeys(n for n in self.form.declared_fields if n not in editable)
            if unused:
                kwargs["form"] = type(self.form.__name__, (self.form,), unused)
        return super().get_form(request, obj, change, **kwargs)


class TenantScopedAdmin(ScopedModelAdmin):
    """Base for the admin of a tenant-owned model (a `tenant` FK and a TenantScopedQuerySet)."""

    view_role: Role | None = Role.VIEWER
    add_role: Role | None = None
    change_role: Role | None = None
    delete_role: Role | None = None

    # --- rows ---------------------------------------------------------------------
    def tenant_id_of(self, obj: Any) -> int | None:
        return obj.tenant_id

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).for_user(request.user)

    # --- permissions ----------------------------------------------------------------
    def _holds(self, request: HttpRequest, role: Role | None, obj: Any = None) -> bool:
        return holds(request, role, None if obj is None else self.tenant_id_of(obj))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._holds(request, self.view_role, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._holds(request, self.add_role)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._holds(request, self.change_role, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._holds(request, self.delete_role, obj)

    # --- forms ------------------------------------------------------------------------
    def write_role(self, request: HttpRequest) -> Role:
        return self.add_role or self.change_role or Role.ADMIN

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        kwargs.setdefault(
            "queryset", scoped_choices(request, db_field.related_model, self.write_role(request))
        )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        kwargs.setdefault(
            "queryset", scoped_choices(request, db_field.related_model, self.write_role(request))
        )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        # A row never moves to another tenant.
        has_tenant = any(f.name == "tenant" for f in self.model._meta.fields)
        if obj is not None and has_tenant and "tenant" not in readonly:
            readonly.insert(0, "tenant")
        return readonly

    # --- writes (audited) ---------------------------------------------------------------
    def audit_data(self, obj: Any) -> dict[str, Any]:
        """What the audit event of a write on a row of this admin's model records."""
        return {}

    def audit(self, request: HttpRequest, obj: Any, verb: str, **data: Any) -> None:
        if isinstance(obj, self.model):
            data = {**self.audit_data(obj), **data}
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{verb}",
            tenant=obj if isinstance(obj, Tenant) else obj.tenant,
            target=obj,
            data=data,
            via="admin",
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            concrete = {f.name for f in obj._meta.concrete_fields}
            fields = [name for name in form.changed_data if name in concrete]
            if not fields:
                return
            obj.save(update_fields=fields)
            self.audit(request, obj, "changed", fields=fields)
        else:
            obj.save()
            self.audit(request, obj, "created")

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.audit(request, obj, "deleted")
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        allowed = tenant_ids_holding(request, self.delete_role or Role.ADMIN)
        if allowed is not None:
            queryset = queryset.filter(tenant_id__in=allowed)
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        formset.save()
        for obj in formset.new_objects:
            self.audit(request, obj, "created")
        for obj, fields in formset.changed_objects:
            self.audit(request, obj, "changed", fields=fields)
        for obj in formset.deleted_objects:
            self.audit(request, obj, "deleted")


class ReadOnlyAdminMixin:
    """No add, change or delete for anyone, superusers included; every field shown read-only."""

    add_role = change_role = delete_role = None
    actions = None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.fields or [f.name for f in self.model._meta.fields])


class TenantScopedInlineFormSet(BaseInlineFormSet):
    """Inline rows take the parent's tenant, and may only point at rows of that tenant."""

    def _construct_form(self, i: int, **kwargs: Any):
        form = super()._construct_form(i, **kwargs)
        tenant_id = getattr(self.instance, "tenant_id", None)
        if tenant_id is not None:
            form.instance.tenant_id = tenant_id
        return form

    def clean(self) -> None:
        super().clean()
        tenant_id = getattr(self.instance, "tenant_id", None)
        for form in self.forms:
            if not getattr(form, "cleaned_data", None) or self._should_delete_form(form):
                continue
            for name, value in list(form.cleaned_data.items()):
                if isinstance(value, models.Model) and getattr(value, "tenant_id", None) not in (
                    None,
                    tenant_id,
                ):
                    form.add_error(name, "Choose a row of the same tenant.")


class LatestOnlyInlineFormSet(TenantScopedInlineFormSet):
    """Shows only the first `limit` rows (in the inline's ordering); a read-only view."""

    limit = 20

    def get_queryset(self) -> Any:
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[: self.limit]
        return self._queryset


class TenantScopedInline(admin.TabularInline):
    """Inline of a tenant-owned model; roles are judged on the parent row's tenant."""

    formset = TenantScopedInlineFormSet
    view_role: Role | None = Role.VIEWER
    add_role: Role | None = None
    change_role: Role | None = None
    delete_role: Role | None = None
    extra = 0
    select_related: tuple[str, ...] = ()

    def _holds(self, request: HttpRequest, role: Role | None, obj: Any) -> bool:
        return holds(request, role, None if obj is None else obj.tenant_id)

    def get_queryset(self, request: HttpRequest) -> Any:
        qs = super().get_queryset(request).for_user(request.user)
        return qs.select_related(*self.select_related) if self.select_related else qs

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._holds(request, self.view_role, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._holds(request, self.add_role, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._holds(request, self.change_role, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._holds(request, self.delete_role, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        kwargs.setdefault(
            "queryset", scoped_choices(request, db_field.related_model, self.add_role or Role.ADMIN)
        )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyInline(TenantScopedInline):
    """A read-only list of related rows: every field shown, nothing editable."""

    formset = LatestOnlyInlineFormSet
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.fields or ())
