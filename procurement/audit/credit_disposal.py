"""Consequences and repair of a rated case: sanctions and alerts (6.7), corrective measures and their approval (6.8).

A level whose consequences suspend the firm creates ``SupplierSanction`` rows; they last until the case leaves the
window, or until an auditor approves its repair. On each day one is in force it bars what 6.7 names in its reach:
new listings and bids are refused, and what already exists stops too: listings and awards drop out of what
hospitals may order (``procurement.orders.buyable``), so orders for them are refused, and the firm cannot be named
to deliver an award (``arrangements.assign_distributor``). Existing listings, awards and distributor assignments
are deliberately not ended: the bar is read by date, so it lifts by itself when the sanction ends, whereas an
ended listing would stay ended after a repair (6.8). Every other level raises a warning alert to the supplier.

A distributor's case names the manufacturer that controlled the conduct; the disposal "penetrates" to it: it is
sanctioned and alerted alongside.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alerts import Severity, raise_alert_once
from core.audit import record_audit
from core.errors import CONFLICT, FORBIDDEN, DomainError, invalid
from core.roles import Role
from procurement.audit.credit_models import CreditCase, CreditCaseProduct, CreditDisposal, CreditRepair
from procurement.audit.credit_rules import (
    ALL_PRODUCTS_IN_PROVINCE,
    CHARITABLE_DONATION,
    CREDIT_EXPIRED,
    CREDIT_SUSPENDED,
    CREDIT_WARNING,
    DISPOSAL_RULE,
    REMOVE_INFLATED_MARGIN,
    describe_rules,
    required_measures,
    rule_set,
)
from procurement.orders.models import ProductListing
from procurement.tenders.bidding import add_sanction
from procurement.tenders.models import Award, SupplierSanction

SOURCE = "credit"


def _targets(case: CreditCase) -> list[int]:
    return [case.supplier_id] + ([case.controlling_org_id] if case.controlling_org_id else [])


def _products(session: Session, case_id: int) -> list[int]:
    stmt = sa.select(CreditCaseProduct.product_id).where(CreditCaseProduct.case_id == case_id)
    return sorted(session.exec(stmt).scalars())


def disposals(session: Session, case_id: int) -> list[tuple[CreditDisposal, SupplierSanction]]:
    """Return the sanctions a case created, with their reach."""
    stmt = (
        sa.select(CreditDisposal, SupplierSanction)
        .join(SupplierSanction, SupplierSanction.id == CreditDisposal.sanction_id)
        .where(CreditDisposal.case_id == case_id)
        .order_by(CreditDisposal.id)
    )
    return [(d, s) for d, s in session.exec(stmt).all()]


def apply_consequences(session: Session, *, case: CreditCase, actor: Actor, today: dt.date) -> int:
    """Create the case's sanctions (once) and raise its alert to each firm concerned; return new alerts.

    Nothing happens for a case that does not count (conduct before the system) or is already out of its window.
    Listings and distributor assignments in the sanctions' reach are left as they are: the sanctions bar them by
    date (see the module docstring), so a repair restores them.
    """
    if not case.counts or today >= case.window_ends_on or case.repaired_on is not None:
        return 0
    rules = rule_set(case.rule_set_version)
    consequence = rules["consequences"][case.level]
    products = _products(session, case.id)
    if consequence["sanctions"] and not disposals(session, case.id):
        last_day = case.window_ends_on - dt.timedelta(days=1)
        for org_id in _targets(case):
            for scope in consequence["sanctions"]:
                reach = [None] if scope == ALL_PRODUCTS_IN_PROVINCE else products
                where = f"all products in province {case.province}" if scope == ALL_PRODUCTS_IN_PROVINCE else "case"
                for product_id in reach:
                    sanction = add_sanction(
                        session,
                        actor=actor,
                        supplier_id=org_id,
                        rule=DISPOSAL_RULE,
                        reason=f"credit case {case.id} ({case.decision_number}): {case.level} "
                        f"({case.rule_set_version} rules), {where}",
                        starts_on=today,
                        ends_on=last_day,
                        product_id=product_id,
                        region_prefix=(case.province or "") if scope == ALL_PRODUCTS_IN_PROVINCE else "",
                    )
                    session.add(
                        CreditDisposal(
                            case_id=case.id,
                            sanction_id=sanction.id,
                            supplier_id=org_id,
                            scope=scope,
                            province=case.province if scope == ALL_PRODUCTS_IN_PROVINCE else None,
                        )
                    )
        session.flush()
    sanction_ids = [s.id for _d, s in disposals(session, case.id)]
    code = CREDIT_SUSPENDED if consequence["sanctions"] else CREDIT_WARNING
    raised = 0
    for org_id in _targets(case):
        _alert, new = raise_alert_once(
            session,
            dedupe_key=f"{code}|credit_case:{case.id}|{case.level}|org:{org_id}",
            actor=actor,
            code=code,
            source=SOURCE,
            severity=Severity(consequence["severity"]),
            title=f"Credit rating {case.level} ({case.rule_set_version}): case {case.decision_number}",
            object_type="credit_case",
            object_id=case.id,
            evidence={
                "case_id": case.id,
                "supplier_id": case.supplier_id,
                "controlling_org_id": case.controlling_org_id,
                "level": case.level,
                "basis": case.basis,
                "consequence": consequence["action"],
                "sanction_ids": sanction_ids,
                "product_ids": products,
                "documents": list(case.documents),
            },
            rule=describe_rules(rules),
            subject_org_id=org_id,
        )
        raised += int(new)
    return raised


def expire_case(session: Session, *, case: CreditCase, actor: Actor) -> int:
    """Close a case that left its window: end its sanctions on the last counting day, tell the firm once."""
    last_day = case.window_ends_on - dt.timedelta(days=1)
    for _disposal, sanction in disposals(session, case.id):
        if sanction.ends_on is None or sanction.ends_on > last_day:
            _end_sanction(session, sanction, on=max(last_day, sanction.starts_on), actor=actor, why="window")
    raised = 0
    for org_id in _targets(case):
        _alert, new = raise_alert_once(
            session,
            dedupe_key=f"{CREDIT_EXPIRED}|credit_case:{case.id}|org:{org_id}",
            actor=actor,
            code=CREDIT_EXPIRED,
            source=SOURCE,
            severity=Severity.LOW,
            title=f"Credit case {case.decision_number} left the 3-year window on {case.window_ends_on.isoformat()}",
            object_type="credit_case",
            object_id=case.id,
            evidence={"case_id": case.id, "level": case.level, "window_ends_on": case.window_ends_on.isoformat()},
            rule=describe_rules(rule_set(case.rule_set_version)),
            subject_org_id=org_id,
        )
        raised += int(new)
    return raised


def _end_sanction(session: Session, sanction: SupplierSanction, *, on: dt.date, actor: Actor, why: str) -> None:
    sanction.ends_on = on
    session.add(sanction)
    record_audit(
        session,
        actor=actor,
        action="supplier.sanction_ended",
        object_type="supplier_sanction",
        object_id=sanction.id,
        details={"ends_on": on.isoformat(), "why": why},
        org_id=sanction.supplier_id,
    )


def vbp_margin_awards(session: Session, *, case: CreditCase, on: dt.date) -> list[int]:
    """Return the awards that make every case product count as having removed its inflated margin (⑤, 6.8).

    A product counts when it has a VBP award in its cycle on that day and no listing in force above the award's
    price; an empty answer means measure ⑤ must be reported like any other.
    """
    award_ids = []
    for product_id in _products(session, case.id):
        award = (
            session.exec(
                sa.select(Award)
                .where(Award.product_id == product_id, Award.cycle_start <= on, Award.cycle_end >= on)
                .order_by(Award.unit_price)
            )
            .scalars()
            .first()
        )
        if award is None:
            return []
        above = session.exec(
            sa.select(ProductListing.id).where(
                ProductListing.product_id == product_id,
                ProductListing.price > award.unit_price,
                ProductListing.starts_on <= on,
                sa.or_(ProductListing.ends_on.is_(None), ProductListing.ends_on >= on),
            )
        ).first()
        if above is not None:
            return []
        award_ids.append(award.id)
    return award_ids


def repair_state(session: Session, *, case: CreditCase, on: dt.date) -> dict[str, Any]:
    """Return what repair the case's level requires, what was reported, what is missing, and its sanctions."""
    rules = rule_set(case.rule_set_version)
    required = required_measures(rules, category=case.category, level=case.level)
    repairs = session.exec(
        sa.select(CreditRepair).where(CreditRepair.case_id == case.id).order_by(CreditRepair.id)
    ).scalars().all()  # fmt: skip
    done = {m["measure"] for r in repairs for m in r.measures}
    margin_awards = vbp_margin_awards(session, case=case, on=on) if REMOVE_INFLATED_MARGIN in required else []
    if margin_awards:
        done.add(REMOVE_INFLATED_MARGIN)
    return {
        "required_measures": list(required),
        "done_measures": [m for m in required if m in done],
        "missing_measures": [m for m in required if m not in done],
        "margin_removed_by_awards": margin_awards,
        "repairs": [
            {"id": r.id, "measures": r.measures, "note": r.note, "submitted_at": r.submitted_at} for r in repairs
        ],
        "sanctions": [
            {
                "id": s.id,
                "supplier_id": s.supplier_id,
                "product_id": s.product_id,
                "scope": d.scope,
                "province": d.province,
                "starts_on": s.starts_on,
                "ends_on": s.ends_on,
            }
            for d, s in disposals(session, case.id)
        ],
    }


