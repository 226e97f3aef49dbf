"""Engines, sessions and the column types every package shares (UTC timestamps, money)."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

# Constraint names are deterministic so that Alembic migrations can refer to them on both backends.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 10_000
MONEY_PLACES = 4
_MONEY_SCALE = Decimal(1).scaleb(-MONEY_PLACES)


def utcnow() -> dt.datetime:
    """Return the current time as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, a busy timeout and real transactions (SAVEPOINT works)."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        kwargs["connect_args"].setdefault("check_same_thread", False)
        engine = sa.create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql"):
        # Dates derived in SQL (daily counts) are UTC days, whatever the server's zone.
        kwargs.setdefault("connect_args", {}).setdefault("options", "-c timezone=UTC")
    return sa.create_engine(url, **kwargs)


# Set ``connection.info[READ_ONLY] = True`` just before ``begin()`` for a unit of work that only reads.
READ_ONLY = "yaolian.read_only"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy: pysqlite's own implicit BEGIN breaks SAVEPOINT.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: with several processes, a deferred transaction that reads and
        # then writes fails at once (SQLITE_BUSY) when another wrote meanwhile; this one waits its turn instead.
        # A unit of work declared read-only (a GET request) begins deferred: it never writes, and WAL lets readers
        # run beside the writer instead of queueing for the write lock.
        read_only = conn.info.pop(READ_ONLY, False)
        conn.connection.driver_connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")  # no statement events


def new_session(engine: Engine | sa.Connection, **kwargs: Any) -> Session:
    """Open a session that does not expire objects on commit (pages render after the commit)."""
    kwargs.setdefault("expire_on_commit", False)
    return Session(engine, **kwargs)


def serialize_writers(session: Session | sa.Connection, name: str, *, wait_seconds: float | None = None) -> bool:
    """Make transactions that call this with the same ``name`` take turns until each commits or rolls back.

    PostgreSQL: a transaction-scoped advisory lock on a 63-bit digest of ``name``; with ``wait_seconds`` it is tried
    until then and False is returned if another transaction still holds it (the caller answers "busy" instead of
    queueing behind a long transaction). SQLite needs nothing: every write transaction already begins with
    ``BEGIN IMMEDIATE``, so writers take turns. Returns True once the turn is this transaction's.
    """
    conn = session.connection() if isinstance(session, Session) else session
    if conn.dialect.name != "postgresql":
        return True
    key = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") >> 1
    if wait_seconds is None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return True
    deadline = time.monotonic() + wait_seconds
    while not conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}).scalar_one():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Money(TypeDecorator):
    """An exact amount of money with four decimal places, always a ``Decimal``.

    PostgreSQL stores ``NUMERIC(18, 4)``. SQLite has no exact decimal type (its NUMERIC is a float), so there the
    amount is stored as a scaled 64-bit integer (units of 0.0001), which keeps sums exact in SQL as well.
    """

    impl = sa.Numeric(18, MONEY_PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(18, MONEY_PLACES, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be a Decimal, never a float")
        amount = Decimal(value)
        if amount != amount.quantize(_MONEY_SCALE):
            raise ValueError(f"{amount} has more than {MONEY_PLACES} decimal places")
        return int(amount.scaleb(MONEY_PLACES)) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-MONEY_PLACES).quantize(_MONEY_SCALE)
        return Decimal(value).quantize(_MONEY_SCALE)


def driver_executemany(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], *, where: Sequence[str] = ()
) -> None:
    """INSERT many rows (or, with ``where``, UPDATE each row matched on those columns) through the driver.

    The hot paths write thousands of rows per request; SQLAlchemy's executemany spends more time building a
    parameter dictionary per row than the database spends writing it. Here each column's bind processor (the
    UTC conversion, JSON, the scaled money integer on SQLite) is looked up once and the driver gets plain tuples;
    on PostgreSQL (psycopg) the rows go in one statement each way: COPY, or an UPDATE from arrays.
    Every row must have the keys of the first.
    """
    if not rows:
        return
    dialect = conn.dialect
    names = list(rows[0])
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    if where:
        sets = [name for name in names if name not in where]
        order = [*sets, *where]
        sql = (
            f"UPDATE {quote(table.name)} SET {', '.join(f'{quote(n)} = {mark}' for n in sets)} "
            f"WHERE {' AND '.join(f'{quote(n)} = {mark}' for n in where)}"
        )
    else:
        order = names
        marks = ", ".join([mark] * len(names))
        sql = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) VALUES ({marks})"
    values = []  # column by column: one list comprehension per column is far cheaper than a generator per row
    for name in order:
        column = [row[name] for row in rows]
        proc = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            done: dict[str, Any] = {}  # JSON columns repeat a few small values ({} above all): convert each once
            if isinstance(table.c[name].type, sa.JSON):
                column = [v if v is None else done.get(k) or done.setdefault(k, proc(v)) for v in column
                          for k in [repr(v)]]  # fmt: skip
            elif isinstance(table.c[name].type, UTCDateTime):  # a batch's rows share a few moments: convert each once
                moments: dict[dt.datetime, Any] = {}
                column = [v if v is None else moments[v] if v in moments else moments.setdefault(v, proc(v))
                          for v in column]  # fmt: skip
            else:
                column = [v if v is None else proc(v) for v in column]
        values.append(column)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            _psycopg_write(cursor, table, order, values, len(where), dialect)
        else:
            cursor.executemany(sql, list(zip(*values, strict=True)))
    finally:
        cursor.close()


def _psycopg_write(cursor: Any, table: sa.Table, order: list[str], values: list[list], keys: int, dialect: Any) -> None:
    """Write on PostgreSQL in one statement: COPY for inserts, an UPDATE from arrays for updates.

    One executemany statement per row costs a round of the protocol each; COPY streams the rows, and the UPDATE
    joins the table to the rows given as arrays. Rows that repeat a key are updated one by one, in order, as
    the plain executemany would.
    """
    quote = dialect.identifier_preparer.quote
    name = quote(table.name)
    if not keys:
        with cursor.copy(f"COPY {name} ({', '.join(map(quote, order))}) FROM STDIN") as copy:
            for row in zip(*values, strict=True):
                copy.write_row(row)
        return
    sets, where = order[:-keys], order[-keys:]
    if len(set(zip(*values[-keys:], strict=True))) < len(values[0]):
        marks = ", ".join(f"{quote(n)} = %s" for n in sets)
        match = " AND ".join(f"{quote(n)} = %s" for n in where)
        cursor.executemany(f"UPDATE {name} SET {marks} WHERE {match}", list(zip(*values, strict=True)))
        return
    arrays = ", ".join(f"%s::{_array_element(table.c[n].type, dialect)}[]" for n in order)
    sql = (
        f"UPDATE {name} AS t SET {', '.join(f'{quote(n)} = v.{quote(n)}' for n in sets)} "
        f"FROM unnest({arrays}) AS v({', '.join(map(quote, order))}) "
        f"WHERE {' AND '.join(f't.{quote(n)} = v.{quote(n)}' for n in where)}"
    )
    cursor.execute(sql, values)


def _array_element(type_: Any, dialect: Any) -> str:
    # Strings go as unbounded VARCHAR: an explicit cast to VARCHAR(n) would cut a long value short, while the
    # assignment to the column refuses it, as the row-by-row UPDATE does.
    if isinstance(type_, sa.String) and not isinstance(type_, sa.Enum):
        return "VARCHAR"
    return type_.compile(dialect=dialect)
