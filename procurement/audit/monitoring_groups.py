"""Group keys for millions of prescription lines without hashing them over and over.

The rules group the same lines by hospital, physician, product, prescription and month again and again. Hash-based
group-bys (pandas ``groupby``, ``factorize``) cost most of a rule's time at five million lines, so each id column is
turned once into small integer codes — the id minus its minimum when the ids are dense, as database keys are, else
``factorize`` — and keys of several columns are combined arithmetically and compacted with ``bincount``. Sums and
counts per group are then ``np.bincount`` calls, and "the lines of the flagged groups" is one array lookup.
"""

from __future__ import annotations

from functools import cached_property, lru_cache

import numpy as np
import pandas as pd

from procurement.audit.rx_frame import NO_LABELS, Labels

# The most bins one combined key may span before it is compacted (a float64 bincount of this size is 128 MiB).
DENSE_LIMIT = 1 << 24

MAX_DAY_SPAN = 100_000  # days between the first and last prescription date for the calendar lookup (~270 years)
NS_PER_DAY = 86_400 * 10**9

Codes = tuple[np.ndarray, int]  # (code per line, number of possible codes)


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Return integer codes for an id column, their number and the id each code stands for.

    Codes are the ids themselves when they are small, else offsets from the minimum when the ids are dense enough
    (codes of ids absent are allowed), else factorised. The codes may share memory with ``values``: never modify them.
    """
    values = np.asarray(values)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), 0, np.zeros(0, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if low >= 0 and high < max(4 * len(values), 1 << 16) and high < DENSE_LIMIT:  # ids from 0 or 1 up: as they are
        return values.astype(np.int64, copy=False), high + 1, np.arange(high + 1, dtype=np.int64)
    if span <= max(4 * len(values), 1 << 16) and span <= DENSE_LIMIT:
        return (values - low).astype(np.int64, copy=False), span, np.arange(low, high + 1, dtype=np.int64)
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64, copy=False), len(uniques), np.asarray(uniques, dtype=np.int64)


def codes_of(values: np.ndarray) -> Codes:
    """Return integer codes for an id column: offsets from the minimum when dense enough, else factorised."""
    codes, size, _ = dense_codes(values)
    return codes, size


def compact(codes: np.ndarray, size: int) -> Codes:
    """Renumber codes so that only the codes in use remain, keeping their order."""
    present = np.bincount(codes, minlength=size) > 0
    remap = np.cumsum(present, dtype=np.int64) - 1
    return remap[codes], int(present.sum())


def combine(*parts: Codes) -> Codes:
    """Combine several code columns into one code per combination: ``codes * n + more`` while the key space stays
    within :data:`DENSE_LIMIT` (codes not in use are allowed: see :func:`used`), compacting or hashing beyond it.

    When the whole key space is too wide, parts that the widest part determines (a physician works in one hospital
    and department) are dropped first: each code of the widest part is then already one combination. The codes may
    share memory with a part's: never modify them.
    """
    ordered = sorted(parts, key=lambda part: -part[1])
    if np.prod([max(n, 1) for _, n in ordered], dtype=float) > DENSE_LIMIT:
        ordered = [ordered[0], *_undetermined(ordered[0], ordered[1:])]
    codes, size = ordered[0]
    for more, n in ordered[1:]:
        n = max(n, 1)
        if size * n > DENSE_LIMIT:
            codes, size = compact(codes, size)
        if size * n > DENSE_LIMIT:  # still too wide: hash the combinations that occur
            factorised, uniques = pd.factorize(np.multiply(codes, n, dtype=np.int64) + more)
            codes, size = factorised.astype(np.int64, copy=False), len(uniques)
            continue
        codes = np.multiply(codes, n, dtype=np.int64)  # a new array (parts may be narrow): the parts stay untouched
        codes += more
        size *= n
    return codes, size


def _undetermined(widest: Codes, others: list[Codes]) -> list[Codes]:
    """Return the parts whose value is not the same on every line of a code of ``widest``.

    The other parts are first combined into one narrow code and checked once: usually the widest part (a physician)
    determines them all (a hospital and a department) and nothing more is needed. Otherwise each is checked alone.
    """
    codes, size = widest
    if not len(codes):
        return others
    span = int(np.prod([max(n, 1) for _, n in others], dtype=float))
    if len(others) > 1 and span <= np.iinfo(np.int32).max:
        narrow = np.int16 if span <= np.iinfo(np.int16).max else np.int32
        joint = others[0][0].astype(narrow)
        for more, n in others[1:]:
            joint *= max(n, 1)
            joint += more.astype(narrow, copy=False)
        if _determined(codes, size, joint):
            return []
    return [(more, n) for more, n in others if not _determined(codes, size, more)]


def _determined(codes: np.ndarray, size: int, values: np.ndarray) -> bool:
    """Whether ``values`` is the same on every line of each code: each line's value is written into a table indexed
    by its code (the last write wins), read back at every line and compared. The table has one entry per code, so
    both passes stay in the cache, where gathering from each code's first line would read the whole column at random.
    """
    seen = np.zeros(size, dtype=values.dtype)
    seen[codes] = values
    return bool(np.array_equal(seen[codes], values))


def used(first: np.ndarray) -> np.ndarray:
    """Return the codes in use, given :func:`first_index` (the groups, in code order)."""
    return np.flatnonzero(first >= 0)


def first_index(codes: np.ndarray, size: int) -> np.ndarray:
    """Return, per code, the position of its first line (−1 for codes not in use)."""
    first = np.full(size, -1, dtype=np.int64)
    first[codes[::-1]] = positions(len(codes))[::-1]  # later writes win: the first line
    return first


@lru_cache(maxsize=4)
def positions(n: int) -> np.ndarray:
    """Return ``0 … n − 1`` as a read-only int64 array, made once per length while a run lasts.

    A run asks for the positions of its five million lines again and again; :func:`forget_positions` drops them
    when the run ends, so a long-lived process keeps no large array between runs.
    """
    out = np.arange(n, dtype=np.int64)
    out.flags.writeable = False
    return out


def forget_positions() -> None:
    positions.cache_clear()


def sums(codes: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Return the per-code sum of ``weights`` (or the line count)."""
    return np.bincount(codes, weights=weights, minlength=size)


