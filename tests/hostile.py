"""Hypothesis strategies for hostile input, shared by the parser fuzz tests.

Values that broke parsers before: numbers past 64 bits, Unicode digits ("²" is a digit
to str.isdigit but not to int), NUL (PostgreSQL refuses it in text), dates that parse
but lie outside what UTC or the database can hold (year 1 at +23:59, 9999-12-31 at -23:59).
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**62)),
    st.floats(allow_nan=True, allow_infinity=True),
)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "²", "١٢", "12\x00", "0" * 30, "-1", "1e400", "alpha-corp"]),
    st.integers().map(str),
)
# ISO 8601-ish dates, in range or not: month 13, hour 25, offsets of a day, years 1 and 9999.
ISO_DATES = st.builds(
    "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:00{}".format,
    st.sampled_from([1, 2, 1970, 2025, 9998, 9999]),
    st.integers(0, 13),
    st.integers(0, 32),
    st.sampled_from(["T", " "]),
    st.integers(0, 25),
    st.integers(0, 61),
    st.sampled_from(["", "Z", "+00:00", "+23:59", "-23:59", "+24:00", "+05:30", "-12", "+9999"]),
)
DATES = st.one_of(
    ISO_DATES,
    st.datetimes(timezones=st.none() | st.timezones()).map(datetime.isoformat),
    st.datetimes(timezones=st.just(UTC)),
    HOSTILE_TEXT,
)
# What a query string can carry: text only (dates, numbers and odd text as strings).
QUERY_VALUES = st.one_of(
    ISO_DATES,
    st.datetimes(timezones=st.none() | st.timezones()).map(datetime.isoformat),
    HOSTILE_TEXT,
    HOSTILE_NUMBERS.map(str),
    st.sampled_from(["true", "false", "MALICIOUS", "trash", "failed", "auto", "user", "1", "2"]),
)
JSON = st.recursive(
    st.none() | st.booleans() | HOSTILE_NUMBERS | HOSTILE_TEXT | DATES.map(str),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(HOSTILE_TEXT, children),
    max_leaves=15,
)


def assert_field_errors(errors: object) -> None:
    """The API's error shape: {"field": ["message", ...]}, never empty."""
    assert isinstance(errors, dict) and errors, errors
    for name, problems in errors.items():
        assert isinstance(name, str), errors
        assert problems and all(isinstance(p, str) and p for p in problems), errors
