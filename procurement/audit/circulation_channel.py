"""Packs leaving the expected channel (rulebook 0.1, 0.7, 1.5): who shipped and who dispensed, against the orders.

Three checks over the trace record of a period, all on sales units (小码; a case's packs are counted, not the case):

- ``no_order``: a pack shipped to a hospital that is on no platform shipment between the two organisations — goods
  moved outside the platform (0.1). Shipments inside one medical community (a general hospital and its member units,
  ``Organisation.parent_id``) are allowed when the rules say so (0.4).
- ``not_assigned_distributor``: a pack of a product a hospital has an agreed volume for, shipped to it by a supplier
  that is not the distributor the winner named for that hospital (or, with none named, not the winner itself).
- ``dispensed_off_channel``: a pack dispensed by a hospital that did not receive it on a platform shipment and is not
  in the receiving hospital's medical community.

Ship findings are grouped per capture batch (one delivery), dispensing findings per hospital, product and month;
a month's dispensing finding is raised once, whichever periods covering the month are run.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from core.models import Organisation
from core.params import ParameterSet
from procurement.audit.circulation_common import Finding, china_month, communities, frame, listed, period_instants
from procurement.audit.circulation_rules import OFF_CHANNEL
from procurement.orders.models import DistributorAssignment, PackStatus, PurchaseOrder, Shipment, ShipmentPack
from procurement.tenders.models import AgreedVolume, Award
from trace.models import EventType, Item, TraceEvent, TradeItem

EV, IT, TI, ORG = TraceEvent.__table__, Item.__table__, TradeItem.__table__, Organisation.__table__
SP, SH = ShipmentPack.__table__, Shipment.__table__


def _ships(session: Session, low: dt.datetime, high: dt.datetime, kinds: tuple[str, ...]) -> pd.DataFrame:
    on_platform = (
        sa.select(SP.c.id)
        .join(SH, SH.c.id == SP.c.shipment_id)
        .where(SP.c.item_id == EV.c.item_id, SH.c.supplier_id == EV.c.org_id, SH.c.hospital_id == EV.c.to_org_id)
        .exists()
    )
    stmt = (
        sa.select(EV.c.id, EV.c.batch_id, EV.c.org_id, EV.c.to_org_id, IT.c.code_key, TI.c.catalogue_ref, on_platform)
        .select_from(EV.join(IT, IT.c.id == EV.c.item_id).join(TI, TI.c.id == IT.c.trade_item_id))
        .join(ORG, ORG.c.id == EV.c.to_org_id)
        .where(EV.c.type == EventType.SHIP.value, EV.c.at >= low, EV.c.at < high, TI.c.level == 1)
        .where(ORG.c.kind.in_(kinds))
    )
    columns = ("event_id", "batch_id", "sender", "receiver", "code_key", "product_id", "on_platform")
    return frame(session, stmt, columns)


def _allowed_shippers(session: Session) -> pd.DataFrame:
    """Return (receiver, product_id, allowed): who may deliver an awarded product to a hospital — the distributor
    the winner named for it, else the winner itself (primary and backup awards alike)."""
    rows = []
    for award_column in (AgreedVolume.award_id, AgreedVolume.backup_award_id):
        stmt = (
            sa.select(
                AgreedVolume.hospital_id,
                Award.product_id,
                sa.func.coalesce(DistributorAssignment.distributor_id, Award.supplier_id),
            )
            .join(Award, Award.id == award_column)
            .outerjoin(
                DistributorAssignment,
                sa.and_(
                    DistributorAssignment.award_id == Award.id,
                    DistributorAssignment.hospital_id == AgreedVolume.hospital_id,
                ),
            )
        )
        rows += [tuple(r) for r in session.connection().execute(stmt)]
    return pd.DataFrame(rows, columns=["receiver", "product_id", "allowed"]).drop_duplicates()


def _orders_between(session: Session, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], list[int]]:
    if not pairs:
        return {}
    hospitals = {h for _, h in pairs}
    stmt = sa.select(PurchaseOrder.supplier_id, PurchaseOrder.hospital_id, PurchaseOrder.id).where(
        PurchaseOrder.hospital_id.in_(hospitals)
    )
    out: dict[tuple[int, int], list[int]] = {}
    for supplier, hospital, order_id in session.connection().execute(stmt.order_by(PurchaseOrder.id)):
        if (supplier, hospital) in pairs:
            out.setdefault((supplier, hospital), []).append(order_id)
    return out


def _ship_findings(kind: str, title: str, rows: pd.DataFrame, orders: dict, rule: str) -> list[Finding]:
    out = []
    for (batch_id, sender, receiver), group in rows.groupby(["batch_id", "sender", "receiver"], sort=True):
        evidence = {
            "check": kind,
            "rule": rule,
            "sender_org_id": int(sender),
            "receiver_org_id": int(receiver),
            "capture_batch_id": int(batch_id),
            "packs": len(group),
            "trace_event_ids": listed(group["event_id"]),
            "items": listed(group["code_key"]),
            "product_ids": sorted({int(p) for p in group["product_id"].dropna()}),
            "order_ids_between": orders.get((int(sender), int(receiver)), []),
        }
        if "expected" in group:
            evidence["expected_distributor_ids"] = sorted({int(i) for e in group["expected"] for i in e})
        out.append(
            Finding(
                code=OFF_CHANNEL,
                kind=kind,
                subject_org_id=int(sender),
                title=title,
                object_type="capture_batch",
                object_id=str(batch_id),
                ids=[int(i) for i in group["event_id"]],
                evidence=evidence,
            )
        )
    return out


def _unassigned(ships: pd.DataFrame, allowed: pd.DataFrame) -> pd.DataFrame:
    """Return the packs of awarded products shipped to a hospital by someone not allowed to deliver them there."""
    if ships.empty or allowed.empty:
        return ships.iloc[0:0].assign(expected=[])
    keyed = ships.astype({"product_id": "float64"}).merge(
        allowed.astype({"product_id": "float64"}), on=["receiver", "product_id"], how="inner"
    )
    if keyed.empty:
        return ships.iloc[0:0].assign(expected=[])
    keyed["ok"] = keyed["sender"] == keyed["allowed"]
    verdict = keyed.groupby("event_id").agg(ok=("ok", "any"), expected=("allowed", lambda v: sorted(set(v))))
    wrong = verdict[~verdict["ok"]]
    return ships.merge(wrong[["expected"]], left_on="event_id", right_index=True, how="inner")


def shipped_off_channel(
    session: Session, *, start: dt.date, end: dt.date, rules: ParameterSet
) -> tuple[int, list[Finding]]:
    """Return the ship events read and the findings: packs shipped outside orders or by an unassigned supplier."""
    low, high = period_instants(start, end)
    ships = _ships(session, low, high, tuple(rules["order_required_for_kinds"]))
    if ships.empty:
        return 0, []
    community = communities(session, set(ships["sender"]) | set(ships["receiver"]))
    same_community = ships["sender"].map(community) == ships["receiver"].map(community)
    senders = sorted({int(i) for i in ships["sender"]})
    kinds = dict(session.connection().execute(sa.select(ORG.c.id, ORG.c.kind).where(ORG.c.id.in_(senders))).all())
    from_hospital = ships["sender"].map(kinds) == "hospital"
    allowed = rules["community_transfers_allowed"] & same_community & from_hospital
    no_order = ships[~ships["on_platform"].astype(bool) & ~allowed]
    wrong_rows = _unassigned(ships[~from_hospital & ships["product_id"].notna()], _allowed_shippers(session))
    pairs = {(int(s), int(r)) for s, r in zip(no_order["sender"], no_order["receiver"], strict=True)}
    orders = _orders_between(session, pairs)
    findings = _ship_findings(
        "no_order", "Packs shipped to a hospital outside any platform order", no_order, orders, "0.1"
    )
    findings += _ship_findings(
        "not_assigned_distributor", "Packs delivered by a supplier not assigned to the hospital", wrong_rows, {}, "1.5"
    )
    return len(ships), findings


def dispensed_off_channel(
    session: Session, *, start: dt.date, end: dt.date, rules: ParameterSet
) -> tuple[int, list[Finding]]:
    """Return the dispense events read and the findings: packs dispensed by a hospital that did not receive them."""
    low, high = period_instants(start, end)
    in_period = sa.and_(EV.c.type == EventType.DISPENSE.value, EV.c.at >= low, EV.c.at < high)
    stmt = (
        sa.select(EV.c.id, EV.c.item_id, EV.c.org_id, EV.c.at, IT.c.code_key, TI.c.id, TI.c.catalogue_ref)
        .select_from(EV.join(IT, IT.c.id == EV.c.item_id).join(TI, TI.c.id == IT.c.trade_item_id))
        .where(in_period, TI.c.level == 1)
    )
    dispenses = frame(session, stmt, ("event_id", "item_id", "org_id", "at", "code_key", "trade_item_id", "product_id"))
    if dispenses.empty:
        return 0, []
    receivers = (
        sa.select(SP.c.item_id, SH.c.hospital_id)
        .join(SH, SH.c.id == SP.c.shipment_id)
        .where(SP.c.status == PackStatus.RECEIVED.value, SP.c.item_id.in_(sa.select(EV.c.item_id).where(in_period)))
    )
    received = frame(session, receivers, ("item_id", "receiver"))
    community = communities(session, set(dispenses["org_id"]) | set(received["receiver"]))
    paired = dispenses[["event_id", "item_id", "org_id"]].merge(received, on="item_id", how="left")
    paired["ok"] = paired["org_id"] == paired["receiver"]
    if rules["community_transfers_allowed"]:
        same = paired["org_id"].map(community) == paired["receiver"].map(community)
        paired["ok"] |= same & paired["receiver"].notna()
    legitimate = paired.groupby("event_id")["ok"].any()
    flagged = dispenses[~dispenses["event_id"].map(legitimate).astype(bool)]
    by_item = received.groupby("item_id")["receiver"].agg(lambda v: sorted({int(h) for h in v}))
    findings = []
    if not flagged.empty:
        flagged = flagged.assign(month=china_month(flagged["at"]))
        for (org_id, trade_item_id, month), group in flagged.groupby(["org_id", "trade_item_id", "month"], sort=True):
            product = group["product_id"].dropna()
            findings.append(
                Finding(
                    code=OFF_CHANNEL,
                    kind="dispensed_off_channel",
                    subject_org_id=int(org_id),
                    title="Packs dispensed by a hospital that did not receive them on the platform",
                    object_type="trade_item",
                    object_id=str(int(trade_item_id)),
                    ids=[int(i) for i in group["event_id"]],
                    month=month,  # periods that overlap, or more dispensings that month, are the same finding
                    evidence={
                        "check": "dispensed_off_channel",
                        "rule": "0.7",
                        "month": month,
                        "trade_item_id": int(trade_item_id),
                        "product_id": int(product.iloc[0]) if len(product) else None,
                        "packs": len(group),
                        "trace_event_ids": listed(group["event_id"]),
                        "items": listed(group["code_key"]),
                        "received_on_platform_by": sorted({h for i in group["item_id"] for h in by_item.get(i, [])}),
                    },
                )
            )
    return len(dispenses), findings
