"""The emulator's world: tenants, mailboxes, message copies, tokens, knobs and counters.

Everything lives in one `State` guarded by one lock (`State.lock`). Handlers take the
lock only for the bookkeeping and the state change itself; latency is slept outside it.
"""

from __future__ import annotations

import base64
import copy as copylib
import json
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailboxes.providers.emulator.admission import DEFAULT_KNOBS, Admission
from mailboxes.providers.emulator.errors import EmulatorError

MICROSOFT = "microsoft"
GOOGLE = "google"

USER, SHARED, GROUP = "user", "shared", "group"

# Graph well-known folder names (lowercase), their display names and the
# provider-neutral folder (mailboxes.providers.base.Folder values) they stand for.
GRAPH_FOLDERS: dict[str, tuple[str, str]] = {
    "inbox": ("Inbox", "inbox"),
    "junkemail": ("Junk Email", "junk"),
    "deleteditems": ("Deleted Items", "trash"),
    "archive": ("Archive", "other"),
    "sentitems": ("Sent Items", "other"),
    "drafts": ("Drafts", "other"),
    "outbox": ("Outbox", "other"),
    "recoverableitemsdeletions": ("Deletions", "recoverable"),
    "recoverableitemspurges": ("Purges", "purged"),
}
# Folders a plain `users/{id}/messages` search does not see.
GRAPH_HIDDEN_FOLDERS = {"recoverableitemsdeletions", "recoverableitemspurges"}
# How a delivery or user action names a folder in neutral words.
NEUTRAL_TO_GRAPH = {
    "inbox": "inbox",
    "junk": "junkemail",
    "trash": "deleteditems",
    "recoverable": "recoverableitemsdeletions",
    "other": "archive",
}

GMAIL_SYSTEM_LABELS = {
    "INBOX",
    "SPAM",
    "TRASH",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "SENT",
    "DRAFT",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
}

GMAIL_FULL_SCOPE = "https://mail.google.com/"
GMAIL_MODIFY_SCOPE = "https://www.googleapis.com/auth/gmail.modify"
GMAIL_READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_METADATA_SCOPE = "https://www.googleapis.com/auth/gmail.metadata"
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
DIRECTORY_USER_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
DIRECTORY_GROUP_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly"
DIRECTORY_MEMBER_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
# What a service account is delegated when the seed does not say.
DEFAULT_DELEGATED_SCOPES = [
    GMAIL_FULL_SCOPE,
    GMAIL_MODIFY_SCOPE,
    DIRECTORY_USER_SCOPE,
    DIRECTORY_GROUP_SCOPE,
    DIRECTORY_MEMBER_SCOPE,
]


def _guid() -> str:
    return str(uuid.uuid4())


def _object_id(provider: str, kind: str) -> str:
    """A directory id in the provider's style: a GUID, or Google's numeric / group ids."""
    if provider == MICROSOFT:
        return _guid()
    if kind == GROUP:
        return "0" + "".join(random.choices("0123456789abcdefghijklmnopqrstuvwxyz", k=14))
    return str(random.randint(10**20, 10**21 - 1))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_graph_id() -> str:
    """A Graph REST id: URL-safe base64 ending in '=', like Exchange's."""
    return "AAMkAD" + secrets.token_urlsafe(36) + "AAA="


def new_immutable_id() -> str:
    return "AAkALg" + secrets.token_urlsafe(36) + "AAA="


def new_gmail_id() -> str:
    return f"{random.getrandbits(60) | (1 << 60):x}"


@dataclass
class MsApp:
    client_id: str
    secrets: set[str] = field(default_factory=set)
    expired_secrets: set[str] = field(default_factory=set)
    thumbprints: set[str] = field(default_factory=set)  # lowercase hex, SHA-1 or SHA-256
    consented: bool = True
    roles: list[str] | None = None  # None: every application permission


@dataclass
class ServiceAccount:
    client_email: str
    scopes: set[str] = field(default_factory=set)  # scopes delegated domain-wide


