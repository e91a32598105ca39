"""THE role matrix: what each role gets from every API endpoint, admin view and admin action.

This table is the single source of truth for authorization. tests/matrix/test_role_matrix.py
fails when a routed API endpoint, an admin URL or an admin action is missing here (or an
entry names something that no longer exists), and then makes every request of the table
as each of the seven roles below, against tenant alpha's rows.

Notation: each entry names the *least* role that may (`least`) and what the URL or payload
points at (`scope`); each role's outcome is derived from those two by `expected()` below,
except where `special` says otherwise (with a comment saying why).

Keys: (kind, name, method) or (kind, name, method, variant):
- ("api", URL name, METHOD): a route under /api/ (router basename-action, e.g. message-retract);
- ("admin", URL name, METHOD): a URL of the admin site (unnamed ones by their route);
- ("action", "app_label.model_name:action", "POST"): an admin action, as get_actions names it;
- the variant (e.g. "hard_delete") is a second payload for the same door with its own rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# --- The roles (people of tests/base.py, seen from tenant alpha) -----------------------------
VIEWER = "viewer"  # vera: viewer on alpha
ANALYST = "analyst"  # bob: analyst on alpha
ADMIN = "admin"  # alice: tenant admin of alpha
SUPERUSER = "superuser"  # root: the MSP's owner, every tenant
OUTSIDER = "outsider"  # charlie: tenant admin of beta only
NOBODY = "nobody"  # nemo: signed in, is_staff, but a member of no tenant
ANONYMOUS = "anonymous"  # no API key, no session
ROLES = (VIEWER, ANALYST, ADMIN, SUPERUSER, OUTSIDER, NOBODY, ANONYMOUS)

# --- The least role an entry needs -------------------------------------------------------------
PUBLIC = "public"  # anyone, signed in or not
USER = "user"  # any signed-in caller the door admits (API: any user; admin: members, superusers)
NO_ONE = "no one"  # closed to everyone, superusers included
RANK = {USER: 0, VIEWER: 1, ANALYST: 2, ADMIN: 3, SUPERUSER: 4, NO_ONE: 5}
ALPHA_RANK = {VIEWER: 1, ANALYST: 2, ADMIN: 3, SUPERUSER: 4}
# What the two non-members of alpha hold elsewhere: charlie is admin of beta, nemo nothing.
OWN_RANK = {OUTSIDER: RANK[ADMIN], NOBODY: 0}

# --- What the URL or payload points at ---------------------------------------------------------
ALPHA = "alpha row"  # the URL names one of alpha's rows
LIST = "list"  # answers the rows of the caller's tenants (lists, summaries, exports)
NAMES_ALPHA = "names alpha"  # the payload or query names tenant alpha
SITE = "site"  # nothing of a tenant (a form page, the caller's own account)

# --- Outcomes ----------------------------------------------------------------------------------
OK = "ok"  # 2xx (admin: or a redirect elsewhere than the login page); a write took effect
EMPTY = "empty"  # 200 (admin: or a redirect), and not one of alpha's rows or names in it
FORBIDDEN = "403"
NOT_FOUND = "404"  # other tenants' rows do not exist (DESIGN.md: missing and forbidden look alike)
UNKNOWN_TENANT = "unknown tenant"  # API: 400 {"tenant": ...} or 404; admin: the form refuses
REFUSED = "refused"  # admin action not offered or finding nothing to act on: 200/302, no change
UNAUTHORIZED = "401"
LOGIN = "login"  # admin: redirect to the login page
TO_INDEX = "to index"  # admin: redirect to the admin index (Django's rule for logout)
CRASH = "crash"  # the view raises (a known bug of a third-party app, named where it is used)

API, VIEW, ACTION = "api", "admin", "action"


@dataclass(frozen=True)
class Rule:
    least: str
    scope: str = ALPHA
    # What a role below `least` gets (admin actions: REFUSED, the action is not offered).
    denied: str = FORBIDDEN
    special: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    kind: str = ""


def api(least: str, scope: str = ALPHA, **special: str) -> Rule:
    return Rule(least, scope, FORBIDDEN, MappingProxyType(special), API)


def view(least: str, scope: str = ALPHA, denied: str = FORBIDDEN, **special: str) -> Rule:
    return Rule(least, scope, denied, MappingProxyType(special), VIEW)


def action(least: str, denied: str = REFUSED, **special: str) -> Rule:
    return Rule(least, ALPHA, denied, MappingProxyType(special), ACTION)


def expected(rule: Rule, role: str) -> str:
    """The outcome for `role`, derived from the rule (see the module docstring)."""
    if role in rule.special:
        return rule.special[role]
    if rule.least == PUBLIC:
        return OK
    if role == ANONYMOUS:
        return UNAUTHORIZED if rule.kind == API else LOGIN
    if role == NOBODY and rule.kind != API:
        return LOGIN  # the admin admits members of a tenant and superusers, not is_staff
    need = RANK[rule.least]
    if role in ALPHA_RANK:
        return OK if ALPHA_RANK[role] >= need else rule.denied
    own = OWN_RANK[role]
    if rule.kind == API:
        # The API scopes before it checks roles: alpha's rows are simply not there.
        return {
            ALPHA: NOT_FOUND,
            LIST: EMPTY,
            NAMES_ALPHA: UNKNOWN_TENANT,
            SITE: OK if own >= need else FORBIDDEN,
        }[rule.scope]
    if own < need:
        return rule.denied
    return {
        ALPHA: NOT_FOUND if rule.kind == VIEW else REFUSED,
        LIST: EMPTY,
        NAMES_ALPHA: UNKNOWN_TENANT,
        SITE: OK,
    }[rule.scope]


def model_admin(
    label: str,
    *,
    view_: str,
    add: str,
    change: str,
    delete: str,
    add_scope: str = NAMES_ALPHA,
    special: dict[tuple[str, str], dict[str, str]] | None = None,
) -> dict[tuple[str, ...], Rule]:
    """The standard doors of one ModelAdmin; `view_`, `add`... are the least roles for each.

    The change page shows to whoever may view (read only) or change; history needs view.
    `special` maps (view, METHOD) to per-role exceptions.
    """
    app, model = label.split(".")
    name = f"{app}_{model}"
    special = special or {}

    def sp(door: str, method: str) -> dict[str, str]:
        return special.get((door, method), {})

    return {
        (VIEW, f"{name}_changelist", "GET"): view(view_, LIST, **sp("changelist", "GET")),
        (VIEW, f"{name}_add", "GET"): view(add, SITE, **sp("add", "GET")),
        (VIEW, f"{name}_add", "POST"): view(add, add_scope, **sp("add", "POST")),
        (VIEW, f"{name}_change", "GET"): view(view_, **sp("change", "GET")),
        (VIEW, f"{name}_change", "POST"): view(change, **sp("change", "POST")),
        (VIEW, f"{name}_delete", "GET"): view(delete, **sp("delete", "GET")),
        (VIEW, f"{name}_delete", "POST"): view(delete, **sp("delete", "POST")),
        (VIEW, f"{name}_history", "GET"): view(view_, **sp("history", "GET")),
        # Django's bare <id>/ URL: a redirect to <id>/change/, which then answers as above.
        (VIEW, f"{app}/{model}/<path:object_id>/", "GET"): view(USER, SITE),
    }


# Superuser-only admins (third-party apps wrapped in SuperuserOnlyAdmin at registration):
# every door needs a superuser; NO_ONE where the app's own admin offers no such door.
def superuser_only(label: str, *, add: bool = True, change: bool = True) -> dict:
    return model_admin(
        label,
        view_=SUPERUSER,
        add=SUPERUSER if add else NO_ONE,
        change=SUPERUSER if change else NO_ONE,
        delete=SUPERUSER,
        add_scope=SITE,
    )


# Alice's API key is the "alpha row" of the API key admin: keys are their owner's, so the
# other members of alpha do not see it at all (superusers see every key).
_NOT_HERS = {VIEWER: NOT_FOUND, ANALYST: NOT_FOUND}
# A hard delete from the admin with the tenant admin role but without a session signed in
# with a two-factor code: the form or the service refuses with a message, nothing is queued.
# Analysts are refused by the form (hard delete is not offered to them) in both variants.

TABLE: dict[tuple[str, ...], Rule] = {
    # --- REST API (/api/) ---------------------------------------------------------------------
    # Tenants
    (API, "tenant-list", "GET"): api(VIEWER, LIST),
    (API, "tenant-detail", "GET"): api(VIEWER),
    # Reaches no provider: alpha has no credentials, so the check ends "unauthorized" at once.
    (API, "tenant-verify", "POST"): api(ANALYST),
    # Mailboxes
    (API, "mailbox-list", "GET"): api(VIEWER, LIST),
    (API, "mailbox-detail", "GET"): api(VIEWER),
    # Messages
    (API, "message-list", "GET"): api(VIEWER, LIST),
    # A caller who may ingest into no tenant at all is refused before the payload is read.
    (API, "message-list", "POST"): api(ANALYST, NAMES_ALPHA, nobody=FORBIDDEN),
    (API, "message-raw", "POST"): api(ANALYST, NAMES_ALPHA),
    (API, "message-detail", "GET"): api(VIEWER),
    (API, "message-retract", "POST"): api(ANALYST),
    # Hard delete: tenant admin, confirm_hard_delete and the X-Clawback-OTP code...
    (API, "message-retract", "POST", "hard_delete"): api(ADMIN),
    # ... and without the code no one, superusers included.
    (API, "message-retract", "POST", "hard_delete without code"): api(NO_ONE),
    (API, "message-undo", "POST"): api(ANALYST),
    (API, "message-reclassify", "POST"): api(ANALYST),
    # Policies
    (API, "policy-list", "GET"): api(VIEWER, LIST),
    (API, "policy-detail", "GET"): api(VIEWER),
    (API, "policy-detail", "PUT"): api(ADMIN),
    (API, "policy-detail", "PATCH"): api(ADMIN),
    # A live hard-delete policy is a standing hard delete: the same second factor.
    (API, "policy-detail", "PATCH", "hard_delete"): api(ADMIN),
    (API, "policy-detail", "PATCH", "hard_delete without code"): api(NO_ONE),
    # Retraction attempts and bulk jobs
    (API, "retraction-list", "GET"): api(VIEWER, LIST),
    (API, "retraction-detail", "GET"): api(VIEWER),
    (API, "retraction-job-list", "GET"): api(VIEWER, LIST),
    (API, "retraction-job-list", "POST"): api(ANALYST, NAMES_ALPHA),
    (API, "retraction-job-list", "POST", "hard_delete"): api(ADMIN, NAMES_ALPHA),
    (API, "retraction-job-list", "POST", "hard_delete without code"): api(NO_ONE, NAMES_ALPHA),
    (API, "retraction-job-detail", "GET"): api(VIEWER),
    (API, "retraction-job-cancel", "POST"): api(ANALYST),
    # The audit trail (read only; the export records an audit.exported event of its own)
    (API, "audit-event-list", "GET"): api(VIEWER, LIST),
    (API, "audit-event-detail", "GET"): api(VIEWER),
    (API, "audit-event-export", "GET"): api(VIEWER, LIST),
    # Webhooks: tenant admins manage endpoints, everyone reads them and the delivery log
    (API, "webhook-list", "GET"): api(VIEWER, LIST),
    (API, "webhook-list", "POST"): api(ADMIN, NAMES_ALPHA),
    (API, "webhook-detail", "GET"): api(VIEWER),
    (API, "webhook-detail", "PUT"): api(ADMIN),
    (API, "webhook-detail", "PATCH"): api(ADMIN),
    (API, "webhook-detail", "DELETE"): api(ADMIN),
    (API, "webhook-test", "POST"): api(ADMIN),
    (API, "webhook-rotate-secret", "POST"): api(ADMIN),
    (API, "webhook-delivery-list", "GET"): api(VIEWER, LIST),
    (API, "webhook-delivery-detail", "GET"): api(VIEWER),
    # The Retractions card's numbers
    (API, "metrics-retractions", "GET"): api(VIEWER, LIST),
    # The OpenAPI schema and its docs page are public (DESIGN.md, "for integrators").
    (API, "api-schema", "GET"): api(PUBLIC, SITE),
    (API, "api-docs", "GET"): api(PUBLIC, SITE),
    # --- Admin site: its own pages ------------------------------------------------------------
    (VIEW, "login", "GET"): view(PUBLIC, SITE),
    # admin_view sends whoever is not admitted from logout/ to the index, not to the login.
    (VIEW, "logout", "POST"): view(USER, SITE, nobody=TO_INDEX, anonymous=TO_INDEX),
    # The home page with the Retractions card, asked for alpha's numbers.
    (VIEW, "index", "GET"): view(USER, LIST),
    (VIEW, "password_change", "GET"): view(USER, SITE),
    (VIEW, "password_change", "POST"): view(USER, SITE),
    (VIEW, "password_change_done", "GET"): view(USER, SITE),
    (VIEW, "two_factor", "GET"): view(USER, SITE),
    (VIEW, "two_factor", "POST"): view(USER, SITE),
    (VIEW, "jsi18n", "GET"): view(USER, SITE),
    # Autocomplete of alpha's mailboxes (as the group members' widget asks).
    (VIEW, "autocomplete", "GET"): view(VIEWER, LIST),
    # No model has get_absolute_url: "view on site" is 404 for every row, visible or not.
    (VIEW, "view_on_site", "GET"): view(NO_ONE, denied=NOT_FOUND),
    # Unknown admin URLs: 404 once admitted.
    (VIEW, "(?P<url>.*)$", "GET"): view(NO_ONE, SITE, denied=NOT_FOUND),
    # An app's page lists the models the user may see; none visible is 404 (Django).
    (VIEW, "app_list[mailboxes]", "GET"): view(VIEWER, LIST),
    (VIEW, "app_list[retraction]", "GET"): view(VIEWER, LIST),
    (VIEW, "app_list[webhooks]", "GET"): view(VIEWER, LIST),
    (VIEW, "app_list[metrics]", "GET"): view(SUPERUSER, SITE, denied=NOT_FOUND),
    (VIEW, "app_list[auth]", "GET"): view(SUPERUSER, SITE, denied=NOT_FOUND),
    (VIEW, "app_list[django_q]", "GET"): view(SUPERUSER, SITE, denied=NOT_FOUND),
    (VIEW, "app_list[axes]", "GET"): view(SUPERUSER, SITE, denied=NOT_FOUND),
    (VIEW, "app_list[otp_totp]", "GET"): view(SUPERUSER, SITE, denied=NOT_FOUND),
    (VIEW, "app_list[otp_static]", "GET"): view(SUPERUSER, SITE, denied=NOT_FOUND),
    # --- Admin site: Clawback's models --------------------------------------------------------
    # Tenants: the MSP adds them, tenant admins rename and set credentials, no one deletes
    # (offboarding is not an admin click).
    **model_admin("mailboxes.tenant", view_=VIEWER, add=SUPERUSER, change=ADMIN, delete=NO_ONE),
    (VIEW, "mailboxes_tenant_verify", "GET"): view(ANALYST),  # a redirect to the tenant page
    (VIEW, "mailboxes_tenant_verify", "POST"): view(ANALYST),
    **model_admin("mailboxes.membership", view_=VIEWER, add=ADMIN, change=ADMIN, delete=ADMIN),
    # API keys: every member issues keys of their own; no key changes or is deleted (revoked
    # keys stay for the audit trail). The alpha row is alice's key.
    **model_admin(
        "mailboxes.apikey",
        view_=USER,  # each member lists their own keys
        add=USER,
        change=NO_ONE,
        delete=NO_ONE,
        add_scope=SITE,
        special={
            ("change", "GET"): _NOT_HERS,
            ("history", "GET"): _NOT_HERS,
        },
    ),
    **model_admin("mailboxes.mailbox", view_=VIEWER, add=ADMIN, change=ADMIN, delete=ADMIN),
    # Messages and their copies are written by ingestion and the retraction services only.
    **model_admin("mailboxes.message", view_=VIEWER, add=NO_ONE, change=NO_ONE, delete=NO_ONE),
    (VIEW, "mailboxes_message_upload", "GET"): view(ANALYST, SITE),
    (VIEW, "mailboxes_message_upload", "POST"): view(ANALYST, NAMES_ALPHA),
    (VIEW, "mailboxes_message_retract", "GET"): view(ANALYST),
    (VIEW, "mailboxes_message_retract", "POST"): view(ANALYST),
    (VIEW, "mailboxes_message_retract", "POST", "hard_delete"): view(ADMIN, analyst=REFUSED),
    # The outsider meets the 404 of the row before any role question.
    (VIEW, "mailboxes_message_retract", "POST", "hard_delete without code"): view(
        NO_ONE, denied=REFUSED, viewer=FORBIDDEN, outsider=NOT_FOUND
    ),
    (VIEW, "mailboxes_message_undo", "GET"): view(ANALYST),
    (VIEW, "mailboxes_message_undo", "POST"): view(ANALYST),
    (VIEW, "mailboxes_message_reclassify", "GET"): view(ANALYST),
    (VIEW, "mailboxes_message_reclassify", "POST"): view(ANALYST),
    # "Retract everything matching this search…", asked for alpha's messages.
    (VIEW, "mailboxes_message_retract_search", "GET"): view(ANALYST, LIST),
    (VIEW, "mailboxes_message_retract_search", "POST"): view(ANALYST, NAMES_ALPHA),
    **model_admin("mailboxes.delivery", view_=VIEWER, add=NO_ONE, change=NO_ONE, delete=NO_ONE),
    (VIEW, "mailboxes_delivery_retract", "GET"): view(ANALYST),
    (VIEW, "mailboxes_delivery_retract", "POST"): view(ANALYST),
    (VIEW, "mailboxes_delivery_undo", "GET"): view(ANALYST),
    (VIEW, "mailboxes_delivery_undo", "POST"): view(ANALYST),
    # The audit trail: read only for everyone; "Export CSV…" for whoever may read it.
    **model_admin("mailboxes.auditevent", view_=VIEWER, add=NO_ONE, change=NO_ONE, delete=NO_ONE),
    (VIEW, "mailboxes_auditevent_export", "GET"): view(VIEWER, LIST),
    (VIEW, "mailboxes_auditevent_export", "POST"): view(VIEWER, NAMES_ALPHA),
    # Policies: one row per tenant and disposition, created with the tenant, changed by its admin.
    **model_admin(
        "retraction.retractionpolicy", view_=VIEWER, add=NO_ONE, change=ADMIN, delete=NO_ONE
    ),
    (VIEW, "retraction_retractionpolicy_change", "POST", "hard_delete"): view(ADMIN),
    (VIEW, "retraction_retractionpolicy_change", "POST", "hard_delete without code"): view(
        NO_ONE, admin=REFUSED, superuser=REFUSED, outsider=NOT_FOUND
    ),
    **model_admin(
        "retraction.retractionattempt", view_=VIEWER, add=NO_ONE, change=NO_ONE, delete=NO_ONE
    ),
    **model_admin(
        "retraction.retractionjob", view_=VIEWER, add=NO_ONE, change=NO_ONE, delete=NO_ONE
    ),
    (VIEW, "retraction_retractionjob_cancel", "GET"): view(ANALYST),  # a redirect to the job
    (VIEW, "retraction_retractionjob_cancel", "POST"): view(ANALYST),
    **model_admin("webhooks.webhookendpoint", view_=VIEWER, add=ADMIN, change=ADMIN, delete=ADMIN),
    **model_admin(
        "webhooks.webhookdelivery", view_=VIEWER, add=NO_ONE, change=NO_ONE, delete=NO_ONE
    ),
    # --- Admin site: superusers only ----------------------------------------------------------
    **superuser_only("auth.user"),
    (VIEW, "auth_user_password_change", "GET"): view(SUPERUSER, SITE),
    (VIEW, "auth_user_password_change", "POST"): view(SUPERUSER, SITE),
    **superuser_only("auth.group"),
    **superuser_only("django_q.schedule"),
    **superuser_only("django_q.success", add=False),
    **superuser_only("django_q.failure", add=False),
    **superuser_only("django_q.ormq", add=False),
    **superuser_only("axes.accessattempt", add=False),
    **superuser_only("axes.accesslog", add=False),
    **superuser_only("axes.accessfailurelog", add=False),
    **superuser_only("otp_totp.totpdevice"),
    # OTP_ADMIN_HIDE_SENSITIVE_DATA: a device's key and QR code are shown to no one.
    (VIEW, "otp_totp_totpdevice_config", "GET"): view(NO_ONE, SITE),
    (VIEW, "otp_totp_totpdevice_qrcode", "GET"): view(NO_ONE, SITE),
    **superuser_only("otp_static.staticdevice"),
    # Rollup bookkeeping: computed by the nightly task, only deleted (to recompute) by hand.
    **model_admin(
        "metrics.rollupperiod",
        view_=SUPERUSER,
        add=NO_ONE,
        change=NO_ONE,
        delete=SUPERUSER,
        add_scope=SITE,
    ),
    # --- Admin actions ------------------------------------------------------------------------
    (ACTION, "mailboxes.tenant:verify_connection", "POST"): action(ANALYST),
    (ACTION, "mailboxes.membership:delete_selected", "POST"): action(ADMIN),
    # Offered to every member for their own keys; alice's key is not theirs to revoke.
    (ACTION, "mailboxes.apikey:revoke", "POST"): action(ADMIN, viewer=REFUSED, analyst=REFUSED),
    (ACTION, "mailboxes.mailbox:delete_selected", "POST"): action(ADMIN),
    (ACTION, "mailboxes.message:retract", "POST"): action(ANALYST),
    (ACTION, "mailboxes.message:retract", "POST", "hard_delete"): action(ADMIN),
    (ACTION, "mailboxes.message:retract", "POST", "hard_delete without code"): action(NO_ONE),
    (ACTION, "mailboxes.message:undo", "POST"): action(ANALYST),
    (ACTION, "mailboxes.message:reclassify", "POST"): action(ANALYST),
    (ACTION, "mailboxes.delivery:retract", "POST"): action(ANALYST),
    (ACTION, "mailboxes.delivery:undo", "POST"): action(ANALYST),
    (ACTION, "retraction.retractionjob:cancel_jobs", "POST"): action(ANALYST),
    (ACTION, "webhooks.webhookendpoint:delete_selected", "POST"): action(ADMIN),
    (ACTION, "webhooks.webhookendpoint:ping", "POST"): action(ADMIN),
    (ACTION, "webhooks.webhookendpoint:rotate_secret", "POST"): action(ADMIN),
    # Superuser-only admins: the changelist itself is closed to everyone else (403).
    (ACTION, "auth.user:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "auth.group:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "django_q.schedule:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "django_q.success:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "django_q.success:resubmit_task", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "django_q.failure:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "django_q.failure:resubmit_task", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "django_q.ormq:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "axes.accessattempt:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    # django-axes 8.3's own action crashes outside sign-in; mailboxes/admin_signin.py fixes it.
    (ACTION, "axes.accessattempt:cleanup_expired_attempts", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "axes.accesslog:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "axes.accessfailurelog:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "otp_totp.totpdevice:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "otp_static.staticdevice:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
    (ACTION, "metrics.rollupperiod:delete_selected", "POST"): action(SUPERUSER, FORBIDDEN),
}


def door(key: tuple[str, ...]) -> tuple[str, str] | tuple[str, str, str]:
    """What discovery can see of a key: (kind, name, method) for the API, else (kind, name)."""
    return key[:3] if key[0] == API else key[:2]


def cells() -> list[tuple[tuple[str, ...], str, str]]:
    """Every (key, role, expected outcome) of the table."""
    return [(key, role, expected(rule, role)) for key, rule in TABLE.items() for role in ROLES]


def describe(key: tuple[str, ...]) -> str:
    return " ".join(part for part in key if part)


def as_rows() -> list[dict[str, Any]]:
    """The table spelled out, one row per entry (for reading it, or printing it in a test)."""
    return [
        {"entry": describe(key), **{role: expected(rule, role) for role in ROLES}}
        for key, rule in TABLE.items()
    ]
