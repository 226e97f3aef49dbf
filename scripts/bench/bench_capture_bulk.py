"""Benchmark bulk capture of 1,000,000 events through the capture service against raw bulk writes of the same rows.

Run on demand, never in the test suite (smaller sizes first; the full million takes long, so run it in the
background)::

    .venv/bin/python -m scripts.bench.bench_capture_bulk [--events 1000000] [--batch-size 5000]
    .venv/bin/python -m scripts.bench.bench_capture_bulk --database-url postgresql+psycopg://postgres@127.0.0.1:5432/x

The database (a temporary SQLite file, or a throwaway database on the PostgreSQL server named) is migrated and
seeded with a maker, two hospitals, their users and six products (``scripts.bench.trace_world``), then cloned.

Our path: ``trace.capture.capture`` called as ``trace.importer`` calls it, with a ``BatchIn`` per chunk of
``--batch-size`` events (the importer's and the API's limit, 5,000), one session, one commit per batch. The events
are lots of packs through four steps, one batch per step: the maker commissions the packs and ships them to a
hospital, whose pharmacist receives and dispenses them (``--events`` / 4 packs). Only the capture calls and the
commits are timed; the events are built beforehand, as the importer reads them from a file.

The baseline (``scripts.bench.bulk_rows``): into the clone, exactly the rows our path persisted, read back batch
by batch — per event a ``trace_events`` row, a ``ledger_entries`` row and an update of the pack's ``trace_items``
row (the commission batch inserts it instead), the ``ledger_nodes`` rows completed by the batch's leaves, and per
batch a ``capture_batches`` row, an ``audit_records`` row and the ``ledger_head`` update — each batch in one
transaction, written with ``sqlite3`` ``executemany`` or psycopg ``COPY``. Only its writes and commits are timed.
The ratio is baseline time ÷ our time (goal ≥ 0.4); an inserts-only ratio (no item or head updates) is also shown.
Peak memory is the process's ru_maxrss after our run (goal < 1 GB). Exit status: 0 PASS, 1 MISS, 2 a failed check.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import platform
import pstats
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from core.db import make_engine, new_session, utcnow
from core.schema import upgrade
from scripts.bench.bulk_rows import INSERTED, PostgresWriter, Reader, SqliteWriter
from scripts.bench.report import print_ratio
from scripts.bench.trace_world import World, plan, seed_world
from trace import capture
from trace.canonical import canonical_bytes

TARGET_RATIO = 0.4  # from the issue: our bulk path keeps at least 0.4 of the raw bulk-write speed
MEMORY_LIMIT_MB = 1024
MAX_EVENTS = 10_000_000


@contextlib.contextmanager
def two_databases(server_url: str | None, workdir: Path) -> Iterator[tuple[str, str]]:
    """Yield the URLs of the captured database and of its clone: SQLite files, or throwaway PostgreSQL databases."""
    if not server_url:
        yield f"sqlite:///{workdir / 'ours.db'}", f"sqlite:///{workdir / 'baseline.db'}"
        return
    server = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    names = [f"yaolian_bulk_{os.getpid()}_{uuid.uuid4().hex[:8]}_{n}" for n in ("ours", "base")]
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{names[0]}"')
        try:
            yield tuple(server.set(database=n).render_as_string(hide_password=False) for n in names)
        finally:
            with admin.connect() as conn:
                for name in names:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def clone(source: str, target: str) -> None:
    """Copy the seeded database before the capture: a file copy on SQLite, a template on PostgreSQL."""
    url = sa.make_url(source)
    if url.get_backend_name() == "sqlite":
        with contextlib.closing(sqlite3.connect(url.database)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(url.database, sa.make_url(target).database)
        return
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{sa.make_url(target).database}" TEMPLATE "{url.database}"')
    finally:
        admin.dispose()


def run_ours(world: World, events: int, batch_size: int) -> list[tuple[int, float]]:
    """Capture the planned batches through the service, one commit per batch; return (events, seconds) per batch."""
    actors = world.actors()
    engine = make_engine(world.url)
    timings = []
    try:
        with new_session(engine) as session:
            for number, planned in enumerate(plan(world, events=events, batch_size=batch_size)):
                body = {"file_sha256": "bench", "chunk": number, "events": len(planned.events)}
                batch = capture.BatchIn(
                    client_batch_id=f"bulk-{planned.lot:05d}-{planned.step.value}",
                    events=planned.events,
                    request_sha256=capture.request_digest(canonical_bytes(body)),
                )
                began = time.perf_counter()
                result = capture.capture(session, actor=actors[planned.who], batch=batch, now=utcnow())
                session.commit()
                timings.append((len(planned.events), time.perf_counter() - began))
                if not result.accepted:
                    raise SystemExit(f"check failed: batch {number} was refused: {result.body['rejected'][:3]}")
    finally:
        engine.dispose()
    return timings


def counts(url: str) -> dict[str, int]:
    """Return the row count of every table the capture writes."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in INSERTED}
    finally:
        engine.dispose()


