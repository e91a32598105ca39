"""Redis restarted mid-job: connections dropped and the queue lost; the sweeper recovers it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django_q.conf import Conf

from retraction.models import AttemptStatus, JobState, RetractionJob
from retraction.services.jobs import job_create
from tests.faults.cluster import private_cluster, progress, sweep_until_finished, wait_until
from tests.faults.helpers import campaign, check_outcomes
from tests.qcluster import QCluster

pytestmark = pytest.mark.django_db(transaction=True)

# A database number of these tests' own: the server is shared, it is never restarted here.
REDIS_URL = "redis://127.0.0.1:6379/13"
REDIS_DB = 13


@pytest.fixture
def redis_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[redis.Redis, str]]:
    """This process's django-q2 on Redis, a private cluster name; its keys removed after."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    name = private_cluster(monkeypatch)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    yield client, name
    keys = list(client.scan_iter(match=f"django_q:{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def restart(client: redis.Redis, name: str) -> tuple[int, int]:
    """What a restart of a Redis that keeps nothing on disk does: clients cut, queue gone.

    Only this database's clients and this cluster's keys: other sessions share the server.
    Returns how many connections were cut and how many tasks were lost.
    """
    mine = client.client_id()
    cut = 0
    for other in client.client_list():
        if int(other.get("db", -1)) == REDIS_DB and int(other["id"]) != mine:
            cut += client.client_kill_filter(_id=other["id"])
    queue = f"django_q:{name}:q"
    lost = client.llen(queue)
    client.delete(queue)
    return cut, lost


def test_it_finishes_every_attempt_once_after_redis_lost_its_connections_and_queue(
    tenants, shared_emulator, analyst, spy, redis_broker
):
    client, name = redis_broker
    emu = shared_emulator
    graph = campaign(emu, tenants.alpha, mailboxes=30, per_mailbox=8, tag="redis")
    gmail = campaign(emu, tenants.beta, mailboxes=15, per_mailbox=4, tag="redis")
    emu.state.set_knobs({"latency_ms": 20, "concurrency_limit": 0})
    # One worker: the cluster fetches one task ahead, the rest wait in Redis.
    cluster = QCluster(redis_url=REDIS_URL, workers=1)
    try:
        cluster.wait_ready()

        # Bursts of verdicts: a job per message, each a task to discover its copies
        # and a task to retract them. Graph's first, Gmail's as Redis goes down.
        def jobs_for(run):
            return [
                job_create(actor=analyst, tenant=run.tenant, action="trash", message_ids=[m.pk])
                for m in run.messages
            ]

        jobs = jobs_for(graph)
        attempts = graph.attempts() | gmail.attempts()
        wait_until(progress(attempts), timeout=30, process=cluster, what="progress")
        jobs += jobs_for(gmail)

        cut, lost = restart(client, name)
        assert cut > 0 and lost > 0  # the cluster's connections and queued tasks

        expected = graph.copies + gmail.copies
        assert sweep_until_finished(attempts, expected=expected, process=cluster) > 0
    finally:
        cluster.stop()

    for run in (graph, gmail):
        assert check_outcomes(emu, spy, run.attempts(), target="trash") == {
            (AttemptStatus.SUCCEEDED, ""): run.copies
        }
    assert attempts.count() == graph.copies + gmail.copies  # none discovered twice
    assert set(attempts.values_list("tries", flat=True)) <= {1, 2}
    assert set(
        RetractionJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True)
    ) == {JobState.COMPLETED}
