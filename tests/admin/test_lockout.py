"""Sign-in lockout (django-axes): a user name is refused from an address after 5 failures.

Sign-ins go through the real admin login page; the cool-off is passed by moving the
recorded failures back in time, the way the clock would.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import RequestFactory, override_settings
from django.urls import reverse

from mailboxes.models import AuditEvent
from mailboxes.signin import client_ip
from tests.admin.helpers import AdminTestCase

LOGIN = reverse("admin:login")
HERE = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


def password(user: Any) -> str:
    return "pw-" + user.username * 2  # tests.factories.make_user


class LockoutTestCase(AdminTestCase):
    def sign_in(self, user: Any, secret: str | None = None, ip: str = HERE, **extra: Any):
        """POST the admin login form as `user` from `ip` (right password unless `secret`)."""
        self.client.logout()
        return self.client.post(
            LOGIN,
            {"username": user.username, "password": secret or password(user), "next": "/admin/"},
            REMOTE_ADDR=ip,
            **extra,
        )

    def fail_sign_in(self, user: Any, times: int, ip: str = HERE) -> Any:
        response = None
        for _ in range(times):
            response = self.sign_in(user, "not-the-password", ip=ip)
        return response

    def assertSignedIn(self, response: Any) -> None:
        self.assertEqual(response.status_code, 302, response.content[:300])
        self.assertEqual(response["Location"], "/admin/")
        self.assertIn("_auth_user_id", self.client.session)

    def assertLockedOut(self, response: Any) -> None:
        self.assertEqual(response.status_code, 429)
        self.assertContains(response, "Sign-in is locked", status_code=429)
        self.assertNotIn("_auth_user_id", self.client.session)


class LockoutTests(LockoutTestCase):
    def test_it_refuses_even_the_right_password_after_five_failures(self) -> None:
        response = self.fail_sign_in(self.alice, 4)
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Please enter the correct")
        self.assertLockedOut(self.fail_sign_in(self.alice, 1))
        self.assertLockedOut(self.sign_in(self.alice))

    def test_the_lockout_page_says_when_to_try_again(self) -> None:
        response = self.fail_sign_in(self.alice, 5)
        self.assertContains(response, "“alice”", status_code=429)
        self.assertContains(response, "after 5 failed attempts", status_code=429)
        self.assertContains(response, "Try again after", status_code=429)
        self.assertContains(response, "in 30 minutes", status_code=429)
        self.assertEqual(response["Retry-After"], "1800")
        self.assertNotContains(response, 'name="password"', status_code=429)

    def test_it_locks_only_that_user_name_from_that_address(self) -> None:
        self.fail_sign_in(self.alice, 5)
        self.assertSignedIn(self.sign_in(self.bob))
        self.assertSignedIn(self.sign_in(self.alice, ip=ELSEWHERE))
        self.assertLockedOut(self.sign_in(self.alice))

    def test_a_successful_sign_in_clears_the_count(self) -> None:
        self.fail_sign_in(self.alice, 4)
        self.assertSignedIn(self.sign_in(self.alice))
        self.assertEqual(self.fail_sign_in(self.alice, 4).status_code, 200)
        self.assertSignedIn(self.sign_in(self.alice))

    def test_it_lets_the_user_in_again_after_the_cool_off(self) -> None:
        self.fail_sign_in(self.alice, 5)
        # Every refused try restarts the wait: 29 minutes after the last one is too early.
        attempts = AccessAttempt.objects.filter(username="alice", ip_address=HERE)
        for attempt in attempts:
            attempts.filter(pk=attempt.pk).update(
                attempt_time=attempt.attempt_time - timedelta(minutes=29)
            )
        self.assertLockedOut(self.sign_in(self.alice))
        for attempt in attempts:
            attempts.filter(pk=attempt.pk).update(
                attempt_time=attempt.attempt_time - timedelta(minutes=31)
            )
        self.assertSignedIn(self.sign_in(self.alice))

    def test_axes_reset_username_unlocks_at_once(self) -> None:
        self.fail_sign_in(self.alice, 5)
        out = io.StringIO()
        call_command("axes_reset_username", "alice", stdout=out)
        self.assertIn("1 attempts removed", out.getvalue())
        self.assertSignedIn(self.sign_in(self.alice))

    def test_it_records_the_lockout_once_in_the_audit_trail(self) -> None:
        self.fail_sign_in(self.alice, 4)
        self.assertFalse(AuditEvent.objects.filter(action="signin.locked_out").exists())
        self.fail_sign_in(self.alice, 3)
        self.sign_in(self.alice)
        (event,) = AuditEvent.objects.filter(action="signin.locked_out")
        self.assertIsNone(event.actor)
        self.assertIsNone(event.tenant)
        self.assertEqual(event.actor_label, "system")
        self.assertEqual(event.data, {"username": "alice", "ip": HERE})

    def test_it_never_stores_the_password_tried(self) -> None:
        self.fail_sign_in(self.alice, 1)
        (attempt,) = AccessAttempt.objects.filter(username="alice")
        self.assertNotIn("not-the-password", attempt.post_data)


class UnaffectedDoorsTests(LockoutTestCase):
    """A locked-out user name keeps its API keys and its open sessions: only sign-in stops."""

    def test_api_keys_still_work_from_the_locked_address(self) -> None:
        self.fail_sign_in(self.alice, 5)
        _, raw = self.issue_key()
        self.client.logout()
        response = self.client.get(
            "/api/v1/tenants/", HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR=HERE
        )
        self.assertEqual(response.status_code, 200, response.content[:300])
        self.assertEqual([t["name"] for t in response.json()["results"]], ["Alpha Corp"])

    def test_a_signed_in_session_still_works(self) -> None:
        self.fail_sign_in(self.alice, 5)
        self.client.force_login(self.alice)
        response = self.client.get(reverse("admin:index"), REMOTE_ADDR=HERE)
        self.assertEqual(response.status_code, 200)

    def issue_key(self) -> tuple[Any, str]:
        from mailboxes.services import api_key_issue

        return api_key_issue(user=self.alice, name="alice-script", actor=self.alice)


class ClientAddressTests(LockoutTestCase):
    """Which address a failure is counted under, with and without a reverse proxy."""

    def address(self, **meta: str) -> str | None:
        return client_ip(RequestFactory().post(LOGIN, **meta))

    def test_it_ignores_forwarded_headers_unless_behind_a_proxy(self) -> None:
        self.assertEqual(self.address(REMOTE_ADDR=HERE, HTTP_X_FORWARDED_FOR="10.9.9.9"), HERE)

    @override_settings(BEHIND_PROXY=True)
    def test_behind_a_proxy_it_takes_the_entry_the_proxy_wrote(self) -> None:
        # The client wrote 10.9.9.9 itself; our proxy appended the address it saw.
        meta = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": f"10.9.9.9, {ELSEWHERE}"}
        self.assertEqual(self.address(**meta), ELSEWHERE)
        self.assertEqual(self.address(REMOTE_ADDR="10.0.0.2"), "10.0.0.2")
        self.assertEqual(
            self.address(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address"),
            "10.0.0.2",
        )

    @override_settings(BEHIND_PROXY=True, CLIENT_IP_HEADER="X-Real-IP", PROXY_COUNT=1)
    def test_the_header_is_configurable(self) -> None:
        self.assertEqual(self.address(REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP=ELSEWHERE), ELSEWHERE)

    @override_settings(BEHIND_PROXY=True)
    def test_behind_a_proxy_the_lockout_follows_the_client_not_the_proxy(self) -> None:
        def via_proxy(client_address: str) -> dict[str, str]:
            return {"HTTP_X_FORWARDED_FOR": client_address}

        for _ in range(5):
            self.sign_in(self.alice, "not-the-password", ip="10.0.0.2", **via_proxy(HERE))
        self.assertLockedOut(self.sign_in(self.alice, ip="10.0.0.2", **via_proxy(HERE)))
        self.assertSignedIn(self.sign_in(self.alice, ip="10.0.0.2", **via_proxy(ELSEWHERE)))
        self.assertEqual(set(AccessAttempt.objects.values_list("ip_address", flat=True)), {HERE})
