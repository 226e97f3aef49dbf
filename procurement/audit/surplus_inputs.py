"""The bureau's inputs to surplus retention: pre-tender prices, insured-patient shares, member-unit shares (3.1, 0.4).

Inputs arrive as one batch that is checked row by row and saved whole or not at all; saving the same figures again
changes nothing (rows are keyed, not appended), so a retried request never duplicates them. Every change is
audited with the old and the new value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import INVALID, DomainError
from core.models import Organisation
from core.roles import OrgKind, Role
from procurement.audit.surplus_models import SurplusBaselinePrice, SurplusInsuredShare, SurplusMemberShare
from procurement.tenders.models import Lot, Tender

INPUT_ROLES = (Role.AUDITOR,)
SHARE_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class BaselinePriceIn:
    tender_id: int
    generic_name: str
    unit: str
    price: Decimal  # yuan per comparable unit before the tender
    region_code: str = ""
    source: str = ""


@dataclass(frozen=True)
class InsuredShareIn:
    tender_id: int
    hospital_id: int
    generic_name: str
    share: Decimal
    source: str = ""


@dataclass(frozen=True)
class MemberSharesIn:
    general_hospital_id: int
    members: tuple[tuple[int, Decimal], ...]  # (member hospital id, share); the shares sum to exactly 1


def _places_ok(value: Decimal) -> bool:
    return value == value.quantize(SHARE_PLACES)


def _check_prices(session: Session, rows: list[BaselinePriceIn], errors: dict[str, list[str]]) -> None:
    lots: dict[int, set[tuple[str, str]]] = {}
    seen: dict[tuple, int] = {}
    for index, row in enumerate(rows):
        where = f"baseline_prices[{index}]"
        if row.tender_id not in lots:
            found = session.get(Tender, row.tender_id) is not None
            lots[row.tender_id] = (
                {(n, u) for n, u in session.exec(sa.select(Lot.generic_name, Lot.unit).where(
                    Lot.tender_id == row.tender_id)).all()} if found else set()
            )  # fmt: skip
            if not found:
                errors[f"{where}.tender_id"] = [f"tender {row.tender_id} does not exist"]
                continue
        if (row.generic_name, row.unit) not in lots[row.tender_id]:
            errors[f"{where}.generic_name"] = [
                f"tender {row.tender_id} has no lot of {row.generic_name!r} in {row.unit!r}"
            ]
        if row.price <= 0 or not _places_ok(row.price):
            errors[f"{where}.price"] = ["the price must be positive, with at most 4 decimals"]
        if row.region_code and (not row.region_code.isdigit() or len(row.region_code) > 6):
            errors[f"{where}.region_code"] = ["a region code (prefix) is up to 6 digits, or empty for everywhere"]
        key = (row.tender_id, row.region_code, row.generic_name, row.unit)
        if key in seen:
            errors[where] = [f"duplicates baseline_prices[{seen[key]}]"]
        seen.setdefault(key, index)


def _hospital(session: Session, hospital_id: int) -> Organisation | None:
    org = session.get(Organisation, hospital_id)
    return org if org is not None and org.kind == OrgKind.HOSPITAL.value else None


def _check_shares(session: Session, rows: list[InsuredShareIn], errors: dict[str, list[str]]) -> None:
    seen: dict[tuple, int] = {}
    for index, row in enumerate(rows):
        where = f"insured_shares[{index}]"
        if session.get(Tender, row.tender_id) is None:
            errors[f"{where}.tender_id"] = [f"tender {row.tender_id} does not exist"]
        elif (
            session.exec(
                sa.select(Lot.id).where(Lot.tender_id == row.tender_id, Lot.generic_name == row.generic_name)
            ).first()
            is None
        ):
            errors[f"{where}.generic_name"] = [f"tender {row.tender_id} has no lot of {row.generic_name!r}"]
        if _hospital(session, row.hospital_id) is None:
            errors[f"{where}.hospital_id"] = [f"hospital {row.hospital_id} does not exist"]
        if not Decimal(0) <= row.share <= 1 or not _places_ok(row.share):
            errors[f"{where}.share"] = ["the share must be between 0 and 1, with at most 4 decimals"]
        key = (row.tender_id, row.hospital_id, row.generic_name)
        if key in seen:
            errors[where] = [f"duplicates insured_shares[{seen[key]}]"]
        seen.setdefault(key, index)


def _check_members(session: Session, sets: list[MemberSharesIn], errors: dict[str, list[str]]) -> None:
    generals: set[int] = set()
    for index, group in enumerate(sets):
        where = f"member_shares[{index}]"
        if group.general_hospital_id in generals:
            errors[where] = ["this general hospital's shares are given twice"]
        generals.add(group.general_hospital_id)
        if _hospital(session, group.general_hospital_id) is None:
            errors[f"{where}.general_hospital_id"] = [f"hospital {group.general_hospital_id} does not exist"]
            continue
        if not group.members:
            errors[f"{where}.members"] = ["name at least one member unit"]
            continue
        members: set[int] = set()
        for n, (member_id, share) in enumerate(group.members):
            at = f"{where}.members[{n}]"
            member = _hospital(session, member_id)
            if member_id in members:
                errors[at] = [f"hospital {member_id} is named twice"]
            members.add(member_id)
            if member is None:
                errors[f"{at}.hospital_id"] = [f"hospital {member_id} does not exist"]
            elif member_id != group.general_hospital_id and member.parent_id != group.general_hospital_id:
                errors[f"{at}.hospital_id"] = [
                    f"{member.name} is not a member unit of general hospital {group.general_hospital_id}"
                ]
            if not Decimal(0) < share <= 1 or not _places_ok(share):
                errors[f"{at}.share"] = ["a share must be above 0 and at most 1, with at most 4 decimals"]
        total = sum((share for _m, share in group.members), Decimal(0))
        if total != 1:
            errors[f"{where}.members"] = [f"the shares must sum to exactly 100 % (rule 0.4), not {total * 100} %"]


def save_inputs(
    session: Session,
    *,
    actor: Actor,
    baseline_prices: list[BaselinePriceIn] = (),  # type: ignore[assignment]
    insured_shares: list[InsuredShareIn] = (),  # type: ignore[assignment]
    member_shares: list[MemberSharesIn] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """Check a batch of inputs row by row and save all of it, or nothing with a report naming every bad row."""
    actor.require(*INPUT_ROLES)
    prices, shares, groups = list(baseline_prices), list(insured_shares), list(member_shares)
    if not (prices or shares or groups):
        raise DomainError(INVALID, "send at least one input", code="no_inputs", errors={"inputs": ["empty"]})
    errors: dict[str, list[str]] = {}
    _check_prices(session, prices, errors)
    _check_shares(session, shares, errors)
    _check_members(session, groups, errors)
    if errors:
        raise DomainError(INVALID, "the inputs have errors; nothing was saved", code="surplus_inputs_invalid",
                          errors=errors)  # fmt: skip
    now = utcnow()
    saved_prices = [_save_price(session, actor, row, now) for row in prices]
    saved_shares = [_save_share(session, actor, row, now) for row in shares]
    saved_members = [row for group in groups for row in _save_members(session, actor, group, now)]
    return {"baseline_prices": saved_prices, "insured_shares": saved_shares, "member_shares": saved_members}


def _save_price(session: Session, actor: Actor, row: BaselinePriceIn, now) -> SurplusBaselinePrice:
    found = session.exec(
        sa.select(SurplusBaselinePrice).where(
            SurplusBaselinePrice.tender_id == row.tender_id, SurplusBaselinePrice.region_code == row.region_code,
            SurplusBaselinePrice.generic_name == row.generic_name, SurplusBaselinePrice.unit == row.unit,
        )
    ).scalars().first()  # fmt: skip
    before = str(found.price) if found else None
    if found is not None and found.price == row.price and found.source == row.source:
        return found
    found = found or SurplusBaselinePrice(
        tender_id=row.tender_id, region_code=row.region_code, generic_name=row.generic_name, unit=row.unit
    )
    found.price, found.source, found.entered_by_id, found.updated_at = row.price, row.source, actor.user_id, now
    session.add(found)
    session.flush()
    details = {"before": before, "after": str(row.price), "tender_id": row.tender_id,
               "generic_name": row.generic_name, "region_code": row.region_code}  # fmt: skip
    record_audit(session, actor=actor, action="surplus.baseline_price_set", object_type="surplus_baseline_price",
                 object_id=found.id, details=details)  # fmt: skip
    return found


def _save_share(session: Session, actor: Actor, row: InsuredShareIn, now) -> SurplusInsuredShare:
    found = session.exec(
        sa.select(SurplusInsuredShare).where(
            SurplusInsuredShare.tender_id == row.tender_id, SurplusInsuredShare.hospital_id == row.hospital_id,
            SurplusInsuredShare.generic_name == row.generic_name,
        )
    ).scalars().first()  # fmt: skip
    before = str(found.share) if found else None
    if found is not None and found.share == row.share and found.source == row.source:
        return found
    found = found or SurplusInsuredShare(
        tender_id=row.tender_id, hospital_id=row.hospital_id, generic_name=row.generic_name
    )
    found.share, found.source, found.entered_by_id, found.updated_at = row.share, row.source, actor.user_id, now
    session.add(found)
    session.flush()
    details = {"before": before, "after": str(row.share), "tender_id": row.tender_id,
               "hospital_id": row.hospital_id, "generic_name": row.generic_name}  # fmt: skip
    record_audit(session, actor=actor, action="surplus.insured_share_set", object_type="surplus_insured_share",
                 object_id=found.id, details=details)  # fmt: skip
    return found


def _save_members(session: Session, actor: Actor, group: MemberSharesIn, now) -> list[SurplusMemberShare]:
    old = session.exec(
        sa.select(SurplusMemberShare).where(SurplusMemberShare.general_hospital_id == group.general_hospital_id)
    ).scalars().all()  # fmt: skip
    before = {row.member_id: row.share for row in old}
    after = dict(group.members)
    if before == after:
        return list(old)
    for row in old:
        session.delete(row)
    session.flush()
    rows = [
        SurplusMemberShare(general_hospital_id=group.general_hospital_id, member_id=member, share=share,
                           entered_by_id=actor.user_id, updated_at=now)
        for member, share in group.members
    ]  # fmt: skip
    session.add_all(rows)
    session.flush()
    record_audit(session, actor=actor, action="surplus.member_shares_set", object_type="organisation",
                 object_id=group.general_hospital_id,
                 details={"before": {str(k): str(v) for k, v in before.items()},
                          "after": {str(k): str(v) for k, v in after.items()}})  # fmt: skip
    return rows


def list_inputs(session: Session, *, actor: Actor) -> dict[str, list]:
    """Return every input (auditors and administrators), for the inputs form and checks."""
    actor.require(Role.AUDITOR, Role.ADMIN)
    return {
        "baseline_prices": list(session.exec(sa.select(SurplusBaselinePrice).order_by(SurplusBaselinePrice.id))
                                .scalars()),
        "insured_shares": list(session.exec(sa.select(SurplusInsuredShare).order_by(SurplusInsuredShare.id))
                               .scalars()),
        "member_shares": list(session.exec(sa.select(SurplusMemberShare).order_by(
            SurplusMemberShare.general_hospital_id, SurplusMemberShare.member_id)).scalars()),
    }  # fmt: skip


def lot_names(session: Session, *, tender_ids: list[int]) -> list[tuple[str, str]]:
    """Return the (generic name, comparable unit) pairs of the tenders' lots, which inputs must name exactly."""
    stmt = sa.select(Lot.generic_name, Lot.unit).where(Lot.tender_id.in_(tender_ids)).distinct()
    return sorted(session.exec(stmt).all())
