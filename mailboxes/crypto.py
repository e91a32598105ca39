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


def fernet() -> MultiFernet:
    keys = tuple(settings.CREDENTIALS_KEYS)
    if not keys:
        raise ImproperlyConfigured("CLAWBACK_CREDENTIALS_KEYS is empty.")
    return _fernet(keys)


def encrypt_json(value: dict[str, Any]) -> str:
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


def rotate(token: str) -> str:
    """Re-encrypt with the newest key (MultiFernet.rotate)."""
    return fernet().rotate(token.encode()).decode()


# --- Redaction -------------------------------------------------------------------
# Every secret value that was decrypted in this process is remembered, and the
# logging filter blanks it out of any record, as a last line of defence behind
# code that never logs credentials in the first place.
_known_secrets: set[str] = set()
_lock = threading.Lock()


SECRET_FIELDS = frozenset({"client_secret", "private_key", "private_key_id"})


def _remember(data: Any) -> None:
    values: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key in SECRET_FIELDS and isinstance(item, str) and len(item) >= 8:
                    values.append(item)
                else:
                    walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    with _lock:
        _known_secrets.update(values)


def redact(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _known_secrets:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True
