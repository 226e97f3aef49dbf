"""Benchmark: two-invoice reconciliation of 1,000,000 invoice lines against receipts, against a bare merge.

Synthetic but realistic frames, in the shape ``procurement.audit.reconciliation_frames`` reads: shipments of one to
three products (one batch each) to hospitals, each product's packs counted per (shipment, order line, batch); per
shipment one second invoice with a line per product, and per product a first invoice from its maker; one payment
per second invoice. About 1 % of each anomaly is planted (an extra hop, a distributor as first seller, a batch
mismatch, refused packs still billed, a price above the award, goods with no second invoice, a payment against a
first invoice), so every check has work to do.

The baseline, timed in the same run on the same frames, is the one merge any reconciliation needs:
``lines.merge(packs, on=["shipment_id", "product_id", "batch"], how="left")`` — every invoice line joined to the
packs of its shipment, product and batch. The target is ``reconcile_frames`` within 3 × that merge.

    python -m scripts.bench.bench_reconciliation            # 1,000,000 lines
    python -m scripts.bench.bench_reconciliation --lines 20000
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter

import numpy as np
import pandas as pd

from procurement.audit.reconciliation_frames import Frames, conform, reconcile_frames
from procurement.audit.reconciliation_rules import RECONCILIATION_RULES

TARGET_RATIO = 3.0
AS_OF = pd.Timestamp("2026-09-01")
SHARE = 0.01  # of keys (or shipments) carrying each planted anomaly


def generate(lines: int, seed: int = 20261123) -> Frames:
    """Build frames with about ``lines`` invoice lines: ~2 per (shipment, product, batch) key."""
    rng = np.random.default_rng(seed)
    keys_wanted = max(lines // 2, 4)
    per_shipment = rng.integers(1, 4, size=keys_wanted)  # 1–3 products per shipment
    per_shipment = per_shipment[np.cumsum(per_shipment) <= keys_wanted]
    shipments = len(per_shipment)
    n_keys = int(per_shipment.sum())
    n_products, n_makers, n_distributors, n_hospitals = 2_000, 400, 200, 1_000
    shipment_of_key = np.repeat(np.arange(1, shipments + 1), per_shipment)
    product = rng.integers(1, n_products + 1, size=n_keys)
    # Products on one shipment are distinct: shift repeats by their position on the shipment.
    position = np.arange(n_keys) - np.repeat(np.cumsum(per_shipment) - per_shipment, per_shipment)
    product = (product + position * 7) % n_products + 1
    maker_of = 10_000 + (np.arange(n_products + 1) % n_makers)
    batch_no = rng.integers(1, 60, size=n_keys)
    batch = pd.Series(["B26" + str(b).zfill(2) for b in range(60)], dtype="str").to_numpy()[batch_no]
    packs_n = rng.integers(1, 41, size=n_keys)
    supplier = 20_000 + rng.integers(0, n_distributors, size=shipments)
    hospital = 30_000 + rng.integers(0, n_hospitals, size=shipments)
    order_line = np.arange(1, n_keys + 1)
    price = rng.integers(500, 50_000, size=n_keys)  # fen, tax included
    refused = np.where(rng.random(n_keys) < SHARE, np.minimum(2, packs_n), 0)
    received = packs_n - refused
    day = pd.Timestamp("2026-06-01") + pd.to_timedelta(rng.integers(0, 30, size=shipments), unit="D")
    ship_day = day.to_numpy()[shipment_of_key - 1]
    packs = pd.DataFrame({
        "shipment_id": shipment_of_key, "order_line_id": order_line, "product_id": product, "batch": batch,
        "shipped": packs_n, "received": received, "refused": refused, "received_on": ship_day,
    })  # fmt: skip
    # Invoices: a first per key (its maker → the shipment's supplier), a second per shipment (supplier → hospital).
    first_ids = np.arange(1, n_keys + 1)
    second_of_shipment = n_keys + np.arange(1, shipments + 1)
    sup_key, hos_key = supplier[shipment_of_key - 1], hospital[shipment_of_key - 1]
    first_seller = maker_of[product].copy()
    trader = rng.random(n_keys) < SHARE  # a distributor issues the first invoice (4.2)
    first_seller[trader] = 20_000 + n_distributors + 1
    second_price = price.copy()
    dear = rng.random(n_keys) < SHARE
    second_price[dear] += 300
    second_batch = batch.copy()
    swapped = rng.random(n_keys) < SHARE
    second_batch[swapped] = "B2699"
    billed = rng.random(n_keys) >= SHARE  # 1 %: goods with no second invoice
    first = pd.DataFrame({
        "invoice_id": first_ids, "kind": "first", "seller_org_id": first_seller, "buyer_org_id": sup_key,
        "shipment_id": shipment_of_key, "product_id": product, "batch": batch, "quantity": packs_n,
        "price_fen": (price * 0.9).astype("int64"),
    })  # fmt: skip
    second = pd.DataFrame({
        "invoice_id": second_of_shipment[shipment_of_key - 1], "kind": "second", "seller_org_id": sup_key,
        "buyer_org_id": hos_key, "shipment_id": shipment_of_key, "product_id": product, "batch": second_batch,
        "quantity": packs_n, "price_fen": second_price,
    })[billed]  # fmt: skip
    hop = rng.random(n_keys) < SHARE  # an extra hop between maker and supplier: three invoices (4.1)
    middle = 20_000 + n_distributors + 2
    extra = first[hop].assign(
        invoice_id=lambda x: 2 * n_keys + shipments + np.arange(1, len(x) + 1), kind="extra",
        seller_org_id=middle, price_fen=lambda x: x["price_fen"] + 10,
    )  # fmt: skip
    first.loc[hop, "buyer_org_id"] = middle
    lines_frame = pd.concat([first, extra, second], ignore_index=True)
    lines_frame.insert(0, "line_id", np.arange(1, len(lines_frame) + 1))
    totals = lines_frame.assign(t=lines_frame["quantity"] * lines_frame["price_fen"]).groupby("invoice_id")
    invoices = totals.agg(kind=("kind", "first"), seller_org_id=("seller_org_id", "first"),
                          shipment_id=("shipment_id", "first"), total_fen=("t", "sum")).reset_index()  # fmt: skip
    seconds = invoices[invoices["kind"] == "second"]
    payments = pd.DataFrame({
        "payment_id": np.arange(1, len(seconds) + 1), "invoice_id": seconds["invoice_id"].to_numpy(),
        "hospital_id": hospital[seconds["shipment_id"].to_numpy() - 1], "payee_org_id": seconds["seller_org_id"],
        "amount_fen": seconds["total_fen"].to_numpy(),
    })  # fmt: skip
    wrong = rng.random(len(payments)) < SHARE  # paid against the maker's first invoice instead
    payments.loc[wrong, "invoice_id"] = 1
    return Frames(
        lines=conform("lines", lines_frame),
        packs=conform("packs", packs),
        shipments=conform("shipments", pd.DataFrame({
            "shipment_id": np.arange(1, shipments + 1), "hospital_id": hospital, "supplier_id": supplier,
            "supplier_is_maker": False, "remote": rng.random(shipments) < 0.05, "shipped_on": day,
        })),
        order_lines=conform("order_lines", pd.DataFrame({
            "order_line_id": order_line, "quantity": packs_n, "price_fen": price, "award_price_fen": price,
        })),
        invoices=conform("invoices", invoices),
        payments=conform("payments", payments),
        makers=conform("makers", pd.DataFrame({
            "product_id": np.arange(1, n_products + 1), "manufacturer_id": maker_of[1:], "mah_id": -1,
            "group_org_id": -1,
        })),
        equivalents=conform("equivalents", pd.DataFrame({"org_id": [10_999], "principal_org_id": [10_000]})),
        groups=conform("groups", pd.DataFrame({"org_id": [20_000, 20_001], "group_id": [1, 1]})),
    )  # fmt: skip


def baseline(f: Frames) -> pd.DataFrame:
    """The bare merge: every invoice line joined to the packs of its shipment, product and batch."""
    return f.lines.merge(f.packs, on=["shipment_id", "product_id", "batch"], how="left")


def _best(call, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures and PASS or MISS against the target ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="invoice lines to generate (about)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best is reported")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    frames = generate(args.lines, args.seed)
    made = time.perf_counter() - started
    print(f"lines {len(frames.lines):,} packs {len(frames.packs):,} shipments {len(frames.shipments):,} "
          f"payments {len(frames.payments):,} (generated in {made:.1f} s)")  # fmt: skip
    merge_s, merged = _best(lambda: baseline(frames), args.repeat)
    recon_s, (verdicts, violations) = _best(
        lambda: reconcile_frames(frames, rules=RECONCILIATION_RULES, as_of=AS_OF), args.repeat
    )
    ratio = recon_s / merge_s if merge_s else float("inf")
    print(f"{'reconcile_frames':<20}{recon_s:10.3f} s")
    print(f"{'baseline merge':<20}{merge_s:10.3f} s  ({len(merged):,} rows)")
    print(f"{'ratio':<20}{ratio:10.2f}  (target <= {TARGET_RATIO:.1f})")
    held = int((verdicts.drop_duplicates("invoice_id")["verdict"] == "hold").sum())
    print(f"second invoices {verdicts['invoice_id'].nunique():,}, held {held:,}; violations {len(violations):,}")
    for code, count in sorted(Counter(violations["code"]).items()):
        print(f"  {code:<40}{count:10,}")
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(verdict)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
