"""The token endpoint down: nothing moves, nothing is lost, and a later request succeeds."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from google.auth import _exponential_backoff
from google.oauth2 import _client as google_oauth_client

from mailboxes.models import AuthorizationStatus
from mailboxes.vocabulary import FailureReason
from retraction.models import AttemptStatus
from retraction.services.manual import retraction_request
from tests.emulated import reset_client_caches
from tests.faults.helpers import campaign, check_outcomes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_google_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    """google-auth retries a 5xx token answer itself, 1 s then 2 s apart: make it brief."""

    def brief(**kwargs: Any) -> _exponential_backoff.ExponentialBackoff:
        return _exponential_backoff.ExponentialBackoff(initial_wait_seconds=0.01, **kwargs)

    monkeypatch.setattr(
        google_oauth_client, "_exponential_backoff", SimpleNamespace(ExponentialBackoff=brief)
    )


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param({"error_rate": 1.0, "error_statuses": [500, 503]}, id="5xx"),
        pytest.param({"reset_rate": 1.0}, id="resets"),
    ],
)
def test_it_fails_as_provider_error_while_the_token_endpoint_is_down_then_succeeds(
    tenants, shared_emulator, analyst, sync_queue, sleeps, spy, fast_google_auth, outage
):
    emu = shared_emulator
    graph = campaign(emu, tenants.alpha, mailboxes=30, per_mailbox=2, tag="tok")
    gmail = campaign(emu, tenants.beta, mailboxes=15, per_mailbox=2, tag="tok")
    # The whole provider down, its token endpoints included: no token, no mail call.
    emu.state.set_knobs({**outage, "faults_include_tokens": True})

    def retract() -> None:
        retraction_request(
            actor=analyst, tenant=graph.tenant, action="trash", messages=graph.messages
        )
        retraction_request(
            actor=analyst, tenant=gmail.tenant, action="junk", messages=gmail.messages
        )

    retract()

    assert emu.state.stats()["tokens_issued"] == 0
    down = (AttemptStatus.FAILED, FailureReason.PROVIDER_ERROR)
    assert check_outcomes(emu, spy, graph.attempts(), target="trash") == {down: graph.copies}
    assert check_outcomes(emu, spy, gmail.attempts(), target="junk") == {down: gmail.copies}
    # An outage is not a revoked consent: the tenants' next attempts still call the provider.
    for tenant in (graph.tenant, gmail.tenant):
        tenant.refresh_from_db()
        assert tenant.authorization_status != AuthorizationStatus.UNAUTHORIZED

    # Back up. msal keeps a 5xx from the token endpoint for 5 s (its throttling
    # cache): a request made later meets no such cache, as fresh clients don't.
    emu.state.clear_knobs()
    reset_client_caches()
    first = set(graph.attempts().values_list("pk", flat=True))
    first |= set(gmail.attempts().values_list("pk", flat=True))
    retract()

    again = graph.attempts().exclude(pk__in=first)
    assert check_outcomes(emu, spy, again, target="trash") == {
        (AttemptStatus.SUCCEEDED, ""): graph.copies
    }
    again = gmail.attempts().exclude(pk__in=first)
    assert check_outcomes(emu, spy, again, target="junk") == {
        (AttemptStatus.SUCCEEDED, ""): gmail.copies
    }
