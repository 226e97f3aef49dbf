"""The order-side checks (overdue payments, agreed-volume progress, supply risks) as parts of an audit run."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from core.actor import Actor
from procurement.audit.parts import PartSummary, Progress
from procurement.orders.payments import PayableStatus, check_overdue, payables
from procurement.orders.progress import ProgressStatus, agreement_progress
from procurement.orders.progress_checks import check_progress
from procurement.orders.supply_risks import _winning_pairs, check_supply_risks


def _last_day(end: dt.date) -> dt.date:
    return end - dt.timedelta(days=1)


def run_payments(
    session: Session, actor: Actor, *, start: dt.date, end: dt.date, progress: Progress | None = None
) -> PartSummary:
    """Payables as of the period's last day (1.9.4): every receipt until then, one alert per overdue delivery."""
    day = _last_day(end)
    rows = [row for row in payables(session, actor=actor, today=day) if row["received_on"] < end]
    alerts = check_overdue(session, actor=actor, today=day)
    overdue = sum(1 for row in rows if row["status"] == PayableStatus.OVERDUE.value)
    if progress:
        progress(len(rows), len(rows))
    return PartSummary("payments", start, end, rows=len(rows), findings=overdue, alerts_raised=len(alerts))


def run_progress(
    session: Session, actor: Actor, *, start: dt.date, end: dt.date, progress: Progress | None = None
) -> PartSummary:
    """Agreed-volume progress against time elapsed on the period's last day (1.7.5)."""
    day = _last_day(end)
    rows = agreement_progress(session, actor=actor, on=day)
    alerts = check_progress(session, actor=actor, on=day)
    behind = sum(1 for row in rows if row.status == ProgressStatus.BEHIND)
    if progress:
        progress(len(rows), len(rows))
    return PartSummary("progress", start, end, rows=len(rows), findings=behind, alerts_raised=len(alerts))


def run_supply(
    session: Session, actor: Actor, *, start: dt.date, end: dt.date, progress: Progress | None = None
) -> PartSummary:
    """Missing monthly reports and stock-outs against open orders, month by month (8.3, 1.8)."""
    from procurement.audit.runs import months_in

    months = months_in(start, end)
    rows = alerts = 0
    for done, month in enumerate(months, start=1):
        rows += len(_winning_pairs(session, month))
        alerts += len(check_supply_risks(session, month=month, actor=actor))
        if progress:
            progress(done, len(months))
    return PartSummary("supply", start, end, rows=rows, findings=alerts, alerts_raised=alerts)
