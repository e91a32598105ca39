"""A small OData `$filter` parser: enough of the grammar Graph mail and directory calls use.

Supported: `field eq 'literal'`, `ne`, `and`, `or`, `not`, parentheses, string literals
with doubled quotes (`'it''s'`), `true`/`false`/`null`, numbers, `startswith(field, 'x')`
and lambdas over collections (`proxyAddresses/any(p:p eq 'smtp:a@b')`). Property paths
use `/` (`from/emailAddress/address`). String comparisons ignore case, as Exchange does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]


class FilterError(ValueError):
    """The filter does not parse, or names a property the record does not have."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<punct>[(),:])
      | (?P<name>[A-Za-z_$@][\w$@.]*(?:/[A-Za-z_$@][\w$@.]*)*)
    )""",
    re.VERBOSE,
)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            rest = text[pos:].strip()
            if rest.startswith("'"):
                raise FilterError("unterminated string literal")
            raise FilterError(f"syntax error at position {pos}: {rest[:20]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        tokens.append((kind, value))
        pos = m.end()
    return tokens


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _compare(op: str, left: Any, right: Any) -> bool:
    left, right = _fold(left), _fold(right)
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return left > right
        if op == "ge":
            return left >= right
        if op == "lt":
            return left < right
        return left <= right
    except TypeError:
        return False


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], fields: set[str] | None) -> None:
        self.tokens = tokens
        self.pos = 0
        self.fields = {f.casefold() for f in fields} if fields is not None else None
        self.scope: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("unexpected end of filter")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        kind, got = self.take()
        if got != value:
            raise FilterError(f"expected {value!r}, found {got!r}")

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "name" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda rec: any(p(rec) for p in parts)

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda rec: all(p(rec) for p in parts)

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.unary()
            return lambda rec: not inner(rec)
        token = self.peek()
        if token and token[1] == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.comparison()

    def operand(self) -> Callable[[Mapping[str, Any]], Any]:
        kind, value = self.take()
        if kind == "str":
            literal = value[1:-1].replace("''", "'")
            return lambda rec: literal
        if kind == "num":
            number = float(value) if "." in value else int(value)
            return lambda rec: number
        if kind == "name":
            low = value.lower()
            if low in ("true", "false"):
                flag = low == "true"
                return lambda rec: flag
            if low == "null":
                return lambda rec: None
            return self.path(value)
        raise FilterError(f"unexpected {value!r}")

    def path(self, name: str) -> Callable[[Mapping[str, Any]], Any]:
        head, _, rest = name.partition("/")
        if head in self.scope:
            steps = rest.split("/") if rest else []

            def get_var(rec: Mapping[str, Any]) -> Any:
                value = rec.get(f"${head}")
                for step in steps:
                    value = value.get(step) if isinstance(value, dict) else None
                return value

            return get_var
        if self.fields is not None and head.casefold() not in self.fields:
            raise FilterError(f"Could not find a property named '{head}'")
        steps = name.split("/")
        folded = [s.casefold() for s in steps]

        def get(rec: Mapping[str, Any]) -> Any:
            value: Any = rec
            for step in folded:
                if not isinstance(value, dict):
                    return None
                value = value.get(step)
            return value

        return get

    def comparison(self) -> Predicate:
        token = self.peek()
        if token and token[0] == "name":
            # startswith(field, 'x') and collection lambdas.
            name = token[1]
            if name.lower() in ("startswith", "endswith", "contains"):
                self.take()
                func = name.lower()
                self.expect("(")
                left = self.operand()
                self.expect(",")
                right = self.operand()
                self.expect(")")

                def call(rec: Mapping[str, Any]) -> bool:
                    a, b = _fold(left(rec)), _fold(right(rec))
                    if not isinstance(a, str) or not isinstance(b, str):
                        return False
                    if func == "startswith":
                        return a.startswith(b)
                    if func == "endswith":
                        return a.endswith(b)
                    return b in a

                return self.maybe_bool_compare(call)
            head, _, tail = name.rpartition("/")
            if head and tail.lower() in ("any", "all"):
                self.take()
                return self.lambda_expr(head, tail.lower())
        left = self.operand()
        kind, op = self.take()
        if kind != "name" or op.lower() not in _OPS:
            raise FilterError(f"expected a comparison operator, found {op!r}")
        right = self.operand()
        op = op.lower()
        return lambda rec: _compare(op, left(rec), right(rec))

    def maybe_bool_compare(self, call: Predicate) -> Predicate:
        token = self.peek()
        if token and token[0] == "name" and token[1].lower() in ("eq", "ne"):
            op = self.take()[1].lower()
            right = self.operand()
            return lambda rec: _compare(op, call(rec), right(rec))
        return call

    def lambda_expr(self, collection: str, quantifier: str) -> Predicate:
        get = self.path(collection)
        self.expect("(")
        kind, var = self.take()
        if kind != "name":
            raise FilterError("expected a lambda variable")
        self.expect(":")
        self.scope.add(var)
        body = self.or_expr()
        self.scope.discard(var)
        self.expect(")")
        key = f"${var}"

        def test(rec: Mapping[str, Any]) -> bool:
            items = get(rec) or []
            results = (body({**rec, key: item}) for item in items)
            return any(results) if quantifier == "any" else all(results)

        return test


def compile_filter(text: str, fields: set[str] | None = None) -> Predicate:
    """Compile `$filter` text into a predicate over a record (a dict with casefolded keys).

    `fields` lists the properties the record type has; naming another one is an error,
    as it is on Graph.
    """
    tokens = _tokenize(text)
    if not tokens:
        raise FilterError("empty filter")
    return _Parser(tokens, fields).parse()


def record(values: Mapping[str, Any]) -> dict[str, Any]:
    """A record for `compile_filter`: keys casefolded, nested mappings too."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = record(value)
        out[key.casefold()] = value
    return out
