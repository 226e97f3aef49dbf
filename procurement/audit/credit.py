"""Credit rating services: record misconduct cases, read them, and read each supplier's current level (rulebook 6).

Auditors record a case from a judgment, penalty decision or (2025) audit finding; the case is rated at once under
its rule set and its consequences applied (``credit_disposal``). A supplier reads the cases about itself, including
those whose disposal penetrated to it as the controlling manufacturer. A supplier's current level is the gravest
level of its counting cases inside the 3-year window that are not repaired on the day asked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, DomainError, invalid, not_found
from core.models import Organisation
from core.pagination import Page, paginate
from core.roles import OrgKind, Role
from procurement.audit import credit_disposal
from procurement.audit.credit_models import CreditCase, CreditCaseProduct, is_active
from procurement.audit.credit_rating import rate_case
from procurement.audit.credit_rules import CASE_PRODUCTS, default_version, rule_set, window_end
from procurement.audit.credit_run import run_period
from procurement.catalogue import Product
from procurement.orders.supply import china_today
from procurement.tenders.setup import FOUR_PLACES, money_value

__all__ = ["CaseIn", "case_view", "get_case", "is_active", "list_cases", "public_ratings", "ratings", "record_case",
           "run_period"]  # fmt: skip

SUPPLIER_KINDS = (OrgKind.MANUFACTURER.value, OrgKind.DISTRIBUTOR.value)
RECORDERS = (Role.AUDITOR, Role.ADMIN)


@dataclass(frozen=True)
class CaseIn:
    """A misconduct case as an auditor records it (the API and page schemas check its shape).

    ``rule_set_version`` may be left out: a case is always rated under the set in force on its decision date (6.0),
    and naming another is refused.
    """

    supplier_id: int
    category: str
    conduct_date: dt.date
    decision_date: dt.date
    evidence_source: str
    decision_number: str
    rule_set_version: str | None = None
    controlling_org_id: int | None = None
    single_amount: Decimal | None = None
    cumulative_amount: Decimal | None = None
    level: str | None = None
    flags: tuple[str, ...] = ()
    product_ids: tuple[int, ...] = ()
    documents: tuple[str, ...] = ()
    summary: str = ""
    province: str | None = None


def _supplier(session: Session, org_id: int, field: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None or org.kind not in SUPPLIER_KINDS:
        raise invalid(field, f"organisation {org_id} is not a manufacturer or distributor")
    return org


def _amount(field: str, value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    amount = money_value(field, value)
    if amount < 0:
        raise invalid(field, "must not be negative")
    return amount.quantize(FOUR_PLACES)  # as stored, so a retry compares equal and the basis shows it


def _checked(session: Session, data: CaseIn, actor: Actor, today: dt.date) -> dict[str, Any]:
    """Check a case's facts against each other and the rule set; return the columns to store."""
    _supplier(session, data.supplier_id, "supplier_id")
    if data.controlling_org_id is not None:
        controller = _supplier(session, data.controlling_org_id, "controlling_org_id")
        if controller.kind != OrgKind.MANUFACTURER.value or controller.id == data.supplier_id:
            raise invalid(
                "controlling_org_id", "must be another firm, a manufacturer or marketing-authorisation holder"
            )
    if data.decision_date < data.conduct_date:
        raise invalid("decision_date", "is before the conduct date")
    if data.decision_date > today:
        raise invalid("decision_date", "is in the future")
    in_force = default_version(data.decision_date)
    version = data.rule_set_version or in_force
    try:
        rules = rule_set(version)
    except KeyError:
        raise invalid("rule_set_version", "must be 2020 or 2025") from None
    if version != in_force:  # 6.0 names no transition: a case is rated by the set in force when it was decided
        if rules["applies_from"] > data.decision_date:
            why = f"the {version} rules apply to decisions from {rules['applies_from'].isoformat()}"
        else:
            why = f"they were replaced by the {in_force} rules from {rule_set(in_force)['applies_from'].isoformat()}"
        raise invalid(
            "rule_set_version",
            f"a case decided on {data.decision_date.isoformat()} is rated under the {in_force} rules, not the "
            f"{version} rules (6.0): {why}",
            code="rule_set_not_in_force",
        )
    if data.evidence_source not in rules["evidence_sources"]:
        allowed = ", ".join(rules["evidence_sources"])
        raise invalid("evidence_source", f"not accepted by the {version} rule set (6.1); one of {allowed}")
    single = _amount("single_amount", data.single_amount)
    cumulative = _amount("cumulative_amount", data.cumulative_amount)
    if single is not None and cumulative is not None and cumulative < single:
        raise invalid("cumulative_amount", "is less than the single amount")
    flags = tuple(dict.fromkeys(data.flags))
    rating = rate_case(
        rules, category=data.category, single_amount=single, cumulative_amount=cumulative, flags=flags, level=data.level
    )
    province = data.province or _actor_province(session, actor)
    if not (len(province) == 2 and province.isdigit()):
        raise invalid("province", "two digits: the start of the rating province's region codes")
    counts = data.conduct_date >= rules["earliest_conduct"]
    return {
        "rule_set_version": version,
        "single_amount": single,
        "cumulative_amount": cumulative,
        "flags": list(flags),
        "level": rating.level,
        "basis": rating.basis,
        "province": province,
        "counts": counts,
        "excluded_reason": None
        if counts
        else f"conduct before {rules['earliest_conduct'].isoformat()} is not rated (rule 6.4)",
        "window_ends_on": window_end(rules, data.decision_date),
    }


