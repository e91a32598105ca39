"""Run the demo: migrate, seed, then the web server and the task cluster side by side.

The processes are listed once, in `demo_processes()`; the supervisor starts them,
stops all of them when one dies or when this process is asked to stop (Ctrl-C,
SIGTERM, SIGHUP), and exits non-zero when a process died on its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from config.env import env_int
from mailboxes.demo import demo_connect_emulator, demo_seed


@dataclass(frozen=True)
class Process:
    """One long-running child: a name for the log and the command line that starts it."""

    name: str
    argv: list[str]
    # Children are stopped the way a terminal's Ctrl-C stops them (SIGINT to the whole
    # process group): runserver and qcluster both shut down cleanly on it, and
    # qcluster's pool processes ignore it and let their parent wind them down.
    stop_signal: signal.Signals = signal.SIGINT
    # Extra environment variables, on top of this process's own.
    env: dict[str, str] = field(default_factory=dict)


def demo_processes(*, host: str, port: int) -> list[Process]:
    """Everything the demo runs, in start order; add a line here to run one more process."""
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    https_port, http_port = emulator_ports(port)
    return [
        Process(
            "emulator",
            [
                *manage,
                "emulate_providers",
                "--demo",
                "--host",
                "127.0.0.1",
                "--https-port",
                str(https_port),
                "--http-port",
                str(http_port),
            ],
        ),
        Process("web", [*manage, "runserver", "--noreload", f"{host}:{port}"]),
        Process("worker", [*manage, "qcluster"]),
        Process(
            "journal",
            [*manage, "journal_smtpd", "--host", "127.0.0.1", "--port", str(smtp_port(port))],
        ),
    ]


def smtp_port(port: int) -> int:
    """The journal/BCC receiver's port: 8025 beside the default web port 8000."""
    return port + 25


def emulator_ports(port: int) -> tuple[int, int]:
    """The emulator's HTTPS (Microsoft) and HTTP (Google) ports, next to the web port."""
    return port + 1, port + 2


class ChildDied(Exception):
    """A process ended although nobody asked it to."""

    def __init__(self, name: str, returncode: int) -> None:
        super().__init__(f"{name} exited with code {returncode}")
        self.name = name
        self.returncode = returncode


class Supervisor:
    """Run processes together in the foreground; none outlives the others or this one."""

    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, processes: list[Process], *, out: TextIO, grace: float = 20.0) -> None:
        self.processes = processes
        self.out = out
        self.grace = grace
        self.children: list[tuple[Process, subprocess.Popen[bytes]]] = []
        self.stop_requested_at: float | None = None
        self.force = False

    def run(
        self,
        *,
        ready: Callable[[], bool] | None = None,
        on_ready: Callable[[], None] | None = None,
        ready_timeout: float = 60.0,
    ) -> None:
        """Start every process and wait; return after a stop request, raise ChildDied."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in self.stop_signals}
        try:
            for process in self.processes:
                if self.stop_requested_at is not None:
                    break
                self._say(f"starting {process.name}: {' '.join(process.argv)}")
                self.children.append((process, self._spawn(process)))
            announced = on_ready is None
            ready_by = time.monotonic() + ready_timeout
            while self.stop_requested_at is None:
                for process, child in self.children:
                    if child.poll() is not None:
                        raise ChildDied(process.name, child.returncode)
                if not announced and (ready is None or ready() or time.monotonic() > ready_by):
                    on_ready()
                    announced = True
                time.sleep(0.2)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _spawn(self, process: Process) -> subprocess.Popen[bytes]:
        # A session of its own: the terminal's Ctrl-C reaches only us, and we stop the
        # children in order; the group id lets us reach their own children too.
        return subprocess.Popen(
            process.argv,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **process.env},
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    def _on_signal(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        if self.stop_requested_at is None:
            self.stop_requested_at = now
            self._say(f"got {signal.Signals(signum).name}, stopping")
        elif now - self.stop_requested_at > 1.0:
            # A second request a moment later (not the twin that `timeout` or make send
            # together) means: do not wait for a graceful stop.
            self.force = True

    def _stop_all(self) -> None:
        for process, child in self.children:
            if child.poll() is None:
                _signal_group(child, process.stop_signal)
        deadline = time.monotonic() + self.grace
        while (
            any(child.poll() is None for _, child in self.children)
            and time.monotonic() < deadline
            and not self.force
        ):
            time.sleep(0.1)
        for process, child in self.children:
            if child.poll() is None:
                self._say(f"{process.name} did not stop in time, killing it")
            # Also reaps whatever the child left behind in its group.
            _signal_group(child, signal.SIGKILL)
            child.wait()
            self._say(f"{process.name} stopped")

    def _say(self, text: str) -> None:
        self.out.write(f"[run_demo] {text}\n")
        self.out.flush()


def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
    # The child leads its own process group (start_new_session), so pgid == pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the supervisor dies without stopping us."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _port_open(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else host.strip("[]")  # noqa: S104
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


DEMO_BANNER = """\
==============================================================================
  THIS IS THE CLAWBACK DEMO, NOT A PRODUCTION SETUP.
  Demo mode (DEBUG=1): built-in demo secrets, demo users and data, and a provider
  emulator in place of Microsoft 365 and Google Workspace. Never expose it.
  For production see README.md, "Running in production".
