"""Benchmark receiving a shipment of 10,000 packs by their scanned codes in one call (goal ≥ 5,000 codes/s).

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_receive [--packs 10000] [--gs1] [--cases 10] [--rounds 1] [--profile 30]
    .venv/bin/python -m scripts.bench.bench_receive --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The database (a temporary SQLite file, or a throwaway PostgreSQL database with ``--database-url``) is migrated and
seeded through the services (``scripts.bench.order_world``): a hospital with awarded products delivered by a
distributor. For each round the hospital orders ``--packs`` packs of one product, the distributor confirms, the
maker commissions the packs (loose, or with ``--cases N`` aggregated into cases of N) and moves them to the
distributor through ``trace.capture`` in batches of at most 5,000 events, and the distributor ships them against
the order (``fulfilment.ship_order``; the cases, if any). Seeding runs in a child process, so that the peak memory
reported is that of the receipt alone (plus the imports).

Timed: ``receiving.receive_shipment`` as the hospital's pharmacist with every pack's scanned text in one call —
20-digit codes, or with ``--gs1`` GS1 element strings with a GS separator, which parse slower — then the commit,
as one request would do (the request body's digest is computed beforehand). It prints codes/s against the goal,
the split of the time between phases (timers wrapped around the functions of ``receiving``, ``trace.capture``,
``trace.ledger`` and ``trace.state``, for this process only; what is left is locks, checks and the audit record),
the SQL statements issued and the peak RSS. After the commit it checks that every pack was received: the receipt
counts them all and refuses none, the order line's received_qty is the pack count, every shipment pack is received
and has a receive event in the trace record, and the hospital is the custodian of every pack. ``--profile N``
runs the call under cProfile (the figures then include its overhead) and prints the top N functions.
Exit status: 0 PASS, 1 MISS, 2 a failed check.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import multiprocessing
import os
import platform
import pstats
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from core.accounts import actor_for_user
from core.db import make_engine, new_session
from core.schema import upgrade
from procurement.orders import receiving
from procurement.orders.models import OrderLine, Receipt
from scripts.bench.bench_me import bench_database, fail
from scripts.bench.order_world import seed_order_world, shipped_order
from trace import capture, ledger
from trace.canonical import canonical_bytes
from trace.state import BatchState

TARGET_CODES_PER_SECOND = 5_000  # from the issue
MAX_PACKS = 100_000
SEED_TIMEOUT = 1800.0  # seconds for the child that seeds every round
# What the timers wrap: (label, owner, attribute). Indented labels run inside the one above them.
PHASES = (
    ("parse scans", receiving, "parse_scans"),
    ("load the shipment's packs", receiving, "_shipment_packs"),
    ("receipt row", receiving, "_record"),
    ("trace capture", receiving, "_capture_receive"),
    ("  load packs, apply transitions", capture, "_apply"),
    ("  ledger append", ledger, "append"),
    ("  pack state updates", BatchState, "write_changes"),
    ("shipment pack updates", receiving, "_write_packs"),
    ("line and shipment counts", receiving, "_update_counts"),
)


@dataclass(frozen=True)
class Round:
    order_id: int
    shipment_id: int
    codes: list[str]


@dataclass(frozen=True)
class Seeded:
    hospital_id: int
    hospital_user_id: int
    rounds: list[Round]
    seconds: float


def seed(url: str, args: argparse.Namespace) -> Seeded:
    """Seed the world and ship one order of ``--packs`` packs per round; return what the receipts need."""
    began = time.perf_counter()
    world = seed_order_world(url, listed=0)
    rounds = []
    engine = make_engine(url)
    try:
        with new_session(engine) as session:
            for _round in range(args.rounds):
                order, shipment, codes = shipped_order(session, world, packs=args.packs, gs1=args.gs1,
                                                       case_size=args.cases)  # fmt: skip
                session.commit()
                rounds.append(Round(order.id, shipment.id, codes))
    finally:
        engine.dispose()
    return Seeded(world.hospital_id, world.user_ids["hospital"], rounds, time.perf_counter() - began)


def _seed_child(url: str, args: argparse.Namespace, results: multiprocessing.Queue) -> None:
    try:
        results.put(seed(url, args))
    except BaseException as exc:  # reported to the parent, which fails the check
        results.put(f"{type(exc).__name__}: {exc}")
        raise


def seed_in_child(url: str, args: argparse.Namespace) -> Seeded:
    """Seed in a forked child process, so that its memory does not count in this process's peak."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_seed_child, args=(url, args, results), daemon=True)
    child.start()
    try:
        outcome = results.get(timeout=SEED_TIMEOUT)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
            child.join(timeout=5)
    if isinstance(outcome, str):
        fail(f"seeding failed: {outcome}")
    return outcome


