"""The API's cursor pagination.

Kept apart from `api_base` because DRF imports DEFAULT_PAGINATION_CLASS while
`rest_framework.generics` is still loading, so this module must not import views.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import exceptions, pagination

# Database integers are signed 64-bit; UTC offsets of real time zones lie within ±14 hours.
_INT_RANGE = range(-(2**63), 2**63)
_MAX_OFFSET = timedelta(hours=14)


class CursorPagination(pagination.CursorPagination):
    """Cursor pages ordered by the view's `cursor_ordering`; a bad cursor is a 400."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        self.model = queryset.model
        ordering = getattr(view, "cursor_ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def decode_cursor(self, request: Any) -> Any:
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
            valid = False
        else:
            valid = cursor is None or cursor.position is None or self.position_ok(cursor.position)
        if not valid:
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return cursor

    def position_ok(self, position: str) -> bool:
        """Whether a cursor's position is a value the first ordering field can be compared with.

        The cursor comes from the client: a position that does not fit the field (a date
        past the last UTC instant, a number beyond 64 bits, a NUL in text) would make
        the query itself fail.
        """
        try:
            field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
            value = field.to_python(position)
        except (FieldDoesNotExist, DjangoValidationError, ValueError, TypeError, OverflowError):
            return False
        if isinstance(value, datetime):
            try:
                aware = timezone.make_aware(value) if timezone.is_naive(value) else value
                aware.astimezone(UTC)
            except (OverflowError, ValueError):
                return False
            if abs(aware.utcoffset()) > _MAX_OFFSET:  # PostgreSQL refuses it in a query
                return False
        if isinstance(value, int) and value not in _INT_RANGE:
            return False
        return not (isinstance(value, str) and "\x00" in value)
