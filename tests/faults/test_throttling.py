"""429 storms, on Graph and Gmail: retried inside the budget, `throttled` beyond it."""

from __future__ import annotations

import pytest

from mailboxes.vocabulary import FailureReason
from retraction.models import AttemptStatus
from retraction.services.manual import retraction_request
from tests.faults.helpers import campaign, check_outcomes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def campaigns(tenants, shared_emulator):
    """120 Graph copies in 40 mailboxes, 60 Gmail copies in 20 mailboxes."""
    return (
        campaign(shared_emulator, tenants.alpha, mailboxes=40, per_mailbox=3, tag="storm"),
        campaign(shared_emulator, tenants.beta, mailboxes=20, per_mailbox=3, tag="storm"),
    )


def retract(analyst, graph, gmail):
    retraction_request(actor=analyst, tenant=graph.tenant, action="trash", messages=graph.messages)
    retraction_request(actor=analyst, tenant=gmail.tenant, action="junk", messages=gmail.messages)


def test_it_rides_out_a_storm_shorter_than_the_retry_budget(
    shared_emulator, campaigns, analyst, sync_queue, sleeps, spy
):
    emu = shared_emulator
    graph, gmail = campaigns
    # One call at a time per mailbox (the clients send up to 4), each refusal with a
    # Retry-After, and on top the first two calls of every mailbox refused outright.
    emu.state.set_knobs(
        {
            "global": {
                "concurrency_limit": 1,
                "concurrency_retry_after_s": 0.2,
                "latency_ms": 10,
            },
            "fail_next": {
                a: {"count": 2, "status": 429, "retry_after": 0.3}
                for a in graph.addresses + gmail.addresses
            },
        }
    )

    retract(analyst, graph, gmail)

    stats = emu.state.stats()
    assert stats["throttled"] >= 2 * (len(graph.addresses) + len(gmail.addresses))
    assert stats["throttled_by_reason"].get("concurrency")  # the storm really raged
    assert max(sleeps) >= 0.3  # Retry-After honoured
    assert check_outcomes(emu, spy, graph.attempts(), target="trash") == {
        (AttemptStatus.SUCCEEDED, ""): graph.copies
    }
    assert check_outcomes(emu, spy, gmail.attempts(), target="junk") == {
        (AttemptStatus.SUCCEEDED, ""): gmail.copies
    }


def test_it_gives_up_as_throttled_on_a_storm_longer_than_the_budget_and_moves_nothing(
    shared_emulator, campaigns, analyst, sync_queue, sleeps, spy
):
    emu = shared_emulator
    graph, gmail = campaigns
    # Graph: one call per mailbox per 10 minutes, so a Retry-After longer than the
    # whole retry budget. Gmail: every call refused with 429 and a Retry-After of 1 s.
    emu.state.set_knobs(
        {
            "mailboxes": {
                a: {"budget_requests": 1, "budget_window_s": 600} for a in graph.addresses
            },
            "fail_next": {
                a: {"count": 10_000, "status": 429, "retry_after": 1} for a in gmail.addresses
            },
        }
    )

    retract(analyst, graph, gmail)

    throttled = {(AttemptStatus.FAILED, FailureReason.THROTTLED): graph.copies}
    assert check_outcomes(emu, spy, graph.attempts(), target="trash") == throttled
    throttled = {(AttemptStatus.FAILED, FailureReason.THROTTLED): gmail.copies}
    assert check_outcomes(emu, spy, gmail.attempts(), target="junk") == throttled
    assert not spy.writes  # not one copy touched

    # The storm passes; asked again, every copy goes, once.
    emu.state.clear_knobs()
    first = set(graph.attempts().values_list("pk", flat=True))
    first |= set(gmail.attempts().values_list("pk", flat=True))
    retract(analyst, graph, gmail)
    assert check_outcomes(emu, spy, graph.attempts().exclude(pk__in=first), target="trash") == {
        (AttemptStatus.SUCCEEDED, ""): graph.copies
    }
    assert check_outcomes(emu, spy, gmail.attempts().exclude(pk__in=first), target="junk") == {
        (AttemptStatus.SUCCEEDED, ""): gmail.copies
    }
