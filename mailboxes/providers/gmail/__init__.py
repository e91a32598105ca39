"""Gmail (Google Workspace) provider: see client.py."""

from __future__ import annotations

from .auth import DIRECTORY_SCOPES, GMAIL_FULL, GMAIL_MODIFY, credentials_cache
from .client import GmailProvider

__all__ = [
    "DIRECTORY_SCOPES",
    "GMAIL_FULL",
    "GMAIL_MODIFY",
    "GmailProvider",
    "credentials_cache",
]
