"""Two-factor authentication in the admin: enrolment, sign-in with a code, hard delete.

Codes are computed from the device's key as the phone would (tests/two_factor.py).
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import override_settings
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from mailboxes.models import AuditEvent, Message
from mailboxes.vocabulary import Action, Disposition, PolicyAction
from retraction.models import AttemptStatus, RetractionAttempt, RetractionPolicy
from tests.admin.helpers import AdminTestCase, admin_url, change_url
from tests.two_factor import code, enrol, force_verified_login, wrong_code

PAGE = reverse("admin:two_factor")
LOGIN = reverse("admin:login")


def password(user: Any) -> str:
    return "pw-" + user.username * 2  # tests.factories.make_user


class TwoFactorTestCase(AdminTestCase):
    def sign_in(self, user: Any, otp_token: str = "", **extra: Any):
        self.client.logout()
        return self.client.post(
            LOGIN,
            {
                "username": user.username,
                "password": password(user),
                "otp_token": otp_token,
                "next": "/admin/",
            },
            **extra,
        )

    def page_step(self, step: str, otp_token: str = "", follow: bool = False):
        return self.client.post(PAGE, {"step": step, "otp_token": otp_token}, follow=follow)

    def signed_in(self) -> bool:
        return "_auth_user_id" in self.client.session

    def session_verified(self) -> bool:
        return DEVICE_ID_SESSION_KEY in self.client.session

    def texts(self, response: Any) -> list[str]:
        return [str(m) for m in get_messages(response.wsgi_request)]


class EnrolmentTests(TwoFactorTestCase):
    def test_the_page_is_linked_from_the_user_tools(self) -> None:
        response = self.get_as(self.vera, reverse("admin:index"))
        self.assertContains(response, f'<a href="{PAGE}">Two-factor authentication</a>')

    def test_it_needs_a_signed_in_admin_user(self) -> None:
        response = self.client.get(PAGE)
        self.assertRedirects(response, f"{LOGIN}?next={PAGE}")

    def test_it_enrols_an_app_only_once_a_code_confirms_it(self) -> None:
        page = self.get_as(self.alice, PAGE)
        self.assertContains(page, "Two-factor authentication is <strong>off</strong>")

        self.assertRedirects(self.page_step("start"), PAGE)
        device = TOTPDevice.objects.get(user=self.alice)
        self.assertFalse(device.confirmed)
        page = self.client.get(PAGE)
        self.assertContains(page, "<svg ")
        self.assertContains(page, 'aria-label="QR code of the key"')
        self.assertContains(page, "otpauth://totp/Clawback%3Aalice?secret=")
        self.assertContains(page, "issuer=Clawback")
        # The QR code is inline markup: no image to fetch, no script of its own.
        self.assertNotContains(page, "<img")
        self.assertEqual(re.findall(r"<script(?![^>]*\bsrc=)", page.content.decode()), [])

        response = self.page_step("confirm", wrong_code(device))
        self.assertContains(response, "This code does not match")
        device.refresh_from_db()
        self.assertFalse(device.confirmed)
        self.assertFalse(AuditEvent.objects.filter(action="two_factor.enrolled").exists())

        response = self.page_step("confirm", code(device))
        device.refresh_from_db()
        self.assertTrue(device.confirmed)
        codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
        self.assertEqual(len(set(codes)), 10)
        self.assertContains(response, "they are shown only now")
        self.assertContains(response, "Two-factor authentication is <strong>on</strong>")
        # The code just given counts: this session may hard delete without signing in again.
        self.assertTrue(self.session_verified())
        self.assertContains(self.client.get(PAGE), "This session signed in with a code")
        self.assertNotContains(self.client.get(PAGE), "they are shown only now")
        (event,) = AuditEvent.objects.filter(action="two_factor.enrolled")
        self.assertEqual((event.actor, event.target_id), (self.alice, str(self.alice.pk)))

    def test_it_can_start_over_or_cancel_a_setup(self) -> None:
        self.client.force_login(self.alice)
        self.page_step("start")
        first = TOTPDevice.objects.get(user=self.alice).key
        self.page_step("start")
        self.assertNotEqual(TOTPDevice.objects.get(user=self.alice).key, first)
        self.assertRedirects(self.page_step("cancel"), PAGE)
        self.assertFalse(TOTPDevice.objects.filter(user=self.alice).exists())

    def test_it_removes_the_app_only_with_a_current_code(self) -> None:
        device = force_verified_login(self.client, self.alice)
        response = self.page_step("remove", wrong_code(device))
        self.assertContains(response, "This code is not valid")
        self.assertTrue(TOTPDevice.objects.filter(user=self.alice).exists())

        response = self.page_step("remove", code(device), follow=True)
        self.assertRedirects(response, PAGE)
        self.assertContains(response, "Two-factor authentication is off")
        self.assertFalse(TOTPDevice.objects.filter(user=self.alice).exists())
        self.assertFalse(StaticDevice.objects.filter(user=self.alice).exists())
        self.assertFalse(self.session_verified())
        self.assertTrue(
            AuditEvent.objects.filter(action="two_factor.removed", actor=self.alice).exists()
        )
        self.assertSignedIn_without_code()

    def assertSignedIn_without_code(self) -> None:
        response = self.sign_in(self.alice)
        self.assertRedirects(response, "/admin/", fetch_redirect_response=False)

    def test_it_renews_backup_codes_with_a_current_code(self) -> None:
        device = force_verified_login(self.client, self.alice)
        self.page_step("renew", code(device))
        old = set(StaticToken.objects.values_list("token", flat=True))
        self.assertEqual(len(old), 10)
        response = self.page_step("renew", code(device))
        new = set(StaticToken.objects.values_list("token", flat=True))
        self.assertEqual(len(new), 10)
        self.assertFalse(old & new)
        for token in new:
            self.assertContains(response, f"<code>{token}</code>")
        self.assertEqual(
            AuditEvent.objects.filter(action="two_factor.backup_codes_renewed").count(), 2
        )


class SignInTests(TwoFactorTestCase):
    def test_without_an_app_the_password_is_enough(self) -> None:
        enrol(self.bob, confirmed=False)  # a setup never finished does not count
        response = self.sign_in(self.bob)
        self.assertRedirects(response, "/admin/", fetch_redirect_response=False)
        self.assertTrue(self.signed_in())
        self.assertFalse(self.session_verified())

    def test_the_login_page_has_the_code_field(self) -> None:
        response = self.client.get(LOGIN)
        self.assertContains(response, 'name="otp_token"')
        self.assertContains(response, 'autocomplete="one-time-code"')

    def test_with_an_app_it_needs_a_valid_code(self) -> None:
        device = enrol(self.alice)
        response = self.sign_in(self.alice)
        self.assertContains(response, "This account signs in with two-factor authentication")
        self.assertFalse(self.signed_in())

        response = self.sign_in(self.alice, wrong_code(device))
        self.assertContains(response, "This code is not valid")
        self.assertFalse(self.signed_in())

        response = self.sign_in(self.alice, code(device))
        self.assertRedirects(response, "/admin/", fetch_redirect_response=False)
        self.assertTrue(self.signed_in())
        self.assertTrue(self.session_verified())

    def test_a_code_works_once(self) -> None:
        device = enrol(self.alice)
        token = code(device)
        self.assertEqual(self.sign_in(self.alice, token).status_code, 302)
        response = self.sign_in(self.alice, token)
        self.assertContains(response, "This code is not valid")
        self.assertFalse(self.signed_in())

    @override_settings(OTP_TOTP_THROTTLE_FACTOR=3600)  # an hour: no race with the clock
    def test_a_wrong_code_delays_the_next_try(self) -> None:
        device = enrol(self.alice)
        wrong = wrong_code(device)
        right = code(device)
        self.sign_in(self.alice, wrong)
        response = self.sign_in(self.alice, right)
        self.assertContains(response, "Too many wrong codes in a row")
        self.assertFalse(self.signed_in())

    def test_a_backup_code_signs_in_once(self) -> None:
        device = force_verified_login(self.client, self.alice)
        self.page_step("renew", code(device))
        backup = StaticToken.objects.first().token
        response = self.sign_in(self.alice, backup.upper())
        self.assertRedirects(response, "/admin/", fetch_redirect_response=False)
        self.assertTrue(self.session_verified())
        self.assertContains(self.sign_in(self.alice, backup), "This code is not valid")

    def test_wrong_codes_count_toward_the_lockout(self) -> None:
        device = enrol(self.alice)
        for _ in range(5):
            # wrong_code() also lifts the app's own delay, so each try reaches the check.
            response = self.sign_in(self.alice, wrong_code(device))
        self.assertEqual(response.status_code, 429)
        self.assertContains(response, "Sign-in is locked", status_code=429)
        self.assertEqual(self.sign_in(self.alice, code(device)).status_code, 429)
        self.assertFalse(self.signed_in())


class HardDeleteInTheAdminTests(TwoFactorTestCase):
    def setUp(self) -> None:
        self.message = self.alpha_objects["message"]

    def retract(self, **data: Any):
        payload = {"action": "retract", ACTION_CHECKBOX_NAME: [self.message.pk], **data}
        if "confirm" not in data:
            payload["index"] = 0
        return self.client.post(admin_url(Message), payload, follow="confirm" in data)

    def hard_delete(self):
        return self.retract(confirm="yes", move_to="hard_delete", confirm_hard_delete="on")

    def queued(self) -> int:
        return RetractionAttempt.objects.filter(
            status=AttemptStatus.QUEUED, action=Action.HARD_DELETE
        ).count()

    def test_it_refuses_hard_delete_to_a_session_without_a_code(self) -> None:
        enrol(self.alice)
        self.client.force_login(self.alice)  # e.g. signed in before enrolling
        page = self.retract()
        self.assertContains(page, "Hard delete also needs two-factor authentication")
        self.assertContains(page, f'href="{PAGE}"')
        response = self.hard_delete()
        self.assertIn(
            "Nothing was queued: Hard delete needs two-factor authentication",
            self.texts(response)[0],
        )
        self.assertEqual(self.queued(), 0)

    def test_it_hard_deletes_from_a_session_signed_in_with_a_code(self) -> None:
        device = enrol(self.alice)
        self.sign_in(self.alice, code(device))
        page = self.retract()
        self.assertContains(page, 'value="hard_delete"')
        self.assertNotContains(page, "Hard delete also needs two-factor authentication")
        self.hard_delete()
        self.assertEqual(self.queued(), self.message.deliveries.count())

    def test_analysts_get_no_hint_since_hard_delete_is_not_theirs(self) -> None:
        self.client.force_login(self.bob)
        page = self.retract()
        self.assertNotContains(page, 'value="hard_delete"')
        self.assertNotContains(page, "Hard delete also needs two-factor authentication")

    def test_a_hard_delete_policy_needs_a_code_as_well(self) -> None:
        policy = RetractionPolicy.objects.get(tenant=self.alpha, disposition=Disposition.SPAM)
        change = {"action": PolicyAction.HARD_DELETE, "enabled": "on"}
        self.client.force_login(self.alice)
        response = self.client.post(change_url(policy), change)
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Hard delete needs two-factor authentication")
        policy.refresh_from_db()
        self.assertNotEqual(policy.action, PolicyAction.HARD_DELETE)
        # Turning it off, or any other action, needs no code.
        response = self.client.post(change_url(policy), {"action": PolicyAction.JUNK})
        self.assertRedirects(response, admin_url(RetractionPolicy))

        force_verified_login(self.client, self.alice)
        response = self.client.post(change_url(policy), change)
        self.assertRedirects(response, admin_url(RetractionPolicy))
        policy.refresh_from_db()
        self.assertEqual((policy.action, policy.enabled), (PolicyAction.HARD_DELETE, True))


class DeviceAdminTests(TwoFactorTestCase):
    """Devices and sign-in attempts in the admin: superusers only, and no secrets shown."""

    def test_only_superusers_see_devices_and_lockouts(self) -> None:
        device = enrol(self.alice)
        urls = [
            reverse("admin:otp_totp_totpdevice_changelist"),
            reverse("admin:otp_static_staticdevice_changelist"),
            reverse("admin:axes_accessattempt_changelist"),
        ]
        for url in urls:
            with self.subTest(url=url):
                self.assertEqual(self.get_as(self.alice, url).status_code, 403)
                self.assertEqual(self.get_as(self.root, url).status_code, 200)
        change = self.get_as(
            self.root, reverse("admin:otp_totp_totpdevice_change", args=[device.pk])
        )
        self.assertEqual(change.status_code, 200)
        self.assertNotContains(change, device.key)
        config = reverse("admin:otp_totp_totpdevice_config", args=[device.pk])
        self.assertEqual(self.get_as(self.root, config).status_code, 403)

    def test_a_superuser_can_remove_a_lost_device(self) -> None:
        device = enrol(self.alice)
        url = reverse("admin:otp_totp_totpdevice_delete", args=[device.pk])
        response = self.post_as(self.root, url, {"post": "yes"})
        self.assertEqual(response.status_code, 302)
        self.assertFalse(TOTPDevice.objects.filter(user=self.alice).exists())
        self.assertRedirects(self.sign_in(self.alice), "/admin/", fetch_redirect_response=False)
