"""Property-based tests of what the API parses from a request: a valid value or a 400.

Query filters of every list endpoint, pagination cursors, the Authorization header,
JSON bodies and the raw upload's query parameters each get hostile values. A filter
that accepts a value must also survive running its query (the database is where an
out-of-range date or a NUL used to fail).
"""

from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from django.test import RequestFactory
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from rest_framework import exceptions
from rest_framework.request import Request

from mailboxes.api_auth import ApiKeyAuthentication
from mailboxes.api_parsers import JSONParser
from mailboxes.services import api_key_issue
from tests.api.helpers import ApiTestCase, api_routes
from tests.hostile import FUZZ, JSON, QUERY_VALUES, assert_field_errors


def _list_routes() -> list[Any]:
    return [r for r in api_routes() if "get" in r.methods and not r.is_detail and r.is_viewset]


FILTERED = sorted(
    {r.view_class for r in _list_routes() if getattr(r.view_class, "filterset_class", None)},
    key=lambda view: view.__name__,
)
# WSGI hands headers over as latin-1 text: nothing above U+00FF reaches the parser.
LATIN1 = st.text(alphabet=st.characters(max_codepoint=255), max_size=60)
LIST_URLS = sorted({r.url() for r in _list_routes() if r.name.endswith("-list")})


def cursor_for(position: str, offset: str, reverse: str) -> str:
    tokens = {"p": position, "o": offset, "r": reverse}
    return base64.b64encode(urlencode(tokens).encode()).decode()


class QueryParserFuzzTests(HypothesisTestCase, ApiTestCase):
    """Each example in its own transaction (hypothesis.extra.django)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.key, cls.raw_key = api_key_issue(user=cls.alice, name="fuzz", actor=None)

    def bearer(self, key: str | None = None) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {key or self.raw_key}"}

    def check_filters(self, view: Any, params: dict[str, str]) -> bool:
        """Whether the filters accept `params`; accepted ones run their query, refused ones
        come with field errors."""
        filterset_class = view.filterset_class
        request = SimpleNamespace(user=self.alice)
        queryset = view.model.objects.for_user(self.alice)
        filterset = filterset_class(data=params, queryset=queryset, request=request)
        if not filterset.is_valid():
            assert_field_errors({k: [str(m) for m in v] for k, v in filterset.errors.items()})
            return False
        list(filterset.qs[:5])  # the query runs: overflows and NULs fail here
        return True

    @FUZZ
    @given(view=st.sampled_from(FILTERED), data=st.data())
    def test_every_filter_gives_rows_or_field_errors(self, view: Any, data: Any) -> None:
        names = sorted(view.filterset_class.base_filters)
        params = data.draw(st.dictionaries(st.sampled_from(names), QUERY_VALUES, max_size=4))
        accepted = self.check_filters(view, params)
        event(f"{view.__name__}: {'rows' if accepted else '400'}")

    def test_it_refuses_dates_past_the_last_utc_instant(self) -> None:
        for view in FILTERED:
            for name, spec in view.filterset_class.base_filters.items():
                if spec.field_class.__name__.endswith("DateTimeField"):
                    for value in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
                        with self.subTest(view=view.__name__, name=name, value=value):
                            self.assertFalse(self.check_filters(view, {name: value}))

    @settings(FUZZ, max_examples=150)
    @given(
        url=st.sampled_from(LIST_URLS),
        cursor=st.one_of(
            st.builds(
                cursor_for,
                QUERY_VALUES,
                st.sampled_from(["0", "1", "-1", "99999999999999999999", "x"]),
                st.sampled_from(["0", "1", "x"]),
            ),
            st.text(max_size=30),
        ),
    )
    @example(url="/api/v1/messages/", cursor=cursor_for("9999-12-31 23:59:59-23:59", "0", "0"))
    @example(url="/api/v1/policies/", cursor=cursor_for("2025-01-01", "0", "0"))
    def test_every_cursor_gives_a_page_or_a_cursor_error(self, url: str, cursor: str) -> None:
        response = self.client.get(url, {"cursor": cursor}, **self.bearer())
        event(f"{url}: {response.status_code}")
        self.assertIn(response.status_code, (200, 400), response.content[:300])
        if response.status_code == 400:
            self.assertEqual(response.json(), {"cursor": ["Invalid cursor."]})
        else:
            self.assertEqual(set(response.json()), {"next", "previous", "results"})

    @FUZZ
    @given(
        value=st.one_of(
            LATIN1,
            LATIN1.map("Bearer ".__add__),
            st.sampled_from(["Bearer", "Bearer  ", "bearer x y", "Basic abc", "Bearer cbk_\x00_x"]),
            st.builds("Bearer cbk_{}_{}".format, LATIN1.map(lambda t: t[:12]), LATIN1),
            st.sampled_from(["valid", "valid-prefix", "revoked"]),
        )
    )
    def test_the_authorization_header_gives_a_key_nothing_or_401(self, value: str) -> None:
        if value == "valid":
            value = f"Bearer {self.raw_key}"
        elif value == "valid-prefix":
            value = f"Bearer cbk_{self.key.prefix}_not-the-secret"
        request = Request(RequestFactory().get("/api/v1/tenants/", HTTP_AUTHORIZATION=value))
        try:
            found = ApiKeyAuthentication().authenticate(request)
        except exceptions.AuthenticationFailed as exc:
            event("401")
            self.assertTrue(str(exc.detail))
            return
        event("none" if found is None else "key")
        if found is not None:
            user, key = found
            self.assertEqual((user, key), (self.alice, self.key))
            self.assertEqual(value, f"Bearer {self.raw_key}")

    @settings(FUZZ, max_examples=100)
    @given(
        # Mostly the caller's tenant, so the recipients are parsed and the message stored.
        tenant=st.one_of(st.just("alpha-corp"), st.just(" alpha-corp "), QUERY_VALUES),
        recipients=st.lists(
            st.one_of(
                st.just("a-user1@alpha.example"),
                st.just("a-user1@alpha.example, a-all@alpha.example"),
                st.emails(),
                QUERY_VALUES,
            ),
            max_size=3,
        ),
    )
    @example(tenant="²", recipients=[])
    def test_the_raw_upload_parameters_give_a_message_or_an_error(
        self, tenant: str, recipients: list[str]
    ) -> None:
        query = urlencode([("tenant", tenant), *(("recipients", r) for r in recipients)])
        raw = b"From: x@evil.example\r\nTo: a-user1@alpha.example\r\nSubject: hi\r\n\r\nbody\r\n"
        response = self.client.post(
            f"/api/v1/messages/raw/?{query}",
            data=raw,
            content_type="message/rfc822",
            **self.bearer(),
        )
        event(str(response.status_code))
        self.assertIn(response.status_code, (201, 400, 403, 404), response.content[:300])
        body = response.json()
        if response.status_code == 400:
            assert_field_errors(body)
        elif response.status_code == 201:
            self.assertIn(body["status"], ("created", "updated", "unchanged"))


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=200),
        JSON.map(lambda value: json.dumps(value).encode()),
        st.integers(1, 100_000).map(nested),
        st.sampled_from([b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"\xef\xbb\xbf{}", b""]),
    )
)
@example(body=nested(100_000))
def test_the_json_parser_gives_data_or_a_parse_error(body: bytes) -> None:
    try:
        data = JSONParser().parse(io.BytesIO(body), "application/json", {})
    except exceptions.ParseError as exc:
        event("400")
        assert str(exc.detail).startswith("JSON parse error")
        return
    event("parsed")
    json.dumps(data, allow_nan=False)  # only what strict JSON allows comes through
