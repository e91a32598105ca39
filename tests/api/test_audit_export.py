"""The audit trail: list/detail only in the API, and its CSV export (API and admin)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from mailboxes.audit import audit_record
from mailboxes.audit_export import COLUMNS, csv_safe
from mailboxes.models import AuditEvent
from tests.admin.helpers import AdminTestCase
from tests.api.helpers import ApiTestCase, api_routes

URL = "/api/v1/audit-events/"
EXPORT = "/api/v1/audit-events/export/"


def rows_of(response: Any) -> list[list[str]]:
    assert response.streaming, "the export is streamed"
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Window:
    """An interval around now, as query parameters."""

    def __init__(self, before: timedelta = timedelta(hours=1), after=timedelta(hours=1)):
        now = timezone.now()
        self.start, self.end = now - before, now + after

    def params(self, **extra: Any) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), **extra}


class AuditApiTests(ApiTestCase):
    def test_it_offers_only_list_detail_and_export(self) -> None:
        routes = {r.name: r.methods for r in api_routes() if r.key == "audit-event"}
        self.assertEqual(
            routes,
            {
                "audit-event-list": ("get",),
                "audit-event-detail": ("get",),
                "audit-event-export": ("get",),
            },
        )
        event = self.alpha_objects["audit_event"]
        for method in ("post", "put", "patch", "delete"):
            for url in (URL, f"{URL}{event.pk}/"):
                with self.subTest(method=method, url=url):
                    self.assertEqual(self.call(self.root, method, url).status_code, 405)
        self.assertTrue(AuditEvent.objects.filter(pk=event.pk, action="tenant.created").exists())

    def test_it_lists_the_trail_with_filters(self) -> None:
        audit_record(actor=self.alice, action="policy.updated", tenant=self.alpha, via="api")
        rows = self.results(self.vera, URL, {"action": "policy.*"})
        self.assertEqual([r["action"] for r in rows], ["policy.updated"])
        self.assertEqual((rows[0]["actor"], rows[0]["via"]), ("alice", "api"))
        rows = self.results(self.vera, URL, {"actor": "ALICE"})
        self.assertEqual([r["action"] for r in rows], ["policy.updated"])


class ExportTests(ApiTestCase):
    def export(self, user: Any, params: dict[str, Any], **extra: Any) -> Any:
        return self.call(user, "get", EXPORT, params, **extra)

    def test_it_exports_the_interval_as_csv_oldest_first(self) -> None:
        window = Window()
        audit_record(actor=self.bob, action="message.reclassified", tenant=self.alpha, via="api")
        response = self.export(self.alice, window.params())
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
        self.assertIn("attachment;", response["Content-Disposition"])
        rows = rows_of(response)
        self.assertEqual(tuple(rows[0]), COLUMNS)
        body = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
        times = [r["time"] for r in body]
        self.assertEqual(times, sorted(times))
        self.assertTrue(all(t.endswith("Z") for t in times))
        # The export itself is recorded before the first row goes out, so it is the last row.
        exported, last = body[-1], body[-2]
        self.assertEqual((exported["action"], exported["actor"]), ("audit.exported", "alice"))
        self.assertEqual(
            (last["tenant"], last["actor"], last["action"], last["via"]),
            ("Alpha Corp", "bob", "message.reclassified", "api"),
        )
        self.assertEqual(json.loads(last["data"]), {"via": "api"})
        self.assertEqual({r["tenant_id"] for r in body}, {str(self.alpha.pk)})

    def test_it_needs_a_valid_interval(self) -> None:
        now = timezone.now()
        cases = [
            ({}, {"start", "end"}),
            ({"start": iso(now)}, {"end"}),
            ({"start": "yesterday", "end": iso(now)}, {"start"}),
            ({"start": "2025-01-01T00:00:00", "end": iso(now)}, {"start"}),  # no offset
            ({"start": iso(now), "end": iso(now - timedelta(hours=1))}, {"end"}),
            ({"start": iso(now), "end": iso(now)}, {"end"}),
            ({"start": iso(now - timedelta(days=367)), "end": iso(now)}, {"end"}),
            ({"start": "9999-12-31T23:00:00-05:00", "end": "9999-12-31T23:30:00-05:00"}, None),
        ]
        for params, fields in cases:
            with self.subTest(params=params):
                response = self.export(self.alice, params)
                self.assertEqual(response.status_code, 400, response.content)
                if fields is not None:
                    self.assertEqual(set(response.json()), fields)
                    for messages in response.json().values():
                        self.assertIsInstance(messages, list)
        self.assertFalse(AuditEvent.objects.filter(action="audit.exported").exists())
        a_year = {"start": iso(now - timedelta(days=366)), "end": iso(now)}
        self.assertEqual(self.export(self.alice, a_year).status_code, 200)

    def test_it_reports_bad_filters_with_the_interval_errors(self) -> None:
        response = self.export(self.alice, {"tenant": "abc", "created_after": "soon"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(set(response.json()), {"start", "end", "tenant", "created_after"})

    def test_it_neutralises_spreadsheet_formulas(self) -> None:
        window = Window()
        audit_record(
            actor=self.alice,
            action="policy.updated",
            tenant=self.alpha,
            target=self.alpha_objects["message"],
            data={"note": "=cmd|' /C calc'!A0"},
        )
        for value, expected in [
            ("=1+1", "'=1+1"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("-2", "'-2"),
            ("@A1", "'@A1"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("plain", "plain"),
            ("", ""),
        ]:
            self.assertEqual(csv_safe(value), expected)
        evil = AuditEvent(
            tenant=self.alpha,
            tenant_label='=HYPERLINK("http://evil.example","x")',
            actor_label="+cmd",
            action="@SUM(1)",
            target_type="-1",
            target_id="\t7",
            target_repr="=2*3",
            data={"via": "=via"},
        )
        AuditEvent.objects.bulk_create([evil])
        rows = rows_of(self.export(self.alice, window.params()))
        row = dict(zip(COLUMNS, next(r for r in rows if r[5] == "'@SUM(1)"), strict=True))
        self.assertEqual(row["tenant"], '\'=HYPERLINK("http://evil.example","x")')
        self.assertEqual(row["actor"], "'+cmd")
        self.assertEqual(row["target_type"], "'-1")
        self.assertEqual(row["target_id"], "'\t7")
        self.assertEqual(row["target_repr"], "'=2*3")
        self.assertEqual(row["via"], "'=via")
        for row in rows[1:]:
            for cell in row:
                self.assertFalse(cell.startswith(("=", "+", "-", "@", "\t", "\r")), row)

    def test_it_exports_only_the_callers_tenants(self) -> None:
        window = Window()
        vera = {r[3] for r in rows_of(self.export(self.vera, window.params()))[1:]}
        charlie = {r[3] for r in rows_of(self.export(self.charlie, window.params()))[1:]}
        root = {r[3] for r in rows_of(self.export(self.root, window.params()))[1:]}
        self.assertEqual(vera, {"Alpha Corp"})
        self.assertEqual(charlie, {"Beta Ltd"})
        self.assertTrue({"Alpha Corp", "Beta Ltd"} <= root)
        response = self.export(self.charlie, window.params(tenant=self.alpha.pk))
        self.assertEqual(response.status_code, 400)
        self.assertIn("tenant", response.json())
        own = rows_of(self.export(self.root, window.params(tenant=self.beta.pk)))
        self.assertEqual({r[3] for r in own[1:]}, {"Beta Ltd"})

    def test_it_applies_the_list_filters(self) -> None:
        window = Window()
        audit_record(actor=self.alice, action="policy.updated", tenant=self.alpha, via="api")
        rows = rows_of(self.export(self.alice, window.params(action="policy.*")))
        self.assertEqual([r[5] for r in rows[1:]], ["policy.updated"])

    def test_it_audits_the_export_with_its_parameters(self) -> None:
        window = Window()
        self.export(self.vera, window.params(action="policy.*"))
        (event,) = AuditEvent.objects.filter(action="audit.exported")
        self.assertEqual(
            (event.actor, event.tenant, event.data["via"]), (self.vera, self.alpha, "api")
        )
        self.assertEqual(
            (event.data["start"], event.data["end"]), (iso(window.start), iso(window.end))
        )
        self.assertEqual(event.data["filters"], {"action": "policy.*"})
        self.export(self.root, window.params())
        latest = AuditEvent.objects.filter(action="audit.exported").first()
        self.assertEqual((latest.actor, latest.tenant), (self.root, None))

    def test_it_streams_many_rows_in_chunks(self) -> None:
        window = Window()
        now = timezone.now()
        AuditEvent.objects.bulk_create(
            AuditEvent(
                tenant=self.beta,
                tenant_label="Beta Ltd",
                actor_label="system",
                action="load.test",
                data={"n": n},
                created_at=now - timedelta(milliseconds=100 * n),
            )
            for n in range(6000)
        )
        response = self.export(self.charlie, window.params(action="load.test"))
        self.assertTrue(response.streaming)
        chunks = list(response.streaming_content)
        self.assertGreaterEqual(len(chunks), 12)  # a few hundred rows per chunk, not one blob
        rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
        self.assertEqual(len(rows), 6001)
        self.assertEqual([json.loads(r[-1])["n"] for r in rows[1:4]], [5999, 5998, 5997])

    def test_it_answers_accept_text_csv(self) -> None:
        window = Window()
        response = self.export(self.alice, window.params(), HTTP_ACCEPT="text/csv")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(tuple(rows_of(response)[0]), COLUMNS)
        error = self.export(self.alice, {}, HTTP_ACCEPT="text/csv")
        self.assertEqual(error.status_code, 400)
        self.assertEqual(error["Content-Type"], "text/csv; charset=utf-8")
        self.assertIn(b"start,This field is required.", error.content)


class AdminExportTests(AdminTestCase):
    def export_url(self) -> str:
        return reverse("admin:mailboxes_auditevent_export")

    def post_export(self, user: Any, filters: str = "", **fields: Any) -> Any:
        now = timezone.localtime()
        data = {
            "start": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "end": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "_changelist_filters": filters,
            **fields,
        }
        return self.post_as(user, self.export_url(), data)

    def test_it_links_the_export_from_the_filtered_changelist(self) -> None:
        changelist = reverse("admin:mailboxes_auditevent_changelist")
        page = self.get_as(self.vera, changelist, tenant__id__exact=self.alpha.pk)
        self.assertContains(page, f"{self.export_url()}?_changelist_filters=tenant__id__exact%3D")
        form = self.get_as(self.vera, self.export_url(), _changelist_filters="q=tenant")
        self.assertEqual(form.status_code, 200)
        self.assertContains(form, 'name="_changelist_filters" value="q=tenant"')

    def test_it_exports_the_changelists_rows_for_the_interval(self) -> None:
        audit_record(actor=self.alice, action="policy.updated", tenant=self.alpha, via="admin")
        response = self.post_export(self.alice, filters="q=policy")
        self.assertEqual(response.status_code, 200)
        rows = rows_of(response)
        self.assertEqual(tuple(rows[0]), COLUMNS)
        self.assertEqual([r[5] for r in rows[1:]], ["policy.updated"])
        event = AuditEvent.objects.filter(action="audit.exported").first()
        self.assertEqual((event.actor, event.data["via"]), (self.alice, "admin"))
        self.assertEqual(event.data["filters"], {"q": "policy"})

    def test_it_never_exports_another_tenants_rows(self) -> None:
        rows = rows_of(self.post_export(self.charlie))
        self.assertTrue(rows[1:])
        self.assertEqual({r[3] for r in rows[1:]}, {"Beta Ltd"})
        rows = rows_of(self.post_export(self.charlie, filters=f"tenant__id__exact={self.alpha.pk}"))
        self.assertEqual(rows[1:], [])
        response = self.post_export(self.charlie, tenant=self.alpha.pk)
        self.assertEqual(response.status_code, 200)
        self.assertFalse(response.streaming)  # the form again, with an error
        self.assertContains(response, "Select a valid choice")

    def test_it_shows_interval_errors_on_the_form(self) -> None:
        response = self.post_export(self.vera, start="2020-01-01T00:00", end="2022-01-01T00:00")
        self.assertFalse(response.streaming)
        self.assertContains(response, "An export covers at most 366 days.")
        response = self.post_export(self.vera, start="2022-01-02T00:00", end="2022-01-01T00:00")
        self.assertContains(response, "The end must be after the start.")
        self.assertFalse(AuditEvent.objects.filter(action="audit.exported").exists())
