"""A SIEM on 127.0.0.1: a real HTTP server in a thread that records what webhooks POST."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.json["events"]


class Siem:
    """Answers each POST with the next queued status (then `default`); may hang instead."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = []
        self.default = 200
        self.hang = False
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/siem/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        siem = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with siem._lock:
                    siem.received.append(Received(dict(self.headers.items()), body))
                    status = siem.statuses.pop(0) if siem.statuses else siem.default
                if siem.hang:
                    siem.release.wait(30)
                    return
                payload = b'{"ok": true}' if status < 300 else b"collector unavailable"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def events(self) -> list[dict[str, Any]]:
        return [event for post in self.received for event in post.events]

    def __enter__(self) -> Siem:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
