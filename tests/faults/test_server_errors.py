"""5xx bursts and dropped connections: retried, and what is recorded is what happened."""

from __future__ import annotations

import pytest

from mailboxes.vocabulary import FailureReason
from retraction.models import AttemptStatus
from retraction.services.manual import retraction_request
from tests.faults.helpers import campaign, check_outcomes

pytestmark = pytest.mark.django_db(transaction=True)

SUCCEEDED = (AttemptStatus.SUCCEEDED, "")
GAVE_UP = (AttemptStatus.FAILED, FailureReason.PROVIDER_ERROR)


@pytest.mark.parametrize(
    "knobs",
    [
        pytest.param({"error_rate": 0.3, "error_statuses": [500, 502, 503, 504]}, id="5xx"),
        pytest.param({"reset_rate": 0.25}, id="resets"),
    ],
)
def test_it_retries_server_errors_and_records_the_true_outcome(
    tenants, shared_emulator, analyst, sync_queue, sleeps, spy, knobs
):
    emu = shared_emulator
    graph = campaign(emu, tenants.alpha, mailboxes=50, per_mailbox=3, tag="burst")
    gmail = campaign(emu, tenants.beta, mailboxes=25, per_mailbox=2, tag="burst")
    emu.state.set_knobs({**knobs, "latency_ms": 5})

    retraction_request(actor=analyst, tenant=graph.tenant, action="trash", messages=graph.messages)
    retraction_request(actor=analyst, tenant=gmail.tenant, action="junk", messages=gmail.messages)

    stats = emu.state.stats()
    assert stats["server_errors"] + stats["resets"] > 20  # the burst really hit
    for run, target in ((graph, "trash"), (gmail, "junk")):
        summary = check_outcomes(emu, spy, run.attempts(), target=target)
        # Six tries each: a copy whose every try failed is rare, and then it is a
        # provider error with the copy untouched (checked above), never a loss.
        assert set(summary) <= {SUCCEEDED, GAVE_UP}
        assert summary[SUCCEEDED] >= 0.9 * run.copies
