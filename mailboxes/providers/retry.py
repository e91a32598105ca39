"""Retry timing shared by the provider clients: backoff with jitter inside a budget."""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

# Module-level so tests can patch it (and assert what would have been slept).
sleep = time.sleep
monotonic = time.monotonic


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta seconds (may be fractional) or a date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep retrying transient failures of one request.

    `max_tries` counts every try, the first included; `budget` bounds the total
    time spent waiting; a Retry-After longer than what is left ends the retries.
    """

    max_tries: int = 6
    budget: float = 60.0
    base: float = 0.5
    cap: float = 16.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number `attempt` (1-based)."""
        return random.uniform(0, min(self.cap, self.base * (2 ** (attempt - 1))))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Wait before the next try: at least Retry-After when the provider gave one."""
        jitter = self.backoff(attempt)
        if retry_after is not None:
            # A little jitter on top keeps a crowd of workers from returning at once.
            return retry_after + min(jitter, 0.25 + retry_after * 0.1)
        return jitter


class RetryState:
    """Tracks one request's tries against a RetryPolicy."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.tries = 0
        self.waited = 0.0
        self.started = monotonic()

    def next_delay(self, retry_after: float | None) -> float | None:
        """Record a failed try; return how long to sleep, or None when the budget is spent."""
        self.tries += 1
        if self.tries >= self.policy.max_tries:
            return None
        delay = self.policy.delay(self.tries, retry_after)
        if self.waited + delay > self.policy.budget:
            return None
        self.waited += delay
        return delay

    def wait(self, retry_after: float | None) -> bool:
        """Sleep before the next try; False when no try is left."""
        delay = self.next_delay(retry_after)
        if delay is None:
            return False
        sleep(delay)
        return True
