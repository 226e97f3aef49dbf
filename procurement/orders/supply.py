"""Supply guarantee: winners' monthly reports (rulebook 1.8.2, 8.3) and production-stop notices (8.1, 8.5).

A late report or a short notice raises an alert. Hospitals' supply problems live in ``supply_problems`` and the
monthly check for missing reports and stock-outs in ``supply_risks``; both share the helpers here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alerts import raise_alert
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, INVALID, DomainError
from core.pagination import Page, paginate
from core.params import ParameterSet
from core.roles import Role
from procurement.ocds_codes import CHINA_TIME
from procurement.orders.rules import ORDER_RULES, SUPPLY_REPORT_LATE, SUPPLY_STOP_LATE_NOTICE
from procurement.orders.supply_models import ProductionStop, SupplyReport
from procurement.tenders.models import Award

SOURCE = "supply"
OVERSEERS = (Role.ADMIN, Role.AUDITOR, Role.ORGANISER)
HOSPITAL_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER)
FIGURES = ("produced", "inventory", "reserve")


def first_of_month(day: dt.date) -> dt.date:
    """Return the first day of the month ``day`` falls in (a month is stored as its first day)."""
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    """Return the first day of the month after ``month``."""
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def china_today(now: dt.datetime) -> dt.date:
    """Return the calendar day in China at ``now``."""
    # Deadlines are Chinese calendar days: a report filed at 01:00 Beijing time on the 11th is late although it is
    # still the 10th in UTC.
    return now.astimezone(CHINA_TIME).date()


def report_due_on(month: dt.date, rules: ParameterSet = ORDER_RULES) -> dt.date:
    """Return the day a month's report is due: the report day of the following month (rulebook 8.3)."""
    return next_month(first_of_month(month)).replace(day=rules["report_due_day"])


def required_notice_days(*, planned: bool, rules: ParameterSet = ORDER_RULES) -> int:
    """Return the least notice a stop needs: days ahead of a planned stop, minus the days allowed after another."""
    # An unplanned stop is reported after it happens, so its notice is negative and may fall only so far (8.5).
    return rules["stop_notice_days_planned"] if planned else -rules["stop_notice_days_unplanned"]


def notice_is_late(stop: ProductionStop, rules: ParameterSet = ORDER_RULES) -> bool:
    """Return whether a stop was reported with less notice than the rules ask (rulebook 8.5)."""
    return stop.notice_days < required_notice_days(planned=stop.planned, rules=rules)


def rule_of(rules: ParameterSet, *keys: str) -> dict[str, Any]:
    """Describe the parameters that decided an alert (only those: the set also holds Decimals JSON cannot store)."""
    return {
        "name": rules.name,
        "version": rules.version,
        "cites": list(rules.cites),
        "values": {k: rules[k] for k in keys},
    }


def supply_alert(session: Session, *, actor: Actor, code: str, rules: ParameterSet, keys: tuple[str, ...], **fields):
    """Raise an alert of the supply source with the severity and parameters of the order rules."""
    rule = rule_of(rules, *keys)
    return raise_alert(
        session, actor=actor, code=code, source=SOURCE, severity=rules["severities"][code], rule=rule, **fields
    )


def winning_award(
    session: Session, *, supplier_id: int | None, product_id: int, first: dt.date, last: dt.date
) -> Award | None:
    """Return an award of ``product_id`` to ``supplier_id`` whose cycle overlaps ``first``..``last``, if any."""
    stmt = (
        sa.select(Award)
        .where(Award.supplier_id == supplier_id, Award.product_id == product_id)
        .where(Award.cycle_start <= last, Award.cycle_end >= first)
        .order_by(Award.cycle_start)
    )
    return session.exec(stmt).scalars().first()


