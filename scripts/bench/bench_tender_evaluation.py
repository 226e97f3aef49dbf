"""Benchmark the tender rules engine: evaluate a batch of 100 lots × 20 bids and allocate 5,000 hospitals.

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_tender_evaluation [--rule-set vbp.batch11] [--repeat 15] [--seed 2025]

What "allocating 5,000 hospitals" means here: 5,000 hospitals in Fujian's 9 prefectures, each reporting demand for
a seeded random subset of the batch's lots (each lot with probability ``--lots-per-hospital`` / lots, 10 of 100 on
average: a hospital reports the drugs it uses, not the whole batch), about a third of them by brand (1.5.3). Every
lot's hospitals are then allocated (``allocate_batch`` once, on the demand columns as the award's
query returns them), so the timed work is one ``evaluate_batch`` over 2,000 bids plus ~50,000 hospital allocations
(each hospital's supplier, backup and agreed volume). The shape is printed with the figures; the same allocation
materialised as one record per hospital is timed for information.

The baseline, timed in the same run on the same bid inputs: build a pandas DataFrame from the bids (lot, bid,
supplier, product, price, UCP, submission time) and sort it by (lot, UCP). UCPs are converted to float for pandas
(its fast path, so the stricter baseline); the same sort on the Decimal objects is printed for information. Each
figure is the median of ``--repeat`` runs after a warm-up. The results are checked outside the timing (one outcome
per bid, every hospital allocated exactly once) so that a fast wrong answer cannot pass.
Exit status: 0 PASS (engine ≤ 10 × baseline), 1 MISS.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal

import pandas as pd

from procurement.rules.allocation import DemandTable, allocate, allocate_batch
from procurement.rules.rulesets import RULE_SETS, get_rule_set
from procurement.rules.selection import evaluate_batch
from procurement.rules.types import BidInput, DosageClass, HospitalDemand, LotCategory, LotInput

TARGET_RATIO = 10.0  # the budget: engine ≤ 10 × the pandas sort of the same bids
FUJIAN = ("350100", "350200", "350300", "350400", "350500", "350600", "350700", "350800", "350900")
Q4 = Decimal("0.0001")


def make_lots(rng: random.Random, lots: int, bids: int) -> list[LotInput]:
    """Return seeded synthetic lots: ceilings of 0.05–50 yuan, ~5 % of bids above the ceiling, some revivals."""
    start = dt.datetime(2025, 10, 27, 9, 0, tzinfo=dt.UTC)
    out, bid_id = [], 0
    for lot_id in range(1, lots + 1):
        ceiling = Decimal(rng.randrange(500, 500_000)) * Q4
        pack = rng.choice((7, 10, 14, 28, 30))
        entries = []
        for supplier in range(1, bids + 1):
            bid_id += 1
            ucp = (ceiling * Decimal(rng.randrange(2_000, 10_500)) / 10_000).quantize(Q4)
            entries.append(
                BidInput(
                    bid_id=bid_id,
                    supplier_id=supplier,
                    product_id=bid_id,
                    price=ucp * pack,
                    ucp=ucp,
                    submitted_at=start + dt.timedelta(seconds=rng.randrange(86_400)),
                    reported_demand=rng.randrange(0, 200_000),
                    sales_coverage=rng.randrange(0, 1_000_000),
                    group=rng.choice("AB"),
                )
            )
        accepted = frozenset(entry.bid_id for entry in entries if rng.random() < 0.3)
        category = rng.choice(tuple(LotCategory))
        dosage = rng.choice(tuple(DosageClass))
        out.append(LotInput(lot_id, ceiling, category, dosage, tuple(entries), accepted))
    return out


def make_demands(rng: random.Random, lots: list[LotInput], hospitals: int, per_hospital: float) -> dict:
    """Return each lot's hospital demands: every hospital reports each lot with probability per_hospital / lots."""
    share = per_hospital / len(lots)
    demands: dict[int, list[HospitalDemand]] = {lot.lot_id: [] for lot in lots}
    for hospital in range(1, hospitals + 1):
        region = FUJIAN[hospital % len(FUJIAN)]
        for lot in lots:
            if rng.random() < share:
                brand = rng.choice(lot.bids).product_id if rng.random() < 0.33 else None
                base = int(rng.lognormvariate(8, 1.5)) + 1
                demands[lot.lot_id].append(HospitalDemand(hospital, region, base, brand))
    return demands


def allocate_all(rule_set, lots: list[LotInput], results: list, table: DemandTable):
    """Allocate every lot that has a winner in one pass, as the award does."""
    won = {result.lot_id for result in results if result.winners}
    if len(won) < len(results):  # the award's query reads only lots with a winner
        keep = [index for index, lot_id in enumerate(table.lot_ids) if lot_id in won]
        table = DemandTable(*([column[i] for i in keep] for column in dataclasses.astuple(table)))
    categories = {lot.lot_id: lot.category for lot in lots}
    return allocate_batch(rule_set, [r for r in results if r.winners], table, categories=categories)


def engine(rule_set, lots: list[LotInput], table: DemandTable) -> tuple[list, object]:
    """Evaluate the batch, then allocate every lot that has a winner (column-wise, as the award stores them)."""
    results = evaluate_batch(rule_set, lots)
    return results, allocate_all(rule_set, lots, results, table)


