"""Run the Microsoft Graph + Gmail provider emulator in the foreground (demo, tests, benchmarks)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Run the provider emulator (Microsoft identity + Graph over HTTPS, Google token + "
        "Gmail over HTTP) until Ctrl-C. Demo and test configurations only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--seed", type=Path, help="Seed JSON file (default: the example seed).")
        source.add_argument(
            "--demo", action="store_true", help="Seed with the demo world (mailboxes.demo)."
        )
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--https-port", type=int, default=0, help="HTTPS port (0: any free).")
        parser.add_argument("--http-port", type=int, default=0, help="HTTP port (0: any free).")
        parser.add_argument(
            "--ca-file",
            type=Path,
            default=None,
            help="Where to write the CA certificate (default: settings.PROVIDER_EMULATOR_CA).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "ALLOW_PROVIDER_EMULATOR", False):
            raise CommandError(
                "The provider emulator is disabled in this configuration "
                "(settings.ALLOW_PROVIDER_EMULATOR is false, as in production). "
                "It runs only in demo/test mode (DEBUG=1)."
            )
        from mailboxes.providers.emulator import EXAMPLE_SEED_PATH, Emulator, load_seed
        from mailboxes.providers.emulator.errors import EmulatorError

        if options["demo"]:
            from mailboxes.providers.emulator.demo import demo_seed_document

            seed: Any = demo_seed_document()
        else:
            path = options["seed"] or EXAMPLE_SEED_PATH
            try:
                seed = load_seed(path)
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the seed {path}: {exc}") from exc
        ca_file = options["ca_file"] or Path(settings.PROVIDER_EMULATOR_CA)
        try:
            emulator = Emulator(
                seed,
                ca_path=ca_file,
                host=options["host"],
                https_port=options["https_port"],
                http_port=options["http_port"],
            )
            emulator.start()
        except EmulatorError as exc:
            raise CommandError(f"Bad seed: {exc}") from exc
        except OSError as exc:
            raise CommandError(f"Cannot listen: {exc}") from exc

        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.stdout.write(f"Microsoft (HTTPS): {emulator.https_url}")
            self.stdout.write(f"Google (HTTP):     {emulator.http_url}")
            self.stdout.write(f"CA certificate:    {emulator.ca_path}")
            self.stdout.write(f"Control API:       {emulator.http_url}/_emulator/")
            self.stdout.write("Press Ctrl-C to stop.")
            self.stdout.flush()
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            emulator.stop()
            self.stdout.write("Emulator stopped.")