def _figure_errors(figures: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, value in figures.items():
        # bool is an int in Python; a JSON true must not pass for one pack.
        if isinstance(value, bool) or not isinstance(value, int):
            errors[name] = ["must be a whole number of packs"]
        elif value < 0:
            errors[name] = ["must not be negative"]
    return errors


def checked_text(errors: dict[str, list[str]], name: str, value: Any, limit: int) -> str:
    """Return ``value`` stripped, noting in ``errors`` when it is empty or longer than ``limit``."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        errors[name] = ["must not be empty"]
    elif len(text) > limit:
        errors[name] = [f"must be at most {limit} characters"]
    return text


def submit_supply_report(
    session: Session,
    *,
    product_id: int,
    month: dt.date,
    produced: int,
    inventory: int,
    reserve: int,
    actor: Actor,
    now: dt.datetime | None = None,
    rules: ParameterSet = ORDER_RULES,
) -> tuple[SupplyReport, bool]:
    """File a winner's monthly report for one product, or amend it; return it and whether it is new."""
    actor.require(Role.SUPPLIER_REP)
    now = now or utcnow()
    today = china_today(now)
    month = first_of_month(month)
    month_end = next_month(month) - dt.timedelta(days=1)
    figures = {"produced": produced, "inventory": inventory, "reserve": reserve}
    errors = _figure_errors(figures)
    if month > today:
        errors["month"] = [f"{month:%Y-%m} has not begun; report a past or the current month"]
    elif winning_award(session, supplier_id=actor.org_id, product_id=product_id, first=month, last=month_end) is None:
        errors["product_id"] = [f"product {product_id} is not one of your winning products in {month:%Y-%m}"]
    if errors:
        raise DomainError(
            INVALID, "the supply report has errors; nothing was saved", code="supply_report_invalid", errors=errors
        )
    report = (
        session.exec(
            sa.select(SupplyReport)
            .where(SupplyReport.supplier_id == actor.org_id, SupplyReport.product_id == product_id)
            .where(SupplyReport.month == month)
            .with_for_update()
        )
        .scalars()
        .first()
    )
    if report is not None:
        # A resubmission amends the figures. The report keeps the time and late flag of its first filing, so a
        # correction neither makes an on-time report late nor a late one on time; the audit record keeps both.
        before = {name: getattr(report, name) for name in FIGURES}
        if before == figures:  # a retry of the same filing changes nothing
            return report, False
        for name, value in figures.items():
            setattr(report, name, value)
        session.add(report)
        session.flush()
        record_audit(
            session,
            actor=actor,
            action="supply.report_amended",
            object_type="supply_report",
            object_id=report.id,
            details={"month": f"{month:%Y-%m}", "product_id": product_id, "before": before, "after": figures},
        )
        return report, False
    due_on = report_due_on(month, rules)
    report = SupplyReport(
        supplier_id=actor.org_id,
        product_id=product_id,
        month=month,
        due_on=due_on,
        late=today > due_on,
        submitted_by_id=actor.user_id,
        submitted_at=now,
        **figures,
    )
    session.add(report)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="supply.report_submitted",
        object_type="supply_report",
        object_id=report.id,
        details={"month": f"{month:%Y-%m}", "product_id": product_id, "late": report.late, **figures},
    )
    if report.late:
        supply_alert(
            session,
            actor=actor,
            code=SUPPLY_REPORT_LATE,
            rules=rules,
            keys=("report_due_day",),
            title=f"Supply report for {month:%Y-%m} filed after its due date {due_on.isoformat()}",
            object_type="supply_report",
            object_id=report.id,
            evidence={
                "supplier_id": actor.org_id,
                "product_id": product_id,
                "month": f"{month:%Y-%m}",
                "due_on": due_on.isoformat(),
                "filed_on": today.isoformat(),
                "days_late": (today - due_on).days,
            },
            subject_org_id=actor.org_id,
        )
    return report, True


