"""In a real browser: the Content-Security-Policy blocks nothing the admin and the API docs need.

Every page listens for `securitypolicyviolation` events from its first script on; the
pages must work (the card's chart drawn, Swagger UI rendered) with none recorded, and
a script injected into a page must be refused. Drives /usr/bin/chromium through
Playwright, like tests/metrics/test_browser.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_mailbox, make_message, make_tenant, make_user

CHROMIUM = Path(os.environ.get("CLAWBACK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing")

PASSWORD = "pw-csp-browser-root-1"
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} line ${e.lineNumber}`);
});
"""


@pytest.fixture
def world(transactional_db: Any) -> dict[str, Any]:
    tenant = make_tenant("Alpha Corp", domains=["alpha.example"])
    message = make_message(tenant, [make_mailbox(tenant, "adele")], subject="Invoice")
    root = make_user("root", superuser=True)
    root.set_password(PASSWORD)
    root.save(update_fields=["password"])
    return {"tenant": tenant, "message": message}


def test_the_admin_and_the_api_docs_work_under_the_policy(
    world: dict[str, Any], live_server: Any
) -> None:
    base = live_server.url
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.add_init_script(RECORD_VIOLATIONS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            seen: dict[str, list[str]] = {}

            def record(name: str) -> None:
                seen[name] = page.evaluate("window.__violations")

            page.goto(f"{base}/api/docs/")
            page.wait_for_selector(".swagger-ui .info .title")  # rendered by its scripts
            page.wait_for_selector(".opblock-tag-section")  # and the schema fetched
            record("api docs")

            page.goto(f"{base}/admin/login/?next=/admin/")
            page.fill("#id_username", "root")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector("#retractions-chart[data-drawn='true']")  # Chart.js ran
            record("admin index")

            # An inline script injected into the page is refused.
            with pytest.raises(sync_api.Error, match="violates the following Content Security"):
                page.add_script_tag(content="window.__injected = true;")
            assert page.evaluate("window.__injected === undefined")
            assert any("script-src" in v for v in page.evaluate("window.__violations"))

            tenant, message = world["tenant"], world["message"]
            for name, url, ready in [
                ("tenant change", f"/admin/mailboxes/tenant/{tenant.pk}/change/", "#tenant_form"),
                ("tenant add", "/admin/mailboxes/tenant/add/", "#tenant_form"),
                ("messages", "/admin/mailboxes/message/", "#result_list"),
                ("message", f"/admin/mailboxes/message/{message.pk}/change/", "#content-main"),
            ]:
                page.goto(base + url)
                page.wait_for_selector(ready)
                record(name)

            # A confirmation page of an admin action (its own inline styles).
            page.goto(f"{base}/admin/mailboxes/message/")
            page.check("input.action-select >> nth=0")
            page.select_option("select[name=action]", "retract")
            page.click("button[name=index]")
            page.wait_for_selector(".retraction-confirmation")
            record("retract confirmation")

            assert seen == {name: [] for name in seen}
            assert errors == []
        finally:
            browser.close()
