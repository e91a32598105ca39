"""Shared bench plumbing: a throwaway database, Django set up on it, real qcluster processes.

    env = throwaway_environment("sqlite-orm" | "postgres-redis", tmp)   # before django.setup()
    django_setup()                                                       # migrate, DEBUG off here
    cluster = QClusterProcess(workers=2).start().wait_ready()
    ...
    cluster.stop(); env.cleanup()

Everything is set through the environment before Django reads its settings
(settings are module-level), and the qcluster subprocesses inherit the same
environment, so they work on the same database and broker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/14"


@dataclass
class ThrowawayEnvironment:
    setup: str
    tmp: str
    database_url: str
    redis_url: str
    cluster_name: str
    postgres_db: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def cleanup(self) -> None:
        """Drop the throwaway database and the cluster's Redis keys."""
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if self.postgres_db:
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.postgres_db}" WITH (FORCE)')
        if self.redis_url:
            import redis

            client = redis.Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(f"*{self.cluster_name}*"))
            if keys:
                client.delete(*keys)


def throwaway_environment(setup: str, tmp: str) -> ThrowawayEnvironment:
    """Create the database (and pick the broker) for `setup`; export it in os.environ."""
    name = f"clawback-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    if setup == "sqlite-orm":
        env = ThrowawayEnvironment(
            setup=setup,
            tmp=tmp,
            database_url=f"sqlite:///{tmp}/bench.sqlite3",
            redis_url="",
            cluster_name=name,
        )
    elif setup == "postgres-redis":
        import psycopg
        import redis

        db = name.replace("-", "_")
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        redis.Redis.from_url(BENCH_REDIS_URL).ping()
        env = ThrowawayEnvironment(
            setup=setup,
            tmp=tmp,
            database_url=f"postgres://postgres@127.0.0.1:5432/{db}",
            redis_url=BENCH_REDIS_URL,
            cluster_name=name,
            postgres_db=db,
        )
    else:
        raise ValueError(f"unknown setup {setup!r}")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1",  # demo secrets and the emulator; the query log is turned off below
            "CLAWBACK_VAR_DIR": tmp,
            "DATABASE_URL": env.database_url,
            "Q_CLUSTER_NAME": env.cluster_name,
            "PROVIDER_EMULATOR_CA": str(Path(tmp) / "emulator-ca.pem"),
        }
    )
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if env.redis_url:
        os.environ["REDIS_URL"] = env.redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    return env


def django_setup() -> None:
    """django.setup() on the environment above, migrate, and no query log in this process.

    DEBUG=1 only supplies the demo secrets and allows the emulator; its query log
    (every statement formatted and kept) would weigh on the bench's own process.
    """
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    settings.DEBUG = False


class QClusterProcess:
    """`manage.py qcluster` in its own process group, on the environment above."""

    def __init__(self, *, workers: int = 2, tag: str = "", extra_env: dict | None = None) -> None:
        self.workers = workers
        self.env = {
            **os.environ,
            "Q_WORKERS": str(workers),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",  # django-q2 says "ready for work" at INFO
            **(extra_env or {}),
        }
        tmp = os.environ["CLAWBACK_VAR_DIR"]
        self.log_path = Path(tmp) / f"qcluster{tag}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> QClusterProcess:
        self.log = open(self.log_path, "w+b")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 60) -> QClusterProcess:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"qcluster exited early:\n{self.output()}")
            if self._read().count(b"ready for work") >= self.workers:
                return self
            time.sleep(0.1)
        raise TimeoutError(f"qcluster not ready after {timeout}s:\n{self.output()}")

    def _read(self) -> bytes:
        self.log.flush()
        return self.log_path.read_bytes()

    def output(self, tail: int = 4000) -> str:
        return self._read().decode(errors="replace")[-tail:]

    def pids(self) -> list[int]:
        """The cluster's processes (the sentinel, pusher, monitor and workers)."""
        assert self.process is not None
        out = subprocess.run(
            ["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()
