"""The signature on every webhook POST, and how a receiver checks it (see README.md).

X-Clawback-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>,
where <timestamp> is the X-Clawback-Timestamp header (Unix seconds) and <body> the
raw request body, byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SCHEME = "sha256"
# Receivers should refuse a timestamp further than this from their clock (replays).
REPLAY_WINDOW_SECONDS = 300


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    header: str,
    now: float | None = None,
    window: int = REPLAY_WINDOW_SECONDS,
) -> bool:
    """The receiver's check: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent) > window:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header or "")
