"""Statements sent straight to the database driver, for the few small reads and writes of placing an order.

SQLAlchemy spends some 40 to 120 µs of CPU setting up each execution of even a cached statement (cache key,
execution context, parameter and result processing): on an order's handful of small statements that was a fifth
of the request (``scripts/bench/bench_order_placement.py``). Here a statement's SQL text and its columns' bind
and result processors are worked out once per dialect, and a row becomes a tuple for the driver's cursor, as
``core.db.driver_executemany`` does for bulk writes; on PostgreSQL a batch of writes goes in one round trip.
Driver errors are re-raised as SQLAlchemy's: an ``IntegrityError`` stays an ``IntegrityError``.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

_Plan = tuple[str, tuple[str, ...], list[Callable[[Any], Any] | None]]


class DriverStatement:
    """An INSERT of ``columns`` (optionally returning one column), or with ``where`` an UPDATE matched on those."""

    def __init__(
        self, table: sa.Table, columns: Sequence[str], *, where: Sequence[str] = (), returning: str | None = None
    ) -> None:
        self.table, self.columns, self.where, self.returning = table, tuple(columns), tuple(where), returning
        self._plans: dict[tuple[str, str], _Plan] = {}

    def bound(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[Any]]:
        """Return the SQL and parameters writing ``rows`` in one statement (an INSERT of several rows), for a batch."""
        sql, order, processors = self._plan(conn.dialect)
        pairs = list(zip(order, processors, strict=True))
        params = [row[name] if p is None else p(row[name]) for row in rows for name, p in pairs]
        if len(rows) > 1:
            values = sql.index(" VALUES (") + len(" VALUES ")
            one = sql[values:].split(" RETURNING ")[0]
            sql = sql[:values] + ", ".join([one] * len(rows)) + sql[values + len(one) :]
        return sql, params

    def _plan(self, dialect: sa.Dialect) -> _Plan:
        key = (dialect.name, dialect.driver)
        plan = self._plans.get(key)
        if plan is None:
            quote = dialect.identifier_preparer.quote
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            table = quote(self.table.name)
            if self.where:
                sets = ", ".join(f"{quote(name)} = {mark}" for name in self.columns)
                sql = f"UPDATE {table} SET {sets} WHERE {' AND '.join(f'{quote(n)} = {mark}' for n in self.where)}"
            else:
                marks = ", ".join([mark] * len(self.columns))
                sql = f"INSERT INTO {table} ({', '.join(map(quote, self.columns))}) VALUES ({marks})"
                if self.returning:
                    sql += f" RETURNING {quote(self.returning)}"
            order = self.columns + self.where
            processors = [self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order]
            plan = self._plans[key] = (sql, order, processors)
        return plan


class DriverSelect:
    """A Core SELECT compiled once per dialect and run on the driver; its rows come back converted by column type.

    Bind parameters with a value in the statement (an ``IN`` of constants) keep it; the others are given by name.
    Rows are named tuples of the selected columns' labels.
    """

    def __init__(self, stmt: sa.Select) -> None:
        self.stmt = stmt
        self._plans: dict[tuple[str, str], list] = {}

    def rows(self, conn: sa.Connection, params: Mapping[str, Any]) -> list[tuple]:
        """Run the query with ``params`` and return all its rows."""
        dialect = conn.dialect
        plan = self._plans.get((dialect.name, dialect.driver))
        if plan is None:
            plan = self._plans[(dialect.name, dialect.driver)] = self._plan(dialect)
        sql, names, fixed, binds, row_type, results = plan
        values = {**fixed, **params}
        converted = [values[n] if p is None else p(values[n]) for n, p in zip(names, binds, strict=True)]
        args: Any = converted if dialect.positional else dict(zip(names, converted, strict=True))
        dbapi = dialect.loaded_dbapi
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, args)
            raw = cursor.fetchall()
            if results is None:  # result processors can depend on the driver's column types: learn them once
                types = [column.type for column in self.stmt.selected_columns]
                results = plan[5] = [
                    t._cached_result_processor(dialect, d[1]) for t, d in zip(types, cursor.description, strict=True)
                ]
        except dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, args, exc, dbapi.Error, dialect=dialect) from exc
        finally:
            cursor.close()
        if not any(results):
            return [row_type._make(row) for row in raw]
        return [row_type._make(v if p is None else p(v) for v, p in zip(row, results, strict=True)) for row in raw]

    def _plan(self, dialect: sa.Dialect) -> list:
        compiled = self.stmt.compile(dialect=dialect)
        given = {name for name, bind in compiled.binds.items() if bind.value is None and bind.callable is None}
        state = compiled.construct_expanded_state(dict.fromkeys(given))
        names = list(state.positiontup) if dialect.positional else list(state.parameters)
        fixed = {name: value for name, value in state.parameters.items() if name not in given}
        binds = [state.processors.get(name) for name in names]
        row_type = namedtuple("Row", [column.key for column in self.stmt.selected_columns])
        return [state.statement, names, fixed, binds, row_type, None]


class DriverQuery:
    """Plain SQL written with ``?`` marks (PostgreSQL's driver gets ``%s``), for values that need no conversion."""

    def __init__(self, sql: str) -> None:
        self.sql, self.pyformat = sql, sql.replace("?", "%s")

    def bound(self, conn: sa.Connection, params: Sequence[Any] | None = None) -> tuple[str, Sequence[Any] | None]:
        """Return the SQL in the driver's style and the parameters, for a batch."""
        return (self.sql if conn.dialect.paramstyle == "qmark" else self.pyformat), params

    def first(self, conn: sa.Connection, params: Sequence[Any] | None = None) -> tuple | None:
        """Run the query and return its first row."""
        return run(conn, self.sql if conn.dialect.paramstyle == "qmark" else self.pyformat, params, fetch=True)


def run_batch(conn: sa.Connection, steps: Sequence[tuple[str, Sequence[Any] | None]]) -> tuple | None:
    """Run statements in order and return the first row of the last one (if it returns rows).

    On PostgreSQL the batch goes in one round trip: psycopg's client-side binding sends it as one simple query,
    which the server runs in order, stopping at the first error as one statement at a time would. SQLite runs in
    the process, so there the statements simply run one by one.
    """
    dbapi = conn.dialect.loaded_dbapi
    driver = conn.connection.dbapi_connection
    one_trip = conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
    cursor = dbapi.ClientCursor(driver) if one_trip else driver.cursor()
    sql: str = ""
    params: Any = None
    try:
        if one_trip:
            sql = "; ".join(step_sql for step_sql, _ in steps)
            params = [value for _, step_params in steps for value in step_params or ()]
            cursor.execute(sql, params or None)
            while cursor.nextset():
                pass
        else:
            for sql, params in steps:
                cursor.execute(sql, params or ())
        return cursor.fetchone() if cursor.description else None
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


def run(conn: sa.Connection, sql: str, params: Any, *, fetch: bool = False) -> tuple | None:
    """Run SQL in the driver's parameter style on the connection's cursor; with ``fetch``, return the first row."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params)
        return cursor.fetchone() if fetch else None
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=conn.dialect) from exc
    finally:
        cursor.close()
