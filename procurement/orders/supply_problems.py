"""Hospitals' supply problems against their orders and the suppliers' answers (rulebook 1.8.4).

How many problems a supplier has, how often and how long they stay open feed its supply score, so each report raises
an alert about the supplier and each answer closes the clock.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, INVALID, NOT_FOUND, DomainError, not_found
from core.pagination import Page, paginate
from core.params import ParameterSet
from core.roles import Role
from procurement.orders.models import OrderStatus, PurchaseOrder
from procurement.orders.rules import ORDER_RULES, SUPPLY_PROBLEM
from procurement.orders.supply import HOSPITAL_ROLES, OVERSEERS, checked_text, supply_alert
from procurement.orders.supply_models import SupplyProblem


class ProblemKind(StrEnum):
    LATE = "late"  # delivered after the agreed time
    SHORT = "short"  # fewer packs than ordered
    STOCK_OUT = "stock_out"  # the supplier says it has none
    QUALITY = "quality"
    OTHER = "other"


class ProblemStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


def report_supply_problem(
    session: Session,
    *,
    order_id: int,
    kind: str,
    description: str,
    actor: Actor,
    now: dt.datetime | None = None,
    rules: ParameterSet = ORDER_RULES,
) -> SupplyProblem:
    """Report a supply problem against one of the hospital's orders; the supplier is alerted (rulebook 1.8.4)."""
    actor.require(*HOSPITAL_ROLES)
    order = session.get(PurchaseOrder, order_id)
    if order is None or order.hospital_id != actor.org_id:
        message = f"order {order_id} not found"
        raise DomainError(NOT_FOUND, message, code="order_not_found", errors={"order_id": [message]})
    errors: dict[str, list[str]] = {}
    if kind not in {k.value for k in ProblemKind}:
        errors["kind"] = [f"must be one of: {', '.join(k.value for k in ProblemKind)}"]
    description = checked_text(errors, "description", description, 1000)
    if errors:
        raise DomainError(
            INVALID, "the problem report has errors; nothing was saved", code="problem_invalid", errors=errors
        )
    kind = ProblemKind(kind).value
    if order.status == OrderStatus.CANCELLED.value:
        message = f"order {order.number} was cancelled by the hospital; it has nothing left to supply"
        raise DomainError(CONFLICT, message, code="order_cancelled", errors={"order_id": [message]})
    problem = SupplyProblem(
        order_id=order.id,
        hospital_id=order.hospital_id,
        supplier_id=order.supplier_id,
        kind=kind,
        description=description,
        reported_by_id=actor.user_id,
        reported_at=now or utcnow(),
    )
    session.add(problem)
    session.flush()
    evidence = {"order_id": order.id, "order_number": order.number, "hospital_id": order.hospital_id, "kind": kind}
    record_audit(
        session,
        actor=actor,
        action="supply.problem_reported",
        object_type="supply_problem",
        object_id=problem.id,
        details=evidence,
    )
    supply_alert(
        session,
        actor=actor,
        code=SUPPLY_PROBLEM,
        rules=rules,
        keys=(),
        title=f"Hospital reported a {kind.replace('_', ' ')} supply problem on order {order.number}",
        object_type="supply_problem",
        object_id=problem.id,
        evidence=evidence,
        subject_org_id=order.supplier_id,
    )
    return problem


def resolve_supply_problem(
    session: Session, *, problem_id: int, resolution: str, actor: Actor, now: dt.datetime | None = None
) -> SupplyProblem:
    """Record the supplier's answer to a problem reported against it; the problem is then resolved."""
    actor.require(Role.SUPPLIER_REP)
    stmt = sa.select(SupplyProblem).where(SupplyProblem.id == problem_id).with_for_update()
    problem = session.exec(stmt).scalars().first()
    if problem is None or problem.supplier_id != actor.org_id:
        raise not_found("supply problem", problem_id)
    errors: dict[str, list[str]] = {}
    resolution = checked_text(errors, "resolution", resolution, 1000)
    if errors:
        raise DomainError(INVALID, "the answer has errors; nothing was saved", code="resolution_invalid", errors=errors)
    if problem.resolved_at is not None:
        raise DomainError(
            CONFLICT,
            f"supply problem {problem.id} was resolved at {problem.resolved_at.isoformat()}",
            code="problem_resolved",
        )
    problem.resolved_at = now or utcnow()
    problem.resolution = resolution
    session.add(problem)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="supply.problem_resolved",
        object_type="supply_problem",
        object_id=problem.id,
        details={"order_id": problem.order_id, "hospital_id": problem.hospital_id},
    )
    return problem


def list_supply_problems(
    session: Session,
    *,
    actor: Actor,
    status: str | None = None,
    order_id: int | None = None,
    supplier_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[SupplyProblem]:
    """List supply problems, newest first: a hospital its own, a supplier those against it, overseers all."""
    actor.require(*OVERSEERS, Role.SUPPLIER_REP, *HOSPITAL_ROLES)
    stmt = sa.select(SupplyProblem).order_by(SupplyProblem.reported_at.desc(), SupplyProblem.id.desc())
    if not actor.has(*OVERSEERS):
        column = SupplyProblem.supplier_id if actor.has(Role.SUPPLIER_REP) else SupplyProblem.hospital_id
        stmt = stmt.where(column == actor.org_id)
    if status == ProblemStatus.OPEN:
        stmt = stmt.where(SupplyProblem.resolved_at.is_(None))
    elif status == ProblemStatus.RESOLVED:
        stmt = stmt.where(SupplyProblem.resolved_at.is_not(None))
    if order_id is not None:
        stmt = stmt.where(SupplyProblem.order_id == order_id)
    if supplier_id is not None:
        stmt = stmt.where(SupplyProblem.supplier_id == supplier_id)
    return paginate(session, stmt, page=page, per_page=per_page)
