"""The reconciliation benchmark runs end to end on a tiny input, prints its figures and finds what it planted."""

from __future__ import annotations

import re

from scripts.bench import bench_reconciliation


def test_bench_runs_with_a_few_lines(capsys):
    status = bench_reconciliation.main(["--lines", "20000", "--seed", "7", "--repeat", "1"])
    out = capsys.readouterr().out
    assert status in (0, 1)  # PASS or MISS: timings on a shared machine are not for a unit test to judge
    assert re.search(r"^lines [\d,]+ packs 9,999 shipments [\d,]+ ", out, re.MULTILINE)
    for label in ("reconcile_frames", "baseline merge", "ratio"):
        assert re.search(rf"^{re.escape(label)}\s+[\d.]+", out, re.MULTILINE), label
    # Each planted anomaly (about 1 % of 10,000 keys) reaches its check.
    for code in ("RECON-CHAIN-TOO-LONG", "RECON-FIRST-SELLER-NOT-MANUFACTURER", "RECON-BATCH-MISMATCH",
                 "RECON-PRICE-ABOVE-AWARD", "RECON-GOODS-WITHOUT-INVOICE", "RECON-PAYMENT-WITHOUT-INVOICE",
                 "RECON-QTY-MISMATCH"):  # fmt: skip
        assert re.search(rf"^\s+{code}\s+[1-9]", out, re.MULTILINE), code
    assert out.rstrip().endswith(("PASS", "MISS"))


def test_generation_is_seeded_and_in_the_frame_shape():
    first = bench_reconciliation.generate(2000, 3)
    again = bench_reconciliation.generate(2000, 3)
    assert first.lines.equals(again.lines) and first.packs.equals(again.packs)
    assert first.lines["line_id"].is_unique and set(first.lines["kind"]) == {"first", "extra", "second"}
    assert 990 <= len(first.packs) <= 1000 and first.packs["shipped"].between(1, 40).all()
