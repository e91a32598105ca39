"""Credentials at rest: MultiFernet encryption with key rotation, and log redaction."""

from __future__ import annotations

import json
import logging
import threading
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

REDACTED = "[redacted]"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "CLAWBACK_CREDENTIALS_KEYS must be Fernet keys (32 url-safe base64 bytes each); "
            "make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from exc


@lru_cache(maxsize=4)
def _newest(key: str) -> Fernet:
    return Fernet(key.encode())


def _keys() -> tuple[str, ...]:
    # Read on every call, never cached apart from the keys: override_settings and a
    # reloaded configuration take effect at once (the caches are keyed by the keys).
    keys = tuple(settings.CREDENTIALS_KEYS)
    if not keys:
        raise ImproperlyConfigured("CLAWBACK_CREDENTIALS_KEYS is empty.")
    return keys


def fernet() -> MultiFernet:
    return _fernet(_keys())


def encrypt_json(value: dict[str, Any]) -> str:
    _remember(value)
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


class CredentialsUnreadable(Exception):
    """The stored ciphertext cannot be decrypted with any configured key."""


def decrypt_json(token: str) -> dict[str, Any]:
    try:
        data = json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable(
            "stored credentials cannot be decrypted with the configured keys"
        ) from None
    _remember(data)
    return data


def uses_newest_key(token: str) -> bool:
    """Whether `token` is encrypted with the newest key; False when an older key is needed.

    Raises CredentialsUnreadable when no configured key decrypts it.
    """
    keys = _keys()
    every_key = _fernet(keys)  # also refuses malformed keys with ImproperlyConfigured
    try:
        _newest(keys[0]).decrypt(token.encode())
    except InvalidToken:
        pass
    else:
        return True
    try:
        every_key.decrypt(token.encode())
    except InvalidToken:
        raise CredentialsUnreadable(
            "stored credentials cannot be decrypted with the configured keys"
        ) from None
    return False


def rotate(token: str) -> str:
    """Re-encrypt with the newest key (MultiFernet.rotate); the plain text never leaves here."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable(
            "stored credentials cannot be decrypted with the configured keys"
        ) from None


# --- Redaction -------------------------------------------------------------------
# Every secret value that was encrypted or decrypted in this process is remembered,
# and the logging filter and the error-report filter (config.security) blank it out,
# as a last line of defence behind code that never logs credentials in the first place.
_known_secrets: set[str] = set()
_longest_first: tuple[str, ...] = ()
_lock = threading.Lock()


SECRET_FIELDS = frozenset(
    {
        "client_secret",
        "certificate_private_key",
        "private_key",
        "private_key_id",
        "passphrase",
        "signing_secret",  # webhook endpoints
    }
)
# Shorter values are not remembered: blanking a common word ("emulator", the demo's
# key id) out of every log line would hide more than it protects. Real client secrets
# and key ids are 40 characters.
_MIN_SECRET = 12
# Lines of a PEM block shorter than this are headers or padding, not key material.
_MIN_LINE = 16


def _secret_parts(value: str) -> list[str]:
    """The value, and each line of a multi-line one (a PEM key logged line by line)."""
    parts = [value]
    lines = [line.strip() for line in value.splitlines()]
    if len(lines) > 1:
        parts += [line for line in lines if len(line) >= _MIN_LINE and not line.startswith("-")]
    return parts


def _remember(data: Any) -> None:
    values: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key in SECRET_FIELDS and isinstance(item, str) and len(item) >= _MIN_SECRET:
                    values.extend(_secret_parts(item))
                else:
                    walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    global _longest_first
    with _lock:
        if not _known_secrets.issuperset(values):
            _known_secrets.update(values)
            # Longest first, so a whole PEM key goes before the lines it contains.
            _longest_first = tuple(sorted(_known_secrets, key=len, reverse=True))


def knows_secrets() -> bool:
    return bool(_known_secrets)


def contains_secret(text: str) -> bool:
    """Whether `text` holds a credential this process encrypted or decrypted."""
    return any(secret in text for secret in _longest_first)


def redact(text: str) -> str:
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactSecretsFilter(logging.Filter):
    """Blank known secrets out of a record's message, its traceback and its stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _known_secrets:
            return True
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the redacted text is what they print.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
