"""Every door × every role, as tests/matrix/table.py says, and nothing left out of the table.

Each cell is one request in a savepoint that is rolled back afterwards, so every role
meets the same alpha rows. An allowed write must change what its probe reads; a refused
one must change nothing at all (row counts of every table, audit trail and admin log
included, and the probe). Tasks are queued on commit, and a test's transaction never
commits: nothing reaches a worker or a provider (verify stops at "no credentials").
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.admin.helpers import alpha_markers_in
from tests.two_factor import code, enrol, force_verified_login
from webhooks import events

from .recipes import Call, recipe
from .table import (
    ACTION,
    ADMIN,
    ALPHA_RANK,
    ANONYMOUS,
    API,
    CRASH,
    EMPTY,
    FORBIDDEN,
    LIST,
    LOGIN,
    NOT_FOUND,
    OK,
    OUTSIDER,
    REFUSED,
    ROLES,
    TABLE,
    TO_INDEX,
    UNAUTHORIZED,
    UNKNOWN_TENANT,
    VIEW,
    describe,
    door,
    expected,
)
from .world import (
    MatrixTestCase,
    action_doors,
    admin_doors,
    api_doors,
    offered_actions,
    row_counts,
)

STATUS = {FORBIDDEN: 403, NOT_FOUND: 404, UNAUTHORIZED: 401}


class _Undo(Exception):
    """Raised to roll a cell's savepoint back."""


@contextlib.contextmanager
def rolled_back() -> Iterator[None]:
    try:
        with transaction.atomic():
            yield
            raise _Undo
    except _Undo:
        pass


def body_of(response: Any) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode(errors="replace")


class CompletenessTests(MatrixTestCase):
    def test_it_has_an_entry_for_every_door_and_none_for_a_missing_one(self) -> None:
        found = api_doors() | admin_doors() | action_doors(self.root)
        declared = {door(key) for key in TABLE}
        missing = sorted(found - declared)
        stale = sorted(declared - found)
        self.assertEqual(
            (missing, stale),
            ([], []),
            "\nAdd each new door to tests/matrix/table.py with the least role it needs:\n  "
            + "\n  ".join(" ".join(d) for d in missing)
            + "\nand remove the entries of doors that no longer exist:\n  "
            + "\n  ".join(" ".join(d) for d in stale),
        )

    def test_it_knows_how_to_exercise_every_entry(self) -> None:
        for key in TABLE:
            with self.subTest(entry=describe(key)):
                self.assertIsInstance(recipe(self, key, ADMIN), Call)

    def test_it_derives_an_outcome_for_every_cell(self) -> None:
        for rule in TABLE.values():
            for role in ROLES:
                self.assertIn(
                    expected(rule, role),
                    {OK, EMPTY, REFUSED, UNKNOWN_TENANT, LOGIN, TO_INDEX, CRASH, *STATUS},
                )


