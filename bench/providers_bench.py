"""Provider clients against the emulator: wall time, requests and the floor the limits allow.

    DEBUG=1 .venv/bin/python bench/providers_bench.py [--provider graph|gmail|both]
        [--latency-ms 50] [--action trash|junk]

Starts the provider emulator in this process (every provider call answered after
`--latency-ms`, at most 4 calls in flight per mailbox, batch items included), creates
the mailboxes, delivers the copies, then drives the real clients through
`perform_many` alone (no Django models, no database) for two shapes of work:

- wide: 1,000 copies in 1,000 mailboxes (one copy each);
- deep: 1,000 copies in 10 mailboxes (100 copies each).

Each run starts from a fresh client (no token, no folder ids cached), as a worker's
first batch does. Prints one JSON line per run, then a short summary.

Floor (the fastest those limits allow, L = latency per call, 4 calls per mailbox at once):

- Graph: each copy needs one look-up (the filtered GET) and then one move: 2 calls, in
  2 dependent rounds. Per mailbox with n copies: max(2, ceil(2n / 4)) rounds.
  floor = L (token) + L * max over mailboxes of those rounds.
- Gmail: each copy needs list (ids only), get (labels: folder and read state), then the
  action: 3 calls of 5 quota units, in 3 dependent rounds; the per-user quota allows
  250 units/s. Per mailbox: max(L * max(3, ceil(3n / 4)), 15n / 250 s).
  floor = L (that mailbox's token) + the largest of those.

`floor_client_calls_s` applies the same limits to the calls the client actually sent
(per mailbox: max(2 or 3, ceil(calls / 4)) rounds, and the quota on its units), which
separates the cost of the protocol (extra calls) from the cost of scheduling them.
`floor_client_workers_s` is the floor when at most `client_concurrency` mailboxes are
worked on at once (the client's thread pool): ceil(mailboxes / workers) waves.

Not modelled: Graph's app-wide 130,000 requests per 10 s (2,000 calls in 0.1 s would
exceed it; the emulator does not enforce it). The emulator shares this process and its
GIL: with one copy per mailbox the run is bound by CPU (HTTPS, JSON, googleapiclient on
both sides), not by the limits above.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

MS_DIRECTORY = "0b0b0b0b-1111-4222-8333-444444444444"
MS_CLIENT_ID = "b3nch000-0000-4000-8000-000000000001"
MS_SECRET = "bench-secret"  # noqa: S105 (an emulator-only credential)
G_ACCOUNT = "bench@clawback-bench.iam.gserviceaccount.com"
MS_DOMAIN = "ms.bench.example"
G_DOMAIN = "g.bench.example"
SHAPES = (("wide", 1000, 1), ("deep", 10, 100))  # name, mailboxes, copies per mailbox
PER_MAILBOX = 4
GMAIL_UNITS_PER_S = 250.0
GMAIL_UNITS_PER_COPY = 15  # list 5 + get 5 + modify/trash 5


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def address(provider: str, shape: str, n: int) -> str:
    return f"{shape}-{n:04d}@{MS_DOMAIN if provider == 'graph' else G_DOMAIN}"


def build_seed() -> dict[str, Any]:
    def boxes(provider: str) -> list[dict[str, Any]]:
        return [
            {"address": address(provider, shape, n), "display_name": f"{shape} {n}"}
            for shape, count, _ in SHAPES
            for n in range(count)
        ]

    return {
        "tenants": [
            {
                "id": "bench-ms",
                "provider": "microsoft",
                "directory_id": MS_DIRECTORY,
                "domains": [MS_DOMAIN],
                "apps": [{"client_id": MS_CLIENT_ID, "secrets": [MS_SECRET]}],
                "mailboxes": boxes("graph"),
            },
            {
                "id": "bench-g",
                "provider": "google",
                "domains": [G_DOMAIN],
                "service_accounts": [
                    {
                        "client_email": G_ACCOUNT,
                        "scopes": [
                            "https://mail.google.com/",
                            "https://www.googleapis.com/auth/gmail.modify",
                        ],
                    }
                ],
                "mailboxes": boxes("gmail"),
            },
        ]
    }


def deliver(
    emu: Any, provider: str, shape: str, mailboxes: int, per_mailbox: int, action: str
) -> list[Any]:
    """Deliver the copies; the WorkItems that retract them."""
    from mailboxes.providers.base import WorkItem
    from mailboxes.vocabulary import Action

    tenant = "bench-ms" if provider == "graph" else "bench-g"
    recipients = [address(provider, shape, n) for n in range(mailboxes)]
    items = []
    for m in range(per_mailbox):
        message_id = f"<{shape}-{m}-{time.time_ns()}@attacker.example>"
        # One delivery per mailbox: each copy lists one recipient (a message addressed to
        # 1,000 people would make every full-message answer, e.g. a move, ~80 kB of JSON).
        for recipient in recipients:
            result = emu.state.deliver(tenant, message_id, [recipient], "Bench", "x@evil.example")
            if result["skipped"]:
                raise SystemExit(f"delivery skipped: {result['skipped']}")
            items.append((recipient, message_id))
    return [WorkItem(mailbox, mid, Action(action), key=(mailbox, mid)) for mailbox, mid in items]


def make_client(emu: Any, provider: str, concurrency: int | None) -> Any:
    if provider == "graph":
        from mailboxes.providers.graph import clear_caches, graph_provider_from_config

        clear_caches()
        config: dict[str, Any] = {
            "tenant_id": MS_DIRECTORY,
            "client_id": MS_CLIENT_ID,
            "client_secret": MS_SECRET,
            "authority_host": emu.https_url,
            "graph_base": emu.graph_url,
            "ca_bundle": str(emu.ca_path),
            "per_mailbox_concurrency": PER_MAILBOX,
        }
        if concurrency:
            config["concurrency"] = concurrency
        return graph_provider_from_config(config)
    from mailboxes.providers.emulator.credentials import service_account_info
    from mailboxes.providers.gmail import GmailProvider, credentials_cache

    credentials_cache.clear()
    config = {
        "service_account_info": service_account_info(G_ACCOUNT, emu.google_token_uri),
        "token_uri": emu.google_token_uri,
        "api_endpoint": emu.gmail_api_endpoint,
    }
    if concurrency:
        config["concurrency"] = concurrency
    return GmailProvider.from_config(config)


def floor_seconds(provider: str, per_mailbox: int, latency: float) -> float:
    """The floor of the module docstring, for `per_mailbox` copies in every mailbox."""
    if provider == "graph":
        rounds = max(2, math.ceil(2 * per_mailbox / PER_MAILBOX))
        return latency + rounds * latency
    rounds = max(3, math.ceil(3 * per_mailbox / PER_MAILBOX))
    quota = GMAIL_UNITS_PER_COPY * per_mailbox / GMAIL_UNITS_PER_S
    return latency + max(rounds * latency, quota)


def floor_with_workers(
    provider: str, mailboxes: int, per_mailbox: int, latency: float, workers: int
) -> float:
    """The floor when the client works on at most `workers` mailboxes at once."""
    waves = math.ceil(mailboxes / max(1, workers))
    if provider == "graph":  # one token for the run, then each mailbox's rounds
        return latency + waves * (floor_seconds(provider, per_mailbox, latency) - latency)
    return waves * floor_seconds(provider, per_mailbox, latency)  # a token per mailbox


def ratio(wall: float, floor: float) -> float | None:
    return round(wall / floor, 2) if floor > 0 else None


def floor_for_calls(provider: str, stats: dict[str, Any], latency: float) -> float:
    """The same limits applied to the calls the client sent to each mailbox."""
    worst = 0.0
    dependent = 2 if provider == "graph" else 3  # look-up, act (Gmail: list, get, act)
    for calls in stats["by_mailbox"].values():
        seconds = max(dependent, math.ceil(calls / PER_MAILBOX)) * latency
        if provider == "gmail":
            # by_mailbox has no kinds; every call these runs make (list, get, trash,
            # modify) costs 5 units.
            seconds = max(seconds, 5 * calls / GMAIL_UNITS_PER_S)
        worst = max(worst, seconds)
    return latency + worst


class TopLevelCounter:
    """Counts HTTP requests that reached the emulator (batch envelopes once, not their items)."""

    def __init__(self, emu: Any) -> None:
        self.count = 0
        self._lock = threading.Lock()
        handle: Callable[[Any], Any] = emu.handle

        def counting(req: Any) -> Any:
            if req.top_level:
                with self._lock:
                    self.count += 1
            return handle(req)

        emu.handle = counting

    def take(self) -> int:
        with self._lock:
            count, self.count = self.count, 0
        return count


def run(
    emu: Any,
    http: TopLevelCounter,
    provider: str,
    shape: str,
    mailboxes: int,
    per_mailbox: int,
    action: str,
    latency: float,
    concurrency: int | None,
) -> dict[str, Any]:
    items = deliver(emu, provider, shape, mailboxes, per_mailbox, action)
    client = make_client(emu, provider, concurrency)
    emu.state.clear_stats()
    http.take()
    started = time.perf_counter()
    outcomes = client.perform_many(items)
    wall = time.perf_counter() - started
    stats = emu.state.stats()
    http_requests = http.take()
    if hasattr(client, "close"):
        client.close()

    failed = [o for o in outcomes if not o.ok]
    target = "trash" if action == "trash" else "junk"
    misplaced = 0
    for n in range(mailboxes):
        dump = emu.state.mailbox_dump(address(provider, shape, n))
        misplaced += sum(1 for c in dump["copies"] if c["folder"] != target)
    by_kind = dict(sorted(stats["by_kind"].items()))
    envelopes = sum(v for k, v in by_kind.items() if k.endswith(".batch"))
    floor = floor_seconds(provider, per_mailbox, latency)
    client_floor = floor_for_calls(provider, stats, latency)
    workers = int(getattr(client, "concurrency", 1))
    workers_floor = floor_with_workers(provider, mailboxes, per_mailbox, latency, workers)
    return {
        "bench": "providers",
        "provider": provider,
        "shape": shape,
        "mailboxes": mailboxes,
        "copies": len(items),
        "action": action,
        "latency_ms": latency * 1000,
        "per_mailbox_concurrency": PER_MAILBOX,
        "client_concurrency": workers,
        "wall_s": round(wall, 3),
        "copies_per_s": round(len(items) / wall, 1),
        "failed": len(failed),
        "failed_reasons": sorted({str(o.reason) for o in failed}),
        "misplaced": misplaced,
        "http_requests": http_requests,
        "calls": stats["requests"] - envelopes,  # every answered call, batch items each
        "calls_per_copy": round((stats["requests"] - envelopes) / len(items), 2),
        "by_kind": by_kind,
        "throttled": stats["throttled"],
        "max_in_flight": max(stats["max_in_flight"].values(), default=0),
        "tokens_issued": stats["tokens_issued"],
        "floor_s": round(floor, 3),
        "ratio_to_floor": ratio(wall, floor),
        "floor_client_calls_s": round(client_floor, 3),
        "ratio_to_floor_client_calls": ratio(wall, client_floor),
        "floor_client_workers_s": round(workers_floor, 3),
        "ratio_to_floor_client_workers": ratio(wall, workers_floor),
    }


FLOOR_TEXT = {
    "graph": "L*(1 + max_m max(2, ceil(2*n_m/4)))  [token; look-up + move per copy, 4 in flight]",
    "gmail": (
        "L + max_m max(L*max(3, ceil(3*n_m/4)), 15*n_m/250)  "
        "[token; list+get+act per copy, 4 in flight, 250 quota units/s per user]"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", choices=["graph", "gmail", "both"], default="both")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--action", choices=["trash", "junk"], default="trash")
    parser.add_argument(
        "--shape",
        choices=["wide", "deep", "both"],
        default="both",
        help="wide: 1000x1, deep: 10x100",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="client worker threads (default: the client's)",
    )
    args = parser.parse_args()
    setup_django()

    from mailboxes.providers.emulator import Emulator

    providers = ["graph", "gmail"] if args.provider == "both" else [args.provider]
    shapes = [s for s in SHAPES if args.shape in ("both", s[0])]
    latency = args.latency_ms / 1000.0
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="providers-bench-") as tmp,
        Emulator(seed=build_seed(), ca_path=Path(tmp) / "ca.pem") as emu,
    ):
        # Both providers: 4 calls in flight per mailbox (Gmail's emulator default is off).
        emu.state.set_knobs({"latency_ms": args.latency_ms, "concurrency_limit": PER_MAILBOX})
        http = TopLevelCounter(emu)
        for provider in providers:
            for shape, mailboxes, per_mailbox in shapes:
                result = run(
                    emu,
                    http,
                    provider,
                    shape,
                    mailboxes,
                    per_mailbox,
                    args.action,
                    latency,
                    args.concurrency,
                )
                results.append(result)
                print(json.dumps(result), flush=True)

    print()
    print(f"provider clients, {args.action}, {args.latency_ms:g} ms per call, 4 per mailbox")
    for provider in providers:
        print(f"  floor {provider}: {FLOOR_TEXT[provider]}")
    print(
        "  ratio: wall / floor; 'calls' floor: the same limits on the calls the client sent;"
        " 'workers' floor: at most client_concurrency mailboxes at once"
    )
    print(
        f"{'provider':8} {'shape':5} {'copies':>6} {'mboxes':>6} {'wall s':>7} {'floor s':>7} "
        f"{'ratio':>6} {'calls fl':>8} {'wrk fl':>7} {'http':>6} {'calls':>6} {'429':>4} "
        f"{'failed':>6}"
    )
    for r in results:
        print(
            f"{r['provider']:8} {r['shape']:5} {r['copies']:>6} {r['mailboxes']:>6} "
            f"{r['wall_s']:>7.2f} {r['floor_s']:>7.2f} {fmt(r['ratio_to_floor']):>6} "
            f"{r['floor_client_calls_s']:>8.2f} {r['floor_client_workers_s']:>7.2f} "
            f"{r['http_requests']:>6} {r['calls']:>6} {r['throttled']:>4} {r['failed']:>6}"
        )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
