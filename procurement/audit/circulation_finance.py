"""Hospitals' monthly finance reports and the two indicators read from them (rulebook 0.11, 0.16).

Out-of-catalogue share = insured spending outside the insurance catalogue ÷ all insured spending (in + out), judged
against the cap of the hospital's region; a share exactly at the cap passes. Revenue structure = medical service :
drugs and consumables : tests as shares of their sum, against 5 : 3 : 2, only for grade II and above; a part off its
target share by more than the tolerance is off target. A month without a report is "no data", never zero; a report
whose denominator is zero gives no share (missing, not zero). Reports are upserted: the same hospital and month
again replaces the amounts (the hospital corrects its figures) and the audit record keeps the previous ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import FORBIDDEN, DomainError, invalid
from core.models import Organisation
from core.pagination import Page, paginate
from core.params import ParameterSet
from core.roles import OrgKind, Role
from procurement.audit.circulation_models import AMOUNT_FIELDS, HospitalFinanceReport, ReportSource
from procurement.audit.circulation_rules import CIRCULATION_RULES, STRUCTURE_PARTS, out_of_catalogue_limit
from procurement.orders.ordering import HOSPITAL_ROLES
from procurement.orders.progress import ratio
from procurement.orders.supply import china_today
from procurement.tenders.setup import money_value

OVERSEERS = (Role.AUDITOR, Role.ADMIN)


def months_of(start: dt.date, end: dt.date) -> list[dt.date]:
    """Return the first days of the months that [start, end) touches."""
    out, month = [], start.replace(day=1)
    while month < end:
        out.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return out


def _scope(actor: Actor, hospital_id: int | None) -> int | None:
    """Return the hospital a reader may see: overseers any (or all), hospital users only their own."""
    if actor.is_system or actor.has(*OVERSEERS):
        return hospital_id
    actor.require(*HOSPITAL_ROLES)
    if hospital_id is not None and hospital_id != actor.org_id:
        raise DomainError(FORBIDDEN, "a hospital sees only its own figures", code="foreign_organisation")
    return actor.org_id


def submit_report(
    session: Session,
    *,
    actor: Actor,
    hospital_id: int,
    month: dt.date,
    amounts: dict[str, Decimal],
    note: str = "",
    now: dt.datetime | None = None,
) -> tuple[HospitalFinanceReport, bool]:
    """Store a hospital's finance report for a month (a hospital its own, an auditor any); return it and if new."""
    now = now or utcnow()
    if actor.has(Role.AUDITOR):
        source = ReportSource.AUDITOR
    else:
        actor.require(*HOSPITAL_ROLES, org_id=hospital_id)
        source = ReportSource.HOSPITAL
    hospital = session.get(Organisation, hospital_id)
    if hospital is None or hospital.kind != OrgKind.HOSPITAL.value:
        raise invalid("hospital_id", f"organisation {hospital_id} is not a hospital")
    if month.day != 1:
        raise invalid("month", "a month is given as YYYY-MM")
    if month > china_today(now):
        raise invalid("month", "a report cannot be filed for a future month")
    values = {}
    for name in AMOUNT_FIELDS:
        if name not in amounts or amounts[name] is None:
            raise invalid(name, "required")
        value = money_value(name, amounts[name])
        if value < 0:
            raise invalid(name, "must not be negative")
        values[name] = value
    stmt = sa.select(HospitalFinanceReport).where(
        HospitalFinanceReport.hospital_id == hospital_id, HospitalFinanceReport.month == month
    )
    report = session.exec(stmt.with_for_update()).scalars().first()
    created = report is None
    before = None
    if report is None:
        report = HospitalFinanceReport(hospital_id=hospital_id, month=month, source=source, **values)
        report.submitted_at = now
    else:
        if all(getattr(report, k) == v for k, v in values.items()) and report.note == (note or "").strip()[:500]:
            return report, False  # a retried upload changes nothing
        before = {name: f"{Decimal(getattr(report, name)):.4f}" for name in AMOUNT_FIELDS}
        for name, value in values.items():
            setattr(report, name, value)
        report.source, report.updated_at = source, now
    report.note = (note or "").strip()[:500]
    report.submitted_by_id = actor.user_id
    session.add(report)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="finance_report.submitted" if created else "finance_report.replaced",
        object_type="hospital_finance_report",
        object_id=report.id,
        details={"hospital_id": hospital_id, "month": month.isoformat(), "source": source, "was": before},
    )
    return report, created