class PhaseTimer:
    """Wall time spent inside wrapped functions, by label; the wrappers are removed on exit."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def _wrap(self, label: str, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - began
                self.calls[label] += 1

        return timed

    @contextlib.contextmanager
    def wrapping(self, phases=PHASES) -> Iterator[PhaseTimer]:
        """Wrap every phase's function for the duration of the block."""
        originals = [(owner, name, getattr(owner, name)) for _label, owner, name in phases]
        try:
            for (label, owner, name), (_, _, function) in zip(phases, originals, strict=True):
                setattr(owner, name, self._wrap(label, function))
            yield self
        finally:
            for owner, name, function in originals:
                setattr(owner, name, function)


@dataclass
class Measured:
    call: float
    commit: float
    cpu: float  # this process's CPU seconds over call and commit (the database server's not included)
    statements: int
    phases: PhaseTimer
    receipt_id: int

    @property
    def total(self) -> float:
        return self.call + self.commit


def receive(engine: sa.Engine, seeded: Seeded, one: Round, profiler: cProfile.Profile | None) -> Measured:
    """Receive one shipment in one call and commit, timing the phases; return the figures."""
    statements = [0]

    def count(*_args) -> None:
        statements[0] += 1

    with new_session(engine) as session:
        actor = actor_for_user(session, seeded.hospital_user_id)  # the request's authentication, not timed
        body = {"shipment_id": one.shipment_id, "codes": one.codes, "refusals": []}
        digest = capture.request_digest(canonical_bytes(body))
        timer = PhaseTimer()
        event.listen(engine, "before_cursor_execute", count)
        try:
            with timer.wrapping(), profiler or contextlib.nullcontext():
                cpu, began = time.process_time(), time.perf_counter()
                receipt, created = receiving.receive_shipment(
                    session, shipment_id=one.shipment_id, codes=one.codes, actor=actor,
                    idempotency_key=f"bench-receive-{one.shipment_id}", request_sha256=digest,
                )  # fmt: skip
                called = time.perf_counter()
                session.commit()
                committed = time.perf_counter()
        finally:
            event.remove(engine, "before_cursor_execute", count)
        if not created:
            fail(f"shipment {one.shipment_id} had already been received")
        cpu = time.process_time() - cpu
        return Measured(called - began, committed - called, cpu, statements[0], timer, receipt.id)


def verify(engine: sa.Engine, seeded: Seeded, one: Round, measured: Measured, packs: int) -> int:
    """Fail unless every pack was received, on the receipt, the order line, the shipment and in the trace record.

    Return the number of receive events written.
    """
    with new_session(engine) as session:
        receipt = session.get(Receipt, measured.receipt_id)
        lines = list(session.exec(sa.select(OrderLine).where(OrderLine.order_id == one.order_id)).scalars())
        params = {"s": one.shipment_id, "p": f"receipt-{receipt.id}-%", "h": seeded.hospital_id}
        received = session.execute(sa.text(
            "SELECT count(*) FROM shipment_packs WHERE shipment_id = :s AND status = 'received' AND receipt_id = :r"
        ), {**params, "r": receipt.id}).scalar_one()  # fmt: skip
        events = session.execute(sa.text(
            "SELECT count(*) FROM trace_events e JOIN capture_batches b ON b.id = e.batch_id "
            "WHERE b.client_batch_id LIKE :p AND b.accepted AND e.type = 'receive'"
        ), params).scalar_one()  # fmt: skip
        packs_with_event = session.execute(sa.text(
            "SELECT count(DISTINCT e.item_id) FROM trace_events e JOIN capture_batches b ON b.id = e.batch_id "
            "JOIN shipment_packs sp ON sp.item_id = e.item_id AND sp.shipment_id = :s "
            "WHERE b.client_batch_id LIKE :p AND e.type = 'receive'"
        ), params).scalar_one()  # fmt: skip
        held = session.execute(sa.text(
            "SELECT count(*) FROM shipment_packs sp JOIN trace_items i ON i.id = sp.item_id "
            "WHERE sp.shipment_id = :s AND i.custodian_org_id = :h AND i.pending_org_id IS NULL"
        ), params).scalar_one()  # fmt: skip
    found = {
        "accepted on the receipt": receipt.accepted_count,
        "line received_qty": sum(line.received_qty for line in lines),
        "shipment packs received": received,
        "packs with a receive event": packs_with_event,
        "packs held by the hospital": held,
    }
    wrong = {name: value for name, value in found.items() if value != packs}
    if wrong or receipt.refused_count:
        fail(f"expected {packs} packs received and none refused; found {found}, refused {receipt.refused_count}")
    return events


