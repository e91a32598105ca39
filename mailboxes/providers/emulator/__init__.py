"""Provider emulator: Microsoft identity + Graph mail and Google token + Gmail in one process.

For the demo, the integration tests and the benchmarks only; production settings
(ALLOW_PROVIDER_EMULATOR off) refuse to run it. Two listeners share one state and one
router: HTTPS (a throwaway `trustme` CA, written to `ca_path`) for the Microsoft side,
since msal insists on https authorities, and plain HTTP for the Google side.

    with Emulator(seed=EXAMPLE_SEED_PATH, ca_path=tmp / "ca.pem") as emu:
        emu.authority("alpha")   # https://127.0.0.1:PORT/<directory id>, for msal
        emu.graph_url            # https://127.0.0.1:PORT/v1.0
        emu.google_token_uri     # http://127.0.0.1:PORT/token
        emu.gmail_api_endpoint   # http://127.0.0.1:PORT/  (client_options api_endpoint)
        emu.gmail_batch_uri      # http://127.0.0.1:PORT/batch/gmail/v1
        emu.state.deliver("alpha", "<id@x>", ["adele@alpha.example"], "Subject", "s@x")

The seed schema, the control API (/_emulator/...), the knobs and the folder ids are
described in README.md next to this file; `example_seed.json` is the seed the tests use.
"""

from __future__ import annotations

from pathlib import Path

from mailboxes.providers.emulator.server import Emulator
from mailboxes.providers.emulator.state import State, load_seed

EXAMPLE_SEED_PATH = Path(__file__).with_name("example_seed.json")

__all__ = ["EXAMPLE_SEED_PATH", "Emulator", "State", "load_seed"]