def report_production_stop(
    session: Session,
    *,
    product_id: int,
    stops_on: dt.date,
    planned: bool,
    reason: str,
    resumes_on: dt.date | None = None,
    actor: Actor,
    now: dt.datetime | None = None,
    rules: ParameterSet = ORDER_RULES,
) -> ProductionStop:
    """Report that a winning product stops being produced; a notice shorter than the rules ask raises an alert."""
    actor.require(Role.SUPPLIER_REP)
    now = now or utcnow()
    today = china_today(now)
    errors: dict[str, list[str]] = {}
    reason = checked_text(errors, "reason", reason, 500)
    if not isinstance(planned, bool):
        errors["planned"] = ["must be true (a planned stop) or false (an unplanned one)"]
    if resumes_on is not None and resumes_on <= stops_on:
        errors["resumes_on"] = ["must be after stops_on"]
    last = resumes_on or dt.date.max
    if winning_award(session, supplier_id=actor.org_id, product_id=product_id, first=stops_on, last=last) is None:
        errors["product_id"] = [f"product {product_id} is not one of your winning products on or after {stops_on}"]
    if errors:
        raise DomainError(INVALID, "the stop notice has errors; nothing was saved", code="stop_invalid", errors=errors)
    clash = (
        session.exec(
            sa.select(ProductionStop)
            .where(ProductionStop.supplier_id == actor.org_id, ProductionStop.product_id == product_id)
            .where(ProductionStop.stops_on < last)
            .where(sa.or_(ProductionStop.resumes_on.is_(None), ProductionStop.resumes_on > stops_on))
        )
        .scalars()
        .first()
    )
    if clash is not None:
        message = f"stop {clash.id} of this product from {clash.stops_on.isoformat()} overlaps these dates"
        raise DomainError(CONFLICT, message, code="stop_overlaps", errors={"stops_on": [message]})
    stop = ProductionStop(
        supplier_id=actor.org_id,
        product_id=product_id,
        stops_on=stops_on,
        resumes_on=resumes_on,
        planned=planned,
        reason=reason,
        notice_days=(stops_on - today).days,
        reported_by_id=actor.user_id,
        reported_at=now,
    )
    session.add(stop)
    session.flush()
    details = {
        "product_id": product_id,
        "stops_on": stops_on.isoformat(),
        "planned": planned,
        "notice_days": stop.notice_days,
    }
    record_audit(
        session,
        actor=actor,
        action="supply.stop_reported",
        object_type="production_stop",
        object_id=stop.id,
        details=details,
    )
    if notice_is_late(stop, rules):
        kind = "planned" if planned else "unplanned"
        supply_alert(
            session,
            actor=actor,
            code=SUPPLY_STOP_LATE_NOTICE,
            rules=rules,
            keys=("stop_notice_days_planned", "stop_notice_days_unplanned"),
            title=f"Production stop of product {product_id} on {stops_on.isoformat()} reported with {kind} "
            f"notice of {stop.notice_days} days",
            object_type="production_stop",
            object_id=stop.id,
            evidence={**details, "required_notice_days": required_notice_days(planned=planned, rules=rules)},
            subject_org_id=actor.org_id,
        )
    return stop


def list_supply_reports(
    session: Session,
    *,
    actor: Actor,
    month: dt.date | None = None,
    product_id: int | None = None,
    supplier_id: int | None = None,
    late: bool | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[SupplyReport]:
    """List monthly reports, newest month first: a supplier its own; auditors, organisers and admins all."""
    actor.require(*OVERSEERS, Role.SUPPLIER_REP)
    stmt = sa.select(SupplyReport).order_by(SupplyReport.month.desc(), SupplyReport.id.desc())
    if not actor.has(*OVERSEERS):
        stmt = stmt.where(SupplyReport.supplier_id == actor.org_id)
    if month is not None:
        stmt = stmt.where(SupplyReport.month == first_of_month(month))
    if product_id is not None:
        stmt = stmt.where(SupplyReport.product_id == product_id)
    if supplier_id is not None:
        stmt = stmt.where(SupplyReport.supplier_id == supplier_id)
    if late is not None:
        stmt = stmt.where(SupplyReport.late == late)
    return paginate(session, stmt, page=page, per_page=per_page)


def list_production_stops(
    session: Session,
    *,
    actor: Actor,
    product_id: int | None = None,
    supplier_id: int | None = None,
    in_force_on: dt.date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[ProductionStop]:
    """List production stops, latest first: a supplier its own; hospitals (who must buy elsewhere) and overseers all."""
    stmt = sa.select(ProductionStop).order_by(ProductionStop.stops_on.desc(), ProductionStop.id.desc())
    if actor.has(Role.SUPPLIER_REP) and not actor.has(*OVERSEERS):
        stmt = stmt.where(ProductionStop.supplier_id == actor.org_id)
    if product_id is not None:
        stmt = stmt.where(ProductionStop.product_id == product_id)
    if supplier_id is not None:
        stmt = stmt.where(ProductionStop.supplier_id == supplier_id)
    if in_force_on is not None:
        stmt = stmt.where(ProductionStop.stops_on <= in_force_on).where(
            sa.or_(ProductionStop.resumes_on.is_(None), ProductionStop.resumes_on > in_force_on)
        )
    return paginate(session, stmt, page=page, per_page=per_page)
