"""Hard delete through the API needs a second factor, like in the admin.

An API key carries no signed-in session, so a hard delete with a key needs the current
code of the key user's authenticator app in the X-Clawback-OTP header (403 otherwise,
saying what is missing). A session-authenticated caller needs a session signed in with
a code. Management commands act from the server's shell and need neither.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from mailboxes.access import SecondFactorRequired, ShellOperator
from mailboxes.services import api_key_issue
from retraction.models import RetractionAttempt, RetractionJob, RetractionPolicy
from retraction.services.manual import retraction_request
from tests.api.helpers import ApiTestCase
from tests.two_factor import VerifiedApiCalls, code, enrol, verified, wrong_code

HARD_DELETE = {"action": "hard_delete", "confirm_hard_delete": True}


class HardDeleteOtpTestCase(VerifiedApiCalls, ApiTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        _, cls.alice_raw = api_key_issue(user=cls.alice, name="alice-ci", actor=cls.alice)
        _, cls.bob_raw = api_key_issue(user=cls.bob, name="bob-ci", actor=cls.bob)

    def setUp(self) -> None:
        self.message = self.alpha_objects["message"]
        self.retract_url = f"/api/v1/messages/{self.message.pk}/retract/"
        self.before = set(RetractionAttempt.objects.all_tenants().values_list("pk", flat=True))

    def with_key(self, raw: str, url: str, data: Any, otp: str | None = None, method="post"):
        self.client.logout()
        headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        if otp is not None:
            headers["HTTP_X_CLAWBACK_OTP"] = otp
        with self.captureOnCommitCallbacks(execute=False):
            return getattr(self.client, method)(url, data, format="json", **headers)

    def new_attempts(self, action: str = "hard_delete") -> int:
        return (
            RetractionAttempt.objects.all_tenants()
            .exclude(pk__in=self.before)
            .filter(action=action)
            .count()
        )

    def assertRefused(self, response: Any, *words: str) -> None:
        self.assertEqual(response.status_code, 403, response.content)
        detail = response.json()["detail"]
        for word in words:
            self.assertIn(word, detail)
        self.assertEqual(self.new_attempts(), 0)


class ApiKeyTests(HardDeleteOtpTestCase):
    def test_a_key_whose_user_has_no_app_is_told_to_enrol_one(self) -> None:
        response = self.with_key(self.alice_raw, self.retract_url, HARD_DELETE, otp="123456")
        self.assertRefused(response, "has none", "enrol an authenticator app", "X-Clawback-OTP")

    def test_it_asks_for_the_code_in_the_header(self) -> None:
        enrol(self.alice)
        response = self.with_key(self.alice_raw, self.retract_url, HARD_DELETE)
        self.assertRefused(response, "send the current code", "X-Clawback-OTP header")

    def test_it_refuses_a_wrong_code(self) -> None:
        device = enrol(self.alice)
        response = self.with_key(
            self.alice_raw, self.retract_url, HARD_DELETE, otp=wrong_code(device)
        )
        self.assertRefused(response, "X-Clawback-OTP: This code is not valid")

    def test_it_refuses_a_backup_code_through_the_api(self) -> None:
        enrol(self.alice)
        response = self.with_key(self.alice_raw, self.retract_url, HARD_DELETE, otp="abcdefgh")
        self.assertRefused(response, "not a two-factor code", "6-digit code")

    def test_it_hard_deletes_with_a_valid_code_once(self) -> None:
        device = enrol(self.alice)
        token = code(device)
        response = self.with_key(self.alice_raw, self.retract_url, HARD_DELETE, otp=token)
        self.assertEqual(response.status_code, 202, response.content)
        copies = self.message.deliveries.count()
        self.assertEqual(self.new_attempts(), copies)
        # The same code again is a replay.
        response = self.with_key(self.alice_raw, self.retract_url, HARD_DELETE, otp=token)
        self.assertEqual(response.status_code, 403)
        self.assertIn("already used", response.json()["detail"])
        self.assertEqual(self.new_attempts(), copies)

    def test_only_hard_delete_spends_the_code(self) -> None:
        device = enrol(self.alice)
        token = code(device)
        response = self.with_key(self.alice_raw, self.retract_url, {"action": "trash"}, otp=token)
        self.assertEqual(response.status_code, 202)
        response = self.with_key(self.alice_raw, self.retract_url, HARD_DELETE, otp=token)
        self.assertEqual(response.status_code, 202, response.content)

    def test_the_role_is_checked_before_the_code(self) -> None:
        device = enrol(self.bob)
        response = self.with_key(self.bob_raw, self.retract_url, HARD_DELETE, otp=code(device))
        self.assertRefused(response, "Tenant admin")

    def test_confirmation_is_still_required(self) -> None:
        device = enrol(self.alice)
        response = self.with_key(
            self.alice_raw, self.retract_url, {"action": "hard_delete"}, otp=code(device)
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("confirm_hard_delete", response.json())

    def test_bulk_jobs_follow_the_same_rule(self) -> None:
        device = enrol(self.alice)
        data = {"tenant": self.alpha.pk, "message_ids": [self.message.pk], **HARD_DELETE}
        jobs = RetractionJob.objects.all_tenants().filter(action="hard_delete")
        response = self.with_key(self.alice_raw, "/api/v1/retraction-jobs/", data)
        self.assertEqual(response.status_code, 403)
        self.assertFalse(jobs.exists())
        response = self.with_key(self.alice_raw, "/api/v1/retraction-jobs/", data, otp=code(device))
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(jobs.count(), 1)


class SessionTests(HardDeleteOtpTestCase):
    def test_a_session_signed_in_without_a_code_is_refused(self) -> None:
        enrol(self.alice)
        with self.captureOnCommitCallbacks(execute=False):
            response = self.call(self.alice, "post", self.retract_url, HARD_DELETE)
        self.assertRefused(response, "Hard delete needs two-factor authentication")

    def test_a_session_signed_in_with_a_code_may_hard_delete(self) -> None:
        with self.captureOnCommitCallbacks(execute=False):
            response = self.call_verified(self.alice, "post", self.retract_url, HARD_DELETE)
        self.assertEqual(response.status_code, 202, response.content)
        self.assertEqual(self.new_attempts(), self.message.deliveries.count())


class PolicyTests(HardDeleteOtpTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.policy = self.alpha_objects["policy"]
        self.url = f"/api/v1/policies/{self.policy.pk}/"

    def reload(self) -> RetractionPolicy:
        return RetractionPolicy.objects.all_tenants().get(pk=self.policy.pk)

    def test_turning_hard_delete_on_needs_a_code(self) -> None:
        device = enrol(self.alice)
        response = self.with_key(self.alice_raw, self.url, HARD_DELETE, method="patch")
        self.assertEqual(response.status_code, 403)
        self.assertIn("X-Clawback-OTP", response.json()["detail"])
        self.assertNotEqual(self.reload().action, "hard_delete")

        response = self.with_key(
            self.alice_raw, self.url, HARD_DELETE, otp=code(device), method="patch"
        )
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(self.reload().action, "hard_delete")

        # Turning it off needs no code.
        response = self.with_key(self.alice_raw, self.url, {"enabled": False}, method="patch")
        self.assertEqual(response.status_code, 200, response.content)

    def test_a_session_needs_to_have_signed_in_with_a_code(self) -> None:
        response = self.call(self.alice, "patch", self.url, HARD_DELETE)
        self.assertEqual(response.status_code, 403)
        response = self.call_verified(self.alice, "patch", self.url, HARD_DELETE)
        self.assertEqual(response.status_code, 200, response.content)


class ServiceTests(HardDeleteOtpTestCase):
    """The rule lives in the service: what the shell and a bare user object get."""

    def request(self, actor: Any) -> list[RetractionAttempt]:
        with self.captureOnCommitCallbacks(execute=False):
            return retraction_request(
                actor=actor,
                tenant=self.alpha,
                action="hard_delete",
                messages=[self.message],
                confirm_hard_delete=True,
                via="command",
            )

    def test_the_shell_operator_needs_no_code(self) -> None:
        self.assertEqual(len(self.request(ShellOperator("ops (manage.py)"))), 4)

    def test_a_user_without_a_session_or_a_code_is_refused(self) -> None:
        # What `manage.py retract --user alice` hands over: no session, no header.
        with self.assertRaisesMessage(SecondFactorRequired, "two-factor authentication"):
            self.request(self.alice)
        self.assertEqual(self.new_attempts(), 0)

    def test_a_user_verified_by_the_middleware_passes(self) -> None:
        self.assertEqual(len(self.request(verified(self.alice))), 4)

    def test_the_role_still_comes_first(self) -> None:
        with self.assertRaisesMessage(Exception, "Tenant admin"):
            self.request(verified(self.bob))
        with self.assertRaises(ValidationError):
            retraction_request(
                actor=verified(self.alice),
                tenant=self.alpha,
                action="hard_delete",
                messages=[self.message],
            )
