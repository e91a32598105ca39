"""The demo world (seed_demo) and the process supervisor behind `make run`."""

from __future__ import annotations

import os
import signal
import sys
import time
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest
from django.test import TestCase, override_settings

from mailboxes.demo import DEMO_TENANTS
from mailboxes.management.commands.run_demo import ChildDied, Process, Supervisor
from mailboxes.models import (
    ApiKey,
    Delivery,
    DispositionChange,
    GroupMembership,
    Mailbox,
    MailboxKind,
    Membership,
    Message,
    Provider,
    Tenant,
)
from mailboxes.vocabulary import Disposition
from retraction.models import DEFAULT_POLICY, RetractionPolicy


def sign_in(**credentials: str):
    """authenticate() as the login page calls it: with a request, which django-axes needs."""
    return authenticate(HttpRequest(), **credentials)


COUNTED = (
    Tenant,
    Mailbox,
    GroupMembership,
    Message,
    Delivery,
    DispositionChange,
    RetractionPolicy,
    Membership,
    get_user_model(),
)


def seed(**options: str) -> tuple[str, dict[str, str]]:
    """Run seed_demo; return its output and the values of its `Label: value` lines."""
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    text = out.getvalue()
    printed = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep and label in ("Password", "API key"):
            printed[label] = value.split()[0]
    return text, printed


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


# Seeding hashes two passwords; the fast hasher keeps each run of seed_demo cheap.
FAST_HASHER = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


