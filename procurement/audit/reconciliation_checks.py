"""The chain and money checks of reconciliation, and the coded keys every check of the core shares.

A chain is judged per shipment and product: its hops are the distinct (seller, buyer) pairs of the invoices that
bill the product on the shipment. A hop from a manufacturer to its registered equivalent does not count (4.2), nor
does one transfer inside a distribution group (4.3); a hospital on the remote-area list may have one more (4.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.params import ParameterSet
from procurement.audit import reconciliation_rules as r

if TYPE_CHECKING:
    from procurement.audit.reconciliation_frames import Frames

FIRST, SECOND, OTHER = 0, 1, 2  # invoice kinds as codes: first, second, and any hop between them

VIOLATION_COLUMNS = {
    "code": "str", "shipment_id": "Int64", "product_id": "Int64", "batch": "str", "invoice_id": "Int64",
    "payment_id": "Int64", "hospital_id": "Int64", "subject": "str", "detail": "str",
}  # fmt: skip


@dataclass
class Keys:
    """Dense integer codes: a key is one (shipment, product, batch), an ``sp`` one (shipment, product)."""

    pack_key: np.ndarray  # per pack row
    line_key: np.ndarray  # per invoice line
    line_sp: np.ndarray
    line_kind: np.ndarray  # per invoice line: FIRST, SECOND or OTHER (transfer, extra)
    sp_of_key: np.ndarray
    batch_of_key: np.ndarray
    shipment_of_sp: np.ndarray  # shipment id
    product_of_sp: np.ndarray  # product id
    n_keys: int
    n_sp: int


def nullable(values: np.ndarray, known: np.ndarray) -> pd.arrays.IntegerArray:
    """Return whole numbers as a nullable column, missing where not ``known``."""
    return pd.arrays.IntegerArray(np.asarray(values, dtype="int64"), ~np.asarray(known, dtype=bool))


def part(frame: pd.DataFrame, code: str, subject: str, detail) -> pd.DataFrame:
    """Return violation rows of one code from the rows of ``frame``, with their ids and a readable detail."""
    wanted = ("shipment_id", "product_id", "batch", "invoice_id", "payment_id", "hospital_id")
    out = frame[[c for c in wanted if c in frame.columns]].copy()
    out["code"], out["subject"] = code, subject
    out["detail"] = np.asarray(detail, dtype=object) if len(frame) else np.zeros(0, dtype=object)
    return out


def violations_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack violation parts into one frame of the violation columns."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in VIOLATION_COLUMNS.items()})
    out = pd.concat(parts, ignore_index=True)
    for column in VIOLATION_COLUMNS:
        if column not in out.columns:
            out[column] = pd.NA
    out["batch"] = out["batch"].fillna("")
    return out[list(VIOLATION_COLUMNS)].astype(VIOLATION_COLUMNS)


DENSE_LIMIT = 50_000_000  # ids below this are looked up through an array indexed by id, not a hash table


def lookup(index_values: np.ndarray, values: np.ndarray, wanted: np.ndarray, missing: int = -1) -> np.ndarray:
    """Return ``values`` at the first row of ``index_values`` equal to each of ``wanted``, else ``missing``."""
    index_values, values, wanted = np.asarray(index_values), np.asarray(values), np.asarray(wanted)
    if not len(index_values) or not len(wanted):
        return np.full(len(wanted), missing, dtype="int64")
    top = max(int(index_values.max()), int(wanted.max()))
    if min(int(index_values.min()), int(wanted.min())) >= 0 and top < DENSE_LIMIT:
        table = np.full(top + 1, missing, dtype="int64")
        table[index_values[::-1]] = values[::-1]  # the last write per id is its first row
        return table[wanted]
    index = pd.Index(index_values)
    if not index.is_unique:
        keep = ~index.duplicated()
        index, values = index[keep], values[keep]
    at = index.get_indexer(wanted)
    return np.where(at >= 0, values[np.where(at >= 0, at, 0)], missing)


def lookup_rows(index_values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return the row of ``index_values`` holding each of ``wanted`` (first such row), or -1."""
    return lookup(index_values, np.arange(len(index_values), dtype="int64"), wanted)


