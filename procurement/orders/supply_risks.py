"""The monthly supply-risk check: overdue monthly reports (rulebook 8.3) and stock-outs against open orders (1.8).

The check may run any number of times (a nightly job, an auditor's button): each alert is keyed by month, supplier
and product and raised once.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alerts import Alert
from core.audit import record_audit
from core.db import utcnow
from core.errors import invalid
from core.params import ParameterSet
from procurement.orders.models import OrderLine, OrderStatus, PurchaseOrder
from procurement.orders.rules import ORDER_RULES, SUPPLY_REPORT_MISSING, SUPPLY_STOCK_OUT
from procurement.orders.supply import OVERSEERS, china_today, first_of_month, next_month, report_due_on, supply_alert
from procurement.orders.supply_models import ProductionStop, SupplyReport
from procurement.tenders.models import Award

OBJECT_TYPE = "supply_month"  # alerts about one supplier's product in one month: "YYYY-MM/supplier/product"
OPEN_ORDER = (OrderStatus.SUBMITTED.value, OrderStatus.CONFIRMED.value)

Pair = tuple[int, int]  # supplier id, product id


def risk_key(month: dt.date, supplier_id: int, product_id: int) -> str:
    """Return the object id that makes a month's alert about one supplier's product unique."""
    return f"{month:%Y-%m}/{supplier_id}/{product_id}"


def check_supply_risks(
    session: Session,
    *,
    month: dt.date,
    actor: Actor,
    now: dt.datetime | None = None,
    rules: ParameterSet = ORDER_RULES,
) -> list[Alert]:
    """Raise, once each, alerts for overdue monthly reports and for stock-outs against open orders in ``month``."""
    actor.require(*OVERSEERS)
    now = now or utcnow()
    month = first_of_month(month)
    today = china_today(now)
    if month > today:
        raise invalid("month", f"{month:%Y-%m} has not begun; check a past or the current month")
    pairs = _winning_pairs(session, month)
    seen = set(
        session.exec(
            sa.select(Alert.code, Alert.object_id)
            .where(Alert.object_type == OBJECT_TYPE, Alert.code.in_([SUPPLY_REPORT_MISSING, SUPPLY_STOCK_OUT]))
            .where(Alert.object_id.like(f"{month:%Y-%m}/%"))
        ).all()
    )
    alerts = _missing_reports(session, pairs, seen, month=month, today=today, actor=actor, rules=rules)
    alerts += _stock_outs(session, pairs, seen, month=month, today=today, actor=actor, rules=rules)
    record_audit(
        session,
        actor=actor,
        action="supply.risks_checked",
        object_type=OBJECT_TYPE,
        object_id=f"{month:%Y-%m}",
        details={"winning_products": len(pairs), "alerts": [alert.id for alert in alerts]},
    )
    return alerts


def _winning_pairs(session: Session, month: dt.date) -> list[Pair]:
    last_day = next_month(month) - dt.timedelta(days=1)
    stmt = (
        sa.select(Award.supplier_id, Award.product_id)
        .where(Award.cycle_start <= last_day, Award.cycle_end >= month)
        .distinct()
        .order_by(Award.supplier_id, Award.product_id)
    )
    return [(supplier_id, product_id) for supplier_id, product_id in session.exec(stmt).all()]


def _missing_reports(session, pairs, seen, *, month, today, actor, rules) -> list[Alert]:
    due_on = report_due_on(month, rules)
    if today <= due_on:
        return []
    stmt = sa.select(SupplyReport.supplier_id, SupplyReport.product_id).where(SupplyReport.month == month)
    reported = {(supplier_id, product_id) for supplier_id, product_id in session.exec(stmt).all()}
    alerts = []
    for supplier_id, product_id in pairs:
        key = risk_key(month, supplier_id, product_id)
        if (supplier_id, product_id) in reported or (SUPPLY_REPORT_MISSING, key) in seen:
            continue
        alerts.append(
            supply_alert(
                session,
                actor=actor,
                code=SUPPLY_REPORT_MISSING,
                rules=rules,
                keys=("report_due_day",),
                title=f"No {month:%Y-%m} supply report for product {product_id}; it was due {due_on.isoformat()}",
                object_type=OBJECT_TYPE,
                object_id=key,
                evidence={
                    "supplier_id": supplier_id,
                    "product_id": product_id,
                    "month": f"{month:%Y-%m}",
                    "due_on": due_on.isoformat(),
                    "checked_on": today.isoformat(),
                },
                subject_org_id=supplier_id,
            )
        )
    return alerts


def _stock_outs(session, pairs, seen, *, month, today, actor, rules) -> list[Alert]:
    products = sorted({product_id for _, product_id in pairs})
    if not products:
        return []
    open_stmt = (
        sa.select(
            OrderLine.product_id,
            sa.func.count(sa.distinct(OrderLine.order_id)),
            sa.func.sum(OrderLine.quantity - OrderLine.shipped_qty),
        )
        .join(PurchaseOrder, PurchaseOrder.id == OrderLine.order_id)
        .where(PurchaseOrder.status.in_(OPEN_ORDER), OrderLine.product_id.in_(products))
        .group_by(OrderLine.product_id)
    )
    # Any open order for the product counts, whoever it is addressed to: a distributor can only pass on the
    # maker's stock.
    open_orders = {product_id: (int(orders), int(packs or 0)) for product_id, orders, packs in session.exec(open_stmt)}
    if not open_orders:
        return []
    inventory = _last_inventory(session, month)
    stops = _stops_in(session, month, min(next_month(month) - dt.timedelta(days=1), today))
    alerts = []
    for supplier_id, product_id in pairs:
        key = risk_key(month, supplier_id, product_id)
        last, stop = inventory.get((supplier_id, product_id)), stops.get((supplier_id, product_id))
        empty = last is not None and last[0] == 0
        if product_id not in open_orders or not (empty or stop) or (SUPPLY_STOCK_OUT, key) in seen:
            continue
        orders, packs = open_orders[product_id]
        why = f"production stopped since {stop.stops_on.isoformat()}" if stop else "no stock reported"
        alerts.append(
            supply_alert(
                session,
                actor=actor,
                code=SUPPLY_STOCK_OUT,
                rules=rules,
                keys=(),
                title=f"Product {product_id}: {why}, with {orders} open order(s) for {packs} pack(s)",
                object_type=OBJECT_TYPE,
                object_id=key,
                evidence={
                    "supplier_id": supplier_id,
                    "product_id": product_id,
                    "month": f"{month:%Y-%m}",
                    "inventory": last[0] if last else None,
                    "inventory_month": f"{last[1]:%Y-%m}" if last else None,
                    "stop_id": stop.id if stop else None,
                    "open_orders": orders,
                    "open_packs": packs,
                },
                subject_org_id=supplier_id,
            )
        )
    return alerts


def _last_inventory(session: Session, month: dt.date) -> dict[Pair, tuple[int, dt.date]]:
    """Return each supplier's product's inventory in its latest report for ``month`` or before."""
    latest = (
        sa.select(SupplyReport.supplier_id, SupplyReport.product_id, sa.func.max(SupplyReport.month).label("month"))
        .where(SupplyReport.month <= month)
        .group_by(SupplyReport.supplier_id, SupplyReport.product_id)
        .subquery()
    )
    stmt = sa.select(
        SupplyReport.supplier_id, SupplyReport.product_id, SupplyReport.inventory, SupplyReport.month
    ).join(
        latest,
        sa.and_(
            SupplyReport.supplier_id == latest.c.supplier_id,
            SupplyReport.product_id == latest.c.product_id,
            SupplyReport.month == latest.c.month,
        ),
    )
    return {(s, p): (inventory, reported) for s, p, inventory, reported in session.exec(stmt).all()}


def _stops_in(session: Session, first: dt.date, last: dt.date) -> dict[Pair, ProductionStop]:
    """Return each supplier's product's latest production stop in force on some day of ``first``..``last``."""
    # The month checked, up to today: a past month is judged by the stops of that month, not by those of today.
    stmt = (
        sa.select(ProductionStop)
        .where(ProductionStop.stops_on <= last)
        .where(sa.or_(ProductionStop.resumes_on.is_(None), ProductionStop.resumes_on > first))
        .order_by(ProductionStop.stops_on)
    )
    return {(stop.supplier_id, stop.product_id): stop for stop in session.exec(stmt).scalars()}