=============================================================================="""


class Command(BaseCommand):
    help = (
        "Run the demo in the foreground: migrate, seed the demo data, then the web "
        "server and the django-q2 cluster together. Ctrl-C stops everything. "
        "Demo mode (DEBUG=1) only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Default: %(default)s.")
        parser.add_argument(
            "--port",
            type=int,
            default=env_int("PORT", 8000, minimum=1),
            help="Port of the web server (default: $PORT, else 8000).",
        )
        parser.add_argument(
            "--password",
            help="Password for the demo users (default: $CLAWBACK_DEMO_PASSWORD, else random).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO:
            raise CommandError(
                "run_demo is the demo and only runs in demo mode (DEBUG=1); this is a "
                "production configuration. Run gunicorn and qcluster instead (README, "
                "'Running in production')."
            )
        self.stdout.write(self.style.WARNING(DEMO_BANNER))
        host, port = options["host"], options["port"]
        if _port_open(host, port):
            raise CommandError(f"Port {port} is already in use; choose another with PORT=...")

        call_command("migrate", interactive=False, verbosity=max(0, options["verbosity"] - 1))
        result = demo_seed(password=options["password"])
        https_port, http_port = emulator_ports(port)
        for taken, what in (
            (https_port, "provider emulator"),
            (http_port, "provider emulator"),
            (smtp_port(port), "SMTP journal receiver"),
        ):
            if _port_open("127.0.0.1", taken):
                raise CommandError(f"Port {taken} ({what}) is already in use.")
        connected = demo_connect_emulator(
            https_url=f"https://127.0.0.1:{https_port}", http_url=f"http://127.0.0.1:{http_port}"
        )
        # The children open their own connections; ours would only hold SQLite locks.
        connections.close_all()

        shown_host = "127.0.0.1" if host == "0.0.0.0" else host  # noqa: S104
        summary = result.summary(f"http://{shown_host}:{port}") + (
            f"\nEmulator: https://127.0.0.1:{https_port} (Microsoft), "
            f"http://127.0.0.1:{http_port} (Google)  — stands in for the real providers"
            f"\nJournal:  smtp://127.0.0.1:{smtp_port(port)}  (journal/BCC to "
            + ", ".join(t.journal_address for t in connected if t.journal_address)
            + ")"
        )

        def announce() -> None:
            self.stdout.write(self.style.SUCCESS("\nClawback demo is running. Ctrl-C stops it."))
            self.stdout.write(summary + "\n")
            self.stdout.flush()

        supervisor = Supervisor(demo_processes(host=host, port=port), out=self.stdout)
        try:
            supervisor.run(ready=lambda: _port_open(host, port), on_ready=announce)
        except ChildDied as exc:
            raise CommandError(f"{exc}; stopped the other processes.") from exc
        except OSError as exc:
            raise CommandError(f"could not start a process: {exc}") from exc