def codes(*columns: np.ndarray) -> np.ndarray:
    """Return one dense code per row for the combination of whole-number columns (non-negative, or any)."""
    combined = None
    for column in columns:
        column = np.asarray(column, dtype="int64")
        if combined is None:
            combined = column
            continue
        low, high = int(column.min()) if len(column) else 0, int(column.max()) if len(column) else 0
        width = high - low + 1
        top = int(combined.max()) if len(combined) else 0
        if low < 0 or int(combined.min() if len(combined) else 0) < 0 or (top + 1) * width >= 2**62:
            combined = pd.factorize(combined)[0]
            top = int(combined.max()) if len(combined) else 0
        combined = combined * width + (column - low)
    return dense(combined)


def dense(values: np.ndarray) -> np.ndarray:
    """Return dense codes 0 … n − 1 for whole numbers, in order of value when a table of them is small enough."""
    if len(values) and int(values.min()) >= 0 and int(values.max()) < max(4 * len(values), 1 << 20):
        seen = np.zeros(int(values.max()) + 1, dtype=bool)
        seen[values] = True
        rank = np.cumsum(seen, dtype="int64") - 1
        return rank[values]
    return pd.factorize(values)[0]


def _lines(f: Frames, keys: Keys) -> dict[str, np.ndarray]:
    """Return the invoice lines as the columns the chain checks read."""
    lines = f.lines
    return {
        "sp": keys.line_sp, "seller": lines["seller_org_id"].to_numpy(), "buyer": lines["buyer_org_id"].to_numpy(),
        "kind": keys.line_kind, "invoice_id": lines["invoice_id"].to_numpy(), "row": np.arange(len(lines)),
    }  # fmt: skip


def _hops(h: dict, f: Frames, keys: Keys, rules: ParameterSet) -> dict[str, np.ndarray]:
    """Return the distinct hops (shipment and product, seller, buyer) of the chains that may be too long.

    A chain is too long only with more invoice lines than the invoices allowed anywhere, so only those chains are
    deduplicated hop by hop: usually a handful among the whole period.
    """
    lines_per_sp = np.bincount(h["sp"], minlength=keys.n_sp)
    candidates = np.flatnonzero(lines_per_sp[h["sp"]] > rules["max_invoices"])
    hop = codes(h["sp"][candidates], h["seller"][candidates], h["buyer"][candidates])
    first_row = np.zeros(hop.max() + 1 if len(hop) else 0, dtype="int64")
    first_row[hop[::-1]] = np.arange(len(hop))[::-1]  # the last write per hop is its first row
    rows = candidates[first_row]
    hops = {name: values[rows] for name, values in h.items()}
    groups, equivalents = f.groups, f.equivalents
    group_of = lambda org: lookup(groups["org_id"].to_numpy(), groups["group_id"].to_numpy(), org)  # noqa: E731
    seller_group = group_of(hops["seller"])
    hops["in_group"] = (seller_group >= 0) & (seller_group == group_of(hops["buyer"]))
    principal = equivalents["principal_org_id"].to_numpy()
    hops["to_equivalent"] = lookup(equivalents["org_id"].to_numpy(), principal, hops["buyer"]) == hops["seller"]
    return hops


