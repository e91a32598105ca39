"""The journal receiver end to end: a real aiosmtpd server, smtplib as the MTA."""

from __future__ import annotations

import os
import select
import signal
import smtplib
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

from django.db import connection
from django.test import TransactionTestCase, override_settings

from mailboxes.ingest.smtpd import JournalServer
from mailboxes.models import Message, Provider, Tenant
from tests.factories import make_mailbox, make_tenant
from tests.ingest.base import ALPHA_JOURNAL, fixture

LIMIT = 64 * 1024
REPORT = "exchange_journal_report.eml"
REPO = Path(__file__).resolve().parents[2]


@override_settings(INGEST_MAX_MESSAGE_BYTES=LIMIT)
class JournalServerTests(TransactionTestCase):
    def setUp(self) -> None:
        self.alpha = make_tenant(
            "Alpha Corp",
            Provider.MICROSOFT,
            domains=["alpha.example"],
            journal_address=ALPHA_JOURNAL,
        )
        make_mailbox(self.alpha, "a-user1")
        # An in-memory SQLite test database (shared cache) makes a second writer fail
        # at once ("table is locked") instead of waiting as on a file: one thread there.
        in_memory = getattr(connection, "is_in_memory_db", lambda: False)()
        workers = 1 if in_memory else 2
        self.server = JournalServer("127.0.0.1", 0, workers=workers)
        self.host, self.port = self.server.start_in_thread()
        self.addCleanup(self.server.stop_thread)

    def connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=30)
        self.addCleanup(smtp.close)
        smtp.ehlo("mta.alpha.example")
        return smtp

    def test_it_stores_the_message_before_answering_250(self) -> None:
        smtp = self.connect()
        smtp.mail("journal@alpha.example")
        self.assertEqual(smtp.rcpt(ALPHA_JOURNAL)[0], 250)
        code, reply = smtp.data(fixture(REPORT))

        self.assertEqual(code, 250, reply)
        # Read right after the 250, from another connection: already committed.
        message = Message.objects.get(internet_message_id="<CAF1234.5678@mail.evil.example>")
        self.assertEqual(reply.decode(), f"2.0.0 Recorded: message {message.pk} created")
        self.assertEqual(message.tenant, self.alpha)
        self.assertEqual(message.deliveries.count(), 4)

    def test_it_is_idempotent_over_smtp(self) -> None:
        smtp = self.connect()
        self.assertEqual(smtp.sendmail("j@alpha.example", [ALPHA_JOURNAL], fixture(REPORT)), {})
        self.assertEqual(smtp.sendmail("j@alpha.example", [ALPHA_JOURNAL], fixture(REPORT)), {})
        self.assertEqual(Message.objects.count(), 1)

    def test_it_refuses_an_unknown_recipient_with_550(self) -> None:
        smtp = self.connect()
        smtp.mail("journal@alpha.example")
        code, reply = smtp.rcpt("someone@clawback.example")
        self.assertEqual(code, 550)
        self.assertTrue(reply.startswith(b"5.1.1 <someone@clawback.example>"), reply)
        smtp.rset()
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("journal@alpha.example", ["other@clawback.example"], fixture(REPORT))

    def test_it_refuses_mail_over_the_size_limit_with_552(self) -> None:
        big = fixture(REPORT) + b"A" * 70 + b"\r\n" * 2 + (b"x" * 998 + b"\r\n") * 80
        smtp = self.connect()
        self.assertIn(b"SIZE 65536", smtp.ehlo_resp)
        # A client that declares the size is refused at MAIL FROM ...
        with self.assertRaises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail("journal@alpha.example", [ALPHA_JOURNAL], big)
        self.assertEqual(refused.exception.smtp_code, 552)
        self.assertTrue(refused.exception.smtp_error.startswith(b"5.3.4"))
        # ... one that does not, after DATA.
        smtp.rset()
        smtp.mail("journal@alpha.example")
        smtp.rcpt(ALPHA_JOURNAL)
        code, reply = smtp.data(big)
        self.assertEqual(code, 552)
        self.assertEqual(reply, b"5.3.4 Message too big for this system (limit 65,536 bytes)")
        self.assertFalse(Message.objects.exists())

    def test_it_refuses_mail_for_a_tenant_that_is_gone(self) -> None:
        smtp = self.connect()
        smtp.mail("journal@alpha.example")
        self.assertEqual(smtp.rcpt(ALPHA_JOURNAL)[0], 250)
        Tenant.objects.filter(pk=self.alpha.pk).update(journal_address=None)
        code, reply = smtp.data(fixture(REPORT))
        self.assertEqual(code, 550)
        self.assertTrue(reply.startswith(b"5.1.1"), reply)

    def test_it_accepts_mail_with_no_recipient_in_the_tenant(self) -> None:
        smtp = self.connect()
        raw = fixture("gmail_bcc_copy.eml")  # Beta's users only
        smtp.mail("journal@alpha.example")
        smtp.rcpt(ALPHA_JOURNAL)
        code, reply = smtp.data(raw)
        self.assertEqual(code, 250)
        self.assertIn(b"nothing recorded", reply)
        self.assertFalse(Message.objects.exists())

    def test_it_refuses_unusable_mail_with_554(self) -> None:
        raw = b"To: a-user1@alpha.example\r\nMessage-ID: <" + b"x" * 1200 + b"@x>\r\n\r\nbody\r\n"
        smtp = self.connect()
        smtp.mail("journal@alpha.example")
        smtp.rcpt(ALPHA_JOURNAL)
        with self.assertLogs("mailboxes.ingest", "WARNING") as logs:
            code, reply = smtp.data(raw)
        self.assertEqual(code, 554)
        self.assertTrue(reply.startswith(b"5.6.0 Message unusable: internet_message_id:"), reply)
        self.assertIn("refused mail from journal@alpha.example", "\n".join(logs.output))

    def test_it_answers_451_on_a_failure_and_keeps_running(self) -> None:
        smtp = self.connect()
        with (
            mock.patch(
                "mailboxes.ingest.smtpd.ingest_smtp_many",
                side_effect=RuntimeError("database down"),
            ),
            self.assertLogs("mailboxes.ingest.smtpd", "ERROR") as logs,
        ):
            smtp.mail("journal@alpha.example")
            smtp.rcpt(ALPHA_JOURNAL)
            code, reply = smtp.data(fixture(REPORT))
        self.assertEqual((code, reply), (451, b"4.3.0 Temporary failure, please try again later"))
        self.assertIn("database down", "\n".join(logs.output))
        self.assertFalse(Message.objects.exists())
        # The same connection, the same server: the retry is stored.
        self.assertEqual(smtp.sendmail("j@alpha.example", [ALPHA_JOURNAL], fixture(REPORT)), {})
        self.assertEqual(Message.objects.count(), 1)

    def test_it_serves_concurrent_clients(self) -> None:
        import threading

        def send(n: int) -> None:
            with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
                for k in range(5):
                    raw = (
                        f"To: user{n}@alpha.example\r\nMessage-ID: <c{n}-{k}@x>\r\n\r\nhi\r\n"
                    ).encode()
                    smtp.sendmail("j@alpha.example", [ALPHA_JOURNAL], raw)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(Message.objects.count(), 20)


class JournalCommandTests(TransactionTestCase):
    def test_it_runs_in_the_foreground_until_interrupted(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                "DEBUG": "1",
                "CLAWBACK_VAR_DIR": tmp,
                "DATABASE_URL": f"sqlite:///{tmp}/cmd.sqlite3",
            }
            manage = [sys.executable, str(REPO / "manage.py")]
            subprocess.run(
                [*manage, "migrate", "--verbosity", "0"], env=env, check=True, timeout=180
            )
            process = subprocess.Popen(
                [*manage, "journal_smtpd", "--host", "127.0.0.1", "--port", "0"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                ready, _, _ = select.select([process.stdout], [], [], 60)
                self.assertTrue(ready, "the command printed nothing")
                line = process.stdout.readline()
                self.assertRegex(line, r"^Journal receiver listening on 127\.0\.0\.1:\d+ ")
                port = int(line.split(":")[1].split()[0])
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                    self.assertEqual(smtp.noop()[0], 250)
                process.send_signal(signal.SIGINT)
                out, err = process.communicate(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            self.assertEqual(process.returncode, 0, err)
            self.assertIn("Journal receiver stopped.", out)
