"""Size limits on what ingestion accepts, read from settings (see config/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

# RFC 5322 caps a line at 998 characters; no real Message-ID comes near it.
MAX_MESSAGE_ID_LENGTH = 998
MAX_ADDRESS_LENGTH = 320
MAX_SUBJECT_LENGTH = 998
MAX_SENDER_LENGTH = 320


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 25 * 1024 * 1024
    max_recipients: int = 5000
    max_items: int = 1000
    max_header_bytes: int = 64 * 1024
    max_headers_bytes: int = 256 * 1024

    def too_many_items(self, count: int) -> str:
        return (
            f"At most {self.max_items:,} messages per request; this one has {count:,}. "
            "Send them in smaller lists."
        )

    def too_many_recipients(self, count: int) -> str:
        return f"At most {self.max_recipients:,} recipients per message; this one has {count:,}."

    def message_too_big(self, size: int) -> str:
        return (
            f"The message is {_size(size)}; the limit is {_size(self.max_message_bytes)} "
            f"({self.max_message_bytes:,} bytes)."
        )

    def header_too_big(self, name: str, size: int) -> str:
        return (
            f"The {name!r} header is {_size(size)}; the limit is "
            f"{_size(self.max_header_bytes)} per header."
        )

    def headers_too_big(self, size: int) -> str:
        return (
            f"The headers are {_size(size)} in all; the limit is {_size(self.max_headers_bytes)}."
        )


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def get_limits() -> Limits:
    """The limits in force (read each call, so override_settings works in tests)."""
    default = Limits()
    return Limits(
        max_message_bytes=getattr(settings, "INGEST_MAX_MESSAGE_BYTES", default.max_message_bytes),
        max_recipients=getattr(settings, "INGEST_MAX_RECIPIENTS", default.max_recipients),
        max_items=getattr(settings, "INGEST_MAX_ITEMS", default.max_items),
        max_header_bytes=getattr(settings, "INGEST_MAX_HEADER_BYTES", default.max_header_bytes),
        max_headers_bytes=getattr(settings, "INGEST_MAX_HEADERS_BYTES", default.max_headers_bytes),
    )
