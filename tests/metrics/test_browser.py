"""In a real browser: log in, read the Retractions card, compare with the API, open View details.

Drives Debian's Chromium (/usr/bin/chromium, `apt-get install -y chromium`) through
Playwright for Python; never a browser that Playwright downloads.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone

from mailboxes.access import Role
from metrics.services.buckets import format_duration
from metrics.templatetags.metrics_card import format_percent
from retraction.models import AttemptStatus, Mode
from tests.factories import grant, make_tenant, make_user
from tests.metrics.helpers import Spec, make_attempts

CHROMIUM = Path(os.environ.get("CLAWBACK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing: apt-get install -y chromium (CI installs it)",
    ),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is missing: pip install -e '.[dev]'"
)

PASSWORD = "pw-browser-analyst-1"


@pytest.fixture
def world(transactional_db: Any) -> dict[str, Any]:
    """Two tenants; the analyst sees only alpha. Attempts inside and outside 30 days."""
    alpha = make_tenant("Alpha Corp", domains=["alpha.example"])
    beta = make_tenant("Beta Ltd", domains=["beta.example"])
    analyst = make_user("analyst")
    analyst.set_password(PASSWORD)
    analyst.save(update_fields=["password"])
    grant(analyst, alpha, Role.ANALYST)
    now = timezone.now()
    specs = [
        Spec(
            now - timedelta(hours=5 + 17 * i),
            status=AttemptStatus.FAILED if i % 4 == 1 else AttemptStatus.SUCCEEDED,
            reason=["not_found", "not_a_mailbox", "not_authorized"][i % 3] if i % 4 == 1 else "",
            mode=Mode.MANUAL if i % 3 == 0 else Mode.AUTO,
            read_state=["read", "unread", "unknown"][i % 3],
            received_at=now - timedelta(hours=5 + 17 * i, minutes=3 * i + 2),
        )
        for i in range(30)
    ]
    specs.append(Spec(None, status=AttemptStatus.QUEUED, requested_at=now - timedelta(hours=1)))
    make_attempts(alpha, specs)
    make_attempts(beta, [Spec(now - timedelta(hours=2)) for _ in range(7)])
    return {"alpha": alpha, "beta": beta, "analyst": analyst}


def card_numbers(page: Any) -> dict[str, str]:
    """Every data-metric on the card: its raw value and the text a person reads."""
    return page.eval_on_selector_all(
        "#retractions-card [data-metric]",
        """els => Object.fromEntries(els.map(e => [e.dataset.metric,
            {value: e.dataset.value, text: e.innerText.trim()}]))""",
    )


def assert_card_equals_api(page: Any, base_url: str) -> dict[str, Any]:
    card = page.locator("#retractions-card")
    query = {"start": card.get_attribute("data-start"), "end": card.get_attribute("data-end")}
    if card.get_attribute("data-tenant"):
        query["tenant"] = card.get_attribute("data-tenant")
    response = page.request.get(f"{base_url}/api/v1/metrics/retractions/?{urlencode(query)}")
    assert response.status == 200, response.text()
    api = response.json()
    shown = card_numbers(page)
    for name in ("total", "succeeded", "failed", "in_progress", "read", "unread", "read_unknown",
                 "auto", "manual"):  # fmt: skip
        assert shown[name]["value"] == str(api[name]), name
    assert shown["total"]["text"] == str(api["total"])
    for name in ("success_rate", "fail_rate"):
        assert shown[name]["value"] == repr(api[name]), name
        assert shown[name]["text"] == format_percent(api[name]), name
    for reason, data in api["failures_by_reason"].items():
        if data["count"] or reason != "other":
            assert shown[f"reason:{reason}"]["value"] == str(data["count"]), reason
            assert format_percent(data["share"]) in shown[f"reason:{reason}"]["text"], reason
    for kind in ("from_delivery", "from_verdict"):
        for p in ("p50", "p95"):
            value = api["time_to_retract"][kind][p]
            assert shown[f"{kind}.{p}"]["value"] == repr(value)
            assert shown[f"{kind}.{p}"]["text"] == format_duration(
                value, open_ended=p in api["time_to_retract"][kind]["open_ended"]
            )
    return api


def test_the_card_matches_the_api_and_view_details_lists_its_attempts(
    world: dict[str, Any], live_server: Any
) -> None:
    base = live_server.url
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # Log in through the admin login page.
            page.goto(f"{base}/admin/login/?next=/admin/")
            page.fill("#id_username", "analyst")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector("#retractions-card")

            # Default: last 7 days, every tenant the analyst may see (alpha only).
            api = assert_card_equals_api(page, base)
            assert api["total"] == 10 and api["tenant"] is None
            assert "Beta Ltd" not in page.content()
            page.wait_for_selector("#retractions-chart[data-drawn='true']")  # Chart.js ran

            # Last 30 days, alpha picked from the dropdown.
            page.select_option("[name='card-period']", "30d")
            page.select_option("[name='card-tenant']", label="Alpha Corp")
            page.click("#retractions-card-form button[type=submit]")
            page.wait_for_url(re.compile(r"card-period=30d"))
            api = assert_card_equals_api(page, base)
            assert api["total"] == 30 and api["tenant"] == world["alpha"].pk
            assert api["failed"] == 8 and api["in_progress"] == 1
            page.wait_for_selector("#retractions-chart[data-drawn='true']")

            # View details: the attempts changelist for exactly that interval and tenant.
            card = page.locator("#retractions-card")
            start, end = card.get_attribute("data-start"), card.get_attribute("data-end")
            page.click("#retractions-details")
            page.wait_for_selector("#result_list")
            params = parse_qs(urlsplit(page.url).query)
            assert _same_instant(params["completed_at__gte"][0], start)
            assert _same_instant(params["completed_at__lt"][0], end)
            rows = page.locator("#result_list tbody tr")
            assert rows.count() == api["total"]
            assert "beta-ltd.example" not in page.content()

            # A further filter on that list: failures only.
            page.goto(page.url + "&status__exact=failed")
            page.wait_for_selector("#result_list")
            assert page.locator("#result_list tbody tr").count() == api["failed"]
            assert errors == []
        finally:
            browser.close()


def _same_instant(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)