def _first_seller_bad(h: dict, f: Frames, keys: Keys) -> np.ndarray:
    """Return which lines are on first invoices issued by neither the maker, its holder, its group nor an equivalent."""
    first = np.flatnonzero(h["kind"] == FIRST)
    product = keys.product_of_sp[h["sp"][first]]
    makers, equivalents = f.makers, f.equivalents
    ids = makers["product_id"].to_numpy()
    maker, holder, group = (lookup(ids, makers[c].to_numpy(), product) for c in ("manufacturer_id", "mah_id",
                                                                                    "group_org_id"))  # fmt: skip
    seller = h["seller"][first]
    principal = lookup(equivalents["org_id"].to_numpy(), equivalents["principal_org_id"].to_numpy(), seller)
    own = (seller == maker) | (seller == holder)
    equivalent = (principal >= 0) & ((principal == maker) | (principal == holder) | (principal == group))
    bad = np.zeros(len(h["kind"]), dtype=bool)
    bad[first] = ~own & ~equivalent
    return bad


def _party_bad(h: dict, keys: Keys, ships: dict) -> np.ndarray:
    """Return which lines break the chain: a buyer selling on to nobody, a seller who bought from nobody, wrong ends.

    In a linked chain the buyers of every invoice but the second are the sellers of every invoice but the first.
    Sums of the ids and of their squares per (shipment, product) compare the two multisets cheaply; only the few
    chains where they differ (a break, or one hop billed on several invoices) are searched line by line.
    """
    sp, kind, seller, buyer = h["sp"], h["kind"], h["seller"], h["buyer"]
    is_first, is_second = kind == FIRST, kind == SECOND
    complete = (np.bincount(sp, weights=is_first, minlength=keys.n_sp) > 0) & (
        np.bincount(sp, weights=is_second, minlength=keys.n_sp) > 0
    )
    code = lambda org: (org % 1_000_003).astype("float64") + 1  # noqa: E731  small, exact in float sums
    broken = np.zeros(keys.n_sp, dtype=bool)
    for power in (1, 2):
        sold_on = np.bincount(sp, weights=np.where(is_second, 0, code(buyer) ** power), minlength=keys.n_sp)
        bought = np.bincount(sp, weights=np.where(is_first, 0, code(seller) ** power), minlength=keys.n_sp)
        broken |= sold_on != bought
    suspect = np.flatnonzero((complete & broken)[sp])
    bad = np.zeros(len(sp), dtype=bool)
    if len(suspect):
        s_sp, s_kind = sp[suspect], kind[suspect]
        pair = pd.MultiIndex.from_arrays([s_sp, seller[suspect]])
        buys_pair = pd.MultiIndex.from_arrays([s_sp, buyer[suspect]])
        sells_on = buys_pair.isin(pair)
        came_from = pair.isin(buys_pair)
        bad[suspect] = ((s_kind != SECOND) & ~sells_on) | ((s_kind != FIRST) & ~came_from)
    wrong_end = is_second & ((seller != ships["supplier_id"][sp]) | (buyer != ships["hospital_id"][sp]))
    return bad | wrong_end


