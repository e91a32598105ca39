"""Retract, undo, reclassify, bulk jobs and tenant verification through the API.

No provider is involved: the endpoints queue attempts and jobs, and hand them to
django-q2 on commit; these tests look at what was queued (callbacks not run).
"""

from __future__ import annotations

from typing import Any

from mailboxes.models import AuditEvent, DeliveryStatus, Message
from mailboxes.vocabulary import Disposition
from retraction.models import AttemptStatus, JobState, Mode, RetractionAttempt, RetractionJob
from retraction.services.jobs import job_counts, job_discover
from tests.api.helpers import ApiTestCase
from tests.api.test_isolation import ALPHA_MARKERS
from tests.factories import make_message
from tests.two_factor import VerifiedApiCalls

JOB_FIELDS = {
    "id",
    "tenant",
    "action",
    "state",
    "discovered",
    "succeeded",
    "failed",
    "pending",
    "cancelled",
    "created_at",
    "finished_at",
    "error",
    "requested_by",
}


class EndpointTestCase(VerifiedApiCalls, ApiTestCase):
    def setUp(self) -> None:
        self.message = self.alpha_objects["message"]
        self.copies = self.message.deliveries.count()

    def post(
        self, user: Any, url: str, data: Any = None, *, second_factor: bool = False
    ) -> tuple[Any, list[Any]]:
        """POST as `user`; returns the response and the on-commit callbacks (not run).

        `second_factor`: from a session signed in with a code, as hard delete needs.
        """
        call = self.call_verified if second_factor else self.call
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            response = call(user, "post", url, data)
        return response, callbacks

    def new_attempts(self, **filters: Any) -> list[RetractionAttempt]:
        seeded = [self.alpha_objects["attempt"].pk, self.beta_objects["attempt"].pk]
        return list(
            RetractionAttempt.objects.all_tenants()
            .exclude(pk__in=seeded)
            .filter(**filters)
            .order_by("pk")
        )


