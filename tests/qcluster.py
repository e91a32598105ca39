"""Run real `manage.py qcluster` processes against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """A DATABASE_URL for the database the tests are using right now."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] or "postgres"
        if db.get("PASSWORD"):
            auth += f":{db['PASSWORD']}"
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    raise RuntimeError(f"no URL for {db['ENGINE']}")


class QCluster:
    """A qcluster in its own process group, so it and its workers can be killed together."""

    def __init__(self, *, redis_url: str = "", workers: int = 2, extra_env: dict | None = None):
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": test_database_url(),
            "PROVIDER_EMULATOR_CA": str(settings.PROVIDER_EMULATOR_CA),
            "Q_WORKERS": str(workers),
            "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.log = open(  # noqa: SIM115 - closed in stop()
            Path(settings.VAR_DIR) / f"qcluster-{os.getpid()}-{time.monotonic_ns()}.log", "w+b"
        )
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"qcluster exited early:\n{self.output()}")
            if b"ready for work" in self._read():
                return
            time.sleep(0.1)
        raise TimeoutError(f"qcluster not ready after {timeout}s:\n{self.output()}")

    def _read(self) -> bytes:
        self.log.flush()
        return Path(self.log.name).read_bytes()

    def output(self) -> str:
        return self._read().decode(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL the whole cluster at once: no clean shutdown, as when a machine dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            # To the cluster's main process only: it stops its workers in order. A
            # signal to the whole group makes its sentinel wait on workers that are gone.
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        self.kill()  # whatever is left of the group
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
