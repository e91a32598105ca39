"""The API's cursor pagination.

Kept apart from `api_base` because DRF imports DEFAULT_PAGINATION_CLASS while
`rest_framework.generics` is still loading, so this module must not import views.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pages ordered by the view's `cursor_ordering`; a bad cursor is a 400."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        ordering = getattr(view, "cursor_ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def decode_cursor(self, request: Any) -> Any:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError(
                {self.cursor_query_param: ["Invalid cursor."]}
            ) from None
