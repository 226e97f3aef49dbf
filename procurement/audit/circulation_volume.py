"""Purchases far above the agreed volume or past use (rulebook 1.4.4, 1.7.1, 3.6, 3.9, 7.10).

``above_agreed``: the packs a hospital accepted in the agreement year so far (comparable units, as the progress
page counts them), on the period's last day, above ``above_agreed_factor`` × the agreed volume due in that year.
Buying past the agreed volume is allowed at the winning price (1.7.1); far past it suggests an under-reported base
or stock passed on elsewhere (3.9). One alert per agreed volume and agreement year.

``above_history``: a hospital's packs of one product accepted in a month of the period, above
``above_history_factor`` × the same month a year before, or × the mean of the ``history_trailing_months`` months
before it. A month with fewer than ``history_min_packs`` is not judged; a baseline of zero is missing (no history),
not a reason to flag, and so is a trailing window that starts before the hospital first bought the product. Whole
calendar months (in China) that the period touches are judged, and one alert is raised per hospital, product and
month: a receipt added to a month already alerted, or a later run over the same month, raises no second alert.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.params import ParameterSet
from procurement.audit.circulation_common import Finding, china_month, frame, listed
from procurement.audit.circulation_finance import months_of
from procurement.audit.circulation_rules import ABOVE_AGREED, ABOVE_HISTORY
from procurement.orders.models import OrderLine, PurchaseOrder, Receipt, ShipmentPack
from procurement.orders.progress import agreement_progress, received_packs


def _month_back(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


def above_agreed(session: Session, actor: Actor, *, end: dt.date, rules: ParameterSet) -> tuple[int, list[Finding]]:
    """Return the agreed volumes read and those bought beyond the factor in the agreement year to the period's end."""
    on = end - dt.timedelta(days=1)
    rows = agreement_progress(session, actor=actor, on=on)
    factor = Decimal(str(rules["above_agreed_factor"]))
    out = []
    for row in rows:
        if not row.agreed_volume or row.received_units <= factor * row.agreed_volume:
            continue
        orders = (
            received_packs(PurchaseOrder.id, first=row.period_start, last=min(on, row.period_end))
            .where(PurchaseOrder.hospital_id == row.hospital_id, OrderLine.lot_id == row.lot_id)
            .distinct()
            .order_by(PurchaseOrder.id)
        )
        order_ids = [int(i) for i in session.connection().execute(orders).scalars()]
        out.append(
            Finding(
                code=ABOVE_AGREED,
                kind="above_agreed",
                subject_org_id=row.hospital_id,
                title="Purchases far above the agreed volume",
                object_type="agreed_volume",
                object_id=str(row.agreed_volume_id),
                ids=[row.agreed_volume_id, row.period_start.toordinal()],  # one finding per agreement year
                evidence={
                    "rule": "1.7.1",
                    "agreed_volume_id": row.agreed_volume_id,
                    "award_id": row.award_id,
                    "lot_id": row.lot_id,
                    "tender_id": row.tender_id,
                    "generic_name": row.generic_name,
                    "agreement_year": [row.period_start.isoformat(), row.period_end.isoformat()],
                    "on": on.isoformat(),
                    "agreed_volume": row.agreed_volume,
                    "received_units": f"{row.received_units.normalize():f}",
                    "ratio": str(row.completion),
                    "factor": str(factor),
                    "order_ids": listed(order_ids),
                },
            )
        )
    return len(rows), out


def _monthly(session: Session, first: dt.date, last: dt.date) -> pd.DataFrame:
    stmt = received_packs(
        PurchaseOrder.hospital_id,
        OrderLine.product_id,
        Receipt.id,
        Receipt.received_at,
        PurchaseOrder.id,
        sa.func.count(ShipmentPack.id),
        first=first,
        last=last,
    ).group_by(PurchaseOrder.hospital_id, OrderLine.product_id, Receipt.id, Receipt.received_at, PurchaseOrder.id)
    rows = frame(session, stmt, ("hospital_id", "product_id", "receipt_id", "received_at", "order_id", "packs"))
    if not rows.empty:
        rows["month"] = china_month(rows["received_at"])
    return rows


def _first_purchases(session: Session, last: dt.date) -> dict[tuple[int, int], str]:
    """Return the month (China time) each hospital first received each product, over the whole record."""
    key = (PurchaseOrder.hospital_id, OrderLine.product_id)
    stmt = received_packs(*key, sa.func.min(Receipt.received_at), first=dt.date(1970, 1, 1), last=last).group_by(*key)
    rows = frame(session, stmt, ("hospital_id", "product_id", "first"))
    if rows.empty:
        return {}
    months = china_month(rows["first"])
    return {(int(h), int(p)): m for h, p, m in zip(rows["hospital_id"], rows["product_id"], months, strict=True)}


def above_history(session: Session, *, start: dt.date, end: dt.date, rules: ParameterSet) -> tuple[int, list[Finding]]:
    """Return the receipts read and each hospital × product × month bought far above its own past."""
    months = months_of(start, end)
    trailing = int(rules["history_trailing_months"])
    earliest = min(_month_back(months[0], 12), _month_back(months[0], trailing))
    last_day = (months[-1] + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    rows = _monthly(session, earliest, last_day)
    if rows.empty:
        return 0, []
    first_bought = _first_purchases(session, last_day)
    judged = {m.strftime("%Y-%m") for m in months}
    in_period = rows[rows["month"].isin(judged)]
    qty = rows.groupby(["hospital_id", "product_id", "month"])["packs"].sum()
    factor, minimum = Decimal(str(rules["above_history_factor"])), int(rules["history_min_packs"])
    out = []
    for (hospital_id, product_id, month), group in in_period.groupby(["hospital_id", "product_id", "month"]):
        packs = int(group["packs"].sum())
        if packs < minimum:
            continue
        first = dt.date(int(month[:4]), int(month[5:]), 1)

        def bought(m: dt.date, h=hospital_id, p=product_id) -> int:
            return int(qty.get((h, p, m.strftime("%Y-%m")), 0))

        last_year = bought(_month_back(first, 12))
        mean = Decimal(0)
        # Months before the hospital first bought the product are no history: the window must lie after it.
        if first_bought.get((int(hospital_id), int(product_id)), month) <= f"{_month_back(first, trailing):%Y-%m}":
            mean = Decimal(sum(bought(_month_back(first, n)) for n in range(1, trailing + 1))) / trailing
        exceeded = []
        if last_year and packs > factor * last_year:
            exceeded.append("same_month_last_year")
        if mean and packs > factor * mean:
            exceeded.append("trailing_mean")
        if not exceeded:
            continue
        out.append(
            Finding(
                code=ABOVE_HISTORY,
                kind="above_history",
                subject_org_id=int(hospital_id),
                title="Purchases far above the hospital's past use",
                object_type="product",
                object_id=str(int(product_id)),
                ids=[int(i) for i in group["receipt_id"]],
                month=month,  # one finding per hospital, product and month, however many receipts it gains
                evidence={
                    "rule": "3.9",
                    "product_id": int(product_id),
                    "month": month,
                    "packs": packs,
                    "same_month_last_year": last_year or None,
                    "trailing_months": trailing,
                    "trailing_mean": str(mean.quantize(Decimal("0.01"))) if mean else None,
                    "factor": str(factor),
                    "exceeded": exceeded,
                    "receipt_ids": listed(sorted(set(group["receipt_id"]))),
                    "order_ids": listed(sorted(set(group["order_id"]))),
                },
            )
        )
    return len(in_period), out
