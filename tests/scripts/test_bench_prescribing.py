"""The prescribing-monitoring benchmark runs end to end on a tiny input and prints its figures."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from procurement.audit import monitoring_groups
from procurement.audit.monitoring import run_rules
from scripts.bench import bench_prescribing


def test_bench_runs_with_a_few_lines(capsys):
    status = bench_prescribing.main(["--lines", "4000", "--seed", "7"])
    out = capsys.readouterr().out
    assert status in (0, 1)  # PASS or MISS: timings on a shared machine are not for a unit test to judge
    assert re.search(r"^lines 4,000 ", out, re.MULTILINE)
    for label in ("load + all rules", "baseline group-by", "ratio", "peak memory"):
        assert re.search(rf"^{re.escape(label)}\s+[\d.]+", out, re.MULTILINE), label
    # The planted anomalies reach the rules: over-limit prescriptions, shared trace codes, short receipts.
    for rule in ("RX-QTY-OVER-LIMIT", "RX-TRACE-CODE-MULTI-PATIENT", "RX-DISPENSED-OVER-RECEIVED"):
        assert re.search(rf"^\s+{rule}\s+[1-9]", out, re.MULTILINE), rule
    assert out.rstrip().endswith(("PASS", "MISS"))


def test_generation_is_seeded_and_in_the_frame_shape():
    first, received = bench_prescribing.generate(500, 3)
    second, _ = bench_prescribing.generate(500, 3)
    lines, _ = bench_prescribing.load(first, received)
    again, _ = bench_prescribing.load(second, received)
    assert lines.equals(again)
    assert len(lines) == 500 and lines["line_id"].is_unique
    assert set(lines["setting"].unique()) <= {"outpatient", "emergency", "inpatient"}


def test_group_codes_give_the_same_findings_when_keys_must_be_compacted_or_hashed(monkeypatch):
    """The fast paths (dense id offsets, arithmetic keys) and the fallbacks (compaction, factorising) must agree."""
    lines, received = bench_prescribing.load(*bench_prescribing.generate(3000, 11))
    expected = run_rules(lines, received)
    monkeypatch.setattr(monitoring_groups, "DENSE_LIMIT", 64)  # every id column and key is "too wide" now
    got = run_rules(lines, received)
    assert len(expected) > 100
    assert got["rule"].tolist() == sorted(got["rule"])  # findings come grouped by rule …

    def by_subject(findings: pd.DataFrame) -> pd.DataFrame:  # … each rule's in the order its groups came
        return findings.sort_values(["rule", "subject"], kind="stable").reset_index(drop=True)

    pd.testing.assert_frame_equal(by_subject(got), by_subject(expected))


def test_rules_on_several_threads_find_exactly_what_one_thread_finds():
    lines, received = bench_prescribing.load(*bench_prescribing.generate(20_000, 5))
    labels = bench_prescribing.BenchLabels()
    alone = run_rules(lines, received, labels=labels, threads=1)
    assert len(alone) > 100 and alone["rule"].nunique() >= 8
    for _ in range(3):  # scheduling differs from run to run: the findings may not
        pd.testing.assert_frame_equal(run_rules(lines, received, labels=labels, threads=3), alone)


def test_a_run_refuses_fewer_than_one_thread():
    lines, received = bench_prescribing.load(*bench_prescribing.generate(50, 5))
    with pytest.raises(ValueError, match="threads"):
        run_rules(lines, received, threads=0)
