"""PostgreSQL restarted mid-job: every connection of the cluster cut, the work still completes."""

from __future__ import annotations

import pytest
from django.db import connection

from retraction.models import AttemptStatus, JobState, RetractionJob
from retraction.services.jobs import job_create
from tests.faults.cluster import private_cluster, sweep_until_finished, wait_until
from tests.faults.helpers import campaign, check_outcomes
from tests.qcluster import QCluster

RUNNING = AttemptStatus.RUNNING

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backends"),
]


def cut_every_connection_but_mine() -> int:
    """What a server restart does to its clients (this test's own connection aside)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_it_finishes_every_attempt_once_after_the_database_cut_all_connections(
    tenants, shared_emulator, analyst, spy, monkeypatch
):
    emu = shared_emulator
    private_cluster(monkeypatch)
    graph = campaign(emu, tenants.alpha, mailboxes=60, per_mailbox=5, tag="pg")
    gmail = campaign(emu, tenants.beta, mailboxes=30, per_mailbox=3, tag="pg")
    emu.state.set_knobs({"latency_ms": 20, "concurrency_limit": 0})
    cluster = QCluster(workers=2)
    try:
        cluster.wait_ready()
        jobs = [
            job_create(
                actor=analyst,
                tenant=run.tenant,
                action="trash",
                message_ids=[m.pk for m in run.messages],
            )
            for run in (graph, gmail)
        ]
        attempts = graph.attempts() | gmail.attempts()
        expected = graph.copies + gmail.copies
        # Mid-job: copies are being moved. (After discovery: a job cut off while it
        # discovers its copies stays "discovering"; the sweeper does not restart it.)
        wait_until(
            lambda: attempts.count() == expected and attempts.filter(status=RUNNING).exists(),
            timeout=30,
            process=cluster,
            what="a run under way",
        )

        assert cut_every_connection_but_mine() > 0

        # The run under way fails when it writes its outcomes; the others reconnect
        # (health checks). Its attempts stay "running" until the sweeper takes them back.
        assert sweep_until_finished(attempts, expected=expected, process=cluster) > 0
    finally:
        cluster.stop()

    for run in (graph, gmail):
        assert check_outcomes(emu, spy, run.attempts(), target="trash") == {
            (AttemptStatus.SUCCEEDED, ""): run.copies
        }
    assert attempts.count() == expected  # none queued twice
    assert set(attempts.values_list("tries", flat=True)) <= {1, 2}
    assert set(
        RetractionJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True)
    ) == {JobState.COMPLETED}
