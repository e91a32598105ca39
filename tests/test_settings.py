"""Settings come from the environment and refuse to start on a bad or missing value.

Settings are evaluated once at import, so each case imports them in a fresh
interpreter with an environment the test controls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent
FERNET_KEY = "x9kqWm8P3ZsQn1Jv7sE4b6m0b8Yc2tLhR5Ud3Aa1Cz0="
PRODUCTION = {
    "SECRET_KEY": "a-long-random-production-secret-key-for-the-settings-tests",
    "CLAWBACK_CREDENTIALS_KEYS": FERNET_KEY,
    "ALLOWED_HOSTS": "clawback.msp.example",
}
# Importing the settings module runs every check in it; django.setup() (slower) also
# loads the apps, for the case that must prove the whole project starts.
DUMP = """
import json
import django
%s
print(json.dumps({name: getattr(settings, name) for name in %r}, default=str))
"""
IMPORT_ONLY = "from config import settings"
SETUP = "from django.conf import settings; django.setup()"


def load(
    env: dict[str, str], tmp_path: Path, *names: str, setup: bool = False
) -> subprocess.CompletedProcess[str]:
    """Load the settings in a new interpreter with only `env`; print the named ones as JSON."""
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CLAWBACK_VAR_DIR": str(tmp_path / "var"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", DUMP % (SETUP if setup else IMPORT_ONLY, names)],
        cwd=BASE_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(env: dict[str, str], tmp_path: Path, *names: str, setup: bool = False) -> dict:
    result = load(env, tmp_path, *names, setup=setup)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The ImproperlyConfigured message that stopped the process."""
    assert result.returncode != 0, "settings loaded although they should not"
    lines = [line for line in result.stderr.splitlines() if "ImproperlyConfigured:" in line]
    assert lines, result.stderr
    return lines[-1]


def test_it_loads_in_production_with_the_required_secrets(tmp_path: Path) -> None:
    values = loaded(PRODUCTION, tmp_path, "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", setup=True)
    assert values == {
        "DEBUG": False,
        "SECRET_KEY": PRODUCTION["SECRET_KEY"],
        "ALLOWED_HOSTS": ["clawback.msp.example"],
    }


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CLAWBACK_CREDENTIALS_KEYS", "ALLOWED_HOSTS"])
def test_it_refuses_production_without_a_required_variable(tmp_path: Path, missing: str) -> None:
    env = {name: value for name, value in PRODUCTION.items() if name != missing}
    assert missing in refusal(load(env, tmp_path))


def test_it_reads_a_secret_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("secret-from-a-file-mounted-by-the-orchestrator\n")
    env = {**PRODUCTION, "SECRET_KEY_FILE": str(secret_file)}
    del env["SECRET_KEY"]
    values = loaded(env, tmp_path, "SECRET_KEY")
    assert values["SECRET_KEY"] == "secret-from-a-file-mounted-by-the-orchestrator"


def test_it_names_an_unreadable_secret_file(tmp_path: Path) -> None:
    env = {**PRODUCTION, "SECRET_KEY_FILE": str(tmp_path / "nowhere")}
    del env["SECRET_KEY"]
    assert "SECRET_KEY_FILE" in refusal(load(env, tmp_path))


def test_it_uses_demo_secrets_only_with_debug(tmp_path: Path) -> None:
    values = loaded({"DEBUG": "1"}, tmp_path, "DEBUG", "DEMO", "SECRET_KEY", "ALLOWED_HOSTS")
    assert values["DEBUG"] is True and values["DEMO"] is True
    assert "demo" in values["SECRET_KEY"]
    assert "localhost" in values["ALLOWED_HOSTS"]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DEBUG", "maybe", "DEBUG must be a boolean"),
        ("Q_WORKERS", "abc", "Q_WORKERS must be an integer"),
        ("Q_WORKERS", "0", "Q_WORKERS must be at least 1"),
        ("SQLITE_BUSY_TIMEOUT", "soon", "SQLITE_BUSY_TIMEOUT must be an integer"),
    ],
)
def test_it_explains_a_bad_value(tmp_path: Path, name: str, value: str, expected: str) -> None:
    message = refusal(load({"DEBUG": "1", name: value}, tmp_path))
    assert expected in message
    assert repr(value) in message or value in message


def test_it_uses_the_database_as_broker_without_redis(tmp_path: Path) -> None:
    cluster = loaded({"DEBUG": "1"}, tmp_path, "Q_CLUSTER")["Q_CLUSTER"]
    assert cluster["orm"] == "default"
    assert "redis" not in cluster


def test_it_uses_redis_as_broker_when_redis_url_is_set(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:6379/15"
    cluster = loaded({"DEBUG": "1", "REDIS_URL": url}, tmp_path, "Q_CLUSTER")["Q_CLUSTER"]
    assert cluster["redis"] == url
    assert "orm" not in cluster


def test_it_kills_a_task_before_handing_it_to_another_worker() -> None:
    cluster = settings.Q_CLUSTER
    assert cluster["timeout"] < cluster["retry"]
    assert cluster["max_attempts"] >= 1


def test_it_refuses_a_timeout_not_below_retry(tmp_path: Path) -> None:
    message = refusal(load({"DEBUG": "1", "Q_TIMEOUT": "300", "Q_RETRY": "300"}, tmp_path))
    assert "Q_TIMEOUT" in message and "Q_RETRY" in message


SQLITE_PRAGMAS = """
import django
from django.db import connection
django.setup()
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal_mode = cursor.fetchone()[0]
    cursor.execute("PRAGMA busy_timeout")
    busy_timeout = cursor.fetchone()[0]
print(journal_mode, busy_timeout)
"""


@pytest.mark.parametrize(("setting", "expected_ms"), [(None, 20000), ("5", 5000)])
def test_it_opens_sqlite_in_wal_mode_with_a_busy_timeout(
    tmp_path: Path, setting: str | None, expected_ms: int
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'clawback.sqlite3'}",
        "CLAWBACK_VAR_DIR": str(tmp_path),
    }
    if setting is not None:
        env["SQLITE_BUSY_TIMEOUT"] = setting
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_PRAGMAS],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", str(expected_ms)]


def test_a_demo_qcluster_keeps_the_demo_allowances_but_no_query_log(tmp_path: Path) -> None:
    as_qcluster = "import sys; sys.argv = ['manage.py', 'qcluster']; from config import settings"
    result = subprocess.run(
        [sys.executable, "-c", DUMP % (as_qcluster, ("DEBUG", "DEMO", "ALLOW_PROVIDER_EMULATOR"))],
        cwd=BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CLAWBACK_VAR_DIR": str(tmp_path / "var"),
            "DEBUG": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {"DEBUG": False, "DEMO": True, "ALLOW_PROVIDER_EMULATOR": True}
    assert loaded({"DEBUG": "1"}, tmp_path, "DEBUG")["DEBUG"] is True  # the web keeps it


def test_makemigrations_runs_without_the_production_secrets(tmp_path: Path) -> None:
    command = [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CLAWBACK_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout
    served = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "SECRET_KEY is not set" in served.stderr  # every other command still refuses
