"""`manage.py retract` and `manage.py undo` against the emulator, run in-process."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from mailboxes.models import AuditEvent
from retraction.models import AttemptStatus, RetractionAttempt
from tests.retraction.helpers import delivered, folder_of

pytestmark = pytest.mark.django_db

PHISH = "<command-1@evil.test>"


def run(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue()


def test_it_retracts_and_undoes_from_the_shell_with_a_summary(tenants, shared_emulator):
    emu = shared_emulator
    delivered(emu, tenants.alpha, PHISH, ["adele@alpha.example", "megan@alpha.example"])
    emu.state.user_delete("megan@alpha.example", PHISH, how="purge")

    summary = run("retract", "--tenant", "alpha", "--message-id", PHISH, "--action", "junk")

    assert "2 copies: 1 failed, 1 succeeded" in summary
    assert "1 failed: not_found" in summary
    assert folder_of(emu, "adele@alpha.example", PHISH) == "junk"
    assert AuditEvent.objects.filter(action="retraction.requested").exists()

    summary = run("undo", "--tenant", "alpha", "--message-id", PHISH)
    assert "1 copies: 1 succeeded" in summary
    assert folder_of(emu, "adele@alpha.example", PHISH) == "inbox"
    assert RetractionAttempt.objects.filter(status=AttemptStatus.SUCCEEDED).count() == 2


def test_it_explains_bad_input_without_a_traceback(tenants, shared_emulator):
    delivered(shared_emulator, tenants.alpha, PHISH, ["adele@alpha.example"])
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        run("retract", "--tenant", "nope", "--message-id", PHISH, "--action", "junk")
    with pytest.raises(CommandError, match="No message in alpha with Message-ID <missing@x>"):
        run("retract", "--tenant", "alpha", "--message-id", "<missing@x>", "--action", "junk")
    with pytest.raises(CommandError, match="Hard delete cannot be undone"):
        run("retract", "--tenant", "alpha", "--message-id", PHISH, "--action", "hard_delete")
    with pytest.raises(CommandError, match="No active user 'ghost'"):
        run(
            "retract",
            "--tenant",
            "alpha",
            "--message-id",
            PHISH,
            "--action",
            "junk",
            "--user",
            "ghost",
        )
    assert not RetractionAttempt.objects.exists()