def _actor_province(session: Session, actor: Actor) -> str:
    org = session.get(Organisation, actor.org_id) if actor.org_id is not None else None
    if org is None:
        raise invalid("province", "name the rating province (two digits of a region code)")
    return org.region_code[:2]


def _products(session: Session, product_ids: tuple[int, ...]) -> list[int]:
    ids = list(dict.fromkeys(product_ids))
    if ids:
        found = set(session.exec(sa.select(Product.id).where(Product.id.in_(ids))).scalars())
        missing = [pid for pid in ids if pid not in found]
        if missing:
            raise invalid("product_ids", f"not in the catalogue: {', '.join(map(str, missing))}")
    return ids


def _earlier(session: Session, data: CaseIn, number: str) -> CreditCase | None:
    stmt = sa.select(CreditCase).where(
        CreditCase.supplier_id == data.supplier_id,
        CreditCase.category == data.category,
        CreditCase.decision_number == number,
    )
    return session.exec(stmt).scalars().first()


def record_case(
    session: Session, *, data: CaseIn, actor: Actor, today: dt.date | None = None
) -> tuple[CreditCase, bool]:
    """Record and rate a misconduct case, apply its consequences; return it and whether it is new.

    A retry of the same decision (same supplier, category and document number, same facts) returns the first case.
    """
    actor.require(*RECORDERS)
    today = today or china_today(utcnow())  # decisions are dated by the Chinese calendar day
    number = data.decision_number.strip()
    if not number:
        raise invalid("decision_number", "name the judgment, decision or report (文书编号)")
    columns = _checked(session, data, actor, today)
    product_ids = _products(session, data.product_ids)
    sanctions = rule_set(columns["rule_set_version"])["consequences"][columns["level"]]["sanctions"]
    if columns["counts"] and CASE_PRODUCTS in sanctions and not product_ids:
        raise invalid("product_ids", f"a {columns['level']} case is disposed of by its products (rule 6.7): name them")
    earlier = _earlier(session, data, number)
    if earlier is not None:
        same = (
            earlier.level == columns["level"]
            and earlier.decision_date == data.decision_date
            and earlier.cumulative_amount == columns["cumulative_amount"]
            and sorted(case_product_ids(session, earlier.id)) == sorted(product_ids)
        )
        if same:
            return earlier, False
        raise DomainError(
            CONFLICT,
            f"decision {number} is already recorded for this supplier and category (case {earlier.id})",
            code="duplicate_case",
            errors={"decision_number": [f"already recorded: case {earlier.id}"]},
        )
    case = CreditCase(
        supplier_id=data.supplier_id,
        controlling_org_id=data.controlling_org_id,
        category=data.category,
        conduct_date=data.conduct_date,
        decision_date=data.decision_date,
        evidence_source=data.evidence_source,
        decision_number=number,
        summary=data.summary,
        documents=list(dict.fromkeys(data.documents)),
        recorded_by_id=actor.user_id,
        recorded_by_org_id=actor.org_id,
        **columns,
    )
    try:
        with session.begin_nested():  # two identical requests at once: the unique decision number settles it
            session.add(case)
            session.flush()
    except sa.exc.IntegrityError:
        if _earlier(session, data, number) is None:
            raise
        return record_case(session, data=data, actor=actor, today=today)
    session.add_all(CreditCaseProduct(case_id=case.id, product_id=pid) for pid in product_ids)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="credit.case_recorded",
        object_type="credit_case",
        object_id=case.id,
        details={"supplier_id": case.supplier_id, "level": case.level, "rule_set": case.rule_set_version},
    )
    credit_disposal.apply_consequences(session, case=case, actor=actor, today=today)
    return case, True


def case_product_ids(session: Session, case_id: int) -> list[int]:
    """Return the ids of a case's products."""
    stmt = sa.select(CreditCaseProduct.product_id).where(CreditCaseProduct.case_id == case_id)
    return sorted(session.exec(stmt.order_by(CreditCaseProduct.product_id)).scalars())


def _scoped(stmt: sa.Select, actor: Actor) -> sa.Select:
    if actor.has(Role.AUDITOR, Role.ADMIN):
        return stmt
    if actor.has(Role.SUPPLIER_REP):
        return stmt.where(sa.or_(CreditCase.supplier_id == actor.org_id, CreditCase.controlling_org_id == actor.org_id))
    raise DomainError("forbidden", "credit cases are for auditors and the suppliers concerned", code="role_required")


