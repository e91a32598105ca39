"""The Retractions card on the admin home page, and its View details link."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

from django.utils import timezone

from metrics.services.card import retractions_card
from retraction.models import AttemptStatus, Mode
from tests.admin.helpers import alpha_markers_in
from tests.base import TwoTenantsTestCase
from tests.metrics.helpers import Spec, make_attempts


def metric(html: str, name: str) -> str:
    match = re.search(rf'data-metric="{re.escape(name)}" data-value="([^"]*)"', html)
    assert match, f"no {name} on the card"
    return match.group(1)


class CardPageTests(TwoTenantsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        now = timezone.now()
        make_attempts(
            cls.alpha,
            [
                Spec(now - timedelta(hours=2)),
                Spec(now - timedelta(days=2), mode=Mode.MANUAL),
                Spec(now - timedelta(days=3), status=AttemptStatus.FAILED, reason="not_found"),
                Spec(now - timedelta(days=20)),
                Spec(now - timedelta(hours=3), status=AttemptStatus.CANCELLED),
            ],
        )
        make_attempts(cls.beta, [Spec(now - timedelta(hours=1)), Spec(now - timedelta(days=40))])

    def index(self, user, **params):
        self.client.force_login(user)
        response = self.client.get("/admin/", params)
        self.assertEqual(response.status_code, 200)
        return response.content.decode()

    def test_it_shows_the_card_above_the_app_list(self) -> None:
        html = self.index(self.root)
        self.assertIn('id="retractions-card"', html)
        self.assertEqual(metric(html, "total"), "4")  # last 7 days, both tenants
        self.assertEqual(metric(html, "succeeded"), "3")
        self.assertIn("25.0 %", html)  # fail
        self.assertIn("Already deleted or junked by the user or a mailbox filter", html)
        self.assertIn("vendor/chart.js/chart.umd.min.js", html)
        self.assertIn("metrics/card.js", html)
        self.assertIn('id="retractions-series"', html)
        self.assertLess(html.index("retractions-card"), html.index('class="app-retraction'))

    def test_it_shows_the_api_numbers_for_the_chosen_interval_and_tenant(self) -> None:
        html = self.index(self.root, **{"card-period": "30d", "card-tenant": self.alpha.pk})
        section = re.search(r'data-start="([^"]+)" data-end="([^"]+)" data-tenant="(\d*)"', html)
        start, end = (datetime.fromisoformat(section.group(i)) for i in (1, 2))
        self.assertEqual(end - start, timedelta(days=30))
        self.assertEqual(section.group(3), str(self.alpha.pk))
        card = retractions_card(user=self.root, start=start, end=end, tenant=self.alpha).as_dict()
        self.assertEqual(card["total"], 4)
        self.assertEqual(metric(html, "total"), "4")
        self.assertEqual(metric(html, "success_rate"), repr(card["success_rate"]))
        self.assertEqual(metric(html, "reason:not_found"), "1")
        self.assertEqual(metric(html, "manual"), "1")
        self.assertEqual(metric(html, "from_delivery.p50"), "5400")  # 1 h: bucket [1 h, 1.5 h)
        series = json.loads(
            unescape(re.search(r'id="retractions-series"[^>]*>(.*?)</script>', html).group(1))
        )
        self.assertEqual(len(series["labels"]), 31)
        self.assertEqual(sum(series["succeeded"]) + sum(series["failed"]), 4)

    def test_it_takes_a_from_to_interval_in_whole_local_days(self) -> None:
        today = timezone.localdate()
        html = self.index(
            self.root,
            **{
                "card-period": "custom",
                "card-start": str(today - timedelta(days=2)),
                "card-end": str(today),
            },
        )
        start = datetime.fromisoformat(re.search(r'data-start="([^"]+)"', html).group(1))
        end = datetime.fromisoformat(re.search(r'data-end="([^"]+)"', html).group(1))
        self.assertEqual(end - start, timedelta(days=3))
        self.assertEqual(timezone.localtime(start).hour, 0)
        self.assertEqual(metric(html, "total"), "3")  # 2 h, 2 days ago (alpha), 1 h (beta)

    def test_it_explains_a_bad_interval(self) -> None:
        html = self.index(self.root, **{"card-period": "custom", "card-start": "2025-03-05"})
        self.assertIn("Pick the last day.", html)
        self.assertNotIn('data-metric="total"', html)

    def test_it_offers_only_visible_tenants(self) -> None:
        html = self.index(self.charlie)
        self.assertEqual(alpha_markers_in(html), [])
        self.assertIn("Beta Ltd", html)
        self.assertEqual(metric(html, "total"), "1")
        # Alpha picked by hand: refused like an unknown choice, and no numbers shown.
        html = self.index(self.charlie, **{"card-tenant": self.alpha.pk})
        self.assertIn("Select a valid choice", html)
        self.assertNotIn('data-metric="total"', html)
        self.assertEqual(alpha_markers_in(html), [])

    def test_view_details_lists_exactly_the_counted_attempts(self) -> None:
        html = self.index(self.vera, **{"card-period": "30d"})
        url = unescape(re.search(r'id="retractions-details" href="([^"]+)"', html).group(1))
        self.assertIn("completed_at__gte=", url)
        self.assertIn("status__in=succeeded%2Cfailed", url)
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        rows = response.context["cl"].result_list
        self.assertEqual(len(rows), 4)
        self.assertEqual({a.tenant_id for a in rows}, {self.alpha.pk})
        completed = [a.completed_at for a in rows]
        self.assertEqual(completed, sorted(completed, reverse=True))  # newest first

    def test_view_details_keeps_the_tenant_and_more_filters_apply(self) -> None:
        html = self.index(self.root, **{"card-period": "7d", "card-tenant": self.beta.pk})
        url = unescape(re.search(r'id="retractions-details" href="([^"]+)"', html).group(1))
        self.assertIn(f"tenant__id__exact={self.beta.pk}", url)
        rows = self.client.get(url).context["cl"].result_list
        self.assertEqual([a.tenant_id for a in rows], [self.beta.pk])
        html = self.index(self.root, **{"card-period": "7d"})
        url = unescape(re.search(r'id="retractions-details" href="([^"]+)"', html).group(1))
        failed = self.client.get(url + "&reason__exact=not_found").context["cl"].result_list
        self.assertEqual([a.reason for a in failed], ["not_found"])
        start = datetime.now(UTC) - timedelta(days=7)
        self.assertTrue(all(a.completed_at >= start for a in failed))
