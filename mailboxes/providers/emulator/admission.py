"""Knobs, admission (faults, budgets, per-mailbox concurrency) and the counters.

A mixin of `State`: it shares its lock and lives on its attributes.
"""

from __future__ import annotations

import copy as copylib
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from mailboxes.providers.emulator.errors import EmulatorError

# Knobs: the global values, which any mailbox may override. None means "the provider's
# default" (PROVIDER_DEFAULTS).
DEFAULT_KNOBS: dict[str, Any] = {
    "latency_ms": 0.0,  # added to every provider call (token, directory, mail)
    "jitter_ms": 0.0,  # plus a uniform random 0..jitter_ms
    "concurrency_limit": None,  # in-flight calls per mailbox; 0 = unlimited
    "concurrency_retry_after_s": 1.0,  # Retry-After sent with a concurrency 429
    "budget_requests": None,  # calls (Graph) or quota units (Gmail) per mailbox per window
    "budget_window_s": None,
    "error_rate": 0.0,  # share of calls answered with a 5xx
    "error_statuses": [503, 504],  # picked at random for those
    "reset_rate": 0.0,  # share of connections closed without an answer
    "slow_rate": 0.0,  # share of calls delayed by slow_ms more
    "slow_ms": 0.0,
    "batch_parallelism": 4,  # Graph: per batch, any mailboxes; Gmail: per user in a batch
    "token_lifetime_s": 3599,
    "faults_include_tokens": False,  # whether error/reset/slow rates hit token endpoints
    "gmail_throttle_status": 429,  # 429 rateLimitExceeded, or 403 userRateLimitExceeded
}
PROVIDER_DEFAULTS: dict[str, dict[str, Any]] = {
    "graph": {"concurrency_limit": 4, "budget_requests": 10_000, "budget_window_s": 600.0},
    "gmail": {"concurrency_limit": 0, "budget_requests": 15_000, "budget_window_s": 60.0},
}
GLOBAL_ONLY_KNOBS = {"token_lifetime_s", "faults_include_tokens"}


@dataclass
class Rejection:
    """An admission decision that answers instead of the handler."""

    status: int | str  # an HTTP status, or "reset"
    reason: str = ""  # "concurrency", "budget", "fault", "fail_next"
    retry_after: float | None = None
    code: str = ""


