"""Benchmark prescribing monitoring: load 5,000,000 prescription lines and run every rule (issue 6, rulebook 7).

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_prescribing [--lines 5000000] [--seed 2025] [--region national]

The data: seeded numpy generation of ``--lines`` lines in the ``rx_frame.LINE_COLUMNS`` shape with realistic
cardinalities — 200 hospitals, 20 departments, 20,000 physicians (each in one hospital and department), 2,000
products of 1,000 generic names (popularity skewed), 1,500,000 patients, 12 months of 2025, about 2.2 lines per
prescription, trace codes on 90 % of lines, high-value consumables on inpatient cases — and a few hundred planted
anomalies of every kind, so every rule has work and findings.

The columnar source is a dict of numpy arrays as a database driver would hand over (ids and numbers as int64/float64,
dates as datetime64, categories as codes + labels). Patients, trace codes and cases are the integer ids the database
stores them under (``rx_patients``, ``rx_trace_codes``, ``rx_cases``; trace codes numbered as they first arrive);
the strings of the few ids that findings name come from ``BenchLabels``, which makes them up from the id where a run
reads them from those tables. No Parquet or CSV: pyarrow is not installed and a file format would time the parser,
not the rules.

Timed, in the same run:
- **load + all rules**: build the contract frame from the source (``pd.DataFrame`` + ``rx_frame.conform``: category
  and string dtypes) and ``monitoring.run_rules`` over it, all findings built, with the platform's rule threads
  (``monitoring.rule_threads``: two on a machine of two or more processors; ``--threads`` changes it). The same
  rules on one thread are timed afterwards and printed for information;
- **baseline**: ``lines.groupby(["hospital_id", "physician_id"])["amount"].sum()`` on the loaded frame — one bare
  pandas group-by over the same 5M rows, the median of three runs (the load is not in the baseline; the ratio with
  the load added to the baseline is printed too, for information).

Peak memory is the process's ``ru_maxrss`` (generation included). Exit status: 0 PASS (load + rules ≤ 3 × baseline
and peak < 4 GB), 1 MISS.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time

import numpy as np
import pandas as pd

from procurement.audit import monitoring_lines as ml
from procurement.audit import monitoring_peers as mp
from procurement.audit.monitoring import rule_threads, run_rules
from procurement.audit.monitoring_rules import KEY_DRUGS, monitoring_params
from procurement.audit.rx_frame import LINE_COLUMNS, RECEIVED_COLUMNS, conform

TARGET_RATIO = 3.0  # issue 6: load + all rules ≤ 3 × the bare group-by
TARGET_BYTES = 4 * 1024**3
BASELINE_RUNS = 3  # the group-by is short and the machine shared: its median of three
HOSPITALS, DEPARTMENTS, PHYSICIANS, PRODUCTS, PATIENTS = 200, 20, 20_000, 2_000, 1_500_000
SETTINGS = np.array(["outpatient", "emergency", "inpatient"], dtype=object)
CLASSES = np.array(["", "antimicrobial", "narcotic", "psychotropic_1", "special_storage"], dtype=object)


def generate(n: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Return seeded columnar sources (numpy arrays) of ``n`` lines and of the hospitals' receipts."""
    rng = np.random.default_rng(seed)
    n_rx = max(1, int(n / 2.2))
    # Prescriptions: 1 + Poisson(1.2) lines each, so ~0.8 % exceed 5 drugs.
    sizes = 1 + rng.poisson(1.2, n_rx)
    rx_of_line = np.repeat(np.arange(n_rx), sizes)[:n]
    if len(rx_of_line) < n:
        rx_of_line = np.concatenate([rx_of_line, np.full(n - len(rx_of_line), n_rx - 1)])
    physician = rng.integers(0, PHYSICIANS, n_rx)
    hospital = physician % HOSPITALS
    department = (physician // HOSPITALS) % DEPARTMENTS
    day = np.sort(rng.integers(0, 365, n_rx))  # prescription ids rise with time, as in a hospital system
    setting = rng.choice(3, n_rx, p=[0.7, 0.1, 0.2])
    chronic = (rng.random(n_rx) < 0.15) & (setting == 0)
    reason = rng.random(n_rx) < 0.05
    patients = max(1, min(PATIENTS, int(n * 0.3)))  # 5M lines: 1.5M patients
    patient = rng.integers(0, patients, n_rx)

    popularity = 1.0 / np.arange(1, PRODUCTS + 1) ** 0.8
    product = rng.choice(PRODUCTS, n, p=popularity / popularity.sum())
    generic = product // 2
    awarded = generic % 2 == 0  # half the generic names are awarded; the even product of the pair won
    product = np.where(awarded & (rng.random(n) < 0.95), generic * 2, product)  # hospitals mostly use the winner
    price = np.round(rng.lognormal(3.0, 1.0, PRODUCTS), 2)
    product_class = np.where(rng.random(PRODUCTS) < 0.05, rng.integers(1, len(CLASSES), PRODUCTS), 0)
    quantity = rng.integers(1, 4, n).astype("float64")
    line_setting = setting[rx_of_line]
    days = np.where(line_setting == 1, rng.integers(1, 4, n), rng.integers(3, 8, n)).astype("float64")
    long_ones = rng.random(n) < 0.01
    days[long_ones] = rng.integers(8, 100, long_ones.sum())
    abnormal = rng.random(n) < 0.002
    careless = physician[rx_of_line] % 1_000 == 7  # planted: 20 physicians write many abnormal prescriptions
    abnormal |= careless & (rng.random(n) < 0.3)
    justified = abnormal & (rng.random(n) < 0.3)
    consumable = (line_setting == 2) & (rng.random(n) < 0.05)
    amount = np.round(quantity * price[product] * np.where(consumable, 20.0, 1.0), 2)
    winner = np.where(np.arange(PRODUCTS // 2) % 2 == 0, np.arange(PRODUCTS // 2) * 2, -1)
    trace = rng.random(n) < 0.9
    duplicated_trace = np.flatnonzero(trace)[rng.integers(0, trace.sum(), max(1, n // 20_000))]

    # Patients, trace codes and cases are the integer ids the database interns them under (rx_patients,
    # rx_trace_codes, rx_cases): codes numbered as they first arrive, so a period's codes are close together.
    codes = np.where(trace, np.cumsum(trace), 0).astype("int64")
    codes[duplicated_trace] = codes[duplicated_trace - 1]  # planted: a pack dispensed again (usually to someone else)
    case = np.where(consumable, rx_of_line // 3 + 1, 0).astype("int64")

    dept_labels = np.array([f"D{d:02d}" for d in range(DEPARTMENTS)], dtype=object)
    generic_labels = np.array([f"G{g:04d}" for g in range(PRODUCTS // 2)], dtype=object)
    generic_labels[[8, 30, 60]] = KEY_DRUGS["drugs"]  # key-monitored drugs: the 9th, 31st and 61st most used
    lines = {
        "line_id": np.arange(1, n + 1, dtype="int64"),
        "prescription_id": rx_of_line.astype("int64") + 1,
        "hospital_id": hospital[rx_of_line].astype("int64") + 1,
        "department": (department[rx_of_line], dept_labels),
        "physician_id": physician[rx_of_line].astype("int64") + 1,
        "patient_id": patient[rx_of_line].astype("int64") + 1,
        "prescribed_on": (np.datetime64("2025-01-01") + day[rx_of_line]).astype("datetime64[ns]"),
        "setting": (line_setting, SETTINGS),
        "product_id": product.astype("int64") + 1,
        "generic_name": (generic, generic_labels),
        "drug_class": (product_class[product], CLASSES),
        "quantity": quantity,
        "days_supply": days,
        "amount": amount,
        "chronic": chronic[rx_of_line],
        "reason_recorded": reason[rx_of_line],
        "abnormal": abnormal,
        "abnormal_justified": justified,
        "trace_code_id": codes,
        "winning_product_id": np.where(winner[generic] >= 0, winner[generic] + 1, -1),
        "consumable": consumable,
        "case_id": case,
    }
    # Receipts: every dispensed hospital × product received with a 10 % margin, except a planted few.
    pairs = pd.DataFrame({"h": lines["hospital_id"], "p": lines["product_id"], "q": quantity})
    got = pairs.groupby(["h", "p"], sort=False)["q"].sum().reset_index()
    short = rng.random(len(got)) < 0.001
    received = {
        "hospital_id": got["h"].to_numpy(),
        "product_id": got["p"].to_numpy(),
        "received_packs": np.where(short, got["q"] * 0.5, got["q"] * 1.1).astype("float64"),
        "first_received_on": np.full(len(got), np.datetime64("2024-12-01", "ns")),
    }
    return lines, received


class BenchLabels:
    """The generated data's trace codes and case numbers, made up from their ids (a run reads them by id)."""

    def trace_codes(self, ids) -> dict[int, str]:
        return {int(i): f"cn20:{8_000_000_000_000_000_000 + int(i):020d}" for i in ids}

    def cases(self, ids) -> dict[int, str]:
        return {int(i): f"C{int(i)}" for i in ids}


def load(lines: dict[str, np.ndarray], received: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the contract frames from the columnar source (the timed "load")."""
    columns = {}
    for name, value in lines.items():
        if isinstance(value, tuple):  # category codes + labels
            columns[name] = pd.Categorical.from_codes(value[0], categories=pd.Index(value[1]).astype(str))
        elif name == "winning_product_id":  # values and mask as they are: no per-element NA assignment
            columns[name] = pd.arrays.IntegerArray(np.where(value < 0, 0, value), value < 0)
        elif LINE_COLUMNS[name] == "Int64":  # ids from 1; 0 marks a line without one (NULL in the database)
            columns[name] = pd.arrays.IntegerArray(value, value == 0)
        else:
            columns[name] = value
    frame = conform(pd.DataFrame(columns, copy=False), LINE_COLUMNS)
    return frame, conform(pd.DataFrame(received), RECEIVED_COLUMNS)


def timed(label: str, fn, *args):
    began = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--region", default="national")
    parser.add_argument("--per-rule", action="store_true", help="also time each rule alone (after the main timing)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="rule threads (default: the platform's, monitoring.RULE_THREADS capped by the processors)",
    )
    args = parser.parse_args(argv)
    if args.lines < 1:
        parser.error("--lines must be at least 1")
    params = monitoring_params(args.region)

    began = time.perf_counter()
    source, received_source = generate(args.lines, args.seed)
    print(f"generated {args.lines:,} lines in {time.perf_counter() - began:.1f} s (untimed)")

    began = time.perf_counter()
    (lines, received), load_s = timed("load", load, source, received_source)
    threads = rule_threads(args.threads)
    findings, rules_s = timed("rules", lambda: run_rules(lines, received, params, BenchLabels(), threads=threads))
    total_s = time.perf_counter() - began
    alone_s = None
    if threads > 1:  # for information: the same rules on one thread, after the timed run
        alone_s = timed("rules", lambda: run_rules(lines, received, params, BenchLabels(), threads=1))[1]
    baseline_runs = [
        timed("baseline", lambda: lines.groupby(["hospital_id", "physician_id"])["amount"].sum())[1]
        for _ in range(BASELINE_RUNS)
    ]
    baseline_s = statistics.median(baseline_runs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB

    print(f"python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, {platform.machine()}")
    print(f"lines {len(lines):,}  prescriptions {lines['prescription_id'].nunique():,}  "
          f"physicians {lines['physician_id'].nunique():,}  products {lines['product_id'].nunique():,}  "
          f"receipts rows {len(received):,}")  # fmt: skip
    print("findings by rule:")
    for rule, count in findings["rule"].value_counts().sort_index().items():
        print(f"  {rule:32s} {count:>8,}")
    ratio = total_s / baseline_s
    print(f"load                     {load_s:8.2f} s")
    print(f"all rules                {rules_s:8.2f} s   ({threads} rule thread{'s' if threads > 1 else ''})")
    print(f"load + all rules         {total_s:8.2f} s")
    print(f"baseline group-by        {baseline_s:8.2f} s   (hospital_id, physician_id) → sum(amount), median of "
          f"{', '.join(f'{s:.2f}' for s in baseline_runs)}")  # fmt: skip
    print(f"ratio                    {ratio:8.2f} ×   (target ≤ {TARGET_RATIO:g} ×)")
    print(f"ratio vs load + group-by {total_s / (load_s + baseline_s):8.2f} ×   (information)")
    if alone_s is not None:
        alone_ratio = (load_s + alone_s) / baseline_s
        print(f"all rules on one thread  {alone_s:8.2f} s   ratio {alone_ratio:.2f} × (information)")
    print(f"peak memory              {peak / 1024**3:8.2f} GB  (target < {TARGET_BYTES / 1024**3:g} GB)")
    if args.per_rule:
        for fn in (ml.quantity_rules, ml.drug_count_rule, ml.abnormal_rule, mp.key_drug_rules, mp.peer_rules,
                   mp.consumable_rule, ml.trace_code_rule):  # fmt: skip
            print(f"  {fn.__name__:24s} {timed('', fn, lines, params)[1]:6.2f} s")
        for fn in (ml.non_winning_rule, ml.over_received_rule):
            print(f"  {fn.__name__:24s} {timed('', fn, lines, received, params)[1]:6.2f} s")
    passed = ratio <= TARGET_RATIO and peak < TARGET_BYTES
    print("PASS" if passed else "MISS")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