@FAST_HASHER
class SeededDemoTests(TestCase):
    """What one run of seed_demo builds."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.output, cls.printed = seed()

    def test_it_builds_a_microsoft_and_a_google_tenant(self) -> None:
        tenants = {t.name: t for t in Tenant.objects.all_tenants()}
        self.assertEqual(set(tenants), {"Contoso", "Fabrikam"})
        self.assertEqual(tenants["Contoso"].provider, Provider.MICROSOFT)
        self.assertEqual(tenants["Contoso"].domains, ["contoso.example"])
        self.assertEqual(tenants["Fabrikam"].provider, Provider.GOOGLE)
        self.assertEqual(tenants["Fabrikam"].domains, ["fabrikam.example"])
        for tenant in tenants.values():
            # The emulator engineer wires these; the seed leaves them alone.
            self.assertFalse(tenant.has_credentials)
            self.assertEqual(tenant.provider_endpoint, "")

    def test_it_gives_each_tenant_its_default_policies(self) -> None:
        for tenant in Tenant.objects.all_tenants():
            policies = dict(
                RetractionPolicy.objects.for_tenant(tenant).values_list("disposition", "action")
            )
            self.assertEqual(policies, {str(d): str(a) for d, a in DEFAULT_POLICY.items()})

    def test_it_gives_each_tenant_every_kind_of_mailbox_and_a_list_with_members(self) -> None:
        for tenant in Tenant.objects.all_tenants():
            mailboxes = Mailbox.objects.for_tenant(tenant)
            kinds = set(mailboxes.values_list("kind", flat=True))
            self.assertEqual(kinds, {MailboxKind.USER, MailboxKind.SHARED, MailboxKind.GROUP})
            self.assertGreaterEqual(mailboxes.filter(kind=MailboxKind.USER).count(), 3)
            domain = tenant.domains[0]
            self.assertTrue(
                all(a.endswith("@" + domain) for a in mailboxes.values_list("address", flat=True))
            )
            group = mailboxes.get(kind=MailboxKind.GROUP)
            members = group.members.all()
            self.assertGreaterEqual(members.count(), 2)
            self.assertTrue(
                all(m.kind == MailboxKind.USER and m.tenant_id == tenant.pk for m in members)
            )

    def test_it_delivers_list_mail_to_the_list_and_each_members_copy(self) -> None:
        for tenant in Tenant.objects.all_tenants():
            expanded = Delivery.objects.for_tenant(tenant).exclude(via_group=None)
            self.assertTrue(expanded.exists())
            for delivery in expanded.select_related("via_group", "mailbox"):
                self.assertEqual(delivery.via_group.kind, MailboxKind.GROUP)
                self.assertIn(delivery.mailbox, delivery.via_group.members.all())
                # The list's own address received the message as well.
                self.assertTrue(
                    Delivery.objects.filter(
                        message=delivery.message_id, recipient=delivery.via_group.address
                    ).exists()
                )
            every = Delivery.objects.for_tenant(tenant)
            self.assertFalse(every.filter(mailbox=None).exists())

    def test_it_keeps_dispositions_and_their_history_consistent(self) -> None:
        for tenant in Tenant.objects.all_tenants():
            messages = Message.objects.for_tenant(tenant)
            self.assertGreaterEqual(messages.count(), 8)
            clean = messages.filter(disposition=Disposition.NONE).count()
            self.assertGreater(clean, messages.count() / 2)
            self.assertLess(clean, messages.count())
            for message in messages:
                history = list(message.disposition_history.all())
                self.assertTrue(message.retractable)
                self.assertTrue(message.deliveries.exists())
                if message.disposition == Disposition.NONE:
                    self.assertEqual(history, [])
                    continue
                self.assertEqual(history[0].previous, Disposition.NONE)
                for before, after in zip(history, history[1:], strict=False):
                    self.assertEqual(after.previous, before.disposition)
                    self.assertLessEqual(before.changed_at, after.changed_at)
                self.assertEqual(history[-1].disposition, message.disposition)
                self.assertEqual(history[-1].changed_at, message.disposition_changed_at)

    def test_it_prints_a_password_both_users_sign_in_with(self) -> None:
        output, printed = self.output, self.printed
        password = printed["Password"]
        self.assertGreaterEqual(len(password), 12)
        self.assertIn("/admin/", output)
        admin = sign_in(username="admin", password=password)
        analyst = sign_in(username="analyst", password=password)
        self.assertTrue(admin.is_superuser and admin.is_staff)
        self.assertTrue(analyst.is_staff)
        self.assertFalse(analyst.is_superuser)
        # The analyst shows tenancy: Contoso only.
        self.assertEqual(
            list(Tenant.objects.for_user(analyst).values_list("name", flat=True)), ["Contoso"]
        )


@FAST_HASHER
class ReseedDemoTests(TestCase):
    """Running seed_demo again, and where it refuses to run."""

    def test_it_creates_nothing_twice(self) -> None:
        seed()
        first = counts()
        seed()
        self.assertEqual(counts(), first)
        self.assertEqual(first["Tenant"], 2)
        self.assertEqual(ApiKey.objects.active().count(), 1)

    def test_it_sets_a_new_password_on_each_run(self) -> None:
        _, first = seed()
        _, second = seed()
        self.assertNotEqual(first["Password"], second["Password"])
        self.assertIsNone(sign_in(username="admin", password=first["Password"]))
        self.assertIsNotNone(sign_in(username="admin", password=second["Password"]))

    def test_it_takes_the_password_from_the_environment(self) -> None:
        with mock.patch.dict(os.environ, {"CLAWBACK_DEMO_PASSWORD": "chosen-demo-password"}):
            _, printed = seed()
        self.assertEqual(printed["Password"], "chosen-demo-password")
        self.assertIsNotNone(sign_in(username="analyst", password="chosen-demo-password"))

    def test_it_prints_an_api_key_that_authenticates_and_revokes_the_previous_one(self) -> None:
        _, first = seed()
        key = ApiKey.lookup(first["API key"])
        self.assertIsNotNone(key)
        self.assertEqual(key.user.username, "admin")
        _, second = seed()
        self.assertIsNone(ApiKey.lookup(first["API key"]))
        self.assertEqual(ApiKey.lookup(second["API key"]).user.username, "admin")

    @override_settings(DEMO=False)
    def test_it_refuses_outside_demo_mode(self) -> None:
        with self.assertRaisesMessage(CommandError, "DEBUG=1"):
            seed()
        self.assertFalse(Tenant.objects.exists())


def test_the_demo_data_names_only_mailboxes_it_defines() -> None:
    for spec in DEMO_TENANTS:
        locals_ = {m.local for m in spec.mailboxes}
        for box in spec.mailboxes:
            assert set(box.members) <= locals_
        for message in spec.messages:
            assert set(message.to) <= locals_, message.key
            copies = {local for local, _ in spec.recipients(message)}
            assert set(message.read_by) <= copies, message.key


# --- The supervisor behind `make run` ----------------------------------------------


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


SLEEPER = python("import time; time.sleep(60)")


def gone(pid: int, within: float = 5.0) -> bool:
    """Whether the process has ended (a zombie waiting for a reaper counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_it_stops_every_process_when_one_dies() -> None:
    supervisor = Supervisor(
        [Process("sleeper", SLEEPER), Process("crasher", python("import sys; sys.exit(3)"))],
        out=StringIO(),
        grace=5,
    )
    with pytest.raises(ChildDied) as died:
        supervisor.run()
    assert (died.value.name, died.value.returncode) == ("crasher", 3)
    assert all(child.returncode is not None for _, child in supervisor.children)


def test_it_stops_every_process_on_a_signal_and_returns(tmp_path: Path) -> None:
    markers = [tmp_path / "a.started", tmp_path / "b.started"]
    # Each child says when it is up (a signal during interpreter start-up ends it otherwise).
    sleepers = [
        Process(
            m.stem,
            python(f"import pathlib, time; pathlib.Path({str(m)!r}).touch(); time.sleep(60)"),
        )
        for m in markers
    ]
    out = StringIO()
    supervisor = Supervisor(sleepers, out=out, grace=5)
    # on_ready runs inside the loop, where the supervisor's handlers are installed.
    supervisor.run(
        ready=lambda: all(m.exists() for m in markers),
        on_ready=lambda: os.kill(os.getpid(), signal.SIGTERM),
    )
    # Both were stopped with the stop signal (SIGINT), neither had to be killed.
    assert [child.returncode for _, child in supervisor.children] == [
        -signal.SIGINT,
        -signal.SIGINT,
    ]
    assert "got SIGTERM, stopping" in out.getvalue()
    assert "killing" not in out.getvalue()
    assert signal.getsignal(signal.SIGTERM) is not supervisor._on_signal


def test_it_kills_a_process_group_that_ignores_the_stop_signal(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    stubborn = python(
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(grandchild.pid))\n"
        "time.sleep(60)\n"
    )
    out = StringIO()
    supervisor = Supervisor([Process("stubborn", stubborn)], out=out, grace=0.5)
    supervisor.run(ready=pid_file.exists, on_ready=lambda: os.kill(os.getpid(), signal.SIGINT))
    assert supervisor.children[0][1].returncode == -signal.SIGKILL
    assert "did not stop in time" in out.getvalue()
    assert gone(int(pid_file.read_text()))