def _require_open(case: CreditCase, on: dt.date) -> None:
    if not case.counts or case.repaired_on is not None or on >= case.window_ends_on:
        state = "excluded" if not case.counts else "repaired" if case.repaired_on else "out of its window"
        raise DomainError(CONFLICT, f"credit case {case.id} is {state}: nothing to repair", code="case_not_open")


def record_repair(
    session: Session,
    *,
    case: CreditCase,
    measures: list[dict[str, Any]],
    note: str,
    actor: Actor,
    on: dt.date,
) -> tuple[CreditRepair, bool]:
    """Record corrective measures with their evidence; an identical retry returns the first record.

    ``case`` is one :func:`procurement.audit.credit.get_case` returned for the actor; a supplier reports only for the
    cases about itself.
    """
    actor.require(Role.SUPPLIER_REP, Role.AUDITOR, Role.ADMIN)
    if not actor.has(Role.AUDITOR, Role.ADMIN) and actor.org_id not in _targets(case):
        raise DomainError(FORBIDDEN, "this case is about another firm", code="foreign_organisation")
    _require_open(case, on)
    rules = rule_set(case.rule_set_version)
    if not measures:
        raise invalid("measures", "report at least one measure")
    clean = []
    for index, item in enumerate(measures):
        code = item.get("measure")
        if code == CHARITABLE_DONATION and code not in rules["allowed_measures"]:
            raise invalid(
                f"measures.{index}.measure",
                f"charitable donations are not a repair measure under the {rules.version} rules (6.8)",
                code="measure_not_accepted",
            )
        if code not in rules["allowed_measures"]:
            raise invalid(f"measures.{index}.measure", f"one of {', '.join(rules['allowed_measures'])}")
        evidence = (item.get("evidence") or "").strip()
        if not evidence:
            raise invalid(f"measures.{index}.evidence", "describe the evidence of this measure")
        clean.append({"measure": code, "evidence": evidence, "documents": list(item.get("documents") or [])})
    earlier = session.exec(sa.select(CreditRepair).where(CreditRepair.case_id == case.id)).scalars().all()
    for repair in earlier:
        if repair.measures == clean and repair.note == note:
            return repair, False
    repair = CreditRepair(
        case_id=case.id,
        measures=clean,
        note=note,
        submitted_by_id=actor.user_id,
        submitted_by_org_id=actor.org_id,
    )
    session.add(repair)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="credit.repair_reported",
        object_type="credit_case",
        object_id=case.id,
        details={"repair_id": repair.id, "measures": [m["measure"] for m in clean]},
    )
    return repair, True


def approve_repair(session: Session, *, case: CreditCase, actor: Actor, on: dt.date, note: str = "") -> CreditCase:
    """Approve a case's repair once every required measure is done: clear the level, end its sanctions on ``on``."""
    actor.require(Role.AUDITOR, Role.ADMIN)
    _require_open(case, on)
    state = repair_state(session, case=case, on=on)
    if state["missing_measures"]:
        missing = ", ".join(state["missing_measures"])
        raise DomainError(
            CONFLICT,
            f"the {case.level} level still needs the measures: {missing} (rule 6.8)",
            code="repair_incomplete",
            errors={"measures": [f"missing: {missing}"]},
        )
    case.repaired_on = on
    case.repair_approved_by_id = actor.user_id
    case.repair_note = note or None
    session.add(case)
    for _disposal, sanction in disposals(session, case.id):
        if sanction.ends_on is None or sanction.ends_on >= on:
            # The approval day is free: the sanction's last day is the day before (ends_on is inclusive).
            _end_sanction(session, sanction, on=on - dt.timedelta(days=1), actor=actor, why="repaired")
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="credit.repair_approved",
        object_type="credit_case",
        object_id=case.id,
        details={"repaired_on": on.isoformat(), "measures": state["done_measures"]},
    )
    return case
