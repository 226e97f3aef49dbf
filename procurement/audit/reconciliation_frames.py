"""The vectorised core of two-invoice reconciliation: goods, invoices and money matched over pandas frames.

The database layer (``reconciliation``) loads one frame per kind of row and hands them here; the benchmark feeds
synthetic frames of the same shape. Money is in integer fen (prices per pack, tax included), so comparisons are
exact. The unit of goods is the key (shipment, product, batch): what was shipped, received and refused of it (from
the trace codes scanned), and what each invoice of the chain billed.

For speed the keys are turned into dense integer codes once (one factorisation of the batches and two of integer
composites), and every count after that is a ``numpy.bincount`` or an array lookup by code: the whole run costs a
small multiple of one merge of the same frames (see ``scripts/bench/bench_reconciliation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.params import ParameterSet
from procurement.audit import reconciliation_goods as goods
from procurement.audit import reconciliation_rules as r
from procurement.audit.reconciliation_checks import (
    FIRST,
    OTHER,
    SECOND,
    Keys,
    chain_violations,
    codes,
    payment_violations,
    violations_frame,
)

COLUMNS: dict[str, dict[str, str]] = {
    # One row per invoice line, with its invoice's header (kind: first | transfer | extra | second).
    "lines": {
        "line_id": "int64", "invoice_id": "int64", "kind": "str", "seller_org_id": "int64",
        "buyer_org_id": "int64", "shipment_id": "int64", "product_id": "int64", "batch": "str",
        "quantity": "int64", "price_fen": "int64",  # per pack, tax included, in fen
    },
    # Packs of a shipment per order line and batch, counted from the shipment's trace codes.
    "packs": {
        "shipment_id": "int64", "order_line_id": "int64", "product_id": "int64", "batch": "str",
        "shipped": "int64", "received": "int64", "refused": "int64", "received_on": "datetime64[us]",
    },
    "shipments": {
        "shipment_id": "int64", "hospital_id": "int64", "supplier_id": "int64",
        "supplier_is_maker": "bool",  # a manufacturer delivering itself issues only the second invoice (4.1)
        "remote": "bool",  # the hospital's region is on the remote-area list (4.4)
        "shipped_on": "datetime64[us]",
    },
    "order_lines": {
        "order_line_id": "int64", "quantity": "int64", "price_fen": "int64",
        "award_price_fen": "int64",  # the awarded (or listed) price the order line was placed against
    },
    "invoices": {
        "invoice_id": "int64", "kind": "str", "seller_org_id": "int64", "shipment_id": "int64", "total_fen": "int64",
    },
    "payments": {
        "payment_id": "int64", "invoice_id": "int64", "hospital_id": "int64", "payee_org_id": "int64",
        "amount_fen": "int64",
    },
    # Who may issue the first invoice of a product: its manufacturer, its authorisation holder, and their group.
    "makers": {"product_id": "int64", "manufacturer_id": "int64", "mah_id": "int64", "group_org_id": "int64"},
    "equivalents": {"org_id": "int64", "principal_org_id": "int64"},  # 视同生产企业 in force (4.2)
    "groups": {"org_id": "int64", "group_id": "int64"},  # distribution-group members (4.3)
}  # fmt: skip


@dataclass
class Frames:
    lines: pd.DataFrame
    packs: pd.DataFrame
    shipments: pd.DataFrame
    order_lines: pd.DataFrame
    invoices: pd.DataFrame
    payments: pd.DataFrame
    makers: pd.DataFrame
    equivalents: pd.DataFrame
    groups: pd.DataFrame


def empty(name: str) -> pd.DataFrame:
    """Return an empty frame of one kind, with its columns and dtypes."""
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in COLUMNS[name].items()})


def conform(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the columns of its kind, in order and typed; a missing column is an error."""
    columns = COLUMNS[name]
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} frame lacks columns: {', '.join(missing)}")
    return frame[list(columns)].astype(columns).reset_index(drop=True)


def _first_rows(coded: np.ndarray) -> np.ndarray:
    """Return, for each code 0 … n − 1, the first row holding it."""
    rows = np.zeros(coded.max() + 1 if len(coded) else 0, dtype="int64")
    rows[coded[::-1]] = np.arange(len(coded))[::-1]  # the last write per code is its first row
    return rows


