"""The engine end to end in sync mode: verdict → policy → real clients → emulator folders."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from mailboxes.access import AccessDenied, Role, SecondFactorRequired
from mailboxes.models import AuthorizationStatus, DeliveryStatus
from mailboxes.vocabulary import Action, Disposition, FailureReason, ReadState
from retraction.models import AttemptStatus, Mode, RetractionAttempt
from retraction.services.decide import message_reclassify
from retraction.services.manual import retraction_request, retraction_undo
from tests.factories import grant, make_user
from tests.retraction.helpers import delivered, folder_of, outcomes
from tests.two_factor import verified

pytestmark = pytest.mark.django_db

PHISH = "<campaign-1@evil.test>"


@pytest.fixture
def analyst(tenants):
    user = make_user("ana")
    grant(user, tenants.alpha, Role.ANALYST)
    grant(user, tenants.beta, Role.ANALYST)
    return user


@pytest.fixture
def admin_user(tenants):
    user = make_user("adm")
    grant(user, tenants.alpha, Role.ADMIN)
    grant(user, tenants.beta, Role.ADMIN)
    return user


def reclassify(capture, user, message, disposition):
    with capture(execute=True):
        message_reclassify(actor=user, message=message, disposition=disposition, via="test")


def test_it_trashes_every_graph_copy_when_a_message_turns_malicious(
    tenants, shared_emulator, sync_queue, analyst, django_capture_on_commit_callbacks
):
    emu = shared_emulator
    message = delivered(
        emu,
        tenants.alpha,
        PHISH,
        ["adele@alpha.example", "sales@alpha.example", "finance@alpha.example"],
        members={"sales@alpha.example": ["alex@alpha.example", "megan@alpha.example"]},
    )
    emu.state.mark_read("alex@alpha.example", PHISH, True)

    reclassify(django_capture_on_commit_callbacks, analyst, message, Disposition.MALICIOUS)

    for address in ("adele", "finance", "alex", "megan"):
        assert folder_of(emu, f"{address}@alpha.example", PHISH) == "trash"
    result = outcomes(message)
    assert result["sales@alpha.example"] == (AttemptStatus.FAILED, FailureReason.NOT_A_MAILBOX)
    assert result["adele@alpha.example"] == (AttemptStatus.SUCCEEDED, "")
    alex = RetractionAttempt.objects.get(delivery__recipient="alex@alpha.example")
    assert (alex.mode, alex.action, alex.read_state) == (Mode.AUTO, Action.TRASH, ReadState.READ)
    adele = RetractionAttempt.objects.get(delivery__recipient="adele@alpha.example")
    assert adele.read_state == ReadState.UNREAD
    assert adele.completed_at is not None and adele.provider_message_id
    assert message.deliveries.get(recipient="alex@alpha.example").status == DeliveryStatus.RETRACTED


def test_it_junks_gmail_copies_by_policy(
    tenants, shared_emulator, sync_queue, analyst, django_capture_on_commit_callbacks
):
    emu = shared_emulator
    message = delivered(
        emu,
        tenants.beta,
        PHISH,
        ["diego@beta.example", "engineering@beta.example"],
        members={"engineering@beta.example": ["isaiah@beta.example", "johanna@beta.example"]},
    )
    reclassify(django_capture_on_commit_callbacks, analyst, message, Disposition.SUSPICIOUS)

    for address in ("diego", "isaiah", "johanna"):
        assert folder_of(emu, f"{address}@beta.example", PHISH) == "junk"
    assert outcomes(message)["engineering@beta.example"][1] == FailureReason.NOT_A_MAILBOX


def test_it_asks_the_directory_for_members_the_ingest_did_not_list(
    tenants, shared_emulator, sync_queue, analyst, django_capture_on_commit_callbacks
):
    emu = shared_emulator
    message = delivered(emu, tenants.alpha, PHISH, ["sales@alpha.example"])
    # Clawback does not know the list's kind nor its members yet.
    tenants.alpha.mailboxes.filter(address="sales@alpha.example").update(kind="unknown")

    reclassify(django_capture_on_commit_callbacks, analyst, message, Disposition.MALICIOUS)

    # sales → alex, megan, leadership → adele (nested, transitive)
    for address in ("alex", "megan", "adele"):
        assert folder_of(emu, f"{address}@alpha.example", PHISH) == "trash"
    result = outcomes(message)
    assert result["sales@alpha.example"][1] == FailureReason.NOT_A_MAILBOX
    assert set(result) == {f"{a}@alpha.example" for a in ("sales", "alex", "megan", "adele")}
    assert message.deliveries.get(recipient="megan@alpha.example").via_group.address == (
        "sales@alpha.example"
    )


def test_it_records_each_failure_reason_from_its_emulator_condition(
    tenants, shared_emulator, sync_queue, analyst, django_capture_on_commit_callbacks
):
    emu = shared_emulator
    message = delivered(
        emu,
        tenants.alpha,
        PHISH,
        ["adele@alpha.example", "megan@alpha.example", "contractor@alpha.example"],
    )
    emu.state.user_delete("adele@alpha.example", PHISH, how="purge")
    with django_capture_on_commit_callbacks(execute=True):
        retraction_request(actor=analyst, tenant=tenants.alpha, action="junk", messages=[message])

    result = outcomes(message)
    assert result["adele@alpha.example"] == (AttemptStatus.FAILED, FailureReason.NOT_FOUND)
    assert result["contractor@alpha.example"] == (AttemptStatus.FAILED, FailureReason.NOT_A_MAILBOX)
    assert result["megan@alpha.example"] == (AttemptStatus.SUCCEEDED, "")
    assert folder_of(emu, "megan@alpha.example", PHISH) == "junk"


def test_it_stops_hammering_a_tenant_whose_consent_was_revoked(
    tenants, shared_emulator, sync_queue, analyst, django_capture_on_commit_callbacks
):
    emu = shared_emulator
    first = delivered(emu, tenants.alpha, PHISH, ["adele@alpha.example", "megan@alpha.example"])
    emu.state.revoke("alpha")
    reclassify(django_capture_on_commit_callbacks, analyst, first, Disposition.MALICIOUS)
    assert set(outcomes(first).values()) == {(AttemptStatus.FAILED, FailureReason.NOT_AUTHORIZED)}
    tenants.alpha.refresh_from_db()
    assert tenants.alpha.authorization_status == AuthorizationStatus.UNAUTHORIZED
    assert folder_of(emu, "adele@alpha.example", PHISH) == "inbox"

    before = emu.state.stats()["requests"]
    second = delivered(emu, tenants.alpha, "<second@evil.test>", ["alex@alpha.example"])
    reclassify(django_capture_on_commit_callbacks, analyst, second, Disposition.MALICIOUS)
    assert outcomes(second)["alex@alpha.example"][1] == FailureReason.NOT_AUTHORIZED
    assert emu.state.stats()["requests"] == before  # failed fast, no provider call


def test_it_undoes_back_to_the_inbox(
    tenants, shared_emulator, sync_queue, analyst, django_capture_on_commit_callbacks
):
    emu = shared_emulator
    for tenant, boxes in (
        (tenants.alpha, ["adele@alpha.example", "megan@alpha.example"]),
        (tenants.beta, ["diego@beta.example", "johanna@beta.example"]),
    ):
        message = delivered(emu, tenant, PHISH, boxes)
        reclassify(django_capture_on_commit_callbacks, analyst, message, Disposition.MALICIOUS)
        assert {folder_of(emu, a, PHISH) for a in boxes} == {"trash"}
        with django_capture_on_commit_callbacks(execute=True):
            undo = retraction_undo(actor=analyst, tenant=tenant, messages=[message])
        assert len(undo) == 2
        assert {folder_of(emu, a, PHISH) for a in boxes} == {"inbox"}
        assert set(message.deliveries.values_list("status", flat=True)) == {DeliveryStatus.RESTORED}


def test_it_queues_nothing_new_for_the_same_verdict_and_reacts_to_a_harsher_one(
    tenants, shared_emulator, sync_queue, analyst, django_capture_on_commit_callbacks
):
    emu = shared_emulator
    message = delivered(emu, tenants.alpha, PHISH, ["adele@alpha.example"])
    reclassify(django_capture_on_commit_callbacks, analyst, message, Disposition.SUSPICIOUS)
    assert folder_of(emu, "adele@alpha.example", PHISH) == "junk"
    reclassify(django_capture_on_commit_callbacks, analyst, message, Disposition.SUSPICIOUS)
    reclassify(django_capture_on_commit_callbacks, analyst, message, Disposition.SPAM)  # also junk
    assert RetractionAttempt.objects.filter(message=message).count() == 1

    reclassify(django_capture_on_commit_callbacks, analyst, message, Disposition.MALICIOUS)
    assert folder_of(emu, "adele@alpha.example", PHISH) == "trash"
    assert RetractionAttempt.objects.filter(message=message).count() == 2

    reclassify(django_capture_on_commit_callbacks, analyst, message, Disposition.NONE)
    assert folder_of(emu, "adele@alpha.example", PHISH) == "trash"  # NONE never undoes
    assert RetractionAttempt.objects.filter(message=message).count() == 2
    assert list(message.disposition_history.values_list("disposition", flat=True)) == [
        "SUSPICIOUS",
        "SPAM",
        "MALICIOUS",
        "NONE",
    ]


def test_it_demands_admin_and_confirmation_for_hard_delete(
    tenants, shared_emulator, sync_queue, analyst, admin_user, django_capture_on_commit_callbacks
):
    emu = shared_emulator
    message = delivered(emu, tenants.beta, PHISH, ["diego@beta.example"])
    with pytest.raises(AccessDenied):
        retraction_request(
            actor=analyst,
            tenant=tenants.beta,
            action="hard_delete",
            messages=[message],
            confirm_hard_delete=True,
        )
    with pytest.raises(ValidationError):
        retraction_request(
            actor=admin_user, tenant=tenants.beta, action="hard_delete", messages=[message]
        )
    with pytest.raises(SecondFactorRequired):
        retraction_request(
            actor=admin_user,
            tenant=tenants.beta,
            action="hard_delete",
            messages=[message],
            confirm_hard_delete=True,
        )
    with django_capture_on_commit_callbacks(execute=True):
        retraction_request(
            actor=verified(admin_user),  # as from a session signed in with a code
            tenant=tenants.beta,
            action="hard_delete",
            messages=[message],
            confirm_hard_delete=True,
        )
    assert folder_of(emu, "diego@beta.example", PHISH) == "purged"


def test_it_refuses_soft_delete_on_gmail_as_unsupported(
    tenants, shared_emulator, sync_queue, analyst, django_capture_on_commit_callbacks
):
    emu = shared_emulator
    message = delivered(emu, tenants.beta, PHISH, ["diego@beta.example"])
    with django_capture_on_commit_callbacks(execute=True):
        retraction_request(
            actor=analyst, tenant=tenants.beta, action="soft_delete", messages=[message]
        )
    assert outcomes(message)["diego@beta.example"] == (
        AttemptStatus.FAILED,
        FailureReason.UNSUPPORTED,
    )
    assert folder_of(emu, "diego@beta.example", PHISH) == "inbox"
