"""The emulator process: two listeners (HTTPS for Microsoft, HTTP for Google), one router."""

from __future__ import annotations

import contextlib
import logging
import random
import re
import socket
import socketserver
import ssl
import struct
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from mailboxes.providers.emulator import control, google, microsoft
from mailboxes.providers.emulator.state import State, load_seed
from mailboxes.providers.emulator.wire import (
    RESET,
    Request,
    Response,
    control_error,
    google_error,
    graph_error,
    phrase,
    render_rejection,
)

log = logging.getLogger("clawback.emulator")

Handler = Callable[..., Response]


@dataclass
class Route:
    method: str
    regex: re.Pattern[str]
    fn: Handler
    api: str  # graph, aad, gmail, gtoken, control
    kind: str  # the name it is counted under in the stats
    scoped: bool = False  # mailbox-scoped: the handler admits the call itself
    envelope: bool = False  # a batch envelope: its items get the latency and the faults
    token: bool = False  # a token endpoint (faults only with faults_include_tokens)


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        pattern: str,
        fn: Handler,
        *,
        api: str,
        kind: str,
        scoped: bool = False,
        envelope: bool = False,
        token: bool = False,
        ignore_case: bool = False,
    ) -> None:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        self.routes.append(Route(method, regex, fn, api, kind, scoped, envelope, token))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route, its (decoded) parameters, and whether the path exists at all."""
        path_known = False
        for route in self.routes:
            m = route.regex.fullmatch(path)
            if m is None:
                continue
            path_known = True
            if route.method == method or (route.method == "GET" and method == "HEAD"):
                return route, {k: unquote(v) for k, v in m.groupdict().items()}, True
        return None, {}, path_known


class Emulator:
    """Microsoft identity + Graph mail and Google token + Gmail, in one process.

    `seed` is a seed document (see the package README) or a path to one. The CA that
    signs the HTTPS listener's certificate is written to `ca_path` (a temporary file
    when None). Use as a context manager, or `start()` / `stop()`.
    """

    def __init__(
        self,
        seed: dict[str, Any] | str | Path | None = None,
        ca_path: str | Path | None = None,
        host: str = "127.0.0.1",
        https_port: int = 0,
        http_port: int = 0,
    ) -> None:
        self.state = State(load_seed(seed))
        self.host = host
        self._requested_ports = (https_port, http_port)
        self._ca_path = Path(ca_path) if ca_path else None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.router = Router()
        microsoft.register(self.router)
        google.register(self.router)
        control.register(self.router)
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self.https_port = 0
        self.http_port = 0

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> Emulator:
        import trustme  # a test/demo dependency: imported only when a server starts

        if self._servers:
            return self
        ca = trustme.CA(organization_name="Clawback provider emulator")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(tls)
        if self._ca_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="clawback-emulator-")
            self._ca_path = Path(self._tmpdir.name) / "ca.pem"
        self._ca_path.parent.mkdir(parents=True, exist_ok=True)
        ca.cert_pem.write_to_path(str(self._ca_path))
        self._pool = ThreadPoolExecutor(max_workers=512, thread_name_prefix="emulator-batch")
        https_port, http_port = self._requested_ports
        self._servers = [
            _Server((self.host, https_port), self, tls),
            _Server((self.host, http_port), self, None),
        ]
        self.https_port = self._servers[0].server_address[1]
        self.http_port = self._servers[1].server_address[1]
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"emulator-{server.scheme}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        # Both loops notice the shutdown within one poll interval; wait for them together.
        stoppers = [threading.Thread(target=s.shutdown, daemon=True) for s in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=5)
        for server in self._servers:
            server.server_close()
            server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._servers, self._threads = [], []
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- where things are ------------------------------------------------------------

    def _url(self, scheme: str, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{port}"

    @property
    def https_url(self) -> str:
        return self._url("https", self.https_port)

    @property
    def http_url(self) -> str:
        return self._url("http", self.http_port)

    @property
    def ca_path(self) -> Path:
        if self._ca_path is None:
            raise RuntimeError("the emulator has not started")
        return self._ca_path

    @property
    def graph_url(self) -> str:
        """Base of Graph calls: `{graph_url}/users/...` (no trailing slash)."""
        return f"{self.https_url}/v1.0"

    def authority(self, tenant: str) -> str:
        """The msal authority for a tenant (by id, directory id or domain)."""
        t = self.state.require_tenant(tenant)
        return f"{self.https_url}/{t.directory_id}"

    @property
    def google_token_uri(self) -> str:
        return f"{self.http_url}/token"

    @property
    def gmail_api_endpoint(self) -> str:
        """`client_options={"api_endpoint": ...}` for googleapiclient (trailing slash)."""
        return f"{self.http_url}/"

    @property
    def gmail_batch_uri(self) -> str:
        return f"{self.http_url}/batch/gmail/v1"

    def folder_id(self, address: str, well_known: str) -> str:
        """The Graph folder id of a well-known folder in a mailbox (e.g. "junkemail")."""
        return self.state.folder_id(address, well_known)

    # --- request processing ------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        route, params, path_known = self.router.match(req.method, req.path)
        if route is None:
            return _not_found(req, path_known)
        if route.api == "control":
            try:
                return route.fn(self, req, **params)
            except Exception:
                log.exception("emulator: %s %s failed", req.method, req.path)
                return control_error(500, "emulator error")
        resp = self._dispatch(route, req, params)
        self.state.count_answer(route.kind, "reset" if resp.reset else resp.status)
        return resp

    def _dispatch(self, route: Route, req: Request, params: dict[str, str]) -> Response:
        try:
            if not route.scoped:
                rejection, knobs = self.state.admit_other(
                    route.kind,
                    top_level=req.top_level,
                    faults=not route.token
                    or bool(self.state.global_knobs["faults_include_tokens"]),
                    errors=not route.envelope,
                )
                if rejection is not None:
                    return render_rejection(route.api, rejection)
                if not route.envelope:
                    self.sleep(knobs)
            return route.fn(self, req, **params)
        except Exception:
            log.exception("emulator: %s %s failed", req.method, req.path)
            if route.api == "gmail":
                return google_error(500, "backendError", "Backend Error")
            if route.api == "graph":
                return graph_error(500, "InternalServerError", "Emulator error.")
            return control_error(500, "emulator error")

    def gate(
        self,
        req: Request,
        api: str,
        address: str,
        kind: str,
        work: Callable[[], Response],
        cost: float = 1.0,
    ) -> Response:
        """Admit a mailbox-scoped call (faults, budget, concurrency), wait, run `work`."""
        rejection, knobs = self.state.admit(address, api, kind, cost, req.top_level)
        if rejection is not None:
            return render_rejection(api, rejection, int(knobs.get("gmail_throttle_status", 429)))
        try:
            self.sleep(knobs)
            return work()
        finally:
            self.state.release(address)

    @staticmethod
    def sleep(knobs: dict[str, Any]) -> None:
        ms = float(knobs.get("latency_ms") or 0)
        jitter = float(knobs.get("jitter_ms") or 0)
        if jitter:
            ms += random.uniform(0, jitter)
        slow_rate = knobs.get("slow_rate") or 0
        if slow_rate and random.random() < slow_rate:
            ms += float(knobs.get("slow_ms") or 0)
        if ms > 0:
            time.sleep(ms / 1000.0)

    def run_grouped(
        self, jobs: list[tuple[str, Callable[[], Any]]], parallelism: int
    ) -> tuple[list[Any], list[int]]:
        """Run jobs, at most `parallelism` at once per group key, every group at once.

        Returns the results in input order and the input indices in completion order.
        """
        results: list[Any] = [None] * len(jobs)
        done: list[int] = []
        groups: dict[str, deque[int]] = {}
        for i, (key, _) in enumerate(jobs):
            groups.setdefault(key, deque()).append(i)

        def worker(queue: deque[int]) -> None:
            while True:
                try:
                    i = queue.popleft()
                except IndexError:
                    return
                results[i] = jobs[i][1]()
                done.append(i)

        workers = [
            (queue, n) for queue in groups.values() for n in range(min(parallelism, len(queue)))
        ]
        if len(workers) <= 1 or self._pool is None:
            for queue, _ in workers:
                worker(queue)
            return results, done
        futures = [self._pool.submit(worker, queue) for queue, _ in workers[1:]]
        worker(workers[0][0])
        wait_futures(futures)
        for future in futures:
            future.result()
        return results, done


def _not_found(req: Request, path_known: bool) -> Response:
    path = req.path
    if path_known:
        if path.startswith("/gmail/"):
            return google_error(405, "methodNotAllowed", "Method not allowed.")
        return graph_error(405, "Request_BadRequest", "Method not allowed.")
    if path.lower().startswith("/v1.0/"):
        segment = unquote(path[6:].split("/")[0].split("?")[0])
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    if path.startswith("/gmail/"):
        return google_error(404, "notFound", "Not Found")
    return control_error(404, f"no route for {req.method} {path}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], emulator: Emulator, tls: ssl.SSLContext | None
    ) -> None:
        self.emulator = emulator
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.active: set[socket.socket] = set()
        self.active_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        if self.tls is not None:
            # The handshake runs in the connection's own thread (see _Handler.setup).
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # resets, TLS failures, timeouts: the client's business
            return
        log.exception("emulator: connection from %s failed", client_address)

    def close_connections(self) -> None:
        with self.active_lock:
            sockets = list(self.active)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClawbackProviderEmulator/1.0"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        if self.server.tls is not None:
            self.connection.do_handshake()
        with self.server.active_lock:
            self.server.active.add(self.connection)

    def finish(self) -> None:
        with self.server.active_lock:
            self.server.active.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        body = self._read_body()
        path, _, query = self.path.partition("?")
        if path.startswith(("http://", "https://")):
            path = "/" + path.split("/", 3)[-1]
        req = Request(
            method=self.command,
            path=path,
            query_string=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            scheme=self.server.scheme,
        )
        resp = self.server.emulator.handle(req)
        if resp.reset or resp is RESET:
            self._reset()
            return
        lines = [
            f"HTTP/1.1 {resp.status} {phrase(resp.status)}\r\n",
            f"Server: {self.server_version}\r\n",
            f"Date: {self.date_time_string()}\r\n",
            f"Content-Length: {len(resp.body)}\r\n",
        ]
        lines.extend(f"{k}: {v}\r\n" for k, v in resp.headers)
        if self.close_connection:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        payload = "".join(lines).encode("latin-1")
        if self.command != "HEAD":
            payload += resp.body
        self.wfile.write(payload)

    def _reset(self) -> None:
        """Drop the connection without an answer (RST rather than FIN where possible)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = do_HEAD = _serve
