"""GraphProvider: the MailProvider for Microsoft 365, app-only through Microsoft Graph."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from mailboxes.providers.base import (
    AddressInfo,
    AuthorizationCheck,
    LocatedCopy,
    Outcome,
    ProviderError,
    WorkItem,
)
from mailboxes.providers.graph import ops
from mailboxes.providers.graph.auth import (
    DEFAULT_AUTHORITY_HOST,
    GRAPH_SCOPE,
    Credential,
    Timeout,
    TokenSource,
    token_roles,
)
from mailboxes.providers.graph.bulk import BulkRun, locate_many
from mailboxes.providers.graph.transport import API, DEFAULT_GRAPH_BASE, MAX_BATCH, Sub, Transport
from mailboxes.providers.retry import RetryPolicy
from mailboxes.vocabulary import Action, FailureReason

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Timeout = (5.0, 30.0)  # connect, read
USER_FIELDS = "id,mail,userPrincipalName,displayName"
MEMBER_FIELDS = "id,mail,userPrincipalName,displayName"
REQUIRED_ROLE = "Mail.ReadWrite"


# perform_many works on up to `concurrency` mailboxes at once (threads that mostly
# wait); their requests share $batch calls, at most this many HTTP requests at once.
HTTP_CONCURRENCY = 64
DEFAULT_LINGER = 0.002


class GraphProvider:
    """Microsoft Graph client for one tenant's app registration (application permissions)."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        credential: Credential | None,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        graph_base: str = DEFAULT_GRAPH_BASE,
        verify: bool | str = True,
        timeout: Timeout = DEFAULT_TIMEOUT,
        concurrency: int = 512,
        per_mailbox_concurrency: int = 4,
        retry_policy: RetryPolicy | None = None,
        scope: str = GRAPH_SCOPE,
        batch_size: int = MAX_BATCH,
        linger: float = DEFAULT_LINGER,
    ) -> None:
        if concurrency < 1 or per_mailbox_concurrency < 1:
            raise ValueError("concurrency and per_mailbox_concurrency must be at least 1")
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        self.concurrency = concurrency
        self.tokens = TokenSource(
            tenant_id=tenant_id,
            client_id=client_id,
            credential=credential,
            authority_host=authority_host,
            verify=verify,
            timeout=timeout,
            scope=scope,
        )
        self.transport = Transport(
            tokens=self.tokens,
            graph_base=graph_base,
            verify=verify,
            timeout=timeout,
            # Mailboxes share batches: far fewer HTTP requests than mailboxes in flight.
            concurrency=min(concurrency, HTTP_CONCURRENCY),
            per_mailbox_concurrency=per_mailbox_concurrency,
            policy=retry_policy,
            batch_size=batch_size,
            linger=linger,
        )

    def __repr__(self) -> str:
        return f"<GraphProvider tenant={self.tokens.tenant_id} base={self.transport.graph_base}>"

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> GraphProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- authorization ---------------------------------------------------------------

    def verify(self) -> AuthorizationCheck:
        """A token, its roles, a directory read, then a mailbox read on a real mailbox."""
        try:
            token = self.transport.token()
        except ProviderError as exc:
            return _check_failed(exc, {}, "token")
        details: dict[str, Any] = {}
        roles = token_roles(token)
        if roles is not None:
            details["roles"] = sorted(roles)
            if REQUIRED_ROLE not in roles:
                return AuthorizationCheck(
                    authorized=False,
                    status="unauthorized",
                    error=f"the application permission {REQUIRED_ROLE} is not granted "
                    "(admin consent missing or withdrawn)",
                    details=details,
                )
        try:
            # https://learn.microsoft.com/graph/api/user-list
            body = self.transport.get_json(
                Sub("GET", "/users", {"$top": "10", "$select": USER_FIELDS}, mail=False)
            )
        except ProviderError as exc:
            return _check_failed(exc, details, "directory read (needs User.Read.All)")
        users = [u for u in _values(body) if u.get("id")]
        users.sort(key=lambda u: not u.get("mail"))
        for user in users:
            address = str(user.get("mail") or user.get("userPrincipalName") or user["id"])
            try:
                # https://learn.microsoft.com/graph/api/user-list-messages
                self.transport.get_json(
                    Sub(
                        "GET",
                        f"{ops.user_path(str(user['id']))}/messages",
                        {"$top": "1", "$select": "id"},
                    ),
                    mailbox=address,
                )
            except ProviderError as exc:
                if exc.reason == FailureReason.NOT_A_MAILBOX:
                    continue
                details["mailbox_checked"] = address
                return _check_failed(exc, details, f"mail read on {address}")
            details["mailbox_checked"] = address
            break
        else:
            details["mailbox_checked"] = ""  # no mailbox among the first users to try
        return AuthorizationCheck(authorized=True, status="authorized", details=details)

    # -- one copy ------------------------------------------------------------------------

    def locate(self, mailbox: str, internet_message_id: str) -> list[LocatedCopy]:
        located = locate_many(
            self.transport, mailbox, [internet_message_id.strip()], thorough=True
        )[0]
        if located.error is not None:
            raise located.error
        return located.copies

    def perform(self, mailbox: str, copy: LocatedCopy, action: Action) -> str:
        """Move or delete one located copy; the id it has afterwards ("" once deleted)."""
        action = Action(action)
        if not ops.needs_action(copy.folder, action):
            return copy.provider_id  # already there (or further out of sight)
        reply = self.transport.execute(
            [ops.action_sub(mailbox, copy.provider_id, action)], mailbox=mailbox
        )[0]
        if reply.ok:
            return "" if action == Action.HARD_DELETE else ops.moved_id(reply, copy.provider_id)
        assert reply.error is not None
        if reply.error.reason != FailureReason.NOT_FOUND or not copy.internet_message_id:
            raise reply.error
        # The id is stale (moved meanwhile) or the copy is gone: look it up afresh.
        fresh = self.locate(mailbox, copy.internet_message_id)
        if not fresh:
            raise ProviderError(
                FailureReason.NOT_FOUND,
                "the copy went away before it could be acted on (moved or deleted)",
                status=reply.status,
            )
        todo = [c for c in fresh if ops.needs_action(c.folder, action)]
        if not todo:
            return fresh[0].provider_id
        reply = self.transport.execute(
            [ops.action_sub(mailbox, todo[0].provider_id, action)], mailbox=mailbox
        )[0]
        if reply.ok:
            return "" if action == Action.HARD_DELETE else ops.moved_id(reply, todo[0].provider_id)
        assert reply.error is not None
        raise reply.error

    # -- many copies ---------------------------------------------------------------------

    def perform_many(self, items: Sequence[WorkItem]) -> list[Outcome]:
        return BulkRun(self.transport, self.concurrency).run(items)

    # -- directory -----------------------------------------------------------------------

    def resolve(self, address: str) -> AddressInfo:
        """User (or shared) mailbox, group, or unknown: by UPN, then mail, then proxy address."""
        address = address.strip()
        # https://learn.microsoft.com/graph/api/user-get
        reply = self.transport.execute(
            [Sub("GET", ops.user_path(address), {"$select": USER_FIELDS}, mail=False)]
        )[0]
        if reply.ok and isinstance(reply.body, Mapping):
            return self._user_info(address, reply.body)
        if reply.error is None:  # a success that is not a user object
            raise ProviderError(
                FailureReason.PROVIDER_ERROR,
                "the user answer is not a JSON object",
                status=reply.status,
            )
        if reply.error.reason not in (FailureReason.NOT_FOUND, FailureReason.NOT_A_MAILBOX):
            raise reply.error
        literal = ops.odata_string(address)
        proxy = ops.odata_string(f"smtp:{address}")
        for condition in (f"mail eq {literal}", f"proxyAddresses/any(p:p eq {proxy})"):
            # https://learn.microsoft.com/graph/api/user-list
            body = self.transport.get_json(
                Sub("GET", "/users", {"$filter": condition, "$select": USER_FIELDS}, mail=False)
            )
            users = _values(body)
            if users:
                return self._user_info(address, users[0])
        group = self._group(address)
        if group is not None:
            return AddressInfo(
                address=address,
                kind="group",
                external_id=str(group.get("id") or ""),
                display_name=str(group.get("displayName") or ""),
            )
        return AddressInfo(address=address, kind="unknown")

    def _user_info(self, address: str, user: Mapping[str, Any]) -> AddressInfo:
        kind = "user"
        user_id = str(user.get("id") or "")
        if user_id:
            try:
                # https://learn.microsoft.com/graph/api/user-get-mailboxsettings (userPurpose)
                settings = self.transport.get_json(
                    Sub("GET", f"{ops.user_path(user_id)}/mailboxSettings", mail=False)
                )
            except ProviderError as exc:
                log.debug("mailboxSettings of %s unavailable: %s", address, exc.reason)
            else:
                purpose = settings.get("userPurpose") if isinstance(settings, Mapping) else None
                if isinstance(purpose, Mapping):  # older shape: {"value": "shared"}
                    purpose = purpose.get("value")
                if str(purpose or "").lower() == "shared":
                    kind = "shared"
        return AddressInfo(
            address=address,
            kind=kind,
            external_id=user_id,
            display_name=str(user.get("displayName") or ""),
        )

    def _group(self, address: str) -> Mapping[str, Any] | None:
        # https://learn.microsoft.com/graph/api/group-list
        body = self.transport.get_json(
            Sub(
                "GET",
                "/groups",
                {
                    "$filter": f"mail eq {ops.odata_string(address.strip())}",
                    "$select": "id,mail,displayName",
                },
                mail=False,
            )
        )
        groups = _values(body)
        return groups[0] if groups else None

    def group_members(self, address: str) -> list[AddressInfo]:
        """The transitive user members of a mail-enabled group, all pages."""
        group = self._group(address)
        if group is None or not group.get("id"):
            raise ProviderError(FailureReason.NOT_FOUND, f"no group with the address {address}")
        headers = {"ConsistencyLevel": "eventual"}
        # https://learn.microsoft.com/graph/api/group-list-transitivemembers
        sub: Sub | None = Sub(
            "GET",
            f"/groups/{quote(str(group['id']), safe='')}/transitiveMembers/microsoft.graph.user",
            {"$select": MEMBER_FIELDS, "$count": "true", "$top": "999"},
            headers=headers,
            mail=False,
        )
        members: list[AddressInfo] = []
        seen: set[str] = set()
        links_seen: set[str] = set()
        while sub is not None:
            body = self.transport.get_json(sub)
            for user in _values(body):
                mail = str(user.get("mail") or "").strip()
                if not mail or mail.lower() in seen:
                    continue  # no mailbox address, nothing to retract
                seen.add(mail.lower())
                members.append(
                    AddressInfo(
                        address=mail,
                        kind="user",
                        external_id=str(user.get("id") or ""),
                        display_name=str(user.get("displayName") or ""),
                    )
                )
            link = body.get("@odata.nextLink") if isinstance(body, Mapping) else None
            if link and str(link) in links_seen:  # a provider that pages in circles
                raise ProviderError(FailureReason.PROVIDER_ERROR, "group members: the pages repeat")
            links_seen.add(str(link))
            sub = self._next_page(str(link), headers) if link else None
        return members

    def _next_page(self, link: str, headers: Mapping[str, str]) -> Sub:
        """A nextLink as a request to our own base (the emulator's links may name Graph)."""
        parts = urlsplit(link)
        path = parts.path
        marker = path.find(f"{API}/")
        if marker >= 0:
            path = path[marker + len(API) :]
        return Sub("GET", path, parts.query or None, headers=headers, mail=False)


