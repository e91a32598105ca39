"""The emulator's own error (bad seeds, bad control-API calls)."""

from __future__ import annotations


class EmulatorError(Exception):
    """A control-API or seed error: `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
