"""Bulk writes through the driver (COPY and an UPDATE from arrays on PostgreSQL) store what a row-by-row write would."""

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.db import Money, UTCDateTime, driver_executemany

AT = dt.datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=dt.UTC)
TEXTS = ["plain", "tab\there", "new\nline", "back\\slash", 'quote"', "中文批号", "", "\\N", "comma,semi;"]


@pytest.fixture
def probe(db):
    db.connection().execute(sa.text("DROP TABLE IF EXISTS bulk_probe"))
    metadata = sa.MetaData()
    table = sa.Table(
        "bulk_probe",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40)),
        sa.Column("at", UTCDateTime()),
        sa.Column("amount", Money()),
        sa.Column("flag", sa.Boolean),
        sa.Column("blob", sa.LargeBinary),
        sa.Column("details", sa.JSON),
    )
    metadata.create_all(db.connection())
    return table


def _rows(n: int) -> list[dict]:
    return [
        {
            "id": i + 1,
            "name": TEXTS[i % len(TEXTS)],
            "at": AT + dt.timedelta(seconds=i % 3) if i % 4 else None,
            "amount": Decimal(i) / 4,
            "flag": i % 2 == 0,
            "blob": bytes(range(i % 7, i % 7 + 33)) if i % 5 else None,
            "details": {"n": i % 2, "text": TEXTS[i % len(TEXTS)]} if i % 3 else {},
        }
        for i in range(n)
    ]


def _stored(db, table) -> list[tuple]:
    return [tuple(row) for row in db.connection().execute(sa.select(table).order_by(table.c.id))]


def test_inserted_rows_read_back_as_given(db, probe):
    rows = _rows(50)
    driver_executemany(db.connection(), probe, rows)
    assert _stored(db, probe) == [tuple(row.values()) for row in rows]


def test_updates_set_the_given_columns_of_the_matched_rows(db, probe):
    driver_executemany(db.connection(), probe, _rows(20))
    changes = [{"name": f"new {i}", "blob": None, "flag": None, "id": i} for i in range(1, 21, 2)]
    driver_executemany(db.connection(), probe, changes, where=("id",))
    expected = [tuple(row.values()) for row in _rows(20)]
    for change in changes:
        before = expected[change["id"] - 1]
        expected[change["id"] - 1] = (before[0], change["name"], *before[2:4], None, None, before[6])
    assert _stored(db, probe) == expected


def test_a_key_given_twice_ends_with_its_last_values(db, probe):
    driver_executemany(db.connection(), probe, _rows(3))
    changes = [{"name": "first", "id": 2}, {"name": "other", "id": 3}, {"name": "last", "id": 2}]
    driver_executemany(db.connection(), probe, changes, where=("id",))
    assert [row[1] for row in _stored(db, probe)] == [TEXTS[0], "last", "other"]


def test_a_value_too_long_for_its_column_is_refused_not_cut(db, probe, backend):
    if backend == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    driver_executemany(db.connection(), probe, _rows(2))
    with pytest.raises(Exception, match="too long"):
        driver_executemany(db.connection(), probe, [{"name": "x" * 41, "id": 1}], where=("id",))
