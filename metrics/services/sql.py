"""Hand-written SQL for the card's hot queries: the tenant scope, and what differs by engine.

The card runs a handful of aggregate queries on every admin home page and API
call. Building them with the ORM cost more than running them (about 1 ms of
Python per query, against well under a millisecond of SQLite for a year of
rollup rows), so they are written out here. Every value is a parameter; table
and column names come from the models' `_meta`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from mailboxes.access import tenant_ids_for

Range = tuple[datetime, datetime]


@dataclass(frozen=True)
class TenantScope:
    """Whose rows a query reads, as a condition on a `tenant_id` column.

    Built from `mailboxes.access.tenant_ids_for`, the very subquery behind
    `Model.objects.for_user(user)`: owners read every tenant, anyone else the
    tenants of their memberships; `tenant` narrows that to one of them (one the
    user may not see gives nothing).
    """

    condition: str  # with {column} where the tenant_id column goes; "" for every tenant
    params: tuple[Any, ...] = ()
    db: str = "default"

    @classmethod
    def for_user(cls, user: Any, tenant: Any = None) -> TenantScope:
        ids = tenant_ids_for(user)
        parts: list[str] = []
        params: list[Any] = []
        db = "default"
        if ids is not None:
            db = ids.db
            try:
                sql, sub_params = ids.order_by().query.sql_with_params()
            except EmptyResultSet:  # nobody signed in: no tenant at all
                return cls("1 = 0", (), db)
            parts.append(f"{{column}} IN ({sql})")
            params.extend(sub_params)
        tenant_id = getattr(tenant, "pk", tenant)
        if tenant_id is not None:
            parts.append("{column} = %s")
            params.append(tenant_id)
        return cls(" AND ".join(parts), tuple(params), db)

    @classmethod
    def all_tenants(cls) -> TenantScope:
        """Every tenant (system code only: the rollup)."""
        return cls("")

    def where(self, tenant_column: str) -> tuple[str, list[Any]]:
        """The condition on `tenant_column` ("1 = 1" for every tenant) and its parameters."""
        if not self.condition:
            return "1 = 1", []
        return f"({self.condition.replace('{column}', tenant_column)})", list(self.params)

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.db]


@contextmanager
def small_queries(scope: TenantScope) -> Iterator[None]:
    """Run the card's queries without PostgreSQL's parallel workers.

    They read a few thousand rows at most; starting a worker costs PostgreSQL more
    (10-15 ms) than the whole query. Settings last for this transaction only (or,
    inside a caller's transaction, until it ends). SQLite has nothing to set, and
    no transaction is opened there: it would take the write lock.
    """
    connection = scope.connection
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=connection.alias):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def fetch(scope: TenantScope, sql: str, params: Sequence[Any]) -> list[tuple]:
    with scope.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def table(connection: BaseDatabaseWrapper, model: Any) -> str:
    """A model's table name, quoted."""
    return connection.ops.quote_name(model._meta.db_table)


def column(connection: BaseDatabaseWrapper, model: Any, field: str) -> str:
    """A model field's column name, quoted."""
    return connection.ops.quote_name(model._meta.get_field(field).column)


def param_datetime(connection: BaseDatabaseWrapper, value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def param_date(connection: BaseDatabaseWrapper, value: date) -> Any:
    return connection.ops.adapt_datefield_value(value)


def as_date(value: Any) -> date:
    """A date column as read by a raw cursor (SQLite gives text, PostgreSQL a date)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def utc_date_sql(connection: BaseDatabaseWrapper, column: str) -> str:
    """The UTC calendar date of a timestamp column (the rollup's day)."""
    if connection.vendor == "sqlite":
        # Django stores SQLite timestamps as UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]".
        return f"substr({column}, 1, 10)"
    return f"(({column}) AT TIME ZONE 'UTC')::date"


def utc_hour_sql(connection: BaseDatabaseWrapper, column: str) -> str:
    """The UTC hour (0-23) of a timestamp column."""
    if connection.vendor == "sqlite":
        return f"CAST(substr({column}, 12, 2) AS INTEGER)"
    return f"EXTRACT(HOUR FROM ({column}) AT TIME ZONE 'UTC')::integer"


def seconds_sql(connection: BaseDatabaseWrapper, later: str, earlier: str) -> str:
    """Seconds from `earlier` to `later` (a float; SQLite to the millisecond)."""
    if connection.vendor == "sqlite":
        # julianday() works in whole milliseconds; rounding to them undoes the
        # floating-point noise of the difference (60 s must not come out as 59.99999).
        return f"round((julianday({later}) - julianday({earlier})) * 86400.0, 3)"
    return f"EXTRACT(EPOCH FROM ({later}) - ({earlier}))::float8"
