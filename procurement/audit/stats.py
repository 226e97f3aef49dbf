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
    """Return ``values`` as float64 with pandas NA turned into NaN (nullable dtypes in, plain floats out)."""
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
    once (the rules compare thousands of physicians this way)."""
    values = _as_float(values)
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