def print_phases(measured: list[Measured]) -> None:
    """Print the mean time of each phase, its share of the receipt and its calls per round."""
    rounds = len(measured)

    def mean(label: str) -> float:
        return sum(m.phases.seconds[label] for m in measured) / rounds

    total = sum(m.total for m in measured) / rounds
    rows = []
    for label, _owner, _name in PHASES:
        rows.append((label, mean(label), sum(m.phases.calls[label] for m in measured) // rounds))
        if label == "  pack state updates":  # the capture's last timed phase: then what else it did
            inner = sum(mean(lb) for lb, _, _ in PHASES if lb.startswith("  "))
            rows.append(("  the rest (event rows, batch, audit)", mean("trace capture") - inner, None))
    rest = sum(m.call for m in measured) / rounds - sum(mean(lb) for lb, _, _ in PHASES if not lb.startswith(" "))
    rows += [("the rest (locks, checks, audit record)", rest, None),
             ("commit", sum(m.commit for m in measured) / rounds, None), ("total", total, None)]  # fmt: skip
    print(f"\n{f'phase (mean of {rounds} round(s))':<40} {'seconds':>8} {'share':>6} {'calls':>6}")
    for label, seconds, calls in rows:
        print(f"{label:<40} {seconds:>8.3f} {seconds / total:>6.0%} {'' if calls is None else calls:>6}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.bench_receive", description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, default=10_000, help="packs in the shipment (default 10000)")
    parser.add_argument("--gs1", action="store_true", help="GS1 element strings instead of 20-digit codes")
    parser.add_argument("--cases", type=int, metavar="N", help="ship cases of N packs; every pack is scanned")
    parser.add_argument("--rounds", type=int, default=1, help="shipments received, one after another (default 1)")
    parser.add_argument("--profile", type=int, metavar="N", help="profile the receipts; print the top N functions")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (a throwaway database is made there); "
                        "default: a temporary SQLite file")  # fmt: skip
    args = parser.parse_args(argv)
    if not (1 <= args.packs <= MAX_PACKS and 1 <= args.rounds <= 10):
        parser.error(f"need 1 ≤ packs ≤ {MAX_PACKS} and 1 ≤ rounds ≤ 10")
    if args.cases is not None and not (2 <= args.cases <= 1000 and args.packs % args.cases == 0):
        parser.error("--cases needs 2 ≤ N ≤ 1000 dividing the number of packs")
    return args


def main(argv: list[str] | None = None) -> int:
    """Seed in a child, receive each shipment in one timed call, verify and report."""
    args = parse_args(argv)
    kind = "GS1 element strings" if args.gs1 else "20-digit codes"
    shape = f"in cases of {args.cases}" if args.cases else "loose"
    with (
        tempfile.TemporaryDirectory(prefix="yaolian-bench-receive-") as tmp,
        bench_database(args.database_url, Path(tmp)) as url,
    ):
        upgrade(url)
        seeded = seed_in_child(url, args)
        print(f"database: {sa.make_url(url).get_backend_name()}; {args.rounds} shipment(s) of {args.packs:,} packs "
              f"{shape}, scanned as {kind}; seeded in {seeded.seconds:.1f} s; Python {platform.python_version()}; "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        profiler = cProfile.Profile() if args.profile else None
        engine = make_engine(url)
        measured, events = [], []
        try:
            for n, one in enumerate(seeded.rounds, 1):
                result = receive(engine, seeded, one, profiler)
                events.append(verify(engine, seeded, one, result, args.packs))
                measured.append(result)
                print(f"round {n}: {len(one.codes):,} codes in {result.total:.3f} s (call {result.call:.3f} s, commit "
                      f"{result.commit:.3f} s) = {len(one.codes) / result.total:,.0f} codes/s; CPU {result.cpu:.3f} s; "
                      f"{result.statements} SQL statements; {events[-1]:,} receive events; checked; "
                      f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        finally:
            engine.dispose()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if profiler:
        for order in ("tottime", "cumulative"):
            print(f"\ncProfile of the receipts, top {args.profile} by {order}:")
            pstats.Stats(profiler).strip_dirs().sort_stats(order).print_stats(args.profile)
    print_phases(measured)
    rates = [args.packs / m.total for m in measured]
    cpu_rate = args.packs * len(measured) / sum(m.cpu for m in measured)
    print(
        f"\nthis process's CPU: {cpu_rate:,.0f} codes per CPU second (less disturbed by other load than codes/s; "
        "on PostgreSQL the server's CPU is not included)"
    )
    print(f"peak RSS: {rss_after:.0f} MB ({rss_before:.0f} MB before the first receipt)")
    rate = statistics.median(rates)
    passed = rate >= TARGET_CODES_PER_SECOND
    spread = f", rounds {min(rates):,.0f}–{max(rates):,.0f}" if len(rates) > 1 else ""
    print(f"receive: {rate:,.0f} codes/s (median{spread}; target ≥ {TARGET_CODES_PER_SECOND:,}): "
          f"{'PASS' if passed else 'MISS'}{' (under cProfile)' if profiler else ''}")  # fmt: skip
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