def _keys(f: Frames) -> Keys:
    """Code every (shipment, product, batch) of the packs and the lines as dense integers."""
    packs, lines = f.packs, f.lines
    n = len(packs)
    batch, batches = pd.factorize(np.concatenate([packs["batch"].to_numpy(object), lines["batch"].to_numpy(object)]))
    product = np.concatenate([packs["product_id"].to_numpy(), lines["product_id"].to_numpy()])
    shipment = np.concatenate([packs["shipment_id"].to_numpy(), lines["shipment_id"].to_numpy()])
    key = codes(shipment, product, batch)
    at = _first_rows(key)
    sp_of_key = codes(shipment[at], product[at])  # (shipment, product) pairs: coded over keys, not rows
    first_key = _first_rows(sp_of_key)
    kind = lines["kind"].to_numpy(object)
    line_kind = np.where(kind == "first", FIRST, np.where(kind == "second", SECOND, OTHER)).astype("int8")
    return Keys(
        pack_key=key[:n], line_key=key[n:], line_sp=sp_of_key[key[n:]], line_kind=line_kind,
        sp_of_key=sp_of_key, batch_of_key=np.asarray(batches, dtype=object)[batch[at]],
        shipment_of_sp=shipment[at][first_key], product_of_sp=product[at][first_key],
        n_keys=len(at), n_sp=len(first_key),
    )  # fmt: skip


REASONS = (
    "in_transit", "not_received", "price_above_award", "price_differs_from_order", "no_order_line",
    "batch_not_shipped", "batch_not_on_first_invoice", "quantity_above_first_invoice", "no_first_invoice",
    "chain_too_long", "first_seller_not_manufacturer", "party_mismatch",
)  # fmt: skip


def _verdicts(s: pd.DataFrame, k: np.ndarray, sp: np.ndarray, g: dict, flags: dict) -> pd.DataFrame:
    """Give every second-invoice line its reason codes; an invoice is paid only when none of its lines has one."""
    short = s["matched"].to_numpy() < s["quantity"].to_numpy()
    price, batch = s["price_check"].to_numpy(), s["batch_check"].to_numpy()
    masks = (
        short & g["pending"][k], short & ~g["pending"][k], price == "above_award", price == "differs_from_order",
        price == "no_order_line", batch == "not_shipped", batch == "not_on_first_invoice",
        g["second_above_first"][k], g["no_first"][k], flags["chain_too_long"][sp], flags["first_seller"][sp],
        flags["party_mismatch"][sp],
    )  # fmt: skip
    # One bit per reason; the few distinct combinations are spelled out once each, not once per line.
    bits = np.zeros(len(s), dtype="int64")
    for index, mask in enumerate(masks):
        bits |= np.asarray(mask, dtype="int64") << index
    combos = np.unique(bits)
    coded = np.searchsorted(combos, bits)
    spelled = [",".join(n for i, n in enumerate(REASONS) if int(c) >> i & 1) for c in combos]
    s["reasons"] = pd.Categorical.from_codes(coded, pd.Index(spelled, dtype=object)) if len(bits) else []
    invoice = codes(s["invoice_id"].to_numpy())
    held = np.bincount(invoice, weights=bits != 0, minlength=invoice.max() + 1 if len(invoice) else 0) > 0
    s["verdict"] = pd.Categorical.from_codes(held[invoice].astype("int8"), ["pay", "hold"])
    return s


def reconcile_frames(
    f: Frames, *, rules: ParameterSet = r.RECONCILIATION_RULES, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match goods, invoices and money; return (second-invoice lines with verdicts, violations)."""
    r.check_rules(rules)
    keys = _keys(f)
    ships = goods.shipment_columns(f, keys)
    g = goods.goods(f, keys, ships, rules, as_of)
    parts = goods.key_violations(f, keys, g, ships, rules)
    chain_parts, flags = chain_violations(f, keys, ships, rules)
    s, k, sp = goods.second_lines(f, keys, g, rules)
    parts += chain_parts + goods.price_violations(s) + payment_violations(f, rules)
    return _verdicts(s, k, sp, g, flags), violations_frame(parts)
