"""The control API under /_emulator/: what tests, the demo and benchmarks use to drive the world."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailboxes.providers.emulator.errors import EmulatorError
from mailboxes.providers.emulator.wire import Request, Response, control_error, json_response

if TYPE_CHECKING:
    from mailboxes.providers.emulator.server import Emulator, Router

P = "/_emulator"


def register(router: Router) -> None:
    def c(method: str, pattern: str, fn: Any) -> None:
        router.add(method, P + pattern, _wrap(fn), api="control", kind="control")

    c("GET", r"/health", health)
    c("POST", r"/deliver", deliver)
    c("POST", r"/(?:mark-read|read)", mark_read)
    c("POST", r"/user-delete", user_delete)
    c("GET", r"/tenants", tenants)
    c("POST", r"/tenants/(?P<tenant>[^/]+)/revoke", revoke)
    c("POST", r"/tenants/(?P<tenant>[^/]+)/restore", restore)
    c("GET", r"/knobs", knobs_get)
    c("POST", r"/knobs", knobs_set)
    c("DELETE", r"/knobs", knobs_clear)
    c("POST", r"/reset", reset)
    c("GET", r"/mailboxes", mailboxes_list)
    c("POST", r"/mailboxes", mailboxes_add)
    c("GET", r"/mailboxes/(?P<address>[^/]+)", mailbox_get)
    c("GET", r"/stats", stats)
    c("DELETE", r"/stats", stats_clear)


def _wrap(fn: Any) -> Any:
    def handler(emu: Emulator, req: Request, **params: str) -> Response:
        try:
            body = req.json() if req.body else {}
        except ValueError:
            return control_error(400, "the body must be JSON")
        if body is None:
            body = {}
        try:
            result = fn(emu, body, **params)
        except EmulatorError as exc:
            return control_error(exc.status, str(exc))
        except (KeyError, TypeError, ValueError) as exc:
            return control_error(400, f"bad request: {exc!r}")
        return json_response(200, result)

    return handler


def _require(body: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if body.get(n) in (None, "")]
    if missing:
        raise EmulatorError(f"missing: {', '.join(missing)}")


def health(emu: Emulator, body: Any) -> dict[str, Any]:
    return {
        "ok": True,
        "https_url": emu.https_url,
        "http_url": emu.http_url,
        "ca_path": str(emu.ca_path),
    }


def deliver(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Deliver one message as an MTA would.

    {tenant, internet_message_id, subject, sender, recipients,
     [received, read_by, folder, labels, allow_duplicates]}
    """
    _require(body, "tenant", "internet_message_id", "recipients")
    received = body.get("received")
    return emu.state.deliver(
        body["tenant"],
        body["internet_message_id"],
        list(body["recipients"]),
        body.get("subject", ""),
        body.get("sender", ""),
        received=datetime.fromisoformat(received.replace("Z", "+00:00")) if received else None,
        read_by=body.get("read_by"),
        folder=body.get("folder"),
        labels=body.get("labels"),
        allow_duplicates=bool(body.get("allow_duplicates")),
    )


def mark_read(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    _require(body, "address", "internet_message_id")
    count = emu.state.mark_read(
        body["address"], body["internet_message_id"], bool(body.get("read", True))
    )
    return {"changed": count}


def user_delete(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    _require(body, "address", "internet_message_id")
    count = emu.state.user_delete(
        body["address"], body["internet_message_id"], body.get("how", "delete")
    )
    return {"changed": count}


def tenants(emu: Emulator, body: Any) -> dict[str, Any]:
    return {"tenants": emu.state.tenants_dump()}


def revoke(emu: Emulator, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    return emu.state.revoke(
        tenant,
        client_id=body.get("client_id"),
        consent=bool(body.get("consent")),
        service_account=body.get("service_account"),
        scopes=body.get("scopes"),
        admin_policy=bool(body.get("admin_policy")),
    )


def restore(emu: Emulator, body: Any, tenant: str) -> dict[str, Any]:
    return emu.state.restore(tenant)


def knobs_get(emu: Emulator, body: Any) -> dict[str, Any]:
    return emu.state.knobs_dump()


def knobs_set(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise EmulatorError("knobs must be a JSON object")
    return emu.state.set_knobs(body)


def knobs_clear(emu: Emulator, body: Any) -> dict[str, Any]:
    return emu.state.clear_knobs()


def reset(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Back to the seed; a body with "tenants" becomes the new seed."""
    emu.state.reset(body if body.get("tenants") is not None else None)
    return {"ok": True, "tenants": len(emu.state.tenants)}


def mailboxes_list(emu: Emulator, body: Any) -> dict[str, Any]:
    with emu.state.lock:
        boxes = {id(b): b for b in emu.state.mailboxes.values()}.values()
        return {
            "mailboxes": sorted(
                (
                    {
                        "address": b.address,
                        "tenant": b.tenant.key,
                        "kind": b.kind,
                        "copies": len(b.live_copies()),
                    }
                    for b in boxes
                ),
                key=lambda d: d["address"],
            )
        }


def mailboxes_add(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """{tenant, mailboxes: [mailbox specs as in the seed]}: add mailboxes to a running world."""
    _require(body, "tenant", "mailboxes")
    return {"added": emu.state.add_mailboxes(body["tenant"], body["mailboxes"])}


def mailbox_get(emu: Emulator, body: Any, address: str) -> dict[str, Any]:
    return emu.state.mailbox_dump(address)


def stats(emu: Emulator, body: Any) -> dict[str, Any]:
    return emu.state.stats()


def stats_clear(emu: Emulator, body: Any) -> dict[str, Any]:
    emu.state.clear_stats()
    return {"ok": True}