class Admission:
    """Knobs, admission decisions and statistics (mixed into State)."""

    lock: threading.Lock
    global_knobs: dict[str, Any]
    mailbox_knobs: dict[str, dict[str, Any]]
    fail_next: dict[str, dict[str, Any]]
    stats_tokens: int

    def reset_stats(self) -> None:
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self.budgets: dict[str, list[float]] = {}  # address -> [window start, used]
        self.stats_requests = 0
        self.stats_by_kind: dict[str, int] = defaultdict(int)
        self.stats_by_kind_status: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.stats_by_mailbox: dict[str, int] = defaultdict(int)
        self.stats_429 = 0
        self.stats_429_by_mailbox: dict[str, int] = defaultdict(int)
        self.stats_429_by_reason: dict[str, int] = defaultdict(int)
        self.stats_5xx = 0
        self.stats_resets = 0
        self.stats_tokens = 0
        self.stats_started = time.time()

    # --- knobs ---------------------------------------------------------------------

    def set_knobs(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._set_knobs(body)
            return self._knobs_dump()

    def _set_knobs(self, body: dict[str, Any]) -> None:
        """Accepts {"global": {...}, "mailboxes": {addr: {...}}, "fail_next": {addr: {...}}}.

        A flat body is taken as global knobs, or as one mailbox's knobs when it has
        "mailbox" (then "fail_next" in it applies to that mailbox). A value of null
        removes a mailbox override.
        """
        body = dict(body)
        if "mailbox" in body:
            address = body.pop("mailbox").lower()
            fail = body.pop("fail_next", None)
            body = {"mailboxes": {address: body}} if body else {}
            if fail is not None:
                body["fail_next"] = {address: fail}
        elif not ({"global", "mailboxes", "fail_next"} & body.keys()):
            body = {"global": body}
        for key, value in (body.get("global") or {}).items():
            if key not in DEFAULT_KNOBS:
                raise EmulatorError(f"unknown knob {key!r}")
            self.global_knobs[key] = DEFAULT_KNOBS[key] if value is None else value
        for address, knobs in (body.get("mailboxes") or {}).items():
            address = address.lower()
            if knobs is None:
                self.mailbox_knobs.pop(address, None)
                continue
            current = self.mailbox_knobs.setdefault(address, {})
            for key, value in knobs.items():
                if key not in DEFAULT_KNOBS or key in GLOBAL_ONLY_KNOBS:
                    raise EmulatorError(f"unknown mailbox knob {key!r}")
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
        for address, fail in (body.get("fail_next") or {}).items():
            address = address.lower()
            if not fail or not fail.get("count"):
                self.fail_next.pop(address, None)
                continue
            status = fail.get("status", 503)
            if status != "reset" and not isinstance(status, int):
                raise EmulatorError("fail_next status must be an HTTP status or 'reset'")
            self.fail_next[address] = {
                "count": int(fail["count"]),
                "status": status,
                "retry_after": fail.get("retry_after"),
                "code": fail.get("code", ""),
            }

    def clear_knobs(self) -> dict[str, Any]:
        """Every knob back to its default; pending fail_next entries dropped."""
        with self.lock:
            self.global_knobs = copylib.deepcopy(DEFAULT_KNOBS)
            self.mailbox_knobs = {}
            self.fail_next = {}
            return self._knobs_dump()

    def knobs_dump(self) -> dict[str, Any]:
        with self.lock:
            return self._knobs_dump()

    def _knobs_dump(self) -> dict[str, Any]:
        return {
            "global": dict(self.global_knobs),
            "mailboxes": copylib.deepcopy(self.mailbox_knobs),
            "fail_next": copylib.deepcopy(self.fail_next),
            "provider_defaults": copylib.deepcopy(PROVIDER_DEFAULTS),
        }

    def knobs_for(self, address: str | None, api: str) -> dict[str, Any]:
        """Effective knobs for a call (caller holds the lock): defaults, global, mailbox."""
        knobs = dict(self.global_knobs)
        if address is not None:
            override = self.mailbox_knobs.get(address)
            if override:
                knobs.update(override)
        for key, value in PROVIDER_DEFAULTS.get(api, {}).items():
            if knobs.get(key) is None:
                knobs[key] = value
        return knobs

    # --- admission: throttling, faults, counting --------------------------------------

    def admit(
        self, address: str, api: str, kind: str, cost: float, top_level: bool
    ) -> tuple[Rejection | None, dict[str, Any]]:
        """Count a mailbox-scoped call and decide whether it runs.

        Returns (rejection, knobs). With no rejection the call is now in flight and
        the caller must `release(address)` when it has answered.
        """
        now = time.monotonic()
        with self.lock:
            knobs = self.knobs_for(address, api)
            self.stats_by_mailbox[address] += 1
            rejection = self._faults(address, knobs, top_level)
            if rejection is None:
                limit = knobs.get("budget_requests") or 0
                if limit:
                    window = float(knobs.get("budget_window_s") or 60.0)
                    budget = self.budgets.get(address)
                    if budget is None or now >= budget[0] + window:
                        budget = self.budgets[address] = [now, 0.0]
                    if budget[1] + cost > limit:
                        wait = max(0.001, budget[0] + window - now)
                        rejection = Rejection(429, "budget", round(wait, 3))
                    else:
                        budget[1] += cost
            if rejection is None:
                limit = knobs.get("concurrency_limit") or 0
                if limit and self.in_flight[address] >= limit:
                    rejection = Rejection(
                        429, "concurrency", float(knobs["concurrency_retry_after_s"])
                    )
            if rejection is None:
                count = self.in_flight[address] + 1
                self.in_flight[address] = count
                if count > self.max_in_flight[address]:
                    self.max_in_flight[address] = count
            else:
                self._count_rejection(rejection, address)
            return rejection, knobs

    def count_answer(self, kind: str, status: int | str) -> None:
        """Count one answered call (batch items included) by kind and status."""
        with self.lock:
            self.stats_requests += 1
            self.stats_by_kind[kind] += 1
            self.stats_by_kind_status[kind][str(status)] += 1

    def release(self, address: str) -> None:
        with self.lock:
            self.in_flight[address] -= 1

    def admit_other(
        self, kind: str, *, top_level: bool, faults: bool = True, errors: bool = True
    ) -> tuple[Rejection | None, dict[str, Any]]:
        """Count a call that is not mailbox-scoped (tokens, directory, batch envelopes).

        `faults` False spares it every fault; `errors` False spares it the 5xx rate
        (batch envelopes: their items roll the dice themselves).
        """
        with self.lock:
            knobs = self.global_knobs
            rejection = None
            if faults:
                rejection = self._faults(
                    None, knobs if errors else {**knobs, "error_rate": 0}, top_level
                )
            if rejection is not None:
                self._count_rejection(rejection, None)
            return rejection, knobs

    def _faults(
        self, address: str | None, knobs: dict[str, Any], top_level: bool
    ) -> Rejection | None:
        if address is not None:
            key = address if address in self.fail_next else "*"
            fail = self.fail_next.get(key)
            if fail is not None:
                fail["count"] -= 1
                if fail["count"] <= 0:
                    del self.fail_next[key]
                status = fail["status"]
                if status == "reset" and not top_level:
                    status = 503
                return Rejection(status, "fail_next", fail.get("retry_after"), fail.get("code"))
        if top_level and knobs.get("reset_rate") and random.random() < knobs["reset_rate"]:
            return Rejection("reset", "fault")
        if knobs.get("error_rate") and random.random() < knobs["error_rate"]:
            statuses = knobs.get("error_statuses") or [503]
            return Rejection(random.choice(statuses), "fault")
        return None

    def _count_rejection(self, rejection: Rejection, address: str | None) -> None:
        if rejection.status == "reset":
            self.stats_resets += 1
        elif rejection.status == 429 or (
            rejection.status == 403 and rejection.reason in ("budget", "concurrency")
        ):
            self.stats_429 += 1
            self.stats_429_by_reason[rejection.reason] += 1
            if address:
                self.stats_429_by_mailbox[address] += 1
        elif isinstance(rejection.status, int) and rejection.status >= 500:
            self.stats_5xx += 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "since": self.stats_started,
                "requests": self.stats_requests,
                "by_kind": dict(self.stats_by_kind),
                "by_kind_status": {k: dict(v) for k, v in self.stats_by_kind_status.items()},
                "by_mailbox": dict(self.stats_by_mailbox),
                "max_in_flight": {k: v for k, v in self.max_in_flight.items() if v},
                "in_flight": {k: v for k, v in self.in_flight.items() if v},
                "throttled": self.stats_429,
                "throttled_by_reason": dict(self.stats_429_by_reason),
                "throttled_by_mailbox": dict(self.stats_429_by_mailbox),
                "server_errors": self.stats_5xx,
                "resets": self.stats_resets,
                "tokens_issued": self.stats_tokens,
            }

    def clear_stats(self) -> None:
        with self.lock:
            in_flight = self.in_flight
            self.reset_stats()
            self.in_flight = in_flight
