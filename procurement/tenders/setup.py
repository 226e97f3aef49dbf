"""Creating and running a tender: the batch under its rule set, its lots and the organiser's transitions."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import INVALID, DomainError, invalid, not_found
from core.models import Organisation
from core.pagination import Page, paginate
from core.roles import OrgKind, Role
from procurement import sealing
from procurement.rules import rulesets
from procurement.tenders.lifecycle import check_move, move
from procurement.tenders.models import Lot, Tender, TenderKind, TenderStatus

FOUR_PLACES = Decimal("0.0001")

# Which organisations may organise which kind of tender (rulebook 0.6: a lead hospital runs a 药共体).
ORGANISER_KINDS = {
    TenderKind.NATIONAL_VBP: frozenset({OrgKind.PROCUREMENT_OFFICE}),
    TenderKind.ALLIANCE: frozenset({OrgKind.PROCUREMENT_OFFICE, OrgKind.HOSPITAL}),
    TenderKind.HOSPITAL_LED: frozenset({OrgKind.HOSPITAL}),
}


def quantize4(value: Decimal) -> Decimal:
    """Round to the four decimal places money is kept in (half up)."""
    return value.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def create_tender(
    session: Session,
    *,
    actor: Actor,
    title: str,
    kind: TenderKind,
    rule_set: str,
    description: str = "",
    overrides: dict[str, Any] | None = None,
    region_prefix: str = "",
    supply_region_digits: int = 4,
    demand_deadline: dt.datetime | None = None,
    bid_deadline: dt.datetime | None = None,
) -> Tender:
    """Create a draft tender from a named rule set, with any parameter overrides validated now."""
    actor.require(Role.ORGANISER)
    kind = TenderKind(kind)
    if actor.org_kind not in ORGANISER_KINDS[kind]:
        raise DomainError(
            "forbidden", f"a {actor.org_kind} cannot organise a {kind.value} tender", code="organiser_kind"
        )
    base = rulesets.get_rule_set(rule_set)
    if overrides:
        rulesets.apply_overrides(base, overrides, version=f"{base.version}+draft")
    _check_region(region_prefix, supply_region_digits)
    tender = Tender(
        title=title.strip(),
        description=description,
        kind=kind.value,
        organiser_org_id=actor.org_id,
        rule_set_name=base.name,
        rule_set_version=base.version,
        overrides=dict(overrides or {}),
        region_prefix=region_prefix,
        supply_region_digits=supply_region_digits,
        demand_deadline=demand_deadline,
        bid_deadline=bid_deadline,
    )
    session.add(tender)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="tender.created",
        object_type="tender",
        object_id=tender.id,
        details={"kind": kind.value, "rule_set": f"{base.name}@{base.version}", "overrides": tender.overrides},
    )
    return tender


def _check_region(prefix: str, digits: int) -> None:
    if prefix and not re.fullmatch(r"\d{2}(\d{2}){0,2}", prefix):
        raise invalid("region_prefix", "must be 2, 4 or 6 digits of a region code (省/市/县), or empty for all")
    if digits not in (2, 4, 6):
        raise invalid("supply_region_digits", "must be 2 (province), 4 (prefecture) or 6 (county)")


def get_tender(session: Session, *, tender_id: int, actor: Actor, lock: bool = False, share: bool = False) -> Tender:
    """Return a tender the actor may see: drafts only to their organiser, the rest to every signed-in user.

    ``lock`` takes the row FOR UPDATE (one at a time); ``share`` takes it FOR SHARE, which waits for and holds off
    every FOR UPDATE but not other sharers. Either way the row is read afresh once the lock is held.
    """
    stmt = sa.select(Tender).where(Tender.id == tender_id)
    if lock or share:
        # A tender already in the session would otherwise keep the status it had before the wait.
        stmt = stmt.with_for_update(read=not lock).execution_options(populate_existing=True)
    tender = session.exec(stmt).scalars().first()
    if tender is None or not may_see(tender, actor):
        raise not_found("Tender", tender_id)
    return tender


def may_see(tender: Tender, actor: Actor) -> bool:
    """Return whether the actor may see the tender at all."""
    if tender.status != TenderStatus.DRAFT.value:
        return True
    return actor.is_system or actor.has(Role.ADMIN) or actor.org_id == tender.organiser_org_id


def require_organiser(tender: Tender, actor: Actor) -> None:
    """Refuse anyone but an organiser of the tender's own organisation."""
    actor.require(Role.ORGANISER, org_id=tender.organiser_org_id)


def list_tenders(
    session: Session, *, actor: Actor, status: TenderStatus | None = None, page: int = 1, per_page: int = 50
) -> Page[Tender]:
    """List the tenders the actor may see, newest first."""
    stmt = sa.select(Tender).order_by(Tender.id.desc())
    if not (actor.is_system or actor.has(Role.ADMIN)):
        stmt = stmt.where(sa.or_(Tender.status != TenderStatus.DRAFT.value, Tender.organiser_org_id == actor.org_id))
    if status:
        stmt = stmt.where(Tender.status == TenderStatus(status).value)
    return paginate(session, stmt, page=page, per_page=per_page)


def rule_set_of(tender: Tender):
    """Return the rule set in force: the frozen copy once bidding opened, else the named set with overrides."""
    if tender.frozen_rules:
        return rulesets.rule_set_from_description(tender.frozen_rules)
    base = rulesets.get_rule_set(tender.rule_set_name)
    if not tender.overrides:
        return base
    return rulesets.apply_overrides(base, tender.overrides, version=f"{base.version}+tender{tender.id}")


_EDITABLE = ("title", "description", "overrides", "region_prefix", "supply_region_digits")