@dataclass(eq=False)
class Tenant:
    key: str  # the name the control API uses (a slug)
    provider: str
    directory_id: str  # Microsoft directory (tenant) id; for Google a generated id
    domains: list[str]
    authorized: bool = True
    apps: dict[str, MsApp] = field(default_factory=dict)
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    admin_policy_blocked: bool = False
    display_name: str = ""
    seed: dict[str, Any] = field(default_factory=dict)  # to restore authorization from

    def seed_accounts(self) -> set[str]:
        """Service accounts the seed delegated to (some may have been revoked since)."""
        return {a["client_email"].lower() for a in self.seed.get("service_accounts", [])}


@dataclass(eq=False)
class Copy:
    """One delivered copy of a message in one mailbox."""

    mailbox: Mailbox
    internet_message_id: str
    subject: str
    sender: str
    to: list[str]
    received: datetime
    is_read: bool = False
    # Microsoft: the Graph well-known name of the folder and the two kinds of id.
    folder: str = "inbox"
    rest_id: str = ""
    immutable_id: str = ""
    conversation_id: str = ""
    # Google: the message id, the thread id and the labels (UNREAD lives in is_read).
    gmail_id: str = ""
    thread_id: str = ""
    labels: set[str] = field(default_factory=set)
    trashed_labels: set[str] = field(default_factory=set)
    gone: bool = False  # purged (Graph) or deleted for good (Gmail)
    history_id: int = 0
    to_json: list[dict[str, Any]] = field(default_factory=list)  # shared by a delivery's copies
    received_iso: str = ""

    @property
    def neutral_folder(self) -> str:
        if self.mailbox.tenant.provider == MICROSOFT:
            return GRAPH_FOLDERS.get(self.folder, ("", "other"))[1]
        if self.gone:
            return "purged"
        if "TRASH" in self.labels:
            return "trash"
        if "SPAM" in self.labels:
            return "junk"
        if "INBOX" in self.labels:
            return "inbox"
        return "other"

    def gmail_labels(self) -> list[str]:
        labels = set(self.labels)
        if not self.is_read:
            labels.add("UNREAD")
        return sorted(labels)

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "internet_message_id": self.internet_message_id,
            "subject": self.subject,
            "sender": self.sender,
            "received": _iso(self.received),
            "read": self.is_read,
            "folder": self.neutral_folder,
            "gone": self.gone,
        }
        if self.mailbox.tenant.provider == MICROSOFT:
            out.update(
                graph_folder=self.folder,
                parent_folder_id=self.mailbox.folder_id(self.folder),
                id=None if self.gone else self.rest_id,
                immutable_id=None if self.gone else self.immutable_id,
            )
        else:
            out.update(id=self.gmail_id, thread_id=self.thread_id, labels=self.gmail_labels())
        return out


@dataclass(eq=False)
class Mailbox:
    tenant: Tenant
    address: str  # primary SMTP address, lowercase
    kind: str = USER
    display_name: str = ""
    object_id: str = ""
    upn: str = ""
    aliases: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # addresses, for groups
    mail_enabled: bool = True  # False: no mailbox (unlicensed / Gmail service off)
    suspended: bool = False  # Google: a suspended user gets no token
    app_access_denied: bool = False  # Graph: an application access policy excludes it
    admin: bool = False  # Google: may read the Admin SDK Directory (when a tenant marks admins)
    copies: list[Copy] = field(default_factory=list)
    by_rest_id: dict[str, Copy] = field(default_factory=dict)
    by_immutable_id: dict[str, Copy] = field(default_factory=dict)
    by_gmail_id: dict[str, Copy] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)  # Gmail user labels (ids)
    _folder_ids: dict[str, str] = field(default_factory=dict)

    def folder_id(self, name: str) -> str:
        """The Graph folder id of a well-known folder: opaque, stable, per mailbox."""
        fid = self._folder_ids.get(name)
        if fid is None:
            raw = f"{self.object_id}/{name}".encode()
            fid = "AQMkAD" + base64.urlsafe_b64encode(raw).decode().rstrip("=") + "AAA="
            self._folder_ids[name] = fid
        return fid

    def folder_name(self, value: str) -> str | None:
        """A well-known folder name for a name or a folder id of this mailbox."""
        low = value.lower()
        if low in GRAPH_FOLDERS:
            return low
        for name in GRAPH_FOLDERS:
            if self.folder_id(name) == value:
                return name
        return None

    @property
    def is_mailbox(self) -> bool:
        return self.kind != GROUP and self.mail_enabled

    def all_addresses(self) -> list[str]:
        return [self.address, *self.aliases]

    def proxy_addresses(self) -> list[str]:
        return [f"SMTP:{self.address}", *(f"smtp:{a}" for a in self.aliases)]

    def live_copies(self) -> list[Copy]:
        return [c for c in self.copies if not c.gone]