def baseline(lots: list[LotInput], as_float: bool) -> pd.DataFrame:
    """Build a DataFrame from the same bids and sort it by (lot, UCP): the same-run yardstick."""
    rows = [
        (lot.lot_id, b.bid_id, b.supplier_id, b.product_id, b.price, b.ucp, b.submitted_at)
        for lot in lots
        for b in lot.bids
    ]
    frame = pd.DataFrame.from_records(rows, columns=["lot_id", "bid_id", "supplier", "product", "price", "ucp", "at"])
    if as_float:
        frame["ucp"] = frame["ucp"].astype(float)
    return frame.sort_values(["lot_id", "ucp"], kind="stable")


def interleaved(calls: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple[float, float]]:
    """Time each call repeat times, taking turns so that all see the same machine load; return median ms (wall, CPU)."""
    for call in calls.values():
        call()  # warm-up
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            began, began_cpu = time.perf_counter(), time.process_time()
            call()
            wall[name].append((time.perf_counter() - began) * 1000)
            cpu[name].append((time.process_time() - began_cpu) * 1000)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in calls}


def check(lots: list[LotInput], demands: dict, results: list, allocations: list) -> None:
    """Fail loudly unless every bid has one outcome and every reporting hospital one allocation."""
    for lot, result in zip(lots, results, strict=True):
        assert sorted(r.bid_id for r in result.results) == sorted(b.bid_id for b in lot.bids), lot.lot_id
        assert len(result.winners) <= result.cap, lot.lot_id
    allocated = set(zip(allocations.lot_ids.tolist(), allocations.hospital_ids.tolist(), strict=True))
    expected = {(lot_id, d.hospital_id) for lot_id, rows in demands.items() for d in rows}
    assert allocated == expected and len(allocations) == len(expected), "allocation is not one per hospital"


def main(argv: list[str] | None = None) -> int:
    """Build the data, time the engine and the pandas baseline, print the figures and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rule-set", default="vbp.batch11", choices=sorted(RULE_SETS))
    parser.add_argument("--lots", type=int, default=100)
    parser.add_argument("--bids", type=int, default=20)
    parser.add_argument("--hospitals", type=int, default=5000)
    parser.add_argument("--lots-per-hospital", type=float, default=10.0, help="mean lots each hospital reports")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)
    rng, rule_set = random.Random(args.seed), get_rule_set(args.rule_set)
    lots = make_lots(rng, args.lots, args.bids)
    demands = make_demands(rng, lots, args.hospitals, args.lots_per_hospital)
    rows = sum(map(len, demands.values()))
    bids = args.lots * args.bids
    print(f"Tender evaluation benchmark: Python {platform.python_version()}, pandas {pd.__version__}, seed {args.seed}")
    print(f"  rule set {rule_set.name} {rule_set.version}; {args.lots} lots × {args.bids} bids = {bids:,} bids")
    print(
        f"  {args.hospitals:,} hospitals in {len(FUJIAN)} regions, each reporting ~{args.lots_per_hospital:g} of "
        f"{args.lots} lots: {rows:,} hospital-lot demands ({rows / args.lots:,.0f} per lot), all allocated"
    )
    # The demands as the award's one query returns them: columns over every lot (built outside the timing).
    table = DemandTable.from_demands(demands)
    results, allocations = engine(rule_set, lots, table)
    check(lots, demands, results, allocations)
    won = sum(len(r.winners) for r in results)
    print(f"  checked: one outcome per bid, {won} winners, {len(allocations):,} allocations, one each")

    pairs = [(lot, result) for lot, result in zip(lots, results, strict=True) if result.winners]
    timed = interleaved(
        {
            "evaluate": lambda: evaluate_batch(rule_set, lots),
            "allocate": lambda: allocate_all(rule_set, lots, results, table),
            "allocate_records": lambda: [
                allocate(rule_set, r, demands[lot.lot_id], category=lot.category) for lot, r in pairs
            ],
            "engine": lambda: engine(rule_set, lots, table),
            "pandas_decimal": lambda: baseline(lots, False),
            "pandas_float": lambda: baseline(lots, True),
        },
        args.repeat,
    )
    base_name = min(("pandas_decimal", "pandas_float"), key=lambda name: timed[name][0])
    base_ms, base_cpu = timed[base_name]
    print(f"\nMedians of {args.repeat} interleaved runs (wall ms, CPU ms); baseline = the faster pandas variant")
    labels = {
        "evaluate": f"evaluate_batch ({bids:,} bids)",
        "allocate": f"allocate_batch ({rows:,} hospital-lots)",
        "allocate_records": "  (same, materialised as records; info)",
        "engine": "engine: evaluate + allocate",
        "pandas_decimal": "pandas build + sort, Decimal UCPs",
        "pandas_float": "pandas build + sort, float UCPs",
    }
    for name, label in labels.items():
        wall, cpu = timed[name]
        mark = "  <- baseline" if name == base_name else ""
        print(f"  {label:<40} {wall:8.2f} {cpu:8.2f}   {wall / base_ms:6.1f}× baseline{mark}")
    per_bid = timed["evaluate"][0] * 1000 / bids
    per_row = timed["allocate"][0] * 1000 / max(rows, 1)
    budget_rows = max(0.0, TARGET_RATIO * base_ms - timed["evaluate"][0]) * 1000 / per_row
    print(f"  {per_bid:.1f} µs per bid evaluated, {per_row:.2f} µs per hospital-lot allocated")
    print(f"  the {TARGET_RATIO:g}× budget would cover evaluation plus ~{budget_rows:,.0f} hospital-lot allocations")
    ratio, cpu_ratio = timed["engine"][0] / base_ms, timed["engine"][1] / base_cpu
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(f"\n{verdict}: engine / baseline = {ratio:.1f}× wall, {cpu_ratio:.1f}× CPU (target ≤ {TARGET_RATIO:g}×)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