def chain_violations(f: Frames, keys: Keys, ships: dict, rules: ParameterSet) -> tuple[list[pd.DataFrame], dict]:
    """Return the chain violations and, per (shipment, product), the flags the verdicts explain lines with."""
    h = _lines(f, keys)
    hops = _hops(h, f, keys, rules)
    sp = hops["sp"]
    count = np.bincount(sp, minlength=keys.n_sp)
    in_group = np.bincount(sp, weights=hops["in_group"], minlength=keys.n_sp).astype("int64")
    to_equivalent = np.bincount(sp, weights=hops["to_equivalent"], minlength=keys.n_sp).astype("int64")
    allowed = rules["max_invoices"] + np.where(ships["remote"], rules["remote_extra_invoices"], 0)
    counted = count - to_equivalent - np.minimum(in_group, rules["group_transfer_invoices"])
    too_long = counted > allowed
    at = np.flatnonzero(too_long)
    long_rows = pd.DataFrame({"shipment_id": keys.shipment_of_sp[at], "product_id": keys.product_of_sp[at],
                              "hospital_id": ships["hospital_id"][at]})  # fmt: skip
    remote = np.where(ships["remote"][at], " (remote area)", "")
    detail = [f"{a} invoices, {b} counted, {c} allowed{d}" for a, b, c, d in
              zip(count[at], counted[at], allowed[at], remote, strict=True)]  # fmt: skip
    bad_first = _first_seller_bad(h, f, keys)
    bad_party = _party_bad(h, keys, ships)

    def line_rows(mask: np.ndarray) -> pd.DataFrame:
        rows = np.flatnonzero(mask)
        line_sp = h["sp"][rows]
        return pd.DataFrame({
            "shipment_id": keys.shipment_of_sp[line_sp], "product_id": keys.product_of_sp[line_sp],
            "invoice_id": h["invoice_id"][rows], "hospital_id": ships["hospital_id"][line_sp],
            "seller": h["seller"][rows], "buyer": h["buyer"][rows],
            "kind": f.lines["kind"].to_numpy(object)[rows],
        }).drop_duplicates(["shipment_id", "product_id", "invoice_id"])  # fmt: skip

    first = line_rows(bad_first)
    parties = line_rows(bad_party).drop_duplicates("invoice_id")
    parts = [
        part(long_rows, r.CHAIN_TOO_LONG, "supplier", detail),
        part(first, r.FIRST_SELLER, "supplier", "first invoice issued by organisation " + first["seller"].astype(str)),
        part(parties, r.PARTY_MISMATCH, "supplier", parties["kind"].astype(str) + " invoice from "
             + parties["seller"].astype(str) + " to " + parties["buyer"].astype(str)
             + " does not link to the rest of the chain"),
    ]  # fmt: skip
    flags = {
        "chain_too_long": too_long,
        "first_seller": np.bincount(h["sp"], weights=bad_first, minlength=keys.n_sp) > 0,
        "party_mismatch": np.bincount(h["sp"], weights=bad_party, minlength=keys.n_sp) > 0,
    }
    return parts, flags


def payment_violations(f: Frames, rules: ParameterSet) -> list[pd.DataFrame]:
    """Return payments with no second invoice behind them: unknown or not second, another payee, or above it."""
    pay, inv = f.payments, f.invoices
    invoice_ids = inv["invoice_id"].to_numpy()
    at = lookup_rows(invoice_ids, pay["invoice_id"].to_numpy())
    known = at >= 0
    take = np.where(known, at, 0)

    def of_invoice(column: str, missing):
        values = inv[column].to_numpy(object if column == "kind" else None)
        return np.where(known, values[take], missing) if len(values) else np.full(len(at), missing)

    no_invoice = of_invoice("kind", "") != "second"
    other_payee = ~no_invoice & (pay["payee_org_id"].to_numpy() != of_invoice("seller_org_id", -1))
    invoice, amount = pay["invoice_id"].to_numpy(), pay["amount_fen"].to_numpy()
    order = np.lexsort((pay["payment_id"].to_numpy(), invoice))
    running = np.cumsum(amount[order])
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = invoice[order][1:] != invoice[order][:-1]
    before = np.maximum.accumulate(np.where(starts, running - amount[order], 0)) if len(order) else running
    paid = np.empty_like(running)
    paid[order] = running - before
    tolerance = int(rules["price_tolerance"] * 100)
    above = ~no_invoice & ~other_payee & (paid > of_invoice("total_fen", 0) + tolerance)
    chosen = np.flatnonzero(no_invoice | other_payee | above)
    rows = pd.DataFrame({
        "payment_id": pay["payment_id"].to_numpy()[chosen], "invoice_id": invoice[chosen],
        "hospital_id": pay["hospital_id"].to_numpy()[chosen],
        "shipment_id": nullable(of_invoice("shipment_id", 0)[chosen], known[chosen]),
    })  # fmt: skip
    detail = np.select(
        [no_invoice[chosen], other_payee[chosen]],
        ["paid against no second invoice", "paid to another organisation than the invoice's seller"],
        "paid beyond the invoice's total",
    )
    return [part(rows, r.PAYMENT_WITHOUT_INVOICE, "hospital", detail)]
