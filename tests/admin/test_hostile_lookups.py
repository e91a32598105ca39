"""Lookups in the address bar that the database cannot take are bad parameters, not 500s."""

from __future__ import annotations

import pytest

from tests.factories import make_user

pytestmark = pytest.mark.django_db

HOSTILE = [
    "received_at__gte=9999-12-31T23:59:59-23:59",  # past year 9999 once in UTC
    "received_at__gte=0001-01-01T00:00:00%2B23:59",  # before year 1
    "received_at__lt=2026-01-01T00:00:00%2B23:59",  # an offset PostgreSQL refuses
    "received_at__gte=banana",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_the_changelist_answers_a_hostile_date_lookup_with_its_error_flag(client, query):
    client.force_login(make_user("root", superuser=True))

    response = client.get(f"/admin/mailboxes/message/?{query}")

    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response["Location"].endswith("?e=1")