def category_codes(categorical: pd.Series) -> Codes:
    """Return a categorical column's codes, missing values forming a group of their own (the last).

    The codes keep pandas' narrow integer type (a widened copy of millions of codes costs a pass for nothing):
    arithmetic on them must widen first, as :func:`combine` does.
    """
    codes = categorical.cat.codes.to_numpy()
    n = len(categorical.cat.categories)
    missing = codes < 0
    if missing.any():
        codes = codes.astype(np.int16 if n <= np.iinfo(np.int16).max else np.int32)  # room for code n
        codes[missing] = n
    return codes, n + 1


class LineGroups:
    """The line frame's group codes, computed once and shared by every rule of a run."""

    def __init__(self, lines: pd.DataFrame, labels: Labels = NO_LABELS) -> None:
        self.lines = lines
        self.labels = labels  # the strings behind trace-code and case ids, for the findings that name them
        self.n = len(lines)
        self.ids: dict[str, np.ndarray] = {}  # per id column: the id each code stands for

    def _ids(self, column: str) -> Codes:
        codes, size, ids = dense_codes(self.lines[column].to_numpy(dtype=np.int64))
        self.ids[column] = ids
        return codes, size

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
        return category_codes(self.lines["department"])

    @cached_property
    def generic(self) -> Codes:
        return category_codes(self.lines["generic_name"])

    @cached_property
    def _months(self) -> tuple[np.ndarray, int, int]:
        """Month codes of the prescription dates, their number and the calendar month (year × 12 + month − 1) of
        code 0. Via the day: numpy's month conversion is slow on millions of values, but a period spans few distinct
        days, so only those are converted, and the calendar's first and last days give the range."""
        stamps = self.lines["prescribed_on"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        if not len(stamps):
            return np.zeros(0, dtype=np.int64), 0, 0
        days = np.floor_divide(stamps, NS_PER_DAY)
        low, high = int(days.min()), int(days.max())
        if high - low + 1 > MAX_DAY_SPAN:  # centuries of dates: convert each one
            months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
            base = int(months.min())
            return months - base, int(months.max()) - base + 1, base + 1970 * 12
        calendar = np.arange(low, high + 1).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        base = int(calendar[0])
        calendar -= base
        days -= low
        return calendar[days], int(calendar[-1]) + 1, base + 1970 * 12

    @cached_property
    def month(self) -> Codes:
        """Calendar months of the prescription date, numbered from the first month present."""
        return self._months[:2]

    @property
    def month_base(self) -> int:
        """The calendar month (year × 12 + month − 1) that month code 0 stands for."""
        return self._months[2]

    @cached_property
    def first_line_of_prescription(self) -> np.ndarray:
        """Boolean per line: the first line of its prescription (counting each prescription once)."""
        codes, size = self.prescription
        if self.n and bool((codes[1:] >= codes[:-1]).all()):  # lines in prescription order, as loaded
            flags = np.empty(self.n, dtype=bool)
            flags[0] = True
            np.not_equal(codes[1:], codes[:-1], out=flags[1:])
            return flags
        first = first_index(codes, size)
        flags = np.zeros(self.n, dtype=bool)
        flags[first[first >= 0]] = True
        return flags
