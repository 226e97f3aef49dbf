"""Group keys for millions of prescription lines without hashing them over and over.

The rules group the same lines by hospital, physician, product, prescription and month again and again. Hash-based
group-bys (pandas ``groupby``, ``factorize``) cost most of a rule's time at five million lines, so each id column is
turned once into small integer codes — the id minus its minimum when the ids are dense, as database keys are, else
``factorize`` — and keys of several columns are combined arithmetically and compacted with ``bincount``. Sums and
counts per group are then ``np.bincount`` calls, and "the lines of the flagged groups" is one array lookup.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

# The most bins one combined key may span before it is compacted (a float64 bincount of this size is 128 MiB).
DENSE_LIMIT = 1 << 24

MAX_DAY_SPAN = 100_000  # days between the first and last prescription date for the calendar lookup (~270 years)

Codes = tuple[np.ndarray, int]  # (code per line, number of possible codes)


def codes_of(values: np.ndarray) -> Codes:
    """Return integer codes for an id column: offsets from the minimum when dense enough, else factorised."""
    values = np.asarray(values)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), 0
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if span <= max(4 * len(values), 1 << 16) and span <= DENSE_LIMIT:
        return (values - low).astype(np.int64, copy=False), span
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64, copy=False), len(uniques)


def compact(codes: np.ndarray, size: int) -> Codes:
    """Renumber codes so that only the codes in use remain, keeping their order."""
    present = np.bincount(codes, minlength=size) > 0
    remap = np.cumsum(present, dtype=np.int64) - 1
    return remap[codes], int(present.sum())


def combine(*parts: Codes) -> Codes:
    """Combine several code columns into one code per combination: ``codes * n + more`` while the key space stays
    within :data:`DENSE_LIMIT` (codes not in use are allowed: see :func:`used`), compacting or hashing beyond it."""
    codes, size = parts[0]
    for more, n in parts[1:]:
        n = max(n, 1)
        if size * n > DENSE_LIMIT:
            codes, size = compact(codes, size)
        if size * n > DENSE_LIMIT:  # still too wide: hash the combinations that occur
            factorised, uniques = pd.factorize(codes * n + more)
            codes, size = factorised.astype(np.int64, copy=False), len(uniques)
            continue
        codes, size = codes * n + more, size * n
    return codes, size


def used(first: np.ndarray) -> np.ndarray:
    """Return the codes in use, given :func:`first_index` (the groups, in code order)."""
    return np.flatnonzero(first >= 0)


def first_index(codes: np.ndarray, size: int) -> np.ndarray:
    """Return, per code, the position of its first line (−1 for codes not in use)."""
    first = np.full(size, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1, dtype=np.int64)  # later writes win: the first line
    return first


def sums(codes: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Return the per-code sum of ``weights`` (or the line count)."""
    return np.bincount(codes, weights=weights, minlength=size)


class LineGroups:
    """The line frame's group codes, computed once and shared by every rule of a run."""

    def __init__(self, lines: pd.DataFrame) -> None:
        self.lines = lines
        self.n = len(lines)

    def _ids(self, column: str) -> Codes:
        return codes_of(self.lines[column].to_numpy(dtype=np.int64))

    @cached_property
    def hospital(self) -> Codes:
        return self._ids("hospital_id")

    @cached_property
    def physician(self) -> Codes:
        return self._ids("physician_id")

    @cached_property
    def product(self) -> Codes:
        return self._ids("product_id")

    @cached_property
    def prescription(self) -> Codes:
        return self._ids("prescription_id")

    @cached_property
    def department(self) -> Codes:
        return self._category("department")

    @cached_property
    def generic(self) -> Codes:
        return self._category("generic_name")

    def _category(self, column: str) -> Codes:
        cat = self.lines[column].cat
        codes = cat.codes.to_numpy().astype(np.int64)
        n = len(cat.categories)
        return np.where(codes < 0, n, codes), n + 1  # missing values form a group of their own

    @cached_property
    def _months(self) -> np.ndarray:
        """Calendar month (year × 12 + month − 1) of each line, via its day: numpy's month conversion is slow on
        millions of values, but a period spans few distinct days, so only those are converted."""
        days = self.lines["prescribed_on"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
        if not len(days):
            return days
        low = int(days.min())
        span = int(days.max()) - low + 1
        if span > MAX_DAY_SPAN:  # centuries of dates: convert each one
            return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12
        calendar = (
            np.arange(low, low + span).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        ) + 1970 * 12
        return calendar[days - low]

    @cached_property
    def month(self) -> Codes:
        """Calendar months of the prescription date, numbered from the first month present."""
        months = self._months
        if not len(months):
            return months, 0
        return months - self.month_base, int(months.max()) - self.month_base + 1

    @cached_property
    def month_base(self) -> int:
        """The calendar month (year × 12 + month − 1) that month code 0 stands for."""
        return int(self._months.min()) if len(self._months) else 0

    @cached_property
    def first_line_of_prescription(self) -> np.ndarray:
        """Boolean per line: the first line of its prescription (counting each prescription once)."""
        codes, size = self.prescription
        first = first_index(codes, size)
        flags = np.zeros(self.n, dtype=bool)
        flags[first[first >= 0]] = True
        return flags