class MatrixCellTests(MatrixTestCase):
    """The cells of one kind of door per test method; a failure names its cell."""

    def setUp(self) -> None:
        super().setUp()
        self._clients: dict[tuple[str, bool], Client] = {}
        self.api = APIClient()

    def test_api(self) -> None:
        self.run_cells(API)

    def test_admin_views(self) -> None:
        self.run_cells(VIEW)

    def test_admin_actions(self) -> None:
        self.run_cells(ACTION)

    # --- running one cell ---------------------------------------------------------------------
    def run_cells(self, kind: str) -> None:
        entries = [(key, rule) for key, rule in TABLE.items() if key[0] == kind]
        self.assertTrue(entries)
        for key, rule in entries:
            for role in ROLES:
                outcome = expected(rule, role)
                with self.subTest(cell=f"{describe(key)} as {role}", expected=outcome):
                    self.exercise(key, rule, role, outcome)

    def exercise(self, key: tuple[str, ...], rule: Any, role: str, outcome: str) -> None:
        call = recipe(self, key, role)
        write = call.method != "GET"
        client = None if key[0] == API else self.admin_client(role, call)
        headers = self.api_headers(role, call) if key[0] == API else {}
        with rolled_back():
            if key[0] == API:
                cache.clear()  # API rate limits: every cell starts with a full budget
            if call.setup:
                call.setup()
            before = (row_counts(), call.probe() if call.probe else None) if write else None
            if outcome == CRASH:
                with self.assertRaises(Exception):  # noqa: B017 - whatever the bug raises
                    self.send_admin(client, call)
                return
            if key[0] == API:
                response = self.send_api(call, headers)
            else:
                response = self.send_admin(client, call)
            body = body_of(response)
            after = (row_counts(), call.probe() if call.probe else None) if write else None
            self.judge(key, role, outcome, call, response, body, before, after)
        events.forget_endpoints()
        if key[0] == ACTION:
            self.check_offered(key, rule, role, outcome, call)

    def admin_client(self, role: str, call: Call) -> Client:
        user = self.users.get(role)
        if call.fresh or user is None:
            client = Client()
            if user is not None:
                client.force_login(user)
            return client
        slot = (role, call.verified)
        if slot not in self._clients:
            client = Client()
            if call.verified:
                force_verified_login(client, user)
            else:
                client.force_login(user)
            self._clients[slot] = client
        client = self._clients[slot]
        client.cookies.pop("messages", None)  # no message left over from another cell
        return client

    def api_headers(self, role: str, call: Call) -> dict[str, str]:
        if role == ANONYMOUS:
            return {}
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.api_keys[role]}"}
        if call.otp:
            headers["HTTP_X_CLAWBACK_OTP"] = code(enrol(self.users[role]))
        return headers

    def send_api(self, call: Call, headers: dict[str, str]) -> Any:
        if call.method == "GET":
            return self.api.get(call.url, call.params, **headers)
        if call.content_type:
            return self.api.generic(
                call.method, call.url, call.data, content_type=call.content_type, **headers
            )
        handler = getattr(self.api, call.method.lower())
        return handler(call.url, call.data or {}, format="json", **headers)

    def send_admin(self, client: Client, call: Call) -> Any:
        if call.method == "GET":
            return client.get(call.url, call.params or {})
        return client.post(call.url, call.data or {})

    # --- judging it -----------------------------------------------------------------------------
    def judge(
        self,
        key: tuple[str, ...],
        role: str,
        outcome: str,
        call: Call,
        response: Any,
        body: str,
        before: Any,
        after: Any,
    ) -> None:
        status = response.status_code
        location = response.get("Location", "")
        api = key[0] == API
        to_login = status == 302 and location.startswith(reverse("admin:login"))
        seen = f"{status} {location} {body[:400]}"
        if outcome == OK:
            if api:
                self.assertTrue(200 <= status < 300, seen)
            else:
                self.assertTrue(200 <= status < 400 and not to_login, seen)
            if before is not None and call.probe is not None:
                self.assertNotEqual(before[1], after[1], f"allowed, but nothing changed: {seen}")
            if api and TABLE[key].scope == LIST and call.method == "GET":
                # The positive control of EMPTY: alpha's own people do see alpha's rows.
                self.assertTrue(self.alpha_rows_in(body), f"no alpha row listed: {seen}")
            return
        if outcome == EMPTY:
            self.assertIn(status, (200,) if api else (200, 302), seen)
            self.assertFalse(to_login, seen)
            self.assertEqual(alpha_markers_in(body), [], "alpha shows through")
            if api:
                self.assert_no_alpha_rows(body)
        elif outcome in STATUS:
            self.assertEqual(status, STATUS[outcome], seen)
        elif outcome == LOGIN:
            self.assertTrue(to_login, seen)
        elif outcome == TO_INDEX:
            self.assertEqual((status, location), (302, reverse("admin:index")), seen)
        elif outcome == UNKNOWN_TENANT:
            if api:
                self.assertIn(status, (400, 404), seen)
                if status == 400:
                    self.assertIn("tenant", json.loads(body), seen)
            else:
                self.assertIn(status, (200, 302), seen)
                self.assertFalse(to_login, seen)
        elif outcome == REFUSED:
            self.assertIn(status, (200, 302), seen)
            self.assertFalse(to_login, seen)
        else:  # pragma: no cover - test_it_derives_an_outcome_for_every_cell
            self.fail(f"unknown outcome {outcome}")
        if before is not None:
            self.assertEqual(before[1], after[1], f"refused, but it happened: {seen}")
            counts = zip(before[0].items(), after[0].values(), strict=True)
            changed = {table: (n, m) for (table, n), m in counts if n != m}
            self.assertEqual(changed, {}, f"refused, but rows changed: {seen}")

    def alpha_rows_in(self, body: str) -> list[Any]:
        """Rows of a JSON list that belong to alpha (a summary or a CSV: its alpha markers)."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict) or "results" not in data:
            return alpha_markers_in(body) or ([data] if isinstance(data, dict) else [])
        return [
            row
            for row in data["results"]
            if row.get("tenant", row.get("id") if "slug" in row else None) == self.alpha.pk
        ]

    def assert_no_alpha_rows(self, body: str) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            return  # CSV: the markers are checked
        if isinstance(data, dict) and "results" in data:
            self.assertEqual(self.alpha_rows_in(body), [])

    def check_offered(
        self, key: tuple[str, ...], rule: Any, role: str, outcome: str, call: Call
    ) -> None:
        """Who is offered the action in the changelist's menu: those who may use it."""
        if len(key) > 3 or role in rule.special or outcome not in (OK, REFUSED):
            return
        if role not in ALPHA_RANK and role != OUTSIDER:
            return
        offered = call.extra["action"] in offered_actions(call.extra["model"], self.users[role])
        # The outsider is offered what his own tenant allows; alpha's rows are not his.
        self.assertEqual(offered, outcome == OK or role == OUTSIDER, f"offered to {role}")
