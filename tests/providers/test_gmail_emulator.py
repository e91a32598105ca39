"""The real Gmail client (google-auth, googleapiclient, HTTP batches) against the emulator.

Each test builds a fresh GmailProvider from the emulator's token URI and API endpoint
with a throwaway service-account key (the emulator does not check signatures), clears
the process-wide credentials cache, and checks the labels through the emulator's view.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from mailboxes.providers.base import Folder, ProviderError, WorkItem
from mailboxes.providers.emulator import Emulator
from mailboxes.providers.emulator.credentials import service_account_info
from mailboxes.providers.gmail import GmailProvider, credentials_cache
from mailboxes.vocabulary import Action, FailureReason, ReadState
from tests.emulated import BETA_SERVICE_ACCOUNT
from tests.sleeps import fast_sleeps

VERIFY = "<verify-42@phish.example>"  # seed: diego, and engineering (isaiah, johanna)
PROMO = "<promo-7@bulk.example>"  # seed: johanna, in spam
DIEGO = "diego@beta.example"  # the admin subject
ISAIAH = "isaiah@beta.example"
JOHANNA = "johanna@beta.example"
SUPPORT = "support@beta.example"
ENGINEERING = "engineering@beta.example"
FORMER = "former@beta.example"  # suspended
NOMAIL = "nomail@beta.example"  # Gmail service off
MODIFY_ONLY_ACCOUNT = "readonly@clawback-test.iam.gserviceaccount.com"
MAX_SLEEP = 0.3  # the longest real pause a test allows itself per retry sleep


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return fast_sleeps(monkeypatch, MAX_SLEEP)


def make_gmail(emu: Emulator, account: str = BETA_SERVICE_ACCOUNT, **config: Any) -> GmailProvider:
    """A GmailProvider for a seed service account, pointed at the emulator."""
    credentials_cache.clear()
    return GmailProvider.from_config(
        {
            "service_account_info": service_account_info(account, emu.google_token_uri),
            "admin_subject": DIEGO,
            "token_uri": emu.google_token_uri,
            "api_endpoint": emu.gmail_api_endpoint,
            **config,
        }
    )


@pytest.fixture
def emu(shared_emulator: Emulator, sleeps: list[float]) -> Iterator[Emulator]:
    yield shared_emulator
    shared_emulator.state.clear_knobs()


@pytest.fixture
def gmail(emu: Emulator) -> Iterator[GmailProvider]:
    yield make_gmail(emu)
    credentials_cache.clear()


def copy_of(emu: Emulator, address: str, internet_message_id: str) -> dict[str, Any]:
    dump = emu.state.mailbox_dump(address)
    (copy,) = [c for c in dump["copies"] if c["internet_message_id"] == internet_message_id]
    return copy


def labels(emu: Emulator, address: str, internet_message_id: str) -> set[str]:
    return set(copy_of(emu, address, internet_message_id)["labels"]) - {"UNREAD"}


def deliver(emu: Emulator, internet_message_id: str, *recipients: str) -> None:
    result = emu.state.deliver(
        "beta", internet_message_id, list(recipients), "Test", "attacker@evil.example"
    )
    assert not result["skipped"], result


def one(gmail: GmailProvider, mailbox: str, message_id: str, action: str) -> Any:
    (outcome,) = gmail.perform_many([WorkItem(mailbox, message_id, Action(action), key="k")])
    assert outcome.key == "k"
    return outcome


# --- actions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected", "folder"),
    [("junk", {"SPAM"}, Folder.JUNK), ("trash", {"TRASH"}, Folder.TRASH)],
)
def test_it_relabels_the_copy_and_inbox_brings_it_back(emu, gmail, action, expected, folder):
    outcome = one(gmail, DIEGO, VERIFY, action)

    assert outcome.ok, outcome
    assert (outcome.folder_before, outcome.already_there) == (Folder.INBOX, False)
    assert outcome.read_state == ReadState.UNREAD
    assert labels(emu, DIEGO, VERIFY) == expected
    assert [c.folder for c in gmail.locate(DIEGO, VERIFY)] == [folder]

    back = one(gmail, DIEGO, VERIFY, "inbox")

    assert back.ok, back
    assert (back.folder_before, back.already_there) == (folder, False)
    assert labels(emu, DIEGO, VERIFY) == {"INBOX"}
    assert copy_of(emu, DIEGO, VERIFY)["folder"] == "inbox"


def test_it_refuses_soft_delete_as_unsupported_and_leaves_the_copy(emu, gmail):
    outcome = one(gmail, DIEGO, VERIFY, "soft_delete")

    assert (outcome.ok, outcome.reason) == (False, FailureReason.UNSUPPORTED)
    assert labels(emu, DIEGO, VERIFY) == {"INBOX"}
    assert emu.state.stats()["by_mailbox"].get(DIEGO, 0) == 0  # nothing was sent


def test_it_trashes_for_soft_delete_when_configured_to(emu):
    gmail = make_gmail(emu, soft_delete_fallback_to_trash=True)

    outcome = one(gmail, DIEGO, VERIFY, "soft_delete")

    assert outcome.ok, outcome
    assert labels(emu, DIEGO, VERIFY) == {"TRASH"}


def test_it_hard_deletes_the_copy_for_good(emu, gmail):
    outcome = one(gmail, DIEGO, VERIFY, "hard_delete")

    assert outcome.ok, outcome
    assert copy_of(emu, DIEGO, VERIFY)["folder"] == "purged"
    assert gmail.locate(DIEGO, VERIFY) == []
    undo = one(gmail, DIEGO, VERIFY, "inbox")
    assert (undo.ok, undo.reason) == (False, FailureReason.NOT_FOUND)


def test_it_needs_the_full_mail_scope_to_hard_delete(emu):
    gmail = make_gmail(emu, account=MODIFY_ONLY_ACCOUNT)

    trash, delete = gmail.perform_many(
        [
            WorkItem(ISAIAH, VERIFY, Action.TRASH, 1),
            WorkItem(JOHANNA, VERIFY, Action.HARD_DELETE, 2),
        ]
    )

    assert trash.ok, trash
    assert (delete.ok, delete.reason) == (False, FailureReason.NOT_AUTHORIZED)
    assert labels(emu, ISAIAH, VERIFY) == {"TRASH"}
    assert labels(emu, JOHANNA, VERIFY) == {"INBOX"}


def test_it_acts_through_locate_and_perform(emu, gmail):
    (copy,) = gmail.locate(ISAIAH, VERIFY)
    assert (copy.folder, copy.read) == (Folder.INBOX, True)  # the seed has isaiah read it

    assert gmail.perform(ISAIAH, copy, Action.TRASH) == copy.provider_id
    assert labels(emu, ISAIAH, VERIFY) == {"TRASH"}
    (trashed,) = gmail.locate(ISAIAH, VERIFY)
    gmail.perform(ISAIAH, trashed, Action.INBOX)
    assert labels(emu, ISAIAH, VERIFY) == {"INBOX"}


def test_it_brings_a_copy_back_from_spam_and_counts_one_already_there(emu, gmail):
    junk = one(gmail, JOHANNA, PROMO, "junk")  # the seed delivered it to spam

    assert junk.ok and junk.already_there, junk
    assert one(gmail, JOHANNA, PROMO, "inbox").ok
    assert labels(emu, JOHANNA, PROMO) == {"INBOX"}


# --- failure reasons ----------------------------------------------------------------------


def test_it_reports_not_found_for_a_copy_the_user_purged(emu, gmail):
    emu.state.user_delete(DIEGO, VERIFY, how="purge")

    outcome = one(gmail, DIEGO, VERIFY, "junk")

    assert (outcome.ok, outcome.reason, outcome.read_state) == (
        False,
        FailureReason.NOT_FOUND,
        ReadState.UNKNOWN,
    )


def test_it_reports_a_copy_the_user_trashed_as_already_out_of_sight(emu, gmail):
    emu.state.user_delete(DIEGO, VERIFY, how="delete")

    outcome = one(gmail, DIEGO, VERIFY, "junk")

    # The retraction engine records this as not_found (the user got there first).
    assert outcome.ok, outcome
    assert (outcome.folder_before, outcome.already_there) == (Folder.TRASH, True)
    assert labels(emu, DIEGO, VERIFY) == {"TRASH"}


def test_it_reports_not_found_when_the_copy_vanishes_between_locate_and_perform(emu, gmail):
    (copy,) = gmail.locate(DIEGO, VERIFY)
    emu.state.user_delete(DIEGO, VERIFY, how="purge")

    with pytest.raises(ProviderError) as raised:
        gmail.perform(DIEGO, copy, Action.TRASH)

    assert raised.value.reason == FailureReason.NOT_FOUND


@pytest.mark.parametrize("address", [ENGINEERING, NOMAIL, FORMER])
def test_it_reports_not_a_mailbox_for_groups_gmail_off_and_suspended(emu, gmail, address):
    outcomes = gmail.perform_many(
        [WorkItem(address, VERIFY, Action.JUNK, key=1), WorkItem(DIEGO, VERIFY, Action.JUNK, key=2)]
    )

    assert (outcomes[0].ok, outcomes[0].reason) == (False, FailureReason.NOT_A_MAILBOX)
    assert outcomes[1].ok, outcomes[1]
    assert labels(emu, DIEGO, VERIFY) == {"SPAM"}


def test_it_reports_not_authorized_for_a_revoked_tenant(emu, gmail):
    assert gmail.verify().status == "authorized"
    emu.state.revoke("beta")
    credentials_cache.clear()

    check = gmail.verify()
    outcomes = gmail.perform_many(
        [WorkItem(DIEGO, VERIFY, Action.TRASH, key=1), WorkItem(ISAIAH, VERIFY, Action.TRASH, 2)]
    )

    assert (check.authorized, check.status) == (False, "unauthorized")
    assert "unauthorized_client" in check.error
    assert [(o.ok, o.reason) for o in outcomes] == [(False, FailureReason.NOT_AUTHORIZED)] * 2
    assert labels(emu, DIEGO, VERIFY) == labels(emu, ISAIAH, VERIFY) == {"INBOX"}


def test_it_reports_not_authorized_when_delegation_goes_after_the_token_was_issued(emu, gmail):
    assert gmail.locate(DIEGO, VERIFY)  # the credentials now hold a token
    emu.state.revoke("beta", service_account=BETA_SERVICE_ACCOUNT)

    outcomes = gmail.perform_many(
        [WorkItem(b, VERIFY, Action.TRASH, key=b) for b in (DIEGO, ISAIAH, JOHANNA)]
    )

    assert {(o.ok, o.reason) for o in outcomes} == {(False, FailureReason.NOT_AUTHORIZED)}
    assert gmail.verify().status == "unauthorized"
    assert {frozenset(labels(emu, b, VERIFY)) for b in (DIEGO, ISAIAH, JOHANNA)} == {
        frozenset({"INBOX"})
    }


# --- throttling and faults ----------------------------------------------------------------


def deliver_many(emu: Emulator, mailboxes: list[str], per_mailbox: int, tag: str) -> list[str]:
    ids = [f"<{tag}-{n}@bulk.example>" for n in range(per_mailbox)]
    for message_id in ids:
        deliver(emu, message_id, *mailboxes)
    return ids


def test_it_waits_out_retry_after_on_a_429_storm(emu, gmail, sleeps):
    (copy,) = gmail.locate(DIEGO, VERIFY)
    emu.state.set_knobs(
        {"mailbox": DIEGO, "fail_next": {"count": 3, "status": 429, "retry_after": 0.25}}
    )
    sleeps.clear()
    started = time.monotonic()

    gmail.perform(DIEGO, copy, Action.TRASH)

    assert labels(emu, DIEGO, VERIFY) == {"TRASH"}
    assert emu.state.stats()["throttled"] == 3
    assert len(sleeps) == 3 and min(sleeps) >= 0.25  # each retry waited its Retry-After
    assert time.monotonic() - started >= 0.75


@pytest.mark.parametrize("throttle_status", [429, 403])
def test_it_stays_within_a_small_quota(emu, gmail, sleeps, throttle_status):
    ids = deliver_many(emu, [DIEGO], 8, "quota")
    emu.state.set_knobs(
        {
            "mailbox": DIEGO,
            "budget_requests": 50,  # quota units: 10 calls
            "budget_window_s": 0.3,
            "gmail_throttle_status": throttle_status,  # 403 userRateLimitExceeded
        }
    )

    outcomes = gmail.perform_many([WorkItem(DIEGO, i, Action.TRASH, key=i) for i in ids])

    assert [o.reason for o in outcomes if not o.ok] == []
    assert {frozenset(labels(emu, DIEGO, i)) for i in ids} == {frozenset({"TRASH"})}
    assert emu.state.stats()["throttled_by_reason"].get("budget", 0) > 0
    assert sleeps


def test_it_retries_a_burst_of_503s(emu, gmail):
    emu.state.set_knobs({"mailbox": DIEGO, "fail_next": {"count": 3, "status": 503}})

    outcome = one(gmail, DIEGO, VERIFY, "junk")

    assert outcome.ok, outcome
    assert labels(emu, DIEGO, VERIFY) == {"SPAM"}
    assert emu.state.stats()["server_errors"] == 3


def test_it_ends_in_success_through_a_30_percent_5xx_rate(emu):
    boxes = [DIEGO, ISAIAH, JOHANNA]
    ids = deliver_many(emu, boxes, 5, "flaky")
    emu.state.set_knobs({"error_rate": 0.3})
    # ~45 calls: with the default 6 tries a chunk would lose a call to chance about once
    # in 50 runs, so this test grants more; the deterministic burst above uses the default.
    gmail = make_gmail(emu, retry={"max_tries": 12, "budget": 600.0, "cap": 1.0})

    outcomes = gmail.perform_many(
        [WorkItem(b, i, Action.JUNK, key=(b, i)) for b in boxes for i in ids]
    )

    assert [(o.key, o.reason, o.detail) for o in outcomes if not o.ok] == []
    assert {frozenset(labels(emu, b, i)) for b in boxes for i in ids} == {frozenset({"SPAM"})}
    assert emu.state.stats()["server_errors"] > 0


def test_it_never_exceeds_four_calls_in_flight_per_mailbox(emu, gmail):
    boxes = [DIEGO, ISAIAH, JOHANNA]
    ids = deliver_many(emu, boxes, 40, "limit")
    emu.state.set_knobs({"latency_ms": 5, "jitter_ms": 5, "concurrency_limit": 4})
    emu.state.clear_stats()

    outcomes = gmail.perform_many(
        [WorkItem(b, i, Action.TRASH, key=(b, i)) for b in boxes for i in ids]
    )

    assert len(outcomes) == 120
    assert [o.key for o in outcomes if not o.ok] == []
    assert {frozenset(labels(emu, b, i)) for b in boxes for i in ids} == {frozenset({"TRASH"})}
    stats = emu.state.stats()
    assert set(stats["max_in_flight"]) == set(boxes)
    assert max(stats["max_in_flight"].values()) <= 4
    assert stats["throttled"] == 0, stats["throttled_by_reason"]
    # HTTP batches do the work: far fewer round trips than answered calls.
    assert stats["by_kind"]["gmail.batch"] < stats["requests"] / 10
    assert sum(o.requests for o in outcomes) == sum(
        n
        for kind, n in stats["by_kind"].items()
        if kind.startswith("gmail.") and kind != "gmail.batch"
    )


# --- directory ----------------------------------------------------------------------------


def test_it_resolves_users_groups_and_unknowns(gmail):
    assert gmail.resolve(ISAIAH).kind == "user"
    assert gmail.resolve(ENGINEERING).kind == "group"
    assert gmail.resolve("nobody@beta.example").kind == "unknown"


def test_it_lists_group_members(gmail):
    assert {m.address for m in gmail.group_members(ENGINEERING)} == {ISAIAH, JOHANNA}


def test_it_verifies_the_admin_subject(gmail):
    check = gmail.verify()

    assert (check.authorized, check.status) == (True, "authorized")
    assert check.details["hard_delete_scope"] == "granted"
