"""The API's request body parsers (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

Kept apart from `api_base` for the same reason as `api_pagination`: DRF reads the
setting while `rest_framework.views` is still loading, so this module imports no views.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with nesting too deep for the decoder answered as a 400.

    `[[[[…]]]]` a few thousand levels deep makes `json.load` raise RecursionError,
    which DRF does not catch (a 500).
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