@dataclass
class Token:
    provider: str
    tenant: Tenant
    expires: float
    client_id: str = ""  # Microsoft app
    subject: str = ""  # Google: impersonated mailbox address ("" for the account itself)
    service_account: str = ""
    scopes: frozenset[str] = frozenset()


class State(Admission):
    """All emulator state, one lock."""

    def __init__(self, seed: dict[str, Any] | None = None) -> None:
        self.lock = threading.Lock()
        self.base_seed: dict[str, Any] = copylib.deepcopy(seed) if seed else {}
        self._init_empty()
        if seed:
            self._load(self.base_seed)

    # --- loading ---------------------------------------------------------------

    def _init_empty(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.tenant_index: dict[str, Tenant] = {}  # key, directory id, domains
        self.mailboxes: dict[str, Mailbox] = {}  # every address and alias, lowercase
        self.by_object_id: dict[str, Mailbox] = {}
        self.by_upn: dict[str, Mailbox] = {}
        self.tokens: dict[str, Token] = {}
        self.global_knobs: dict[str, Any] = copylib.deepcopy(DEFAULT_KNOBS)
        self.mailbox_knobs: dict[str, dict[str, Any]] = {}
        self.fail_next: dict[str, dict[str, Any]] = {}
        self.history_counter = 1000
        self.reset_stats()

    def reset(self, seed: dict[str, Any] | None = None) -> None:
        """Back to the seed (or a new one): mail, tokens, knobs and counters."""
        with self.lock:
            if seed is not None:
                self.base_seed = copylib.deepcopy(seed)
            # Calls still in flight release their slot after the reset.
            in_flight = self.in_flight
            self._init_empty()
            self.in_flight = in_flight
            self._load(self.base_seed)

    def _load(self, seed: dict[str, Any]) -> None:
        for spec in seed.get("tenants", []):
            self._add_tenant(spec)
        for spec in seed.get("tenants", []):
            tenant = self.tenants[spec["id"]]
            for message in spec.get("messages", []):
                self._deliver(
                    tenant,
                    internet_message_id=message["internet_message_id"],
                    subject=message.get("subject", ""),
                    sender=message.get("sender", ""),
                    recipients=message.get("recipients", []),
                    received=_received(message),
                    read_by=message.get("read_by", []),
                    folder=message.get("folder"),
                    labels=message.get("labels"),
                )
        if seed.get("knobs"):
            self._set_knobs(seed["knobs"])

    def _add_tenant(self, spec: dict[str, Any]) -> Tenant:
        key = spec.get("id")
        provider = spec.get("provider")
        if not key or provider not in (MICROSOFT, GOOGLE):
            raise EmulatorError("each tenant needs an id and provider 'microsoft' or 'google'")
        if key in self.tenants:
            raise EmulatorError(f"tenant {key!r} defined twice")
        tenant = Tenant(
            key=key,
            provider=provider,
            directory_id=spec.get("directory_id") or _guid(),
            domains=[d.lower() for d in spec.get("domains", [])],
            display_name=spec.get("name", key),
            seed=copylib.deepcopy(spec),
        )
        self._apply_authorization(tenant, spec)
        self.tenants[key] = tenant
        for name in (key, tenant.directory_id, *tenant.domains):
            self.tenant_index[name.lower()] = tenant
        for box in spec.get("mailboxes", []):
            self._add_mailbox(tenant, box)
        return tenant

    def _apply_authorization(self, tenant: Tenant, spec: dict[str, Any]) -> None:
        tenant.authorized = spec.get("authorized", True)
        tenant.admin_policy_blocked = spec.get("admin_policy_blocked", False)
        tenant.apps = {}
        for app in spec.get("apps", []):
            secrets_ = set(app.get("secrets", []))
            if app.get("secret"):
                secrets_.add(app["secret"])
            tenant.apps[app["client_id"]] = MsApp(
                client_id=app["client_id"],
                secrets=secrets_,
                expired_secrets=set(app.get("expired_secrets", [])),
                thumbprints={t.lower().replace(":", "") for t in app.get("thumbprints", [])},
                consented=app.get("consented", True),
                roles=app.get("roles"),
            )
        tenant.service_accounts = {}
        for account in spec.get("service_accounts", []):
            email = account["client_email"].lower()
            tenant.service_accounts[email] = ServiceAccount(
                client_email=email,
                scopes=set(account.get("scopes", DEFAULT_DELEGATED_SCOPES)),
            )

    def _add_mailbox(self, tenant: Tenant, spec: dict[str, Any]) -> Mailbox:
        address = spec["address"].lower()
        if address in self.mailboxes:
            raise EmulatorError(f"address {address!r} defined twice")
        kind = spec.get("kind", USER)
        if kind not in (USER, SHARED, GROUP):
            raise EmulatorError(f"{address}: kind must be user, shared or group")
        box = Mailbox(
            tenant=tenant,
            address=address,
            kind=kind,
            display_name=spec.get("display_name") or address.split("@")[0],
            object_id=spec.get("id") or _object_id(tenant.provider, kind),
            upn=(spec.get("upn") or address).lower(),
            aliases=[a.lower() for a in spec.get("aliases", [])],
            members=[m.lower() for m in spec.get("members", [])],
            mail_enabled=spec.get("mail_enabled", True),
            suspended=spec.get("suspended", False),
            app_access_denied=spec.get("app_access_denied", False),
            admin=spec.get("admin", False),
            labels=set(spec.get("labels", [])),
        )
        for name in box.all_addresses():
            self.mailboxes[name] = box
        self.by_object_id[box.object_id.lower()] = box
        self.by_upn[box.upn] = box
        return box

    def add_mailboxes(self, tenant: str, specs: list[dict[str, Any]]) -> list[str]:
        """Add mailboxes (seed mailbox specs) to a tenant of the running world."""
        with self.lock:
            t = self.require_tenant(tenant)
            return [self._add_mailbox(t, spec).address for spec in specs]

    # --- look-ups (caller holds the lock or accepts a racy read) ------------------

    def tenant(self, name: str) -> Tenant | None:
        return self.tenant_index.get(name.lower())

    def require_tenant(self, name: str) -> Tenant:
        tenant = self.tenant(name)
        if tenant is None:
            raise EmulatorError(f"no tenant {name!r}", 404)
        return tenant

    def mailbox(self, address: str) -> Mailbox | None:
        return self.mailboxes.get(address.lower())

    def require_mailbox(self, address: str) -> Mailbox:
        box = self.mailbox(address)
        if box is None:
            raise EmulatorError(f"no mailbox {address!r}", 404)
        return box

    def mailbox_in(self, tenant: Tenant, ident: str) -> Mailbox | None:
        """A mailbox of the tenant by address, alias, UPN or object id."""
        low = ident.lower()
        box = self.mailboxes.get(low) or self.by_upn.get(low) or self.by_object_id.get(low)
        return box if box is not None and box.tenant is tenant else None

    def expand(self, box: Mailbox, seen: set[str] | None = None) -> list[Mailbox]:
        """The mailboxes a group's mail reaches (transitively); a mailbox reaches itself."""
        if box.kind != GROUP:
            return [box]
        seen = seen if seen is not None else set()
        if box.address in seen:
            return []
        seen.add(box.address)
        out: list[Mailbox] = []
        for address in box.members:
            member = self.mailboxes.get(address)
            if member is not None:
                out.extend(self.expand(member, seen))
        return out

    # --- mail ----------------------------------------------------------------------

    def deliver(
        self,
        tenant: str,
        internet_message_id: str,
        recipients: list[str],
        subject: str = "",
        sender: str = "",
        *,
        received: datetime | None = None,
        read_by: list[str] | None = None,
        folder: str | None = None,
        labels: list[str] | None = None,
        allow_duplicates: bool = False,
    ) -> dict[str, Any]:
        """Deliver a message as an MTA would: one copy per mailbox, groups fanned out."""
        with self.lock:
            return self._deliver(
                self.require_tenant(tenant),
                internet_message_id=internet_message_id,
                subject=subject,
                sender=sender,
                recipients=recipients,
                received=received,
                read_by=read_by or [],
                folder=folder,
                labels=labels,
                allow_duplicates=allow_duplicates,
            )

    def _deliver(
        self,
        tenant: Tenant,
        *,
        internet_message_id: str,
        subject: str,
        sender: str,
        recipients: list[str],
        received: datetime | None,
        read_by: list[str],
        folder: str | None,
        labels: list[str] | None,
        allow_duplicates: bool = False,
    ) -> dict[str, Any]:
        if not internet_message_id:
            raise EmulatorError("internet_message_id is required")
        received = received or datetime.now(UTC)
        read = {a.lower() for a in read_by}
        delivered: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        targets: dict[str, tuple[Mailbox, str | None]] = {}
        for address in recipients:
            box = self.mailbox(address)
            if box is None or box.tenant is not tenant:
                skipped.append({"address": address, "reason": "unknown recipient"})
                continue
            via = box.address if box.kind == GROUP else None
            for target in self.expand(box):
                # An address reached directly and through a list gets one copy.
                if target.address not in targets or via is None:
                    targets[target.address] = (target, via)
        conversation = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
        to = list(recipients)
        to_json = [{"emailAddress": {"name": a, "address": a}} for a in to]
        received_iso = _iso(received)
        for target, via in targets.values():
            if not target.mail_enabled:
                skipped.append({"address": target.address, "reason": "mailbox not enabled"})
                continue
            existing = [
                c
                for c in target.live_copies()
                if c.internet_message_id.lower() == internet_message_id.lower()
            ]
            if existing and not allow_duplicates:
                skipped.append({"address": target.address, "reason": "duplicate"})
                continue
            copy = Copy(
                mailbox=target,
                internet_message_id=internet_message_id,
                subject=subject,
                sender=sender,
                to=to,
                to_json=to_json,
                received=received,
                received_iso=received_iso,
                is_read=target.address in read or any(a in read for a in target.aliases),
            )
            if tenant.provider == MICROSOFT:
                name = NEUTRAL_TO_GRAPH.get(folder or "inbox", folder or "inbox")
                if name not in GRAPH_FOLDERS:
                    raise EmulatorError(f"unknown folder {folder!r}")
                copy.folder = name
                copy.rest_id = new_graph_id()
                copy.immutable_id = new_immutable_id()
                copy.conversation_id = conversation
                target.by_rest_id[copy.rest_id] = copy
                target.by_immutable_id[copy.immutable_id] = copy
                ident = copy.rest_id
            else:
                if labels is not None:
                    copy.labels = {label for label in labels if label != "UNREAD"}
                else:
                    copy.labels = {
                        "inbox": {"INBOX"},
                        "junk": {"SPAM"},
                        "trash": {"TRASH"},
                        "other": set(),
                    }.get(folder or "inbox", {"INBOX"})
                copy.gmail_id = new_gmail_id()
                thread = next(
                    (
                        c.thread_id
                        for c in target.copies
                        if c.internet_message_id.lower() == internet_message_id.lower()
                    ),
                    None,
                )
                copy.thread_id = thread or copy.gmail_id
                copy.history_id = self._next_history()
                target.by_gmail_id[copy.gmail_id] = copy
                ident = copy.gmail_id
            target.copies.append(copy)
            delivered.append({"address": target.address, "id": ident, "via_group": via})
        return {"delivered": delivered, "skipped": skipped}

    def _next_history(self) -> int:
        self.history_counter += 1
        return self.history_counter

    def copies_of(self, box: Mailbox, internet_message_id: str) -> list[Copy]:
        low = internet_message_id.strip().lower()
        if not low.startswith("<"):
            low = f"<{low}>"
        return [c for c in box.live_copies() if c.internet_message_id.lower() == low]

    def mark_read(self, address: str, internet_message_id: str, read: bool = True) -> int:
        with self.lock:
            box = self.require_mailbox(address)
            copies = self.copies_of(box, internet_message_id)
            for c in copies:
                c.is_read = read
                c.history_id = self._next_history()
            return len(copies)

    def user_delete(self, address: str, internet_message_id: str, how: str = "delete") -> int:
        """What the user (or a mailbox rule) does: delete, junk, archive or purge."""
        if how not in ("delete", "junk", "purge", "archive"):
            raise EmulatorError("how must be delete, junk, archive or purge")
        with self.lock:
            box = self.require_mailbox(address)
            copies = self.copies_of(box, internet_message_id)
            for c in copies:
                if box.tenant.provider == MICROSOFT:
                    target = {
                        "delete": "deleteditems",
                        "junk": "junkemail",
                        "archive": "archive",
                        # Shift+Delete, or emptying Deleted Items: out of the user's sight.
                        "purge": "recoverableitemsdeletions",
                    }[how]
                    self.graph_move(c, target)
                elif how == "purge":
                    self.gmail_delete(c)
                elif how == "delete":
                    self.gmail_trash(c)
                elif how == "junk":
                    c.labels.discard("INBOX")
                    c.labels.discard("TRASH")
                    c.labels.add("SPAM")
                else:
                    c.labels.discard("INBOX")
                c.history_id = self._next_history()
            return len(copies)

    # Graph state changes (caller holds the lock).

    def graph_move(self, copy: Copy, folder: str) -> None:
        box = copy.mailbox
        box.by_rest_id.pop(copy.rest_id, None)
        copy.folder = folder
        if folder == "recoverableitemspurges":
            box.by_immutable_id.pop(copy.immutable_id, None)
            return
        copy.rest_id = new_graph_id()
        box.by_rest_id[copy.rest_id] = copy

    # Gmail state changes (caller holds the lock).

    def gmail_trash(self, copy: Copy) -> None:
        if "TRASH" not in copy.labels:
            copy.trashed_labels = copy.labels & {"INBOX", "SPAM"}
            copy.labels -= {"INBOX", "SPAM"}
            copy.labels.add("TRASH")
        copy.history_id = self._next_history()

    def gmail_untrash(self, copy: Copy) -> None:
        if "TRASH" in copy.labels:
            copy.labels.discard("TRASH")
            copy.labels |= copy.trashed_labels
            copy.trashed_labels = set()
        copy.history_id = self._next_history()

    def gmail_delete(self, copy: Copy) -> None:
        copy.gone = True
        copy.mailbox.by_gmail_id.pop(copy.gmail_id, None)

    # --- authorization -------------------------------------------------------------

    def revoke(
        self,
        tenant: str,
        *,
        client_id: str | None = None,
        consent: bool = False,
        service_account: str | None = None,
        scopes: list[str] | None = None,
        admin_policy: bool = False,
    ) -> dict[str, Any]:
        """Take authorization away: all of it, one app, its consent, a delegation or scopes."""
        with self.lock:
            t = self.require_tenant(tenant)
            if client_id:
                if consent and client_id in t.apps:
                    t.apps[client_id].consented = False
                else:
                    t.apps.pop(client_id, None)
            elif consent:
                for app in t.apps.values():
                    app.consented = False
            elif service_account:
                account = t.service_accounts.get(service_account.lower())
                if account is not None and scopes:
                    account.scopes -= set(scopes)
                else:
                    t.service_accounts.pop(service_account.lower(), None)
            elif scopes:
                for account in t.service_accounts.values():
                    account.scopes -= set(scopes)
            elif admin_policy:
                t.admin_policy_blocked = True
            else:
                t.authorized = False
            return self._tenant_dump(t)

    def restore(self, tenant: str) -> dict[str, Any]:
        """Authorization back to what the seed said (and authorized)."""
        with self.lock:
            t = self.require_tenant(tenant)
            self._apply_authorization(t, t.seed)
            t.authorized = True
            t.admin_policy_blocked = False
            return self._tenant_dump(t)

    def _tenant_dump(self, t: Tenant) -> dict[str, Any]:
        return {
            "id": t.key,
            "provider": t.provider,
            "directory_id": t.directory_id,
            "domains": t.domains,
            "authorized": t.authorized,
            "admin_policy_blocked": t.admin_policy_blocked,
            "apps": [
                {
                    "client_id": a.client_id,
                    "consented": a.consented,
                    "thumbprints": sorted(a.thumbprints),
                    "has_secret": bool(a.secrets),
                }
                for a in t.apps.values()
            ],
            "service_accounts": [
                {"client_email": s.client_email, "scopes": sorted(s.scopes)}
                for s in t.service_accounts.values()
            ],
            "mailboxes": sorted({b.address for b in self.mailboxes.values() if b.tenant is t}),
        }

    def tenants_dump(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._tenant_dump(t) for t in self.tenants.values()]

    # --- tokens --------------------------------------------------------------------

    def issue_token(self, token: Token) -> str:
        value = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[value] = token
            self.stats_tokens += 1
        return value

    def token(self, value: str) -> Token | None:
        token = self.tokens.get(value)
        if token is None or token.expires < time.time():
            return None
        return token

    # --- inspection ----------------------------------------------------------------

    def mailbox_dump(self, address: str) -> dict[str, Any]:
        with self.lock:
            box = self.require_mailbox(address)
            out: dict[str, Any] = {
                "address": box.address,
                "tenant": box.tenant.key,
                "provider": box.tenant.provider,
                "kind": box.kind,
                "display_name": box.display_name,
                "id": box.object_id,
                "upn": box.upn,
                "aliases": box.aliases,
                "members": box.members,
                "mail_enabled": box.mail_enabled,
                "suspended": box.suspended,
                "copies": [c.dump() for c in box.copies],
            }
            if box.tenant.provider == MICROSOFT:
                out["folders"] = {name: box.folder_id(name) for name in GRAPH_FOLDERS}
            return out

    def folder_id(self, address: str, name: str) -> str:
        with self.lock:
            return self.require_mailbox(address).folder_id(name.lower())


def _received(message: dict[str, Any]) -> datetime | None:
    if message.get("received"):
        return datetime.fromisoformat(message["received"].replace("Z", "+00:00"))
    if message.get("hours_ago") is not None:
        return datetime.now(UTC) - timedelta(hours=float(message["hours_ago"]))
    return None


def load_seed(source: dict[str, Any] | str | Path | None) -> dict[str, Any] | None:
    """A seed document from a dict, a JSON file path, or None."""
    if source is None or isinstance(source, dict):
        return source
    return json.loads(Path(source).read_text())
