"""Oversize bodies are refused from their Content-Length, before anything reads them (413).

With the test client, the body stream fails the test if it is read at all; over a real
socket (Django's own WSGI server, as runserver uses), the server answers 413 while the
client has sent a few kilobytes of a body it announced as a gigabyte.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.test import override_settings

from mailboxes.access import Role
from mailboxes.services import api_key_issue
from tests.admin.helpers import AdminTestCase
from tests.api.helpers import ApiTestCase
from tests.factories import grant, make_tenant, make_user

RAW_URL = "/api/v1/messages/raw/"
GIGABYTE = 1024**3


class UnreadableBody:
    """A wsgi.input that must not be touched: the refusal comes from the header alone."""

    def __init__(self) -> None:
        self.read_calls = 0

    def read(self, *args: Any) -> bytes:
        self.read_calls += 1
        raise AssertionError("the body was read")

    readline = read


class BodyLimitTests(ApiTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        _, cls.key = api_key_issue(user=cls.bob, name="limits", actor=None)

    def post(self, url: str, length: int, content_type: str = "application/json") -> Any:
        body = UnreadableBody()
        response = self.client.generic(
            "POST",
            url,
            b"",
            content_type,
            CONTENT_LENGTH=str(length),
            HTTP_AUTHORIZATION=f"Bearer {self.key}",
            **{"wsgi.input": body},
        )
        self.assertEqual(body.read_calls, 0)
        return response

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
    def test_it_refuses_a_json_body_over_the_limit_as_json(self) -> None:
        response = self.post("/api/v1/messages/", 10_001)
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response["Content-Type"], "application/json")
        (message,) = response.json()["non_field_errors"]
        self.assertIn("the limit for this endpoint is", message)
        self.assertIn("10,000 bytes", message)

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000, INGEST_MAX_MESSAGE_BYTES=5_000)
    def test_it_gives_the_raw_upload_the_message_size_limit(self) -> None:
        response = self.post(f"{RAW_URL}?tenant={self.alpha.pk}", 5_001, "message/rfc822")
        self.assertEqual(response.status_code, 413)
        self.assertIn("5,000 bytes", response.json()["non_field_errors"][0])

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000, INGEST_MAX_MESSAGE_BYTES=50_000)
    def test_it_keeps_the_general_limit_on_a_raw_upload_read_whole(self) -> None:
        # The raw body is read as request.body, which Django caps at the general limit.
        response = self.post(f"{RAW_URL}?tenant={self.alpha.pk}", 10_001, "message/rfc822")
        self.assertEqual(response.status_code, 413)

    def test_it_refuses_a_malformed_content_length(self) -> None:
        for value in ("-1", "12abc"):
            with self.subTest(value=value):
                response = self.post("/api/v1/messages/", value)  # type: ignore[arg-type]
                self.assertEqual(response.status_code, 400)
                self.assertEqual(
                    response.json(), {"non_field_errors": ["Malformed Content-Length header."]}
                )

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
    def test_it_lets_a_body_within_the_limit_through(self) -> None:
        response = self.client.post(
            "/api/v1/messages/",
            {"tenant": self.alpha.pk, "recipients": ["a-user1@alpha.example"]},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {self.key}",
        )
        self.assertEqual(response.status_code, 201, response.content)

    @override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=5)
    def test_it_answers_djangos_own_form_refusals_as_json(self) -> None:
        fields = "&".join(f"f{n}=x" for n in range(10))
        response = self.client.generic(
            "POST",
            "/api/v1/retraction-jobs/",
            fields,
            "application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Bearer {self.key}",
        )
        self.assertEqual(response.status_code, 400)
        self.assertEqual(
            response.json(),
            {"non_field_errors": ["The request has too many form fields or files."]},
        )


class AdminUploadLimitTests(AdminTestCase):
    @override_settings(INGEST_MAX_MESSAGE_BYTES=5_000)
    def test_it_refuses_an_eml_upload_over_the_message_limit_before_reading_it(self) -> None:
        self.client.force_login(self.bob)
        body = UnreadableBody()
        response = self.client.generic(
            "POST",
            "/admin/mailboxes/message/upload/",
            b"",
            "multipart/form-data; boundary=x",
            CONTENT_LENGTH=str(5_000 + 64 * 1024 + 1),
            **{"wsgi.input": body},
        )
        self.assertEqual(response.status_code, 413)
        self.assertEqual(body.read_calls, 0)
        self.assertTrue(response["Content-Type"].startswith("text/plain"))


# -- over a real socket -------------------------------------------------------------------


class CountingInput:
    """Counts what the application reads of the body (the server's own draining aside)."""

    def __init__(self, stream: Any, counter: list[int]) -> None:
        self.stream = stream
        self.counter = counter

    def read(self, *args: Any) -> bytes:
        data = self.stream.read(*args)
        self.counter[0] += len(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data = self.stream.readline(*args)
        self.counter[0] += len(data)
        return data


@contextmanager
def wsgi_server() -> Iterator[tuple[int, list[int]]]:
    """Clawback behind Django's threaded WSGI server (runserver's) on a free local port."""
    counter = [0]
    django_app = WSGIHandler()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input"] = CountingInput(environ["wsgi.input"], counter)
        return django_app(environ, start_response)

    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler, allow_reuse_address=False)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], counter
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_real_server_refuses_an_announced_gigabyte_before_the_body_arrives() -> None:
    """No database: the refusal happens before authentication or any query."""
    with wsgi_server() as (port, read):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.putrequest("POST", f"{RAW_URL}?tenant=1")
        connection.putheader("Content-Type", "message/rfc822")
        connection.putheader("Content-Length", str(GIGABYTE))
        connection.putheader("Authorization", "Bearer cbk_nothing_here")
        connection.endheaders()
        connection.send(b"x" * 4096)  # a sliver of the announced body
        response = connection.getresponse()
        body = response.read()
        connection.close()  # the server may drain what was sent, and stops here
    assert response.status == 413, body
    assert b"the limit for this endpoint" in body
    assert read[0] == 0


def test_a_real_server_does_not_read_a_chunked_body_without_content_length(
    transactional_db: Any,
) -> None:
    """Django's WSGI request reads no body without Content-Length: nothing there to cap.

    An analyst's key, so the view gets as far as parsing: it sees an empty body.
    """
    tenant = make_tenant("Alpha Corp", domains=["alpha.example"])
    analyst = make_user("bob")
    grant(analyst, tenant, Role.ANALYST)
    _, key = api_key_issue(user=analyst, name="chunked", actor=None)
    with wsgi_server() as (port, read):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.putrequest("POST", "/api/v1/messages/")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Authorization", f"Bearer {key}")
        connection.endheaders()
        connection.send(b"1000\r\n" + b"[" * 4096 + b"\r\n")
        response = connection.getresponse()
        body = response.read()
        connection.close()
    assert response.status == 400, body
    assert read[0] == 0