def update_tender(
    session: Session,
    *,
    tender_id: int,
    actor: Actor,
    changes: dict[str, Any],
    now: dt.datetime | None = None,
) -> Tender:
    """Edit a tender's details and deadlines, or move it along its lifecycle (``status``)."""
    tender = get_tender(session, tender_id=tender_id, actor=actor, lock=True)
    require_organiser(tender, actor)
    now = now or utcnow()
    changes = dict(changes)
    target = changes.pop("status", None)
    passphrase = changes.pop("opening_passphrase", None)
    edited: dict[str, Any] = {}
    for name, value in changes.items():
        if name in _EDITABLE or name in ("demand_deadline", "bid_deadline"):
            _check_editable(tender, name)
            edited[name] = value
    if "overrides" in edited:
        base = rulesets.get_rule_set(tender.rule_set_name)
        rulesets.apply_overrides(base, edited["overrides"] or {}, version=f"{base.version}+tender{tender.id}")
        edited["overrides"] = dict(edited["overrides"] or {})
    if "region_prefix" in edited or "supply_region_digits" in edited:
        _check_region(
            edited.get("region_prefix", tender.region_prefix),
            edited.get("supply_region_digits", tender.supply_region_digits),
        )
    for name, value in edited.items():
        setattr(tender, name, value)
    if edited:
        tender.updated_at = now
        record_audit(
            session,
            actor=actor,
            action="tender.updated",
            object_type="tender",
            object_id=tender.id,
            details={k: str(v) for k, v in edited.items()},
        )
    if target is not None:
        _transition(session, tender, TenderStatus(target), actor=actor, passphrase=passphrase, now=now)
    return tender


def _check_editable(tender: Tender, name: str) -> None:
    status = TenderStatus(tender.status)
    if name == "bid_deadline":
        if status not in (TenderStatus.DRAFT, TenderStatus.DEMAND_COLLECTION):
            raise DomainError(
                "conflict",
                "the bid deadline is fixed once bidding opens",
                code="tender_frozen",
                errors={name: ["fixed once bidding opens"]},
            )
        return
    if name == "demand_deadline" and status in (TenderStatus.DRAFT, TenderStatus.DEMAND_COLLECTION):
        return
    if status != TenderStatus.DRAFT and name in ("overrides", "region_prefix", "supply_region_digits"):
        raise DomainError(
            "conflict",
            f"{name} can only change while the tender is a draft",
            code="tender_frozen",
            errors={name: ["can only change while the tender is a draft"]},
        )
    if status not in (TenderStatus.DRAFT, TenderStatus.DEMAND_COLLECTION) and name in ("title", "description"):
        raise DomainError("conflict", f"{name} is fixed once bidding opens", code="tender_frozen", errors={name: []})


def _transition(session, tender: Tender, target: TenderStatus, *, actor: Actor, passphrase, now) -> None:
    manual = {TenderStatus.DEMAND_COLLECTION, TenderStatus.BIDDING, TenderStatus.IN_FORCE, TenderStatus.CLOSED}
    if target not in manual:
        raise DomainError(
            INVALID,
            f"use POST /tenders/{tender.id}/{_ACTION[target]} to make a tender {target.value}",
            code="transition_by_action",
            errors={"status": [f"{target.value} is reached through its own action"]},
        )
    check_move(tender, target)
    details: dict[str, Any] = {}
    if target == TenderStatus.DEMAND_COLLECTION:
        _require_lots(session, tender)
    if target == TenderStatus.BIDDING:
        _open_bidding(tender, passphrase=passphrase, now=now)
        details = {"key_id": tender.key_id, "rule_set": tender.frozen_rules}
    before = move(tender, target)
    tender.updated_at = now
    record_audit(
        session,
        actor=actor,
        action=f"tender.{target.value}",
        object_type="tender",
        object_id=tender.id,
        details={"from": before.value, "to": target.value, **details},
    )


_ACTION = {TenderStatus.OPENED: "open", TenderStatus.EVALUATED: "evaluate", TenderStatus.AWARDED: "award"}


def _require_lots(session: Session, tender: Tender) -> None:
    count = session.exec(sa.select(sa.func.count()).where(Lot.tender_id == tender.id)).one()[0]
    if not count:
        raise DomainError(
            "conflict", "a tender needs at least one lot first", code="no_lots", errors={"lots": ["none yet"]}
        )


def _open_bidding(tender: Tender, *, passphrase: str | None, now: dt.datetime) -> None:
    if not passphrase:
        raise invalid("opening_passphrase", "opening bidding needs the organiser's opening passphrase")
    if tender.bid_deadline is None or tender.bid_deadline <= now:
        raise invalid("bid_deadline", "set a bid deadline in the future before opening bidding")
    try:
        key = sealing.create_tender_key(passphrase)
    except DomainError as error:  # the API and pages call the field opening_passphrase
        raise DomainError(
            error.kind, error.message, code=error.code, errors={"opening_passphrase": [error.message]}
        ) from None
    tender.key_id, tender.public_key, tender.encrypted_private_key = (
        key.key_id,
        key.public_key,
        key.encrypted_private_key,
    )
    # Freeze the rule set in force: later changes to the named set cannot reach a tender already bidding.
    rules = rule_set_of(tender)
    tender.frozen_rules = rules.describe()


def hospital_takes_part(tender: Tender, hospital: Organisation) -> bool:
    """Return whether a hospital is inside the tender's area."""
    return hospital.kind == OrgKind.HOSPITAL.value and hospital.region_code.startswith(tender.region_prefix)


def money_value(field: str, value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise invalid(field, "must be a decimal amount") from None
    if amount != amount.quantize(FOUR_PLACES):
        raise invalid(field, "has more than four decimal places")
    return amount