def list_cases(
    session: Session,
    *,
    actor: Actor,
    supplier_id: int | None = None,
    level: str | None = None,
    category: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[CreditCase]:
    """List cases, newest decision first: auditors and administrators all, a supplier those about itself."""
    stmt = _scoped(sa.select(CreditCase), actor)
    if supplier_id is not None:
        stmt = stmt.where(sa.or_(CreditCase.supplier_id == supplier_id, CreditCase.controlling_org_id == supplier_id))
    if level is not None:
        stmt = stmt.where(CreditCase.level == level)
    if category is not None:
        stmt = stmt.where(CreditCase.category == category)
    stmt = stmt.order_by(CreditCase.decision_date.desc(), CreditCase.id.desc())
    return paginate(session, stmt, page=page, per_page=per_page)


def get_case(session: Session, *, case_id: int, actor: Actor) -> CreditCase:
    """Return a case the actor may see (others' cases are "not found" to a supplier)."""
    found = session.exec(_scoped(sa.select(CreditCase), actor).where(CreditCase.id == case_id)).scalars().first()
    if found is None:
        raise not_found("Credit case", case_id)
    return found


def case_view(session: Session, case: CreditCase, *, on: dt.date) -> dict[str, Any]:
    """Return a case as the API and pages show it: facts, level, basis, products, repairs, sanctions, status."""
    rules = rule_set(case.rule_set_version)
    view = {name: getattr(case, name) for name in CreditCase.model_fields}
    view["product_ids"] = case_product_ids(session, case.id)
    view["grade"] = rules["grades"][case.level]
    view["public"] = view["grade"] >= rules["grades"][rules["public_from"]]
    view["active"] = is_active(case, on)
    view["status"] = _status(case, on)
    view["consequence"] = rules["consequences"][case.level]["action"]
    view.update(credit_disposal.repair_state(session, case=case, on=on))
    return view


def _status(case: CreditCase, on: dt.date) -> str:
    if not case.counts:
        return "excluded"
    if case.repaired_on is not None and case.repaired_on <= on:
        return "repaired"
    if on >= case.window_ends_on:
        return "expired"
    return "rated"


def public_ratings(session: Session, *, on: dt.date) -> list[dict[str, Any]]:
    """Return the suppliers rated 严重 or above on a day: the published list anyone may read (6.7)."""
    return [
        {k: row[k] for k in ("supplier_id", "supplier_name", "supplier_kind", "level", "rule_set_version", "grade",
                             "since", "until", "province", "penetrated")}
        for row in ratings(session, actor=None, on=on, public_only=True)
    ]  # fmt: skip


def ratings(
    session: Session, *, actor: Actor | None, on: dt.date, supplier_id: int | None = None, public_only: bool = False
) -> list[dict[str, Any]]:
    """Return each rated supplier's current level on a day, gravest first, with the cases behind it.

    A case rates its supplier and, by penetration, the controlling manufacturer it names. ``public_only`` keeps the
    levels published on the public list (严重 and above); only then may an anonymous caller ask.
    """
    stmt = sa.select(CreditCase).where(
        CreditCase.counts.is_(True), CreditCase.decision_date <= on, CreditCase.window_ends_on > on
    )
    if not public_only:
        stmt = _scoped(stmt, actor)
    by_org: dict[int, list[CreditCase]] = {}
    for case in session.exec(stmt.order_by(CreditCase.id)).scalars():
        if not is_active(case, on):
            continue
        for org_id in {case.supplier_id, case.controlling_org_id} - {None}:
            by_org.setdefault(org_id, []).append(case)
    if supplier_id is not None:
        by_org = {k: v for k, v in by_org.items() if k == supplier_id}
    if not public_only and actor.has(Role.SUPPLIER_REP) and not actor.has(Role.AUDITOR, Role.ADMIN):
        by_org = {k: v for k, v in by_org.items() if k == actor.org_id}
    names = {o.id: o for o in session.exec(sa.select(Organisation).where(Organisation.id.in_(list(by_org)))).scalars()}
    found = []
    for org_id, cases in by_org.items():
        graded = [(rule_set(c.rule_set_version)["grades"][c.level], c.decision_date, c) for c in cases]
        grade, _date, top = max(graded, key=lambda g: (g[0], g[1], g[2].id))
        rules = rule_set(top.rule_set_version)
        public = grade >= rules["grades"][rules["public_from"]]
        if public_only and not public:
            continue
        found.append(
            {
                "supplier_id": org_id,
                "supplier_name": names[org_id].name,
                "supplier_kind": names[org_id].kind,
                "level": top.level,
                "rule_set_version": top.rule_set_version,
                "grade": grade,
                "public": public,
                "case_id": top.id,
                "case_ids": sorted(c.id for c in cases),
                "penetrated": top.supplier_id != org_id,
                "since": top.decision_date,
                "until": top.window_ends_on,
                "province": top.province,
            }
        )
    return sorted(found, key=lambda r: (-r["grade"], r["supplier_name"]))
