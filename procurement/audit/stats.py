"""The statistics prescribing monitoring compares peers with (rulebook 7.10, 7.11): ratios, percentile ranks, z-scores.

Pure functions on pandas Series, vectorised, so the rules can run them over millions of lines. Three conventions
hold throughout, because an auditor must be able to redo every figure by hand:

- a ratio whose denominator is zero or missing is **missing**, never zero (a physician with no prescriptions has no
  share, not a share of 0 %);
- percentile ranks put ties at the **minimum** rank (pandas ``rank(method="min")``), so tied values share the lowest
  percentile they could claim and a tie can never push anyone over a threshold;
- z-scores use the **sample** standard deviation (``ddof=1``) and are missing where a group has fewer than two values
  or no spread.

Missing values take no part: they are not counted among the peers and their own rank and score stay missing.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

Groups = pd.Series | Sequence[pd.Series] | None

# A standard deviation this small relative to the values is "no spread": floating-point sums of identical values can
# leave a residue of ~1e-16 × |mean| that would otherwise produce z-scores of ±1e15.
RELATIVE_ZERO_SD = 1e-12


def _as_float(values: pd.Series) -> pd.Series:
    """Return ``values`` as float64 with pandas NA turned into NaN (nullable dtypes in, plain floats out); float64
    values come back as they are (no copy: nothing here writes to them)."""
    if values.dtype == np.float64:
        return values
    return pd.Series(pd.to_numeric(values, errors="coerce"), index=values.index).astype("float64")


def _grouped(values: pd.Series, by: Groups):
    """Group ``values`` by ``by`` (one Series or several aligned on the index), keeping missing group keys apart."""
    if by is None:
        return values.groupby(np.zeros(len(values), dtype=np.int8), sort=False)
    keys: list[Hashable] = list(by) if isinstance(by, list | tuple) else [by]
    return values.groupby(keys, sort=False, observed=True, dropna=False)


def ratio(numerator: pd.Series | float, denominator: pd.Series | float) -> pd.Series:
    """Divide element-wise; a zero or missing denominator gives NaN, never zero or infinity."""
    num = _as_float(numerator) if isinstance(numerator, pd.Series) else numerator
    den = _as_float(denominator) if isinstance(denominator, pd.Series) else denominator
    if not isinstance(num, pd.Series) and not isinstance(den, pd.Series):
        num = pd.Series([num], dtype="float64")
        den = pd.Series([den], dtype="float64")
    if not isinstance(den, pd.Series):
        den = pd.Series(den, index=num.index, dtype="float64")
    if not isinstance(num, pd.Series):
        num = pd.Series(num, index=den.index, dtype="float64")
    safe = den.where(den != 0)  # 0 → NaN; NaN stays NaN
    return num / safe


def peer_count(values: pd.Series, by: Groups = None) -> pd.Series:
    """Return, for each value, how many non-missing values its group holds (itself included)."""
    values = _as_float(values)
    return _grouped(values, by).transform("count").astype("int64")


def percentile_rank(values: pd.Series, by: Groups = None) -> pd.Series:
    """Return each value's percentile rank in its group: (rank_min − 1) / (n − 1) × 100.

    ``rank_min`` is the 1-based rank with ties at the minimum (``rank(method="min")``) and ``n`` the number of
    non-missing values in the group, so the figure is *the percentage of the other peers with a strictly lower value*:
    0 for the lowest, 100 for a unique highest, and tied values share the lower figure. A group of one has no peers
    and gets NaN, as does a missing value.
    """
    values = _as_float(values)
    grouped = _grouped(values, by)
    return _percentile(grouped.rank(method="min"), grouped.transform("count"))


def _percentile(ranks: pd.Series, n: pd.Series) -> pd.Series:
    return ratio((ranks - 1.0) * 100.0, n - 1.0)


def zscore(values: pd.Series, by: Groups = None) -> pd.Series:
    """Return (value − group mean) / group sample standard deviation (ddof=1).

    NaN where the value is missing, the group has fewer than two values, or the standard deviation is zero.
    """
    values = _as_float(values)
    grouped = _grouped(values, by)
    return _zscore(values, grouped.transform("mean"), grouped.transform("std"))  # std: ddof=1; NaN for n < 2


def _zscore(values: pd.Series, mean: pd.Series, sd: pd.Series) -> pd.Series:
    no_spread = sd <= RELATIVE_ZERO_SD * np.maximum(mean.abs(), 1.0)
    return ratio(values - mean, sd.mask(no_spread))


def peer_median_multiple(values: pd.Series, by: Groups = None) -> pd.Series:
    """Return each value divided by its group's median (NaN where the median is zero or missing)."""
    values = _as_float(values)
    return ratio(values, _grouped(values, by).transform("median"))


def peer_summary(values: pd.Series, by: Groups = None) -> pd.DataFrame:
    """Return the peers' n, mean, sample sd and median beside each value (the figures an alert shows)."""
    values = _as_float(values)
    grouped = _grouped(values, by)
    return pd.DataFrame(
        {
            "peer_n": grouped.transform("count").astype("int64"),
            "peer_mean": grouped.transform("mean"),
            "peer_sd": grouped.transform("std"),
            "peer_median": grouped.transform("median"),
        },
        index=values.index,
    )


