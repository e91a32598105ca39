"""The provider emulator in a process of its own, driven by JSON lines on stdin.

Used by retraction_bench.py so the emulator (a remote service in real life) does
not share a GIL with the bench's clock, its database polling or its verdict
poster. One command per line, one JSON answer per line on stdout:

    {"op": "add_mailboxes", "tenant": "bench", "addresses": [...]}
    {"op": "deliver", "tenant": "bench", "internet_message_id": "<x@y>", "recipients": [...]}
        (one delivery per recipient: each copy's To: holds only its own address)
    {"op": "knobs", "body": {...}}                      (as POST /_emulator/knobs)
    {"op": "clear_stats"} / {"op": "stats"}             (stats summarised, see _stats)
    {"op": "folders", "message_ids": [...]}             every copy's folder, counted
    {"op": "quit"}

The first line printed (before any command) describes the listeners.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _stats(emu: Any) -> dict[str, Any]:
    raw = emu.state.stats()
    by_mailbox = raw["by_mailbox"]
    return {
        "requests": raw["requests"],
        "by_kind_status": raw["by_kind_status"],
        "mailboxes_called": len(by_mailbox),
        "mailbox_calls_total": sum(by_mailbox.values()),
        "mailbox_calls_max": max(by_mailbox.values(), default=0),
        "max_in_flight_per_mailbox": max(raw["max_in_flight"].values(), default=0),
        "throttled": raw["throttled"],
        "throttled_by_reason": raw["throttled_by_reason"],
        "server_errors": raw["server_errors"],
        "tokens_issued": raw["tokens_issued"],
    }


def _folders(emu: Any, message_ids: list[str]) -> dict[str, Any]:
    wanted = {m.lower() for m in message_ids}
    folders: Counter[str] = Counter()
    state = emu.state
    with state.lock:
        boxes = {id(b): b for b in state.mailboxes.values()}.values()
        for box in boxes:
            for copy in box.copies:
                if copy.internet_message_id.lower() in wanted:
                    folders["purged" if copy.gone else copy.folder] += 1
    return {"folders": dict(folders), "copies": sum(folders.values())}


def main() -> None:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()  # the emulator package sits under mailboxes.providers (a Django app)
    from mailboxes.providers.emulator import Emulator

    seed = json.loads(sys.argv[1])
    ca_path = sys.argv[2]
    emu = Emulator(seed=seed, ca_path=ca_path).start()
    out = sys.stdout
    tenant = seed["tenants"][0]["id"]
    out.write(
        json.dumps(
            {
                "https_url": emu.https_url,
                "http_url": emu.http_url,
                "ca_path": str(emu.ca_path),
                "authority": emu.authority(tenant),
            }
        )
        + "\n"
    )
    out.flush()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            op = cmd.pop("op")
            try:
                if op == "quit":
                    answer: Any = {"ok": True}
                elif op == "add_mailboxes":
                    emu.state.add_mailboxes(
                        cmd["tenant"], [{"address": a, "kind": "user"} for a in cmd["addresses"]]
                    )
                    answer = {"ok": True}
                elif op == "deliver":
                    # One delivery per recipient (as BCC or separate sends): each copy's
                    # To: holds its own address. One delivery to all of them would put
                    # 10,000 addresses in every copy's toRecipients, and every move
                    # answer (the whole message) would carry them.
                    delivered, skipped = 0, []
                    for recipient in cmd["recipients"]:
                        result = emu.state.deliver(
                            cmd["tenant"],
                            cmd["internet_message_id"],
                            [recipient],
                            cmd.get("subject", "Bench"),
                            cmd.get("sender", "attacker@evil.example"),
                        )
                        delivered += len(result["delivered"])
                        skipped += result["skipped"][:3]
                    answer = {"delivered": delivered, "skipped": skipped[:3]}
                elif op == "knobs":
                    answer = emu.state.set_knobs(cmd["body"])
                elif op == "clear_stats":
                    emu.state.clear_stats()
                    answer = {"ok": True}
                elif op == "stats":
                    answer = _stats(emu)
                elif op == "folders":
                    answer = _folders(emu, cmd["message_ids"])
                else:
                    answer = {"error": f"unknown op {op!r}"}
            except Exception as exc:  # answered, so the bench can say what went wrong
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(answer) + "\n")
            out.flush()
            if op == "quit":
                break
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
