"""Reporting helpers shared by the benchmarks: tables, spreads and the ratio against a target."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scripts.bench.common import LoadResult


def mean_rps(results: Sequence[LoadResult]) -> float:
    """Return the mean requests per second of several measurements."""
    return sum(result.rps for result in results) / len(results) if results else 0.0


def mean_cpu_us(results: Sequence[LoadResult]) -> float:
    """Return the server CPU microseconds per request over several measurements (NaN if not measured)."""
    if not results or any(result.server_cpu_s is None for result in results):
        return math.nan
    ok = sum(result.ok for result in results)
    return sum(result.server_cpu_s for result in results) / ok * 1e6 if ok else math.nan


def spread(values: Sequence[float]) -> float:
    """Return (max - min) / mean of the values: how much repeated measurements disagree."""
    mean = sum(values) / len(values) if values else 0.0
    return (max(values) - min(values)) / mean if mean else math.nan


def print_results(results: Sequence[LoadResult]) -> None:
    """Print one row per measurement: requests, errors, requests/s and latency percentiles."""
    width = max([len("measurement"), *(len(result.label) for result in results)])
    print(f"{'measurement':<{width}}  {'ok':>8}  {'errors':>6}  {'secs':>6}  {'req/s':>8}  "
          f"{'p50 ms':>7}  {'p95 ms':>7}  {'p99 ms':>7}  {'server CPU µs/req':>17}")  # fmt: skip
    for r in results:
        print(
            f"{r.label:<{width}}  {r.ok:>8}  {r.error_count:>6}  {r.seconds:>6.2f}  {r.rps:>8.1f}  "
            f"{r.percentile(50):>7.2f}  {r.percentile(95):>7.2f}  {r.percentile(99):>7.2f}  "
            f"{r.cpu_us_per_request:>17.0f}"
        )


def print_errors(results: Sequence[LoadResult]) -> None:
    """Print what went wrong in each measurement that had errors."""
    for r in results:
        if r.errors:
            kinds = ", ".join(f"{kind} × {count}" for kind, count in r.errors.most_common())
            print(f"errors in {r.label}: {kinds}")


def print_ratio(name: str, ratio: float, target: float) -> bool:
    """Print a ratio against its target with PASS or MISS; return whether it passed."""
    passed = ratio >= target
    print(f"{name} = {ratio:.3f}  (target ≥ {target:g}): {'PASS' if passed else 'MISS'}")
    return passed
