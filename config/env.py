"""Small helpers that read settings from the environment and fail loudly on bad values."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, *, demo_default: str | None, demo: bool) -> str:
    """Read a secret from NAME or from the file named by NAME_FILE.

    Outside demo mode a missing secret is a configuration error; in demo mode the
    given demo default is used so that `make run` works on a fresh machine.
    """
    value = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if value is None and file_name:
        try:
            value = Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    if value:
        return value
    if demo and demo_default is not None:
        return demo_default
    raise ImproperlyConfigured(
        f"{name} is not set. Set it (or {name}_FILE) in the environment; "
        "only the demo (DEBUG=1) runs without it."
    )


_RATE_UNITS = {
    "s": "s",
    "sec": "s",
    "second": "s",
    "m": "m",
    "min": "m",
    "minute": "m",
    "h": "h",
    "hour": "h",
    "d": "d",
    "day": "d",
}


def env_rate(name: str, default: str) -> str | None:
    """A request rate, "600/min" (units s, min, hour, day); "off" for none. Returns "600/m"."""
    raw = os.environ.get(name, default).strip().lower()
    if raw in ("off", "none", "0"):
        return None
    count, _, unit = (part.strip() for part in raw.partition("/"))
    unit = _RATE_UNITS.get(unit) or _RATE_UNITS.get(unit.removesuffix("s"))
    if not (count.isascii() and count.isdigit()) or int(count) < 1 or unit is None:
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 600/min (per s, min, hour or day) or off, not {raw!r}"
        )
    return f"{int(count)}/{unit}"
