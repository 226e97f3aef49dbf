"""Findings plumbing: evidence (the first line ids of each finding, by date then id) and the order of findings."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from procurement.audit import monitoring_findings as mf


def _expected(keys, on, ids, limit):
    frame = pd.DataFrame({"key": keys, "on": on, "id": ids}).sort_values(["key", "on", "id"], kind="stable")
    grouped = frame.groupby("key", sort=True)
    return (
        [group["id"].head(limit).tolist() for _, group in grouped],
        grouped.size().tolist(),
        list(grouped.groups),
    )


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("key_span", [5, 70_000, 2**40])
def test_evidence_takes_the_first_lines_by_date_then_id_whether_or_not_lines_come_in_that_order(shuffled, key_span):
    rng = np.random.default_rng(key_span + shuffled)
    n = 2_000
    on = np.sort(rng.integers(0, 40, n)).astype("datetime64[D]").astype("datetime64[ns]")
    ids = np.arange(n, dtype=np.int64) * 3 + 100
    keys = rng.integers(0, 12, n) * (key_span // 12 + 1)
    if shuffled:
        order = rng.permutation(n)
        on, ids, keys = on[order], ids[order], keys[order]
    firsts, counts, got_keys = mf.evidence_arrays(keys, on, ids, 4)
    expected_firsts, expected_counts, expected_keys = _expected(keys, on, ids, 4)
    assert firsts == expected_firsts
    assert counts.tolist() == expected_counts
    assert got_keys.tolist() == expected_keys


def test_lines_on_the_same_day_in_falling_id_order_are_put_in_id_order():
    on = np.array(["2025-03-01", "2025-03-01", "2025-03-02"], dtype="datetime64[ns]")
    firsts, counts, _ = mf.evidence_arrays(np.array([1, 1, 1]), on, np.array([9, 4, 1]), 2)
    assert firsts == [[4, 9]] and counts.tolist() == [3]


def test_findings_are_ordered_by_rule_keeping_each_rules_order():
    params = SimpleNamespace(name="test", version="1")

    def built(rule: str, *subjects: str) -> pd.DataFrame:
        table = pd.DataFrame({"subject": list(subjects), "line_ids": [[1]] * len(subjects), "line_count": 1,
                              "value": 1.0, "hospital_id": 7})  # fmt: skip
        return mf.build(rule, "low", params, table, measure="m", threshold=0.0)

    parts = [mf.concat([built("B", "b1", "b2"), built("A", "a1")]), mf.concat([built("C", "c1"), built("A", "a2")])]
    result = mf.concat_ordered(parts)
    assert result["subject"].tolist() == ["a1", "a2", "b1", "b2", "c1"]
    assert result["rule"].tolist() == ["A", "A", "B", "B", "C"]
    assert {name: str(dtype) for name, dtype in result.dtypes.items()} == mf.FINDING_COLUMNS
    assert result["hospital_id"].tolist() == [7] * 5 and result["physician_id"].isna().all()
    assert result["details"].tolist() == [None] * 5 and result["line_ids"].tolist() == [[1]] * 5


def test_detail_records_keep_every_column_name_and_value_as_given():
    details = pd.DataFrame(
        {
            "it's": [1, 2],
            'say "x"': ["a", None],
            "on": pd.to_datetime(["2025-03-01", None]),
            "share": [0.5, float("nan")],
        }
    )
    assert mf._records(details, 2) == [
        {"it's": 1, 'say "x"': "a", "on": "2025-03-01", "share": 0.5},
        {"it's": 2, 'say "x"': None, "on": None, "share": None},
    ]