@contextlib.contextmanager
def raw_connection(url: str) -> Iterator[object]:
    """Open a raw DB-API connection (sqlite3 or psycopg) to a database URL."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(parsed.database)
    else:
        import psycopg

        conn = psycopg.connect(_conninfo(url), options="-c timezone=UTC")
    try:
        yield conn
    finally:
        conn.close()


def _conninfo(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run_baseline(ours_url: str, base_url: str) -> tuple[object, int]:
    """Write our path's rows into the clone, batch by batch; return the writer (with its timings) and the row count."""
    postgres = sa.make_url(ours_url).get_backend_name() != "sqlite"
    rows = 0
    with raw_connection(ours_url) as source:
        reader = Reader(source, postgres=postgres)
        columns = {t: reader.columns[t] for t in INSERTED}
        writer = (
            PostgresWriter(_conninfo(base_url), columns)
            if postgres
            else SqliteWriter(sa.make_url(base_url).database, columns)
        )
        try:
            for batch_id in reader.batch_ids():
                batch_rows = reader.read_batch(batch_id)
                rows += batch_rows.row_count
                writer.write(batch_rows)
        finally:
            writer.close()
    return writer, rows


def describe(timings: list[tuple[int, float]]) -> str:
    """Return events/s over the first and the last tenth of the batches, to show how the rate changes with size."""
    tenth = max(1, len(timings) // 10)
    rate = [sum(n for n, _ in part) / sum(s for _, s in part) for part in (timings[:tenth], timings[-tenth:])]
    per_batch = sorted(s for _, s in timings)
    return (f"first tenth {rate[0]:,.0f} events/s, last tenth {rate[1]:,.0f} events/s; per batch p50 "
            f"{per_batch[len(per_batch) // 2] * 1000:.0f} ms, max {per_batch[-1] * 1000:.0f} ms")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.bench_capture_bulk",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--events", type=int, default=1_000_000, help="events to capture (default 1000000)")
    parser.add_argument("--batch-size", type=int, default=capture.MAX_EVENTS, help="events per batch (5000)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (throwaway databases are made there); "
                        "default: temporary SQLite files")  # fmt: skip
    parser.add_argument("--profile", type=int, metavar="N", help="profile our path; print the top N functions")
    args = parser.parse_args(argv)
    if not (4 <= args.events <= MAX_EVENTS and 1 <= args.batch_size <= capture.MAX_EVENTS):
        parser.error(f"need 4 ≤ events ≤ {MAX_EVENTS} and 1 ≤ batch size ≤ {capture.MAX_EVENTS}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Seed, clone, capture through the service, replay the rows raw, and compare."""
    args = parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="yaolian-bench-bulk-") as tmp,
        two_databases(args.database_url, Path(tmp)) as (ours_url, base_url),
    ):
        backend = sa.make_url(ours_url).get_backend_name()
        upgrade(ours_url)
        world = seed_world(ours_url, hospitals=2)
        clone(ours_url, base_url)
        print(f"database: {backend}; {args.events:,} events in batches of {args.batch_size}; Python "
              f"{platform.python_version()}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        profiler = cProfile.Profile() if args.profile else None
        with profiler or contextlib.nullcontext():
            timings = run_ours(world, args.events, args.batch_size)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ours = sum(s for _, s in timings)
        captured = sum(n for n, _ in timings)
        ours_counts = counts(ours_url)
        if ours_counts["trace_events"] != captured or ours_counts["ledger_entries"] != captured:
            print(f"check failed: {captured} events captured but the tables hold {ours_counts}", file=sys.stderr)
            return 2
        writer, rows = run_baseline(ours_url, base_url)
        if counts(base_url) != ours_counts:
            print(f"check failed: the baseline wrote {counts(base_url)}, ours {ours_counts}", file=sys.stderr)
            return 2
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    seconds = writer.seconds
    inserts = sum(seconds[t] for t in INSERTED) + seconds["commit"]
    print(f"\nours (capture service): {ours:8.2f} s  {captured / ours:10,.0f} events/s  ({describe(timings)})")
    print(f"baseline (raw {'COPY' if backend != 'sqlite' else 'executemany'}): {seconds['total']:8.2f} s  "
          f"{captured / seconds['total']:10,.0f} events/s  ({rows:,} rows)")  # fmt: skip
    print("  baseline by table: " + ", ".join(f"{t} {seconds[t]:.2f} s" for t in (*INSERTED, "updates", "commit")))
    print(f"rows per table: {ours_counts}")
    print(f"peak memory (ru_maxrss after our run): {rss_mb:.0f} MB "
          f"({'PASS' if rss_mb < MEMORY_LIMIT_MB else 'MISS'}, goal < {MEMORY_LIMIT_MB} MB)")  # fmt: skip
    print(f"inserts-only ratio (baseline without item and head updates) = {inserts / ours:.3f}")
    passed = print_ratio("ratio baseline ÷ ours", seconds["total"] / ours, TARGET_RATIO)
    return 0 if passed and rss_mb < MEMORY_LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