class RetractTests(EndpointTestCase):
    def url(self, message: Message | None = None) -> str:
        return f"/api/v1/messages/{(message or self.message).pk}/retract/"

    def test_it_enforces_the_role_matrix(self) -> None:
        for user, status in [
            (self.vera, 403),
            (self.charlie, 404),
            (self.bob, 202),
            (self.alice, 202),
            (self.root, 202),
        ]:
            with self.subTest(user=user.username):
                before = len(self.new_attempts())
                response, _ = self.post(user, self.url(), {"action": "trash"})
                self.assertEqual(response.status_code, status, response.content)
                queued = self.copies if status == 202 else 0
                self.assertEqual(len(self.new_attempts()), before + queued)

    def test_it_queues_one_manual_attempt_per_copy_and_dispatches_on_commit(self) -> None:
        response, callbacks = self.post(self.bob, self.url(), {"action": "junk"})
        self.assertEqual(response.status_code, 202, response.content)
        attempts = self.new_attempts()
        self.assertEqual(response.json(), {"attempts": [a.pk for a in attempts], "copies": 4})
        self.assertEqual(
            {a.delivery_id for a in attempts},
            set(self.message.deliveries.values_list("pk", flat=True)),
        )
        for attempt in attempts:
            self.assertEqual(
                (attempt.status, attempt.mode, attempt.action, attempt.requested_by),
                (AttemptStatus.QUEUED, Mode.MANUAL, "junk", self.bob),
            )
        self.assertEqual(len(callbacks), 1)
        self.assertTrue(
            AuditEvent.objects.filter(action="retraction.requested", actor=self.bob).exists()
        )

    def test_it_lets_only_admins_hard_delete_and_only_when_confirmed(self) -> None:
        response, _ = self.post(self.bob, self.url(), {"action": "hard_delete"})
        self.assertEqual(response.status_code, 403)
        response, _ = self.post(
            self.bob, self.url(), {"action": "hard_delete", "confirm_hard_delete": True}
        )
        self.assertEqual(response.status_code, 403)
        response, _ = self.post(self.alice, self.url(), {"action": "hard_delete"})
        self.assertEqual(response.status_code, 400)
        self.assertIn("confirm_hard_delete", response.json())
        self.assertEqual(self.new_attempts(), [])
        response, _ = self.post(
            self.alice,
            self.url(),
            {"action": "hard_delete", "confirm_hard_delete": True},
            second_factor=True,
        )
        self.assertEqual(response.status_code, 202, response.content)
        self.assertEqual(len(self.new_attempts(action="hard_delete")), self.copies)

    def test_it_refuses_an_unknown_or_missing_action(self) -> None:
        for data in ({}, {"action": "shred"}):
            with self.subTest(data=data):
                response, _ = self.post(self.bob, self.url(), data)
                self.assertEqual(response.status_code, 400)
                self.assertEqual(list(response.json()), ["action"])
        self.assertEqual(self.new_attempts(), [])

    def test_it_explains_why_a_message_without_message_id_cannot_be_retracted(self) -> None:
        message = make_message(
            self.alpha, [self.alpha_objects["mailbox"]], internet_message_id=None
        )
        response, callbacks = self.post(self.bob, self.url(message), {"action": "trash"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json(), {"internet_message_id": [message.not_retractable_reason]})
        self.assertIn("no Message-ID", message.not_retractable_reason)
        self.assertEqual((self.new_attempts(), callbacks), ([], []))


class UndoTests(EndpointTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.url = f"/api/v1/messages/{self.message.pk}/undo/"

    def test_it_brings_back_only_retracted_copies(self) -> None:
        retracted = self.alpha_objects["delivery"]
        retracted.status = DeliveryStatus.RETRACTED
        retracted.save(update_fields=["status"])
        for user, status in [(self.vera, 403), (self.charlie, 404), (self.bob, 202)]:
            with self.subTest(user=user.username):
                response, _ = self.post(user, self.url)
                self.assertEqual(response.status_code, status, response.content)
        (attempt,) = self.new_attempts()
        self.assertEqual(response.json(), {"attempts": [attempt.pk], "copies": 1})
        self.assertEqual(
            (attempt.delivery, attempt.action, attempt.status, attempt.requested_by),
            (retracted, "inbox", AttemptStatus.QUEUED, self.bob),
        )

    def test_it_queues_nothing_when_no_copy_is_retracted(self) -> None:
        response, _ = self.post(self.bob, self.url)
        self.assertEqual(response.status_code, 202)
        self.assertEqual(response.json(), {"attempts": [], "copies": 0})


class ReclassifyTests(EndpointTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.url = f"/api/v1/messages/{self.message.pk}/reclassify/"

    def test_it_enforces_the_role_matrix(self) -> None:
        for user, status in [(self.vera, 403), (self.charlie, 404)]:
            with self.subTest(user=user.username):
                response, _ = self.post(user, self.url, {"disposition": Disposition.SPAM})
                self.assertEqual(response.status_code, status)
        self.message.refresh_from_db()
        self.assertEqual(self.message.disposition, Disposition.NONE)

    def test_it_returns_the_message_with_its_history_and_lets_the_policy_act(self) -> None:
        data = {"disposition": Disposition.MALICIOUS, "note": "user report confirmed"}
        response, callbacks = self.post(self.bob, self.url, data)
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual((body["id"], body["disposition"]), (self.message.pk, "MALICIOUS"))
        (change,) = body["disposition_history"]
        self.assertEqual(
            (change["previous"], change["disposition"], change["changed_by"], change["note"]),
            ("NONE", "MALICIOUS", "bob", "user report confirmed"),
        )
        # The default policy trashes malicious mail: an automatic attempt for every copy
        # but the one already trashed by hand (the seeded attempt).
        auto = self.new_attempts(mode=Mode.AUTO)
        trashed = self.alpha_objects["delivery"]
        self.assertEqual(
            sorted(a.delivery_id for a in auto),
            sorted(self.message.deliveries.exclude(pk=trashed.pk).values_list("pk", flat=True)),
        )
        self.assertEqual({a.action for a in auto}, {"trash"})
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(len(body["action_log"]), 1 + len(auto))

    def test_it_is_idempotent(self) -> None:
        data = {"disposition": Disposition.MALICIOUS}
        first, _ = self.post(self.bob, self.url, data)
        attempts = self.new_attempts()
        second, callbacks = self.post(self.bob, self.url, data)
        self.assertEqual(second.status_code, 200)
        self.assertEqual(len(second.json()["disposition_history"]), 1)
        self.assertEqual(self.new_attempts(), attempts)
        self.assertEqual(callbacks, [])
        self.assertEqual(first.json()["disposition_history"], second.json()["disposition_history"])

    def test_it_refuses_an_unknown_disposition(self) -> None:
        response, _ = self.post(self.bob, self.url, {"disposition": "EVIL"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(list(response.json()), ["disposition"])


class RetractionJobTests(EndpointTestCase):
    url = "/api/v1/retraction-jobs/"

    def create(
        self, user: Any, status: int = 201, *, second_factor: bool = False, **data: Any
    ) -> dict[str, Any]:
        data.setdefault("tenant", self.alpha.pk)
        data.setdefault("action", "trash")
        if data["tenant"] is None:
            del data["tenant"]
        response, self.callbacks = self.post(user, self.url, data, second_factor=second_factor)
        self.assertEqual(response.status_code, status, response.content)
        return response.json()

    def new_jobs(self) -> list[RetractionJob]:
        seeded = [self.alpha_objects["job"].pk, self.beta_objects["job"].pk]
        return list(RetractionJob.objects.all_tenants().exclude(pk__in=seeded).order_by("pk"))

    def test_it_creates_a_job_for_a_list_of_messages(self) -> None:
        body = self.create(self.bob, message_ids=[self.message.pk])
        (job,) = self.new_jobs()
        self.assertEqual(set(body), JOB_FIELDS)
        self.assertEqual(
            {k: body[k] for k in ("id", "tenant", "action", "state", "requested_by")},
            {
                "id": job.pk,
                "tenant": self.alpha.pk,
                "action": "trash",
                "state": "pending",
                "requested_by": "bob",
            },
        )
        self.assertEqual(
            [body[k] for k in ("discovered", "succeeded", "failed", "pending", "cancelled")],
            [0, 0, 0, 0, 0],
        )
        self.assertEqual(job.message_ids, [self.message.pk])
        self.assertEqual(len(self.callbacks), 1)  # the job is dispatched once committed

    def test_it_enforces_the_role_matrix_on_create(self) -> None:
        data = {"message_ids": [self.message.pk]}
        self.create(self.vera, 403, **data)
        self.assertEqual(list(self.create(self.charlie, 400, **data)), ["tenant"])
        self.create(self.bob, 403, action="hard_delete", confirm_hard_delete=True, **data)
        self.assertIn(
            "confirm_hard_delete", self.create(self.alice, 400, action="hard_delete", **data)
        )
        self.assertEqual(self.new_jobs(), [])
        self.create(
            self.alice, action="hard_delete", confirm_hard_delete=True, second_factor=True, **data
        )
        self.create(self.root, **data)
        self.assertEqual(len(self.new_jobs()), 2)

    def test_it_refuses_message_ids_of_another_tenant_without_telling_about_them(self) -> None:
        beta_message = self.beta_objects["message"]
        body = self.create(self.root, 400, message_ids=[self.message.pk, beta_message.pk])
        self.assertEqual(list(body), ["message_ids"])
        # The same answer as for an id that does not exist.
        missing = self.create(self.root, 400, message_ids=[self.message.pk, 987654321])
        self.assertEqual(
            body["message_ids"][0].replace(str(beta_message.pk), "X"),
            missing["message_ids"][0].replace("987654321", "X"),
        )
        body = self.create(self.charlie, 400, tenant=self.beta.pk, message_ids=[self.message.pk])
        for marker in ALPHA_MARKERS:
            self.assertNotIn(marker, str(body))
        self.assertEqual(self.new_jobs(), [])

    def test_it_refuses_messages_that_cannot_be_located(self) -> None:
        message = make_message(
            self.alpha, [self.alpha_objects["mailbox"]], internet_message_id=None
        )
        body = self.create(self.bob, 400, message_ids=[message.pk])
        self.assertIn("Message-ID", body["message_ids"][0])

    def test_it_takes_the_tenant_from_a_caller_who_sees_only_one(self) -> None:
        body = self.create(self.bob, tenant=None, message_ids=[self.message.pk])
        self.assertEqual(body["tenant"], self.alpha.pk)
        data = {"action": "trash", "message_ids": [self.message.pk]}
        response, _ = self.post(self.root, self.url, data)
        self.assertEqual(response.status_code, 400)
        self.assertEqual(list(response.json()), ["tenant"])

    def test_it_creates_a_job_from_a_message_search_and_discovers_its_copies(self) -> None:
        other = make_message(self.alpha, [self.alpha_objects["shared"]], sender="friend@ok.example")
        body = self.create(
            self.bob, filter={"tenant": self.alpha.pk, "sender": "A-SENDER@evil.example"}
        )
        (job,) = self.new_jobs()
        self.assertEqual(job.filter, {"sender": "A-SENDER@evil.example"})
        self.assertEqual(len(job_discover(job.pk)), self.copies)
        detail = self.get_json(self.vera, f"{self.url}{body['id']}/")
        self.assertEqual(
            (detail["state"], detail["discovered"], detail["pending"]), ("processing", 4, 4)
        )
        attempts = self.new_attempts(job=job)
        self.assertEqual({a.message_id for a in attempts}, {self.message.pk})
        self.assertNotIn(other.pk, {a.message_id for a in attempts})
        listed = self.results(self.vera, "/api/v1/retractions/", {"job": job.pk})
        self.assertEqual({row["id"] for row in listed}, {a.pk for a in attempts})
        self.assertEqual({row["job"] for row in listed}, {job.pk})

    def test_it_validates_the_filter_up_front(self) -> None:
        cases = [
            ({}, "empty filter"),
            ({"tenant": self.alpha.pk}, "empty filter"),
            ({"sender": " "}, "sender: may not be blank."),
            ({"sendr": "x@evil.example"}, "sendr: Unknown filter."),
            ({"received_after": "yesterday"}, "received_after:"),
            ({"disposition": "EVIL"}, "disposition:"),
            ({"retracted": "maybe"}, "retracted: Enter true or false."),
            ({"subject": ["a", "b"]}, "subject: give a single value."),
            ({"tenant": self.beta.pk, "sender": "x@evil.example"}, "tenant:"),
        ]
        for search, expected in cases:
            with self.subTest(filter=search):
                body = self.create(self.root, 400, filter=search)
                self.assertEqual(list(body), ["filter"])
                self.assertIn(expected, " ".join(body["filter"]))
        both = self.create(self.bob, 400, message_ids=[self.message.pk], filter={"sender": "x"})
        self.assertEqual(list(both), ["filter"])
        self.assertEqual(list(self.create(self.bob, 400)), ["message_ids"])
        self.assertEqual(self.new_jobs(), [])

    def test_it_does_not_reveal_another_tenant_through_a_filter(self) -> None:
        alpha = self.create(
            self.charlie, 400, tenant=self.beta.pk, filter={"tenant": self.alpha.pk, "sender": "x"}
        )
        missing = self.create(
            self.charlie, 400, tenant=self.beta.pk, filter={"tenant": 987654321, "sender": "x"}
        )
        self.assertEqual(
            alpha["filter"][0].replace(str(self.alpha.pk), "X"),
            missing["filter"][0].replace("987654321", "X"),
        )

    def test_it_lists_jobs_with_the_same_counters_as_the_service(self) -> None:
        job = self.alpha_objects["job"]
        (row,) = self.results(self.vera, self.url)
        counts = job_counts(job)
        self.assertEqual({k: row[k] for k in counts}, counts)
        self.assertEqual((row["succeeded"], row["state"]), (1, "completed"))
        self.assertEqual(self.results(self.vera, self.url, {"state": "pending"}), [])
        self.assertEqual(len(self.results(self.root, self.url, {"tenant": self.beta.pk})), 1)


class CancelJobTests(EndpointTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.job = RetractionJob.objects.create(
            tenant=self.alpha, action="trash", message_ids=[self.message.pk], discovered=2
        )
        self.job.state = JobState.PROCESSING
        self.job.save(update_fields=["state"])
        deliveries = list(self.message.deliveries.order_by("pk")[:2])
        for delivery, status in zip(
            deliveries, [AttemptStatus.SUCCEEDED, AttemptStatus.QUEUED], strict=True
        ):
            RetractionAttempt.objects.create(
                tenant=self.alpha,
                message=self.message,
                delivery=delivery,
                job=self.job,
                mode=Mode.MANUAL,
                action="trash",
                status=status,
            )
        self.url = f"/api/v1/retraction-jobs/{self.job.pk}/cancel/"

    def test_it_cancels_a_running_job_and_its_queued_attempts(self) -> None:
        for user, status in [(self.vera, 403), (self.charlie, 404), (self.bob, 200)]:
            with self.subTest(user=user.username):
                response, _ = self.post(user, self.url)
                self.assertEqual(response.status_code, status, response.content)
        body = response.json()
        self.assertEqual(
            [body[k] for k in ("state", "discovered", "succeeded", "pending", "cancelled")],
            ["cancelled", 2, 1, 0, 1],
        )
        self.assertIsNotNone(body["finished_at"])
        self.job.refresh_from_db()
        self.assertEqual(self.job.state, JobState.CANCELLED)

    def test_it_refuses_to_cancel_a_finished_job(self) -> None:
        self.post(self.bob, self.url)
        response, _ = self.post(self.bob, self.url)
        self.assertEqual(response.status_code, 400)
        self.assertEqual(list(response.json()), ["state"])
        done = self.alpha_objects["job"]
        response, _ = self.post(self.alice, f"/api/v1/retraction-jobs/{done.pk}/cancel/")
        self.assertEqual(response.json(), {"state": ["The job is already completed."]})


class VerifyTenantTests(EndpointTestCase):
    def test_it_reports_a_tenant_without_credentials_as_unauthorized(self) -> None:
        url = f"/api/v1/tenants/{self.alpha.pk}/verify/"
        for user, status in [(self.vera, 403), (self.charlie, 404), (self.bob, 200)]:
            with self.subTest(user=user.username):
                response, _ = self.post(user, url)
                self.assertEqual(response.status_code, status, response.content)
        body = response.json()
        self.assertEqual(body["authorization_status"], "unauthorized")
        self.assertEqual(body["authorization_error"], "no credentials are configured")
        self.assertEqual(body["last_error"], body["authorization_error"])
        self.assertIsNotNone(body["authorization_checked_at"])
        tenant = self.get_json(self.vera, f"/api/v1/tenants/{self.alpha.pk}/")
        self.assertEqual(tenant["authorization_status"], "unauthorized")
        self.assertTrue(
            AuditEvent.objects.filter(action="tenant.verified", actor=self.bob).exists()
        )


class AttemptJobFilterTests(EndpointTestCase):
    def test_it_refuses_another_tenants_job_as_a_filter(self) -> None:
        url = "/api/v1/retractions/"
        alpha = self.call(self.charlie, "get", url, {"job": self.alpha_objects["job"].pk})
        missing = self.call(self.charlie, "get", url, {"job": 987654321})
        self.assertEqual(alpha.status_code, 400)
        self.assertEqual(
            alpha.content.replace(str(self.alpha_objects["job"].pk).encode(), b"X"),
            missing.content.replace(b"987654321", b"X"),
        )
        own = self.results(self.charlie, url, {"job": self.beta_objects["job"].pk})
        self.assertEqual([row["id"] for row in own], [self.beta_objects["attempt"].pk])


class SchemaTests(ApiTestCase):
    def test_it_documents_the_request_and_response_bodies(self) -> None:
        schema = self.client.get("/api/schema/?format=json").json()
        paths = schema["paths"]

        def ref(operation: dict[str, Any], status: str | None = None) -> str:
            if status is None:
                content = operation["requestBody"]["content"]
            else:
                content = operation["responses"][status]["content"]
            return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]

        self.assertEqual(ref(paths["/api/v1/messages/{id}/retract/"]["post"]), "RetractRequest")
        self.assertEqual(
            ref(paths["/api/v1/messages/{id}/retract/"]["post"], "202"), "QueuedAttempts"
        )
        self.assertEqual(
            ref(paths["/api/v1/messages/{id}/reclassify/"]["post"], "200"), "MessageDetail"
        )
        self.assertEqual(ref(paths["/api/v1/retraction-jobs/"]["post"]), "RetractionJobRequest")
        self.assertEqual(ref(paths["/api/v1/retraction-jobs/"]["post"], "201"), "RetractionJob")
        self.assertEqual(ref(paths["/api/v1/tenants/{id}/verify/"]["post"], "200"), "TenantVerify")
