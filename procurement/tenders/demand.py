"""Hospitals' demand reports (报量): checked against history (rulebook 1.1.7) and flagged when far above it (3.9)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import INVALID, DomainError
from core.models import Organisation
from core.pagination import Page, paginate
from core.roles import Role
from procurement.rules import demand as demand_rules
from procurement.tenders.lifecycle import require_status
from procurement.tenders.models import DemandReport, Lot, LotProduct, TenderStatus
from procurement.tenders.setup import get_tender, hospital_takes_part, rule_set_of


@dataclass(frozen=True)
class DemandLineIn:
    lot_id: int
    quantity: int
    product_id: int | None = None  # report by brand (厂牌), or None for the generic name
    historical_use: int | None = None  # average annual use in the reference years, comparable units
    exception_reason: str | None = None


def report_demand(
    session: Session,
    *,
    tender_id: int,
    actor: Actor,
    lines: Sequence[DemandLineIn],
    now: dt.datetime | None = None,
) -> list[DemandReport]:
    """Report (or re-report) a hospital's demand for some lots; every line is checked and all or none are saved."""
    actor.require(Role.PHARMACY_MANAGER, Role.PHARMACIST)
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    require_status(tender, TenderStatus.DEMAND_COLLECTION, action="report demand")
    now = now or utcnow()
    if tender.demand_deadline is not None and now > tender.demand_deadline:
        raise DomainError(
            "conflict",
            f"demand reporting closed at {tender.demand_deadline.isoformat()}",
            code="demand_deadline_passed",
            errors={"demand_deadline": [tender.demand_deadline.isoformat()]},
        )
    hospital = session.get(Organisation, actor.org_id)
    if hospital is None or not hospital_takes_part(tender, hospital):
        raise DomainError("forbidden", "your hospital is not in this tender's area", code="not_a_participant")
    if not lines:
        raise DomainError(INVALID, "report at least one line", code="no_lines", errors={"lines": ["empty"]})
    rules = rule_set_of(tender)
    lots = {lot.id: lot for lot in session.exec(sa.select(Lot).where(Lot.tender_id == tender.id)).scalars()}
    in_lot = {
        (row.lot_id, row.product_id)
        for row in session.exec(sa.select(LotProduct).where(LotProduct.lot_id.in_(list(lots)))).scalars()
    }
    errors: dict[str, list[str]] = {}
    checked: list[tuple[DemandLineIn, tuple[str, ...]]] = []
    seen: dict[tuple[int, int], int] = {}
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if line.lot_id not in lots:
            errors[f"{where}.lot_id"] = [f"lot {line.lot_id} is not in tender {tender.id}"]
            continue
        if line.product_id is not None and (line.lot_id, line.product_id) not in in_lot:
            errors[f"{where}.product_id"] = [f"product {line.product_id} is not in lot {line.lot_id}"]
            continue
        key = (line.lot_id, line.product_id or 0)
        if key in seen:
            errors[f"{where}"] = [f"duplicates line {seen[key]} (same lot and brand)"]
            continue
        seen[key] = index
        verdict = demand_rules.check_demand(
            rules, quantity=line.quantity, historical_use=line.historical_use, exception_reason=line.exception_reason
        )
        if not verdict.accepted:
            for field, messages in verdict.errors.items():
                errors[f"{where}.{field}"] = list(messages)
            continue
        checked.append((line, tuple(verdict.flags)))
    if errors:
        raise DomainError(
            INVALID, "the demand report has errors; nothing was saved", code="demand_invalid", errors=errors
        )
    saved = []
    for line, flags in checked:
        report = (
            session.exec(
                sa.select(DemandReport).where(
                    DemandReport.lot_id == line.lot_id,
                    DemandReport.hospital_id == hospital.id,
                    DemandReport.brand_key == (line.product_id or 0),
                )
            )
            .scalars()
            .first()
        )
        action = "tender.demand_updated" if report else "tender.demand_reported"
        if report is None:
            report = DemandReport(
                tender_id=tender.id, lot_id=line.lot_id, hospital_id=hospital.id, brand_key=line.product_id or 0
            )
        report.product_id = line.product_id
        report.quantity = line.quantity
        report.historical_use = line.historical_use
        report.exception_reason = line.exception_reason
        report.flags = list(flags)
        report.reported_by = actor.user_id
        report.updated_at = now
        session.add(report)
        session.flush()
        record_audit(
            session,
            actor=actor,
            action=action,
            object_type="tender_demand",
            object_id=report.id,
            details={"tender_id": tender.id, "lot_id": line.lot_id, "quantity": line.quantity, "flags": list(flags)},
        )
        saved.append(report)
    return saved


def demand_of(
    session: Session, *, tender_id: int, actor: Actor, page: int | None = None, per_page: int = 50
) -> list[DemandReport] | Page[DemandReport]:
    """Return demand reports (one page of them when ``page`` is given): a hospital its own; overseers all."""
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    stmt = sa.select(DemandReport).where(DemandReport.tender_id == tender.id).order_by(DemandReport.id)
    if not (actor.has(Role.ADMIN, Role.AUDITOR) or actor.org_id == tender.organiser_org_id):
        stmt = stmt.where(DemandReport.hospital_id == actor.org_id)
    if page is None:
        return list(session.exec(stmt).scalars())
    return paginate(session, stmt, page=page, per_page=per_page)
