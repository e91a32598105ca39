"""Schemathesis against the schema the app serves: no generated request gets a server error.

The schema is fetched from GET /api/schema/ through the WSGI application, and every
operation is called with generated data (valid and invalid) as a tenant admin's API
key, against a real database seeded with a tenant the key can see and one it cannot.
Generated ids are often pointed at seeded rows, so detail endpoints and writes run
their real code, not only the 404 branch.

Deterministic (derandomize) and bounded: a few dozen examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application
from mailboxes.access import Role
from mailboxes.models import MailboxKind, Provider
from mailboxes.services import api_key_issue
from mailboxes.vocabulary import Disposition
from retraction.models import AttemptStatus, JobState, Mode, RetractionAttempt, RetractionJob
from tests.factories import grant, make_group, make_mailbox, make_message, make_tenant, make_user

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# messages/raw/ takes the message's bytes as they come, like application/octet-stream.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
]


@dataclass
class Seeded:
    """Rows the API key may reach, by the schema's path (for ids it generates)."""

    key: str
    ids: dict[str, list[int]] = field(default_factory=dict)
    addresses: list[str] = field(default_factory=list)


@pytest.fixture
def wsgi_in_test_transaction(db) -> Iterator[None]:
    """Keep the connection open across WSGI requests, as Django's test client does.

    The handler closes connections it finds outside autocommit at the end of a
    request, which would be the test's transaction (and every seeded row). Rate
    limits are lifted: a thousand requests from one key is the point here.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    unlimited = {f"API_{kind}RATE_LIMIT": None for kind in ("", "INGEST_", "WRITE_")}
    with override_settings(**unlimited):
        yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(wsgi_in_test_transaction) -> Seeded:
    """A tenant admin's key on alpha, with mail, attempts and a job; beta is invisible to it."""
    alpha = make_tenant("Alpha Corp", Provider.MICROSOFT, domains=["alpha.example"])
    beta = make_tenant("Beta Ltd", Provider.GOOGLE, domains=["beta.example"])
    admin = make_user("alice")
    grant(admin, alpha, Role.ADMIN)
    grant(make_user("charlie"), beta, Role.ADMIN)
    _, raw = api_key_issue(user=admin, name="fuzz", actor=None)

    ids: dict[str, list[int]] = {"messages": [], "retractions": [], "retraction-jobs": []}
    for tenant, prefix in ((alpha, "a"), (beta, "b")):
        u1 = make_mailbox(tenant, f"{prefix}-user1")
        u2 = make_mailbox(tenant, f"{prefix}-user2")
        shared = make_mailbox(tenant, f"{prefix}-shared", MailboxKind.SHARED)
        group = make_group(tenant, f"{prefix}-all", [u1, u2])
        for n, disposition in enumerate([Disposition.MALICIOUS, Disposition.NONE]):
            message = make_message(
                tenant,
                [u1, shared, group, (u2, group)],
                disposition=disposition,
                internet_message_id=f"<{prefix}-{n}@evil.example>",
            )
            ids["messages"].append(message.pk)
        attempt = RetractionAttempt.objects.create(
            tenant=tenant,
            message=message,
            delivery=message.deliveries.get(recipient=u1.address),
            mode=Mode.MANUAL,
            action="trash",
            status=AttemptStatus.SUCCEEDED,
            completed_at=timezone.now(),
        )
        job = RetractionJob.objects.create(
            tenant=tenant,
            action="trash",
            message_ids=[message.pk],
            state=JobState.PROCESSING,
            discovered=1,
        )
        attempt.job = job
        attempt.save(update_fields=["job"])
        ids["retractions"].append(attempt.pk)
        ids["retraction-jobs"].append(job.pk)
    # Each list holds rows of beta too, which the key must not reach (404).
    ids["tenants"] = [alpha.pk, beta.pk]
    ids["mailboxes"] = list(alpha.mailboxes.values_list("pk", flat=True)) + [u1.pk]
    ids["policies"] = list(alpha.policies.values_list("pk", flat=True)) + list(
        beta.policies.values_list("pk", flat=True)[:1]
    )
    addresses = list(alpha.mailboxes.values_list("address", flat=True))
    return Seeded(key=raw, ids=ids, addresses=addresses)


def _aim(value: Any, choices: list[int]) -> Any:
    """Most generated ids become a seeded row's id; every fourth stays as generated."""
    if isinstance(value, bool) or not choices:
        return value
    if isinstance(value, int) and value % 4 != 3:
        return choices[value % len(choices)]
    if isinstance(value, str) and len(value) % 4 != 3:
        return str(choices[len(value) % len(choices)])
    return value


def _aim_address(value: Any, addresses: list[str]) -> Any:
    if isinstance(value, str) and len(value) % 4 != 3:
        return addresses[len(value) % len(addresses)]
    return value


def aim_at_seeded_rows(case: Any, seeded: Seeded) -> None:
    """Point generated ids at seeded rows, so more requests get past the 404."""
    resource = case.operation.path.split("/")[3]
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = _aim(case.path_parameters["id"], seeded.ids.get(resource, []))
    if case.query and "tenant" in case.query:
        case.query["tenant"] = _aim(case.query["tenant"], seeded.ids["tenants"])
    if case.query and isinstance(case.query.get("recipients"), list):
        # Envelope recipients of a raw upload: mostly real mailboxes, so ingest stores.
        case.query["recipients"] = [
            _aim_address(value, seeded.addresses) for value in case.query["recipients"]
        ]
    for item in case.body if isinstance(case.body, list) else [case.body]:
        if not isinstance(item, dict):
            continue
        if "tenant" in item:
            item["tenant"] = _aim(item["tenant"], seeded.ids["tenants"])
        if isinstance(item.get("message_ids"), list):
            item["message_ids"] = [_aim(v, seeded.ids["messages"]) for v in item["message_ids"]]


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_it_never_answers_with_a_server_error(case: Any, seeded: Seeded) -> None:
    aim_at_seeded_rows(case, seeded)
    case.call_and_validate(headers={"Authorization": f"Bearer {seeded.key}"}, checks=CHECKS)
