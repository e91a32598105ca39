"""The retraction actions of the admin: retract, undo, reclassify, bulk jobs, verify.

What is asserted is what an analyst would notice: the counts on the confirmation
page, the attempts and jobs queued (mode, action, who asked), the words of the
admin messages. Dispatch goes to django-q2's ORM queue table; nothing calls a
provider, except "verify" on a tenant without credentials, which never gets that far.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailboxes.models import (
    AuditEvent,
    AuthorizationStatus,
    Delivery,
    DeliveryStatus,
    DispositionChange,
    Message,
)
from mailboxes.vocabulary import Action, Disposition, FailureReason, ReadState
from retraction.models import (
    AttemptStatus,
    JobState,
    Mode,
    RetractionAttempt,
    RetractionJob,
)
from retraction.services.jobs import job_discover
from tests.admin.helpers import AdminTestCase, admin_url, change_url
from tests.factories import make_message
from tests.two_factor import force_verified_login


def url_of(obj: Any, view: str) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk])


class ActionTestCase(AdminTestCase):
    def setUp(self) -> None:
        self.message = self.alpha_objects["message"]
        self.delivery = self.alpha_objects["delivery"]

    def act(self, user: Any, rows: list[Any], action: str, follow: bool = False, **data: Any):
        """POST a changelist action on `rows` (with `confirm="yes"` in data: its confirmation)."""
        payload = {"action": action, ACTION_CHECKBOX_NAME: [r.pk for r in rows], **data}
        if "confirm" not in data:
            payload["index"] = 0
        return self.post_as(user, admin_url(type(rows[0])), payload, follow=follow)

    def texts(self, response: Any) -> list[str]:
        return [str(m) for m in get_messages(response.wsgi_request)]

    def attempts(self, **filters: Any):
        # The fixture's own (succeeded, manual) attempt is not one of these.
        return RetractionAttempt.objects.filter(status=AttemptStatus.QUEUED, **filters)

    def action_names(self, user: Any, model: type) -> list[str]:
        response = self.get_as(user, admin_url(model))
        form = response.context["action_form"]
        return [] if form is None else [name for name, _ in form.fields["action"].choices if name]


class RetractTests(ActionTestCase):
    def test_it_shows_the_copies_and_mailboxes_that_will_move(self) -> None:
        response = self.act(self.bob, [self.message], "retract")
        self.assertTemplateUsed(response, "admin/retraction/retract_confirmation.html")
        # u1, the shared mailbox, the list itself and u2's copy through the list.
        self.assertContains(response, "<strong>4 copies</strong> in <strong>4 mailboxes</strong>")
        self.assertContains(response, "A-secret-subject")
        self.assertContains(response, 'value="junk"')
        self.assertNotContains(response, 'value="hard_delete"')
        self.assertFalse(self.attempts().exists())

    def test_it_queues_one_manual_attempt_per_copy_on_confirm(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            response = self.act(
                self.bob, [self.message], "retract", follow=True, confirm="yes", move_to="junk"
            )
        attempts = self.attempts(message=self.message)
        self.assertEqual(attempts.count(), 4)
        self.assertEqual(
            set(attempts.values_list("mode", "action", "requested_by")),
            {(Mode.MANUAL, Action.JUNK, self.bob.pk)},
        )
        (text,) = self.texts(response)
        self.assertIn("4 copies queued: move to junk", text)
        link = f"{admin_url(RetractionAttempt)}?message__in={self.message.pk}"
        self.assertIn(link, text)
        # The link opens the attempts of that message.
        listed = self.get_as(self.bob, link).context["cl"].result_list
        self.assertEqual({a.message_id for a in listed}, {self.message.pk})
        self.assertTrue(
            AuditEvent.objects.filter(action="retraction.requested", tenant=self.alpha).exists()
        )

    def test_it_retracts_single_copies_from_the_delivery_list(self) -> None:
        response = self.act(self.bob, [self.delivery], "retract")
        self.assertContains(response, "<strong>1 copy</strong> in <strong>1 mailbox</strong>")
        self.act(self.bob, [self.delivery], "retract", confirm="yes", move_to="trash")
        self.assertEqual(
            list(self.attempts().values_list("delivery", "action")),
            [(self.delivery.pk, Action.TRASH)],
        )

    def test_it_retracts_from_the_message_change_page(self) -> None:
        page = self.get_as(self.bob, change_url(self.message))
        retract_url = url_of(self.message, "retract")
        self.assertContains(page, f'href="{retract_url}"')
        self.assertContains(page, f'href="{url_of(self.message, "reclassify")}"')
        self.assertContains(self.get_as(self.bob, retract_url), "<strong>4 copies</strong>")
        response = self.post_as(self.bob, retract_url, {"confirm": "yes", "move_to": "trash"})
        self.assertRedirects(response, change_url(self.message))
        self.assertEqual(self.attempts(message=self.message, action=Action.TRASH).count(), 4)

    def test_it_sends_each_tenant_its_own_request(self) -> None:
        beta_message = self.beta_objects["message"]
        self.act(self.root, [self.message, beta_message], "retract", confirm="yes", move_to="trash")
        self.assertEqual(self.attempts(tenant=self.alpha).count(), 4)
        self.assertEqual(self.attempts(tenant=self.beta).count(), 4)
        self.assertEqual(AuditEvent.objects.filter(action="retraction.requested").count(), 2)

    def test_it_refuses_soft_delete_on_google_workspace(self) -> None:
        beta_message = self.beta_objects["message"]
        response = self.act(
            self.charlie, [beta_message], "retract", confirm="yes", move_to="soft_delete"
        )
        self.assertContains(response, "Google Workspace has no user-recoverable delete")
        self.assertFalse(self.attempts().exists())

    def test_it_explains_messages_without_a_message_id(self) -> None:
        blind = make_message(
            self.alpha, [self.alpha_objects["mailbox"]], internet_message_id=None, subject="Blind"
        )
        response = self.act(self.bob, [blind], "retract", follow=True)
        self.assertIn("no Message-ID header", " ".join(self.texts(response)))
        # Mixed with a retractable one: a warning on the page, and the blind one is skipped.
        response = self.act(self.bob, [blind, self.message], "retract")
        self.assertContains(response, "Skipped: 1 message without a Message-ID header")
        self.assertContains(response, "<strong>4 copies</strong>")
        self.act(self.bob, [blind, self.message], "retract", confirm="yes", move_to="junk")
        self.assertFalse(self.attempts(message=blind).exists())
        self.assertEqual(self.attempts(message=self.message).count(), 4)


class HardDeleteTests(ActionTestCase):
    def test_it_refuses_hard_delete_to_analysts(self) -> None:
        response = self.act(
            self.bob,
            [self.message],
            "retract",
            confirm="yes",
            move_to="hard_delete",
            confirm_hard_delete="on",
        )
        self.assertContains(response, "Hard delete needs the tenant admin role")
        self.assertFalse(self.attempts().exists())

    def test_it_lets_tenant_admins_hard_delete_only_with_the_tick(self) -> None:
        page = self.act(self.alice, [self.message], "retract")
        self.assertContains(page, 'value="hard_delete"')
        self.assertContains(page, 'name="confirm_hard_delete"')
        response = self.act(
            self.alice, [self.message], "retract", confirm="yes", move_to="hard_delete"
        )
        self.assertContains(response, "tick this box to confirm it")
        self.assertFalse(self.attempts().exists())
        # Hard delete also needs a session signed in with a code (tests/admin/test_two_factor.py).
        force_verified_login(self.client, self.alice)
        self.client.post(
            admin_url(Message),
            {
                "action": "retract",
                ACTION_CHECKBOX_NAME: [self.message.pk],
                "confirm": "yes",
                "move_to": "hard_delete",
                "confirm_hard_delete": "on",
            },
        )
        self.assertEqual(
            self.attempts(action=Action.HARD_DELETE, requested_by=self.alice).count(), 4
        )


class UndoTests(ActionTestCase):
    def test_it_moves_retracted_copies_back_to_the_inbox(self) -> None:
        Delivery.objects.filter(pk=self.delivery.pk).update(status=DeliveryStatus.RETRACTED)
        response = self.act(self.bob, [self.message], "undo")
        self.assertContains(
            response, "<strong>1 retracted copy</strong> in <strong>1 mailbox</strong>"
        )
        response = self.act(self.bob, [self.message], "undo", follow=True, confirm="yes")
        self.assertEqual(
            list(self.attempts().values_list("delivery", "action", "mode")),
            [(self.delivery.pk, Action.INBOX, Mode.MANUAL)],
        )
        self.assertIn("1 copy queued to go back to the inbox", self.texts(response)[0])

    def test_it_says_when_there_is_nothing_to_undo(self) -> None:
        response = self.act(self.bob, [self.delivery], "undo")
        self.assertContains(response, "Nothing to undo")
        self.assertNotContains(response, 'name="confirm"')
        page = self.get_as(self.bob, url_of(self.message, "undo"))
        self.assertContains(page, "Nothing to undo")


class ReclassifyTests(ActionTestCase):
    def test_it_warns_that_the_policy_may_retract(self) -> None:
        response = self.act(self.bob, [self.message], "reclassify")
        self.assertContains(response, "may retract copies automatically")
        # The default policy: malicious mail goes to the trash, suspicious mail to junk.
        self.assertContains(response, "<td>Malicious</td><td>Move to trash / deleted items</td>")

    def test_it_reclassifies_and_reports_the_automatic_retractions(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            response = self.act(
                self.bob,
                [self.message],
                "reclassify",
                follow=True,
                confirm="yes",
                disposition=Disposition.MALICIOUS,
                note="user report confirmed",
            )
        self.message.refresh_from_db()
        self.assertEqual(self.message.disposition, Disposition.MALICIOUS)
        change = DispositionChange.objects.get(message=self.message)
        self.assertEqual((change.changed_by, change.note), (self.bob, "user report confirmed"))
        # u1's copy is already in the trash (the fixture's attempt): three to go.
        auto = RetractionAttempt.objects.filter(message=self.message, mode=Mode.AUTO)
        self.assertEqual(auto.count(), 3)
        (text,) = self.texts(response)
        self.assertIn("1 message reclassified as Malicious", text)
        self.assertIn("the policy queued 3 automatic retractions", text)

    def test_it_says_when_the_policy_does_nothing(self) -> None:
        response = self.post_as(
            self.bob,
            url_of(self.message, "reclassify"),
            {"confirm": "yes", "disposition": Disposition.BULK},
            follow=True,
        )
        self.assertIn("the policy queued no retraction", self.texts(response)[0])
        self.assertFalse(RetractionAttempt.objects.filter(mode=Mode.AUTO).exists())


class ViewerAndOutsiderTests(ActionTestCase):
    def test_it_shows_analysts_the_actions(self) -> None:
        self.assertEqual(self.action_names(self.bob, Message), ["retract", "undo", "reclassify"])
        self.assertEqual(self.action_names(self.bob, Delivery), ["retract", "undo"])

    def test_it_shows_viewers_no_action_at_all(self) -> None:
        for model in (Message, Delivery, RetractionJob):
            with self.subTest(model=model.__name__):
                self.assertEqual(self.action_names(self.vera, model), [])
        self.assertNotIn("verify_connection", self.action_names(self.vera, type(self.alpha)))
        page = self.get_as(self.vera, change_url(self.message)).content.decode()
        self.assertNotIn(url_of(self.message, "retract"), page)
        self.assertNotIn(
            "Retract everything", self.get_as(self.vera, admin_url(Message)).content.decode()
        )

    def test_it_refuses_a_viewers_hand_made_posts(self) -> None:
        self.act(self.vera, [self.message], "retract", confirm="yes", move_to="junk")
        self.act(self.vera, [self.delivery], "undo", confirm="yes")
        self.act(self.vera, [self.message], "reclassify", confirm="yes", disposition="MALICIOUS")
        for view in ("retract", "undo", "reclassify"):
            response = self.post_as(
                self.vera,
                url_of(self.message, view),
                {"confirm": "yes", "move_to": "junk", "disposition": "MALICIOUS"},
            )
            self.assertEqual(response.status_code, 403, view)
        response = self.get_as(
            self.vera, reverse("admin:mailboxes_message_retract_search"), disposition__exact="NONE"
        )
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.attempts().exists())
        self.assertFalse(DispositionChange.objects.exists())
        self.assertEqual(RetractionJob.objects.filter(requested_by=self.vera).count(), 0)

    def test_it_gives_the_outsider_nothing_of_alpha(self) -> None:
        # charlie may retract (beta), but alpha's rows are not in his lists to act on.
        for model, row, action in (
            (Message, self.message, "retract"),
            (Delivery, self.delivery, "retract"),
            (Message, self.message, "reclassify"),
        ):
            response = self.act(
                self.charlie, [row], action, follow=True, confirm="yes", move_to="junk"
            )
            self.assertIn(f"No {model._meta.verbose_name_plural} selected.", self.texts(response))
        self.assertFalse(self.attempts().exists())
        self.assertFalse(DispositionChange.objects.exists())

    def test_it_answers_404_to_the_outsider_on_every_alpha_action_page(self) -> None:
        job = RetractionJob.objects.get(tenant=self.alpha)
        urls = [url_of(self.message, v) for v in ("retract", "undo", "reclassify")]
        urls += [url_of(self.delivery, v) for v in ("retract", "undo")]
        urls += [url_of(job, "cancel"), url_of(self.alpha, "verify")]
        for url in urls:
            with self.subTest(url=url):
                self.assertEqual(self.get_as(self.charlie, url).status_code, 404)
                response = self.post_as(
                    self.charlie, url, {"confirm": "yes", "move_to": "junk", "disposition": "BULK"}
                )
                self.assertEqual(response.status_code, 404)
                # The positive control: the page exists for an analyst of alpha.
                self.assertIn(self.get_as(self.bob, url).status_code, (200, 302))
        job.refresh_from_db()
        self.assertEqual(job.state, JobState.PENDING)
        self.assertFalse(self.attempts().exists())
        self.assertFalse(AuditEvent.objects.filter(action="tenant.verified").exists())


class SearchJobTests(ActionTestCase):
    search_url = staticmethod(lambda: reverse("admin:mailboxes_message_retract_search"))

    def setUp(self) -> None:
        super().setUp()
        mailboxes = [self.alpha_objects["mailbox"], self.alpha_objects["shared"]]
        self.bad = [
            make_message(self.alpha, mailboxes, disposition=Disposition.MALICIOUS) for _ in range(3)
        ]
        self.old = make_message(
            self.alpha,
            mailboxes,
            disposition=Disposition.MALICIOUS,
            received_at=timezone.now() - timedelta(days=30),
        )

    def test_it_links_the_search_from_the_message_list(self) -> None:
        response = self.get_as(self.bob, admin_url(Message), disposition__exact="MALICIOUS")
        self.assertContains(response, f'href="{self.search_url()}?disposition__exact=MALICIOUS"')

    def test_it_starts_a_job_that_runs_the_search(self) -> None:
        since = (timezone.now() - timedelta(days=7)).replace(microsecond=0)
        params = {
            "disposition__exact": "MALICIOUS",
            "tenant__id__exact": self.alpha.pk,
            "received_at__gte": str(since),
        }
        page = self.get_as(self.bob, self.search_url(), **params)
        self.assertTemplateUsed(page, "admin/retraction/job_confirmation.html")
        self.assertContains(page, "<strong>3 messages</strong>")
        self.assertContains(page, "<strong>6 delivered copies</strong>")
        self.assertContains(page, "runs this search when it starts")
        self.assertContains(page, '<th scope="row">Disposition</th><td>Malicious</td>')
        self.assertContains(page, '<th scope="row">Received on or after</th>')

        url = f"{self.search_url()}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
        url = url.replace("+", "%2B")
        with self.captureOnCommitCallbacks(execute=True):
            response = self.post_as(self.bob, url, {"confirm": "yes", "move_to": "junk"})
        job = RetractionJob.objects.get(requested_by=self.bob)
        self.assertRedirects(response, change_url(job))
        self.assertEqual(job.tenant, self.alpha)
        self.assertEqual(job.action, Action.JUNK)
        self.assertEqual(
            job.filter, {"disposition": "MALICIOUS", "received_after": since.isoformat()}
        )
        self.assertEqual(job.message_ids, [])
        # When the job runs, it finds the copies of the three recent malicious messages.
        job_discover(job.pk)
        found = RetractionAttempt.objects.filter(job=job)
        self.assertEqual({a.message_id for a in found}, {m.pk for m in self.bad})
        self.assertEqual(found.count(), 6)

    def test_it_starts_one_job_per_tenant(self) -> None:
        make_message(self.beta, [self.beta_objects["mailbox"]], disposition=Disposition.MALICIOUS)
        response = self.post_as(
            self.root,
            f"{self.search_url()}?disposition__exact=MALICIOUS",
            {"confirm": "yes", "move_to": "trash"},
            follow=True,
        )
        jobs = RetractionJob.objects.filter(requested_by=self.root)
        self.assertEqual({j.tenant for j in jobs}, {self.alpha, self.beta})
        self.assertEqual({j.pk for j in response.context["cl"].result_list}, {j.pk for j in jobs})
        self.assertIn("Started job", self.texts(response)[0])

    def test_it_lists_the_messages_of_a_free_text_search(self) -> None:
        target = self.bad[0]
        self.get_as(self.bob, self.search_url(), q=target.sender)  # the page renders
        self.post_as(
            self.bob,
            f"{self.search_url()}?q={target.sender}",
            {"confirm": "yes", "move_to": "trash"},
        )
        job = RetractionJob.objects.get(requested_by=self.bob)
        self.assertEqual((job.message_ids, job.filter), ([target.pk], {}))

    def test_it_refuses_a_search_that_does_not_narrow_anything(self) -> None:
        response = self.get_as(self.bob, self.search_url(), tenant__id__exact=self.alpha.pk)
        self.assertRedirects(
            response,
            f"{admin_url(Message)}?tenant__id__exact={self.alpha.pk}",
            fetch_redirect_response=False,
        )
        self.assertIn("Narrow the search first", self.texts(response)[0])
        self.assertFalse(RetractionJob.objects.filter(requested_by=self.bob).exists())

    def test_it_finds_nothing_of_alpha_for_the_outsider(self) -> None:
        response = self.post_as(
            self.charlie,
            f"{self.search_url()}?tenant__id__exact={self.alpha.pk}&disposition__exact=MALICIOUS",
            {"confirm": "yes", "move_to": "junk"},
        )
        self.assertEqual(response.status_code, 302)
        self.assertIn("matches no message", self.texts(response)[0])
        self.assertFalse(RetractionJob.objects.filter(requested_by=self.charlie).exists())


class JobAdminTests(ActionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.job = RetractionJob.objects.get(tenant=self.alpha)
        RetractionJob.objects.filter(pk=self.job.pk).update(state=JobState.PROCESSING, discovered=4)
        self.job.refresh_from_db()
        statuses = [AttemptStatus.FAILED, AttemptStatus.QUEUED, AttemptStatus.RUNNING]
        others = self.message.deliveries.exclude(pk=self.delivery.pk)
        for delivery, status in zip(others, statuses, strict=True):
            RetractionAttempt.objects.create(
                tenant=self.alpha,
                message=self.message,
                delivery=delivery,
                job=self.job,
                mode=Mode.MANUAL,
                action=Action.TRASH,
                status=status,
            )

    def test_it_shows_live_counters_in_the_list(self) -> None:
        response = self.get_as(self.bob, admin_url(RetractionJob))
        (row,) = [j for j in response.context["cl"].result_list if j.pk == self.job.pk]
        self.assertEqual(
            (row.discovered, row.n_succeeded, row.n_failed, row.n_pending), (4, 1, 1, 2)
        )
        self.assertContains(response, '<td class="field-pending">2</td>', html=False)

    def test_it_lists_jobs_in_constant_queries(self) -> None:
        def queries() -> int:
            self.client.force_login(self.alice)
            with CaptureQueriesContext(connection) as captured:
                self.assertEqual(self.client.get(admin_url(RetractionJob)).status_code, 200)
            return len(captured)

        few = queries()
        for _ in range(5):
            job = RetractionJob.objects.create(tenant=self.alpha, action="junk", discovered=1)
            RetractionAttempt.objects.create(
                tenant=self.alpha,
                message=self.message,
                delivery=self.delivery,
                job=job,
                mode=Mode.MANUAL,
                action="junk",
            )
        self.assertEqual(queries(), few)

    def test_it_shows_progress_and_refreshes_while_the_job_runs(self) -> None:
        response = self.get_as(self.bob, change_url(self.job))
        self.assertContains(response, '<progress class="job-progress" max="4" value="2">')
        self.assertContains(response, "4 discovered: 1 succeeded, 1 failed, 2 pending")
        self.assertContains(response, '<meta http-equiv="refresh" content="2">')
        self.assertContains(response, url_of(self.job, "cancel"))
        # Viewers see the progress, not the button; a finished job stops refreshing.
        self.assertNotContains(self.get_as(self.vera, change_url(self.job)), "Cancel job")
        RetractionJob.objects.filter(pk=self.job.pk).update(state=JobState.COMPLETED)
        response = self.get_as(self.bob, change_url(self.job))
        self.assertNotContains(response, 'http-equiv="refresh"')
        self.assertNotContains(response, "Cancel job")

    def test_it_cancels_a_job_from_its_page(self) -> None:
        response = self.post_as(self.bob, url_of(self.job, "cancel"), follow=True)
        self.job.refresh_from_db()
        self.assertEqual(self.job.state, JobState.CANCELLED)
        self.assertIn(f"Job {self.job.pk} cancelled", self.texts(response)[0])
        statuses = set(
            RetractionAttempt.objects.filter(job=self.job).values_list("status", flat=True)
        )
        # Queued attempts are cancelled; the running one finishes.
        self.assertNotIn(AttemptStatus.QUEUED, statuses)
        self.assertIn(AttemptStatus.RUNNING, statuses)
        # Twice: a readable refusal, no 500.
        response = self.post_as(self.bob, url_of(self.job, "cancel"), follow=True)
        self.assertIn("was not cancelled: The job is already cancelled.", self.texts(response)[0])

    def test_it_cancels_jobs_from_the_list(self) -> None:
        self.assertEqual(self.action_names(self.bob, RetractionJob), ["cancel_jobs"])
        self.act(self.bob, [self.job], "cancel_jobs")
        self.job.refresh_from_db()
        self.assertEqual(self.job.state, JobState.CANCELLED)

    def test_it_refuses_cancel_to_viewers(self) -> None:
        self.assertEqual(self.post_as(self.vera, url_of(self.job, "cancel")).status_code, 403)
        self.act(self.vera, [self.job], "cancel_jobs")
        self.job.refresh_from_db()
        self.assertEqual(self.job.state, JobState.PROCESSING)


class VerifyTests(ActionTestCase):
    def test_it_says_a_tenant_without_credentials_is_not_authorized(self) -> None:
        response = self.act(self.bob, [self.alpha], "verify_connection", follow=True)
        (text,) = self.texts(response)
        self.assertEqual(
            text,
            "Alpha Corp: Not authorized — no credentials are configured. Retractions for "
            "this tenant fail until its credentials are fixed.",
        )
        self.alpha.refresh_from_db()
        self.assertEqual(self.alpha.authorization_status, AuthorizationStatus.UNAUTHORIZED)
        self.assertIsNotNone(self.alpha.authorization_checked_at)

    def test_it_verifies_from_the_tenant_page(self) -> None:
        page = self.get_as(self.bob, change_url(self.alpha))
        self.assertContains(page, f'action="{url_of(self.alpha, "verify")}"')
        self.assertNotContains(self.get_as(self.vera, change_url(self.alpha)), "Verify connection")
        response = self.post_as(self.bob, url_of(self.alpha, "verify"), follow=True)
        self.assertRedirects(response, change_url(self.alpha))
        self.assertContains(response, "Alpha Corp: Not authorized")
        self.assertEqual(self.post_as(self.vera, url_of(self.alpha, "verify")).status_code, 403)


class ActionLogTests(ActionTestCase):
    def test_it_shows_the_action_log_and_disposition_history(self) -> None:
        attempt = self.alpha_objects["attempt"]
        RetractionAttempt.objects.filter(pk=attempt.pk).update(
            status=AttemptStatus.FAILED,
            reason=FailureReason.NOT_FOUND,
            read_state=ReadState.READ,
            requested_by=self.bob,
            completed_at=timezone.now(),
        )
        self.act(
            self.bob, [self.message], "reclassify", confirm="yes", disposition=Disposition.SPAM
        )
        response = self.get_as(self.vera, change_url(self.message))
        html = response.content.decode()
        for words in (
            "Already deleted or junked by the user or a mailbox filter",
            self.delivery.recipient,
            "Move to trash / deleted items",
            "Manual",
            "Failed",
            "Read",
            "bob",
            # the disposition history, from None to Spam
            "None (clean or not yet judged)",
            "Spam",
        ):
            self.assertIn(words, html)
