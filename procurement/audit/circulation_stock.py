"""Stock that should not exist (rulebook 0.7, 5.4.4, 5.5.1): custody the trace record cannot account for.

- ``dispensed_unreceived``: dispensings in the period by an organisation that never received (or commissioned) the
  pack before — it sold more than it received. The capture refuses this (R6), so a hit means records reached the
  store by another road (a bulk load, a repair) and the stock figures built on them are wrong.
- ``held_unreceived``: packs an organisation holds in stock without any receive or commission event of its own.
- ``recalled_in_stock`` / ``expired_in_stock``: recalled packs, or packs past expiry at the period's end, still
  counted in the stock of an organisation other than the marketing authorisation holder they should go back to.
- ``never_ordered``: packs in a hospital's stock of a product the hospital never ordered on the platform nor
  declared as bought off it.

The last four read the packs' custody as the trace record holds it now (it keeps current custody, not a daily
history); their findings are keyed by the packs involved, so running any period again raises nothing new until the
set of packs changes.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from core.models import Organisation
from core.params import ParameterSet
from procurement.audit.circulation_common import Finding, frame, listed, period_instants
from procurement.audit.circulation_rules import PHANTOM_STOCK
from procurement.orders.models import OfflinePurchase, OrderLine, OrderStatus, PurchaseOrder
from trace.models import EventType, Item, ItemStatus, TraceEvent, TradeItem

EV, IT, TI, ORG = TraceEvent.__table__, Item.__table__, TradeItem.__table__, Organisation.__table__
HELD = (ItemStatus.ACTIVE.value, ItemStatus.PARTIAL.value)
INTO_CUSTODY = (EventType.RECEIVE.value, EventType.COMMISSION.value)
NOT_PLACED = (OrderStatus.CANCELLED.value, OrderStatus.REJECTED.value)
TITLES = {
    "dispensed_unreceived": "Packs dispensed that the dispenser never received",
    "held_unreceived": "Packs in stock without a receipt",
    "recalled_in_stock": "Recalled packs still counted in stock",
    "expired_in_stock": "Expired packs still counted in stock",
    "never_ordered": "Stock of a product the hospital never ordered",
}


def _finding(kind: str, org_id: int, object_type: str, object_id: str, ids, evidence: dict) -> Finding:
    return Finding(
        code=PHANTOM_STOCK,
        kind=kind,
        subject_org_id=int(org_id),
        title=TITLES[kind],
        object_type=object_type,
        object_id=object_id,
        ids=[int(i) for i in ids],
        evidence={"check": kind, **evidence},
    )


def _last_events(session: Session, item_ids: list[int]) -> dict[int, int]:
    """Return the latest trace event of each listed pack, so the evidence links to how it got where it is."""
    stmt = sa.select(EV.c.item_id, sa.func.max(EV.c.id)).where(EV.c.item_id.in_(item_ids)).group_by(EV.c.item_id)
    return {int(i): int(e) for i, e in session.connection().execute(stmt)} if item_ids else {}


def dispensed_unreceived(session: Session, *, start: dt.date, end: dt.date) -> list[Finding]:
    """Return, per organisation and trade item, dispensings of packs it never took into custody before."""
    low, high = period_instants(start, end)
    in_period = sa.and_(EV.c.type == EventType.DISPENSE.value, EV.c.at >= low, EV.c.at < high)
    stmt = (
        sa.select(EV.c.id, EV.c.item_id, EV.c.org_id, IT.c.code_key, IT.c.trade_item_id)
        .join(IT, IT.c.id == EV.c.item_id)
        .where(in_period)
    )
    dispensed = frame(session, stmt, ("event_id", "item_id", "org_id", "code_key", "trade_item_id"))
    if dispensed.empty:
        return []
    # Every receipt or commissioning of those packs, matched to the dispensings in a frame (one pass, no
    # correlated look-up per dispensing).
    took_stmt = sa.select(EV.c.id, EV.c.item_id, EV.c.org_id).where(
        EV.c.type.in_(INTO_CUSTODY), EV.c.item_id.in_(sa.select(EV.c.item_id).where(in_period))
    )
    took = frame(session, took_stmt, ("took_id", "item_id", "org_id"))
    paired = dispensed[["event_id", "item_id", "org_id"]].merge(took, on=["item_id", "org_id"], how="left")
    before = paired[paired["took_id"] < paired["event_id"]]["event_id"]
    rows = dispensed[~dispensed["event_id"].isin(set(before))]
    if rows.empty:
        return []
    totals_stmt = (
        sa.select(EV.c.org_id, IT.c.trade_item_id, EV.c.type, sa.func.count(sa.distinct(EV.c.item_id)))
        .join(IT, IT.c.id == EV.c.item_id)
        .where(EV.c.org_id.in_(set(rows["org_id"].tolist())), EV.c.at < high)
        .where(EV.c.type.in_((EventType.DISPENSE.value, *INTO_CUSTODY)))
        .group_by(EV.c.org_id, IT.c.trade_item_id, EV.c.type)
    )
    totals: dict[tuple[int, int, str], int] = {}
    for org_id, trade_item_id, kind, count in session.connection().execute(totals_stmt):
        totals[(org_id, trade_item_id, kind)] = int(count)
    out = []
    for (org_id, trade_item_id), group in rows.groupby(["org_id", "trade_item_id"], sort=True):
        key = (int(org_id), int(trade_item_id))
        received = totals.get((*key, EventType.RECEIVE.value), 0) + totals.get((*key, EventType.COMMISSION.value), 0)
        evidence = {
            "rule": "5.5.1",
            "trade_item_id": key[1],
            "dispensed_packs_to_date": totals.get((*key, EventType.DISPENSE.value), 0),
            "received_packs_to_date": received,
            "unreceived_dispensings": len(group),
            "trace_event_ids": listed(group["event_id"]),
            "items": listed(group["code_key"]),
        }
        out.append(_finding("dispensed_unreceived", key[0], "trade_item", str(key[1]), group["event_id"], evidence))
    return out


def _in_stock(session: Session) -> pd.DataFrame:
    """Return every sales unit held in stock, with what the checks need, in one read."""
    stmt = (
        sa.select(
            IT.c.id, IT.c.code_key, IT.c.custodian_org_id, IT.c.trade_item_id, IT.c.recalled, IT.c.expiry,
            TI.c.holder_org_id, TI.c.catalogue_ref, ORG.c.kind,
        )
        .join(TI, TI.c.id == IT.c.trade_item_id)
        .join(ORG, ORG.c.id == IT.c.custodian_org_id)
        .where(IT.c.status.in_(HELD), TI.c.level == 1)
    )  # fmt: skip
    names = ("item_id", "code_key", "org_id", "trade_item_id", "recalled", "expiry", "holder", "product_id", "kind")
    return frame(session, stmt, names)


def _pairs(session: Session, stmt: sa.Select) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in session.connection().execute(stmt) if a is not None and b is not None}


def _grouped(session: Session, kind: str, rows: pd.DataFrame, by: str, rule: str, **extra) -> list[Finding]:
    out = []
    for (org_id, value), group in rows.groupby(["org_id", by], sort=True):
        items = listed(group["item_id"])
        last = _last_events(session, items)
        evidence = {
            "rule": rule,
            by: int(value),
            "packs": len(group),
            "item_ids": items,
            "items": listed(group["code_key"]),
            "trace_event_ids": [last[i] for i in items if i in last],
            **extra,
        }
        object_type = "trade_item" if by == "trade_item_id" else "product"
        out.append(_finding(kind, int(org_id), object_type, str(int(value)), group["item_id"], evidence))
    return out


def stock_anomalies(session: Session, *, start: dt.date, end: dt.date, rules: ParameterSet) -> list[Finding]:
    """Return packs held without a receipt, recalled or expired packs in stock, and stock never ordered."""
    stock = _in_stock(session)
    if stock.empty:
        return []
    # Who took each held pack into custody, matched in a frame (no correlated look-up per pack).
    took_stmt = sa.select(EV.c.item_id, EV.c.org_id).where(
        EV.c.type.in_(INTO_CUSTODY),
        EV.c.item_id.in_(sa.select(IT.c.id).where(IT.c.status.in_(HELD))),
    )
    took = frame(session, took_stmt, ("item_id", "org_id")).drop_duplicates().assign(took=True)
    marked = stock.merge(took, on=["item_id", "org_id"], how="left")
    findings = _grouped(session, "held_unreceived", stock[marked["took"].isna().to_numpy()], "trade_item_id", "5.5.1")
    not_holder = stock["org_id"] != stock["holder"]
    recalled = stock[not_holder & stock["recalled"].astype(bool)]
    findings += _grouped(session, "recalled_in_stock", recalled, "trade_item_id", "5.5.1")
    expiry = pd.to_datetime(stock["expiry"], errors="coerce")
    expired = stock[not_holder & (expiry < pd.Timestamp(end)).to_numpy()]
    findings += _grouped(session, "expired_in_stock", expired, "trade_item_id", "5.5.1", as_of=end.isoformat())
    at_hospitals = stock[(stock["kind"] == "hospital") & stock["product_id"].notna()]
    if not at_hospitals.empty:
        ordered = _pairs(
            session,
            sa.select(PurchaseOrder.hospital_id, OrderLine.product_id)
            .join(OrderLine, OrderLine.order_id == PurchaseOrder.id)
            .where(PurchaseOrder.status.not_in(NOT_PLACED))
            .distinct(),
        )
        # A purchase the hospital declared as made off the platform (0.2) explains the stock: it counts in the
        # online share instead.
        ordered |= _pairs(session, sa.select(OfflinePurchase.hospital_id, OfflinePurchase.product_id).distinct())
        keys = zip(at_hospitals["org_id"], at_hospitals["product_id"], strict=True)
        never = at_hospitals[[(int(h), int(p)) not in ordered for h, p in keys]]
        findings += _grouped(session, "never_ordered", never, "product_id", "0.1")
    return findings
