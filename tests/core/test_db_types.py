"""Money stays exact and timestamps stay UTC on both backends."""

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from core.db import Money, UTCDateTime

money_probe = sa.table("money_probe", sa.column("id", sa.Integer), sa.column("amount", Money()))


@pytest.fixture
def probe(db):
    db.connection().execute(sa.text("DROP TABLE IF EXISTS money_probe"))
    metadata = sa.MetaData()
    table = sa.Table(
        "money_probe",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("amount", Money()),
        sa.Column("at", UTCDateTime()),
    )
    metadata.create_all(db.connection())
    return table


def test_money_round_trips_exactly_and_sums_exactly(db, probe):
    amounts = [Decimal("0.1"), Decimal("0.2"), Decimal("112.3267"), Decimal("99999999999.9999")]
    db.connection().execute(probe.insert(), [{"amount": a} for a in amounts])
    stored = db.connection().execute(sa.select(probe.c.amount).order_by(probe.c.id)).scalars().all()
    assert stored == amounts
    assert all(isinstance(a, Decimal) for a in stored)
    total = db.connection().execute(sa.select(sa.func.sum(probe.c.amount))).scalar_one()
    assert Decimal(total) == sum(amounts)


@pytest.mark.parametrize(("value", "error"), [(0.1, TypeError), (Decimal("1.00001"), ValueError)])
def test_money_refuses_floats_and_excess_precision(db, probe, value, error):
    with pytest.raises(StatementError) as err:
        db.connection().execute(probe.insert(), {"amount": value})
    assert isinstance(err.value.orig, error)


def test_timestamps_come_back_aware_utc(db, probe):
    shanghai = dt.timezone(dt.timedelta(hours=8))
    at = dt.datetime(2026, 3, 1, 9, 30, tzinfo=shanghai)
    db.connection().execute(probe.insert(), {"amount": Decimal(1), "at": at})
    back = db.connection().execute(sa.select(probe.c.at)).scalar_one()
    assert back == at and back.tzinfo == dt.UTC and back.hour == 1


def test_naive_timestamps_are_refused(db, probe):
    with pytest.raises(StatementError):
        db.connection().execute(probe.insert(), {"amount": Decimal(1), "at": dt.datetime(2026, 1, 1)})


def test_a_read_only_unit_of_work_reads_beside_a_writer_on_sqlite(tmp_path):
    """GET requests begin deferred: while another connection holds SQLite's write lock they still read."""
    import sqlite3

    from core.db import READ_ONLY, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'locks.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    writer, reader = engine.connect(), engine.connect()
    try:
        writer.begin()  # BEGIN IMMEDIATE: holds the write lock
        writer.execute(sa.text("INSERT INTO t VALUES (2)"))
        reader.connection.driver_connection.execute("PRAGMA busy_timeout=0")  # refuse at once instead of waiting
        with pytest.raises(sqlite3.OperationalError, match="locked"):  # raised by the driver in the begin hook
            reader.begin()  # a writing unit of work queues for the lock (here: refused, as no wait is allowed)
        reader.rollback()
        reader.info[READ_ONLY] = True
        with reader.begin():
            assert reader.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 1  # the committed snapshot
        assert READ_ONLY not in reader.info  # the flag covers one transaction only
    finally:
        writer.rollback()
        writer.close()
        reader.close()
        engine.dispose()