def peer_figures(values: pd.Series, by: Groups = None) -> pd.DataFrame:
    """Return :func:`peer_summary`'s columns with :func:`percentile_rank` and :func:`zscore` beside them, grouping
    once (the rules compare thousands of physicians and cases this way).

    The same figures as those functions at a fraction of their cost, for the rules call this on every run: the groups
    are numbered once; counts, medians and ranks come from one sort by group and value (ranks and medians are order
    statistics, so any correct sort gives the same numbers, save that a median between a −0.0 and a 0.0 may take
    either sign); the mean and the standard deviation are left to pandas, whose compensated sums a plain numpy sum
    would not reproduce to the last bit. Each figure is worked per group, spread to the group's values, and the
    percentile and z-score divide exactly as :func:`ratio` does. Keys that are not aligned with ``values`` position by
    position (a Series on another index) go the pandas way, which aligns them.
    """
    values = _as_float(values)
    groups = _group_numbers(values, by)
    if groups is None:
        return _peer_figures_by_pandas(values, by)
    ids, size = groups
    x = values.to_numpy()
    present = ~np.isnan(x)
    count = np.bincount(ids[present], minlength=size)
    by_group = pd.Series(x).groupby(ids)  # every number 0 … size − 1 occurs: the result's position is the group
    mean = by_group.mean().to_numpy()
    sd = by_group.std().to_numpy()  # ddof=1; NaN for fewer than two values
    # Sorted by group, then value, missing values last in their group: numpy sorts NaN last, and a stable sort by
    # group (a radix sort on small numbers) keeps the values' order within each group.
    order = np.argsort(x)
    small = ids[order].astype(np.int16) if size <= np.iinfo(np.int16).max else ids[order]
    order = order[np.argsort(small, kind="stable")]
    sorted_x, sorted_ids = x[order], ids[order]
    start = np.zeros(size, dtype=np.int64)
    np.cumsum(np.bincount(ids, minlength=size)[:-1], out=start[1:])
    # The median: the middle one, or the mean of the two middle ones, of each group's non-missing values.
    median = np.full(size, np.nan)
    some = np.flatnonzero(count > 0)
    low = start[some] + (count[some] - 1) // 2
    high = start[some] + count[some] // 2
    median[some] = sorted_x[high]
    even = low != high
    with np.errstate(invalid="ignore", over="ignore"):  # −inf and inf in the middle: NaN, as pandas gives
        median[some[even]] = (sorted_x[low[even]] + sorted_x[high[even]]) / 2
    # Ranks with ties at the minimum: 1 + the position within the group of the first value equal to it.
    new_run = np.ones(len(x), dtype=bool)
    new_run[1:] = (sorted_ids[1:] != sorted_ids[:-1]) | (sorted_x[1:] != sorted_x[:-1])
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(len(x)), 0))
    rank = np.empty(len(x))
    rank[order] = run_start - start[sorted_ids] + 1.0
    rank[~present] = np.nan
    peer_n = count[ids]
    peer_mean, peer_sd = mean[ids], sd[ids]
    # As _percentile and _zscore compute them, on arrays: the same operations in the same order (and as quiet).
    others = peer_n - 1.0
    sd_used = np.where(peer_sd <= RELATIVE_ZERO_SD * np.maximum(np.abs(peer_mean), 1.0), np.nan, peer_sd)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        percentile = (rank - 1.0) * 100.0 / np.where(others != 0, others, np.nan)
        zscore = (x - peer_mean) / np.where(sd_used != 0, sd_used, np.nan)
    return pd.DataFrame(
        {
            "peer_n": peer_n.astype("int64"),
            "peer_mean": peer_mean,
            "peer_sd": peer_sd,
            "peer_median": median[ids],
            "percentile": percentile,
            "zscore": zscore,
        },
        index=values.index,
    )


def _group_numbers(values: pd.Series, by: Groups) -> tuple[np.ndarray, int] | None:
    """Return each value's group as a number 0 … n − 1, all of them in use, and n; missing keys form groups of their
    own, as in :func:`_grouped`. None when a key is not a Series on ``values``' index or an array of its length."""
    n = len(values)
    ids = np.zeros(n, dtype=np.int64)
    if not n:
        return ids, 0
    size = 1
    keys = [] if by is None else list(by) if isinstance(by, list | tuple) else [by]
    for key in keys:
        if isinstance(key, pd.Series):
            if not key.index.equals(values.index):
                return None
        elif not isinstance(key, np.ndarray) or key.ndim != 1 or len(key) != n:
            return None
        codes, uniques = pd.factorize(key, use_na_sentinel=False)
        ids = ids * len(uniques) + codes
        size *= len(uniques)
        if size > n:  # keep the numbers small: only the combinations that occur
            ids, combinations = pd.factorize(ids)
            size = len(combinations)
    if size > 1 and np.bincount(ids, minlength=size).min() == 0:
        ids, combinations = pd.factorize(ids)
        size = len(combinations)
    return ids.astype(np.int64, copy=False), size


def _peer_figures_by_pandas(values: pd.Series, by: Groups) -> pd.DataFrame:
    """:func:`peer_figures` through pandas' grouped transforms, which align keys on the index."""
    grouped = _grouped(values, by)
    frame = pd.DataFrame(
        {
            "peer_n": grouped.transform("count").astype("int64"),
            "peer_mean": grouped.transform("mean"),
            "peer_sd": grouped.transform("std"),
            "peer_median": grouped.transform("median"),
        },
        index=values.index,
    )
    frame["percentile"] = _percentile(grouped.rank(method="min"), frame["peer_n"].astype("float64"))
    frame["zscore"] = _zscore(values, frame["peer_mean"], frame["peer_sd"])
    return frame
