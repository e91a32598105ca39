"""Shared set-up for the ingest tests: journal addresses and fixture files."""

from __future__ import annotations

from pathlib import Path

from mailboxes.models import Tenant
from tests.base import TwoTenantsTestCase

FIXTURES = Path(__file__).parent / "fixtures"
ALPHA_JOURNAL = "journal-alpha@clawback.example"
BETA_JOURNAL = "journal-beta@clawback.example"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class IngestTestCase(TwoTenantsTestCase):
    """Two tenants (see tests.base) with journal addresses."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        Tenant.objects.filter(pk=cls.alpha.pk).update(journal_address=ALPHA_JOURNAL)
        Tenant.objects.filter(pk=cls.beta.pk).update(journal_address=BETA_JOURNAL)
        cls.alpha.refresh_from_db()
        cls.beta.refresh_from_db()