def list_reports(
    session: Session,
    *,
    actor: Actor,
    hospital_id: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[HospitalFinanceReport]:
    """Return finance reports, newest month first: a hospital its own, overseers any hospital's."""
    hospital_id = _scope(actor, hospital_id)
    stmt = sa.select(HospitalFinanceReport).order_by(
        HospitalFinanceReport.month.desc(), HospitalFinanceReport.hospital_id
    )
    if hospital_id is not None:
        stmt = stmt.where(HospitalFinanceReport.hospital_id == hospital_id)
    if start is not None:
        stmt = stmt.where(HospitalFinanceReport.month >= start.replace(day=1))
    if end is not None:
        stmt = stmt.where(HospitalFinanceReport.month < end)
    return paginate(session, stmt, page=page, per_page=per_page)


@dataclass(frozen=True)
class IndicatorRow:
    """One hospital-month: the out-of-catalogue share against its cap and the revenue structure against 5 : 3 : 2."""

    hospital_id: int
    hospital_name: str
    hospital_grade: str | None
    region_code: str
    month: dt.date
    report_id: int | None
    no_data: bool
    out_of_catalogue_share: Decimal | None
    out_of_catalogue_limit: Decimal
    above_limit: bool | None
    structure_applies: bool  # grade II and above (0.16)
    structure: dict[str, Decimal] | None  # part → share of the three parts' sum
    structure_target: dict[str, Decimal]
    structure_deviation: dict[str, Decimal] | None
    structure_tolerance: Decimal
    off_target: bool | None


def _structure(report: HospitalFinanceReport, target: dict[str, Decimal], tolerance: Decimal):
    parts = {
        "service": report.service_income,
        "drugs_consumables": report.drug_income + report.consumable_income,
        "tests": report.test_income,
    }
    total = sum(parts.values(), Decimal(0))
    if not total:
        return None, None, None
    shares = {name: ratio(value, total) for name, value in parts.items()}
    deviation = {name: shares[name] - target[name] for name in STRUCTURE_PARTS}
    # Judged on exact fractions (part − target × total beyond tolerance × total), not on the rounded shares.
    off = any(abs(parts[name] - target[name] * total) > tolerance * total for name in STRUCTURE_PARTS)
    return shares, deviation, off


def indicators(
    session: Session,
    *,
    actor: Actor,
    start: dt.date,
    end: dt.date,
    hospital_id: int | None = None,
    rules: ParameterSet = CIRCULATION_RULES,
) -> list[IndicatorRow]:
    """Return every visible hospital × month of [start, end) with its shares, or ``no_data`` without a report."""
    if end <= start:
        raise invalid("end", "the period ends before it starts")
    hospital_id = _scope(actor, hospital_id)
    months = months_of(start, end)
    if len(months) > 120:
        raise invalid("start", "ask for at most ten years at a time")
    orgs = sa.select(Organisation).where(Organisation.kind == OrgKind.HOSPITAL.value)
    if hospital_id is not None:
        orgs = orgs.where(Organisation.id == hospital_id)
    hospitals = list(session.exec(orgs.order_by(Organisation.id)).scalars())
    reports_stmt = sa.select(HospitalFinanceReport).where(
        HospitalFinanceReport.month >= months[0], HospitalFinanceReport.month < end
    )
    if hospital_id is not None:
        reports_stmt = reports_stmt.where(HospitalFinanceReport.hospital_id == hospital_id)
    reports = {(r.hospital_id, r.month): r for r in session.exec(reports_stmt).scalars()}
    weights = rules["revenue_target"]
    target = {name: Decimal(weights[name]) / Decimal(sum(weights.values())) for name in STRUCTURE_PARTS}
    tolerance, grades = Decimal(str(rules["revenue_tolerance"])), set(rules["revenue_grades"])
    out = []
    for hospital in hospitals:
        limit = out_of_catalogue_limit(rules, hospital.region_code)
        applies = hospital.hospital_grade in grades
        for month in months:
            report = reports.get((hospital.id, month))
            share = above = shares = deviation = off = None
            if report is not None:
                insured = report.insured_in_catalogue + report.insured_out_of_catalogue
                if insured:
                    share = ratio(report.insured_out_of_catalogue, insured)
                    above = report.insured_out_of_catalogue > limit * insured  # exactly at the cap passes
                if applies:
                    shares, deviation, off = _structure(report, target, tolerance)
            out.append(
                IndicatorRow(
                    hospital_id=hospital.id,
                    hospital_name=hospital.name,
                    hospital_grade=hospital.hospital_grade,
                    region_code=hospital.region_code,
                    month=month,
                    report_id=report.id if report else None,
                    no_data=report is None,
                    out_of_catalogue_share=share,
                    out_of_catalogue_limit=limit,
                    above_limit=above,
                    structure_applies=applies,
                    structure=shares,
                    structure_target={k: ratio(v, 1) for k, v in target.items()},
                    structure_deviation=deviation,
                    structure_tolerance=tolerance,
                    off_target=off,
                )
            )
    return out
