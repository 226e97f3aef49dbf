"""The peer statistics of prescribing monitoring: ratios with missing denominators, percentile ranks with ties at the
minimum rank, sample z-scores — each against figures worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procurement.audit import stats


def test_ratio_gives_missing_for_zero_or_missing_denominators_never_zero():
    got = stats.ratio(pd.Series([3.0, 1.0, 0.0, 2.0, 5.0]), pd.Series([2.0, 0.0, 0.0, np.nan, -5.0]))
    assert got.iloc[0] == 1.5
    assert math.isnan(got.iloc[1]) and math.isnan(got.iloc[2]) and math.isnan(got.iloc[3])  # 1/0, 0/0, 2/NaN
    assert got.iloc[4] == -1.0


def test_ratio_accepts_nullable_integers_and_a_scalar_denominator():
    got = stats.ratio(pd.Series([4, pd.NA, 6], dtype="Int64"), pd.Series([2, 2, pd.NA], dtype="Int64"))
    assert got.iloc[0] == 2.0 and math.isnan(got.iloc[1]) and math.isnan(got.iloc[2])
    assert stats.ratio(pd.Series([1.0, 2.0]), 0).isna().all()


def test_percentile_rank_puts_ties_at_the_minimum_rank():
    # Sorted 10, 20, 20, 20, 40: min ranks 1, 2, 2, 2, 5; n = 5 → (r − 1) / 4 × 100.
    values = pd.Series([20.0, 10.0, 40.0, 20.0, 20.0])
    assert stats.percentile_rank(values).tolist() == [25.0, 0.0, 100.0, 25.0, 25.0]


def test_percentile_rank_by_group_ignores_missing_values_and_lone_values():
    values = pd.Series([1.0, np.nan, 3.0, 2.0, 7.0, 5.0])
    groups = pd.Series(["a", "a", "a", "a", "b", "c"])
    got = stats.percentile_rank(values, groups)
    # Group a holds 1, 3, 2 (the NaN takes no part): ranks 1, 3, 2 of n = 3 → 0, 100, 50.
    assert got.iloc[[0, 2, 3]].tolist() == [0.0, 100.0, 50.0]
    assert math.isnan(got.iloc[1])  # a missing value has no rank
    assert math.isnan(got.iloc[4]) and math.isnan(got.iloc[5])  # a group of one has no peers


def test_percentile_rank_groups_by_several_keys():
    values = pd.Series([1.0, 2.0, 3.0, 4.0])
    hospital, department = pd.Series([1, 1, 1, 2]), pd.Series(["x", "x", "y", "x"])
    got = stats.percentile_rank(values, [hospital, department])
    assert got.iloc[:2].tolist() == [0.0, 100.0]
    assert got.iloc[2:].isna().all()


def test_zscore_uses_the_sample_standard_deviation():
    # 2, 4, 4, 4, 5, 5, 7, 9: mean 5, Σ(x − 5)² = 32, sample variance 32 / 7.
    values = pd.Series([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    sd = math.sqrt(32 / 7)
    got = stats.zscore(values)
    assert got.tolist() == pytest.approx([(v - 5) / sd for v in values])
    assert got.iloc[-1] == pytest.approx(1.8708287, abs=1e-7)  # 4 / 2.1380899


def test_zscore_is_missing_for_groups_of_one_and_groups_without_spread():
    values = pd.Series([1.0, 3.0, 8.0, 6.0, 6.0, 6.0, np.nan])
    groups = pd.Series([1, 1, 2, 3, 3, 3, 1])
    got = stats.zscore(values, groups)
    # Group 1: 1, 3 → mean 2, sample sd √2 → ∓0.7071; group 2 has one value; group 3 has no spread.
    assert got.iloc[0] == pytest.approx(-1 / math.sqrt(2)) and got.iloc[1] == pytest.approx(1 / math.sqrt(2))
    assert got.iloc[2:].isna().all()


def test_peer_summary_and_median_multiple_by_hand():
    values = pd.Series([100.0, 100.0, 100.0, 1000.0])
    summary = stats.peer_summary(values)
    assert summary["peer_n"].tolist() == [4] * 4
    assert summary["peer_mean"].iloc[0] == 325.0
    assert summary["peer_sd"].iloc[0] == pytest.approx(450.0)  # √((3 × 225² + 675²) / 3)
    assert summary["peer_median"].iloc[0] == 100.0
    assert stats.peer_median_multiple(values).tolist() == [1.0, 1.0, 1.0, 10.0]
    assert stats.peer_median_multiple(pd.Series([0.0, 0.0, 5.0])).isna().all()  # a zero median is no yardstick


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-20, max_value=20), min_size=2, max_size=40))
def test_percentile_rank_properties(raw):
    values = pd.Series([float(v) for v in raw])
    got = stats.percentile_rank(values)
    assert got.between(0, 100).all()
    # Equal values share a figure, and a larger value never has a smaller one.
    assert (got.groupby(values).nunique() == 1).all()
    order = values.sort_values(kind="stable").index
    assert got[order].is_monotonic_increasing
    # The figure is the share of the others strictly below.
    for v, p in zip(values, got, strict=True):
        assert p == pytest.approx((values < v).sum() / (len(values) - 1) * 100)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=3, max_size=40))
def test_zscores_have_zero_mean_and_unit_sample_sd(raw):
    values = pd.Series(raw)
    got = stats.zscore(values)
    if values.std(ddof=1) <= 1e-6 * max(values.abs().max(), 1.0):
        return  # (next to) no spread: nothing to standardise
    assert got.mean() == pytest.approx(0.0, abs=1e-6)
    assert got.std(ddof=1) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("seed", range(40))
def test_peer_figures_match_pandas_grouped_figures(seed):
    """The one-sort peer figures equal pandas' grouped count, mean, sample SD, median and min-tie ranks."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    values = pd.Series(rng.choice([0.0, 1.0, 2.5, 2.5, 7.0, np.nan, -3.0], n) + rng.integers(0, 3, n) * (seed % 2))
    values.index = rng.permutation(n) + 100  # an index that is neither 0..n nor ordered
    keys = [
        pd.Series(rng.choice(["a", "b", None], n), index=values.index),
        pd.Series(pd.array(rng.choice([1, 2, 3], n), dtype="Int64"), index=values.index).mask(rng.random(n) < 0.1),
    ]
    got = stats.peer_figures(values, keys)
    expected = stats._peer_figures_by_pandas(values, keys)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