def _values(body: Any) -> list[Mapping[str, Any]]:
    if not isinstance(body, Mapping):
        return []
    return [v for v in body.get("value") or [] if isinstance(v, Mapping)]


def _check_failed(exc: ProviderError, details: dict[str, Any], step: str) -> AuthorizationCheck:
    error = f"{step}: {exc.detail or exc.reason}"
    details["reason"] = str(exc.reason)
    if exc.reason == FailureReason.NOT_AUTHORIZED:
        return AuthorizationCheck(
            authorized=False, status="unauthorized", error=error, details=details
        )
    return AuthorizationCheck(authorized=False, status="error", error=error, details=details)


def _credential_from(config: Mapping[str, Any]) -> Credential | None:
    if config.get("credential"):
        return config["credential"]
    if config.get("client_secret"):
        return str(config["client_secret"])
    key = config.get("certificate_private_key") or config.get("private_key")
    if not key:
        return None
    credential = {"private_key": str(key)}
    thumbprint = config.get("certificate_thumbprint") or config.get("thumbprint")
    certificate = config.get("certificate_public") or config.get("public_certificate")
    if thumbprint:
        credential["thumbprint"] = str(thumbprint)
    if certificate:
        credential["public_certificate"] = str(certificate)
    return credential


def graph_provider_from_config(config: Mapping[str, Any]) -> GraphProvider:
    """Build a GraphProvider from plain values (no Django).

    Keys: tenant_id (or directory_tenant_id), client_id; the credential as
    `credential`, or `client_secret`, or `certificate_private_key` /
    `private_key` with `certificate_thumbprint` / `thumbprint` or
    `certificate_public` / `public_certificate`; optional `endpoint` (one base
    URL for both the identity platform and Graph, as the emulator serves them),
    `authority_host`, `graph_base`, `verify` or `ca_bundle`, `timeout`,
    `concurrency`, `per_mailbox_concurrency`, `batch_size`, `linger` (seconds a
    mailbox's requests wait for others to share a batch; 0: never shared), `scope`, and `retry`
    (a RetryPolicy or a dict of its fields).
    """
    endpoint = str(config.get("endpoint") or "").rstrip("/")
    retry_policy = config.get("retry")
    if isinstance(retry_policy, Mapping):
        retry_policy = RetryPolicy(**retry_policy)
    verify = config.get("verify", True)
    if config.get("ca_bundle"):
        verify = str(config["ca_bundle"])
    timeout = config.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, list):
        timeout = tuple(timeout)
    return GraphProvider(
        tenant_id=str(config.get("tenant_id") or config.get("directory_tenant_id") or ""),
        client_id=str(config.get("client_id") or ""),
        credential=_credential_from(config),
        authority_host=str(config.get("authority_host") or endpoint or DEFAULT_AUTHORITY_HOST),
        graph_base=str(config.get("graph_base") or endpoint or DEFAULT_GRAPH_BASE),
        verify=verify,
        timeout=timeout,
        concurrency=int(config.get("concurrency", 512)),
        per_mailbox_concurrency=int(config.get("per_mailbox_concurrency", 4)),
        retry_policy=retry_policy,
        scope=str(config.get("scope") or GRAPH_SCOPE),
        batch_size=int(config.get("batch_size", MAX_BATCH)),
        linger=float(config.get("linger", DEFAULT_LINGER)),
    )
