"""The registers reconciliation reads: manufacturer equivalents (4.2), distribution groups (4.3), remote areas (4.4).

Auditors and administrators keep them; every signed-in user may read them, since they decide which invoice chains
are allowed. "One nationwide" (4.2) is enforced over validity periods: a principal has at most one equivalent of a
kind at any time, and an equivalent company acts for one principal only (it sells only its own or its group's
drugs).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.errors import CONFLICT, INVALID, DomainError, invalid
from core.models import Organisation
from core.pagination import Page, paginate
from core.roles import OrgKind, Role
from procurement.audit.reconciliation_models import (
    DistributionGroup,
    DistributionGroupMember,
    EquivalentKind,
    ManufacturerEquivalent,
    RemoteArea,
)

KEEPERS = (Role.AUDITOR, Role.ADMIN)
PREFIX = re.compile(r"^\d{2}(\d{2}){0,2}$")  # a province (2), prefecture (4) or county (6) code of GB/T 2260
COMPANY_KINDS = (OrgKind.MANUFACTURER.value, OrgKind.DISTRIBUTOR.value)


def _org(session: Session, org_id: int, field: str, kinds: Sequence[str]) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None or org.kind not in kinds:
        raise invalid(field, f"organisation {org_id} is not a {' or '.join(kinds)}")
    return org


def _overlaps(model, valid_from: dt.date, valid_to: dt.date | None):
    later = sa.or_(model.valid_to.is_(None), model.valid_to > valid_from)
    return sa.and_(later, model.valid_from < valid_to) if valid_to is not None else later


def _period(valid_from: dt.date, valid_to: dt.date | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise invalid("valid_to", f"{valid_to.isoformat()} is not after valid_from {valid_from.isoformat()}")


def _conflict(message: str, field: str, code: str) -> DomainError:
    return DomainError(CONFLICT, message, code=code, errors={field: [message]})


def register_equivalent(
    session: Session,
    *,
    org_id: int,
    principal_org_id: int,
    kind: str,
    valid_from: dt.date,
    actor: Actor,
    valid_to: dt.date | None = None,
    note: str = "",
) -> ManufacturerEquivalent:
    """Register a company treated as the manufacturer (视同生产企业, 4.2); one nationwide per principal and kind."""
    actor.require(*KEEPERS)
    if kind not in tuple(EquivalentKind):
        raise invalid("kind", f"one of {', '.join(k.value for k in EquivalentKind)}")
    _period(valid_from, valid_to)
    company = _org(session, org_id, "org_id", COMPANY_KINDS)
    _org(session, principal_org_id, "principal_org_id", (OrgKind.MANUFACTURER.value,))
    if org_id == principal_org_id:
        raise invalid("org_id", "a manufacturer is its own first seller; register another company")
    same = ManufacturerEquivalent
    taken = session.exec(
        sa.select(same.org_id).where(
            same.principal_org_id == principal_org_id, same.kind == kind, _overlaps(same, valid_from, valid_to)
        )
    ).first()
    if taken is not None:
        raise _conflict(
            f"organisation {principal_org_id} already has a {kind} equivalent (organisation {taken[0]}) in this "
            "period: one nationwide (rulebook 4.2)", "principal_org_id", "equivalent_taken",
        )  # fmt: skip
    other = session.exec(
        sa.select(same.principal_org_id).where(same.org_id == org_id, _overlaps(same, valid_from, valid_to))
    ).first()
    if other is not None and other[0] != principal_org_id:
        raise _conflict(
            f"{company.name} already acts for organisation {other[0]}; it sells only its own or its group's drugs",
            "org_id", "equivalent_elsewhere",
        )  # fmt: skip
    row = ManufacturerEquivalent(
        org_id=org_id, principal_org_id=principal_org_id, kind=kind, valid_from=valid_from, valid_to=valid_to,
        note=(note or "").strip()[:300], registered_by_id=actor.user_id,
    )  # fmt: skip
    _insert(session, row, "principal_org_id", "equivalent_taken")
    record_audit(
        session, actor=actor, action="reconciliation.equivalent_registered", object_type="manufacturer_equivalent",
        object_id=row.id, details={"org_id": org_id, "principal_org_id": principal_org_id, "kind": kind},
    )  # fmt: skip
    return row


def _insert(session: Session, row: Any, field: str, code: str) -> None:
    savepoint = session.begin_nested()
    try:
        session.add(row)
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        raise _conflict("an equal registration was stored at the same moment", field, code) from None
    savepoint.commit()


def list_equivalents(
    session: Session, *, actor: Actor, org_id: int | None = None, principal_org_id: int | None = None,
    page: int = 1, per_page: int = 50,
) -> Page[ManufacturerEquivalent]:  # fmt: skip
    """List the registered equivalents, newest first."""
    stmt = sa.select(ManufacturerEquivalent)
    if org_id is not None:
        stmt = stmt.where(ManufacturerEquivalent.org_id == org_id)
    if principal_org_id is not None:
        stmt = stmt.where(ManufacturerEquivalent.principal_org_id == principal_org_id)
    return paginate(session, stmt.order_by(ManufacturerEquivalent.id.desc()), page=page, per_page=per_page)


def create_group(session: Session, *, name: str, member_org_ids: Sequence[int], actor: Actor) -> dict[str, Any]:
    """Create a distribution group with its member distributors (4.3); a distributor is in one group at most."""
    actor.require(*KEEPERS)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise invalid("name", "a group name of 1 to 200 characters")
    members = list(dict.fromkeys(member_org_ids))
    if len(members) < 2:
        raise invalid("member_org_ids", "a group has at least two member distributors")
    errors: dict[str, list[str]] = {}
    for index, org_id in enumerate(members):
        org = session.get(Organisation, org_id)
        if org is None or org.kind != OrgKind.DISTRIBUTOR.value:
            errors[f"member_org_ids.{index}"] = [f"organisation {org_id} is not a distributor"]
    joined = session.exec(
        sa.select(DistributionGroupMember.org_id).where(DistributionGroupMember.org_id.in_(members))
    ).all()
    for (org_id,) in joined:
        errors[f"member_org_ids.{members.index(org_id)}"] = [f"organisation {org_id} is already in a group"]
    if session.exec(sa.select(DistributionGroup.id).where(DistributionGroup.name == name)).first() is not None:
        errors["name"] = [f"a group named {name} exists"]
    if errors:
        first = next(iter(errors.items()))
        raise DomainError(INVALID, f"{first[0]}: {first[1][0]}", code="bad_group", errors=errors)
    group = DistributionGroup(name=name, created_by_id=actor.user_id)
    _insert(session, group, "name", "group_taken")
    for org_id in members:
        session.add(DistributionGroupMember(group_id=group.id, org_id=org_id))
    try:
        session.flush()
    except IntegrityError:
        raise _conflict("a member joined another group at the same moment", "member_org_ids", "group_taken") from None
    record_audit(
        session, actor=actor, action="reconciliation.group_created", object_type="distribution_group",
        object_id=group.id, details={"name": name, "members": members},
    )  # fmt: skip
    return group_view(group, members)


def group_view(group: DistributionGroup, members: list[int]) -> dict[str, Any]:
    """Return a group as a dictionary with its member ids."""
    return {"id": group.id, "name": group.name, "member_org_ids": members, "created_at": group.created_at}


def list_groups(session: Session, *, actor: Actor, page: int = 1, per_page: int = 50) -> Page[dict[str, Any]]:
    """List the distribution groups with their members, by name."""
    found = paginate(session, sa.select(DistributionGroup).order_by(DistributionGroup.name), page=page,
                     per_page=per_page)  # fmt: skip
    ids = [g.id for g in found.items]
    members: dict[int, list[int]] = {i: [] for i in ids}
    stmt = sa.select(DistributionGroupMember.group_id, DistributionGroupMember.org_id).where(
        DistributionGroupMember.group_id.in_(ids)
    )
    for group_id, org_id in session.exec(stmt.order_by(DistributionGroupMember.id)).all():
        members[group_id].append(org_id)
    return Page([group_view(g, members[g.id]) for g in found.items], found.total, found.page, found.per_page)


def add_remote_area(
    session: Session, *, region_prefix: str, name: str, listed_by: str, valid_from: dt.date, actor: Actor,
    valid_to: dt.date | None = None,
) -> RemoteArea:  # fmt: skip
    """Put a region on the remote-area list (4.4): hospitals there may receive through one more invoice."""
    actor.require(*KEEPERS)
    prefix = (region_prefix or "").strip()
    if not PREFIX.match(prefix):
        raise invalid("region_prefix", f"{prefix!r} is not a 2-, 4- or 6-digit region code")
    for field, value, limit in (("name", name, 100), ("listed_by", listed_by, 200)):
        if not (value or "").strip() or len(value.strip()) > limit:
            raise invalid(field, f"required, at most {limit} characters")
    _period(valid_from, valid_to)
    clash = session.exec(
        sa.select(RemoteArea.id).where(RemoteArea.region_prefix == prefix, _overlaps(RemoteArea, valid_from, valid_to))
    ).first()
    if clash is not None:
        raise _conflict(f"region {prefix} is already listed for this period", "region_prefix", "area_listed")
    area = RemoteArea(
        region_prefix=prefix, name=name.strip(), listed_by=listed_by.strip(), valid_from=valid_from,
        valid_to=valid_to, created_by_id=actor.user_id,
    )  # fmt: skip
    _insert(session, area, "region_prefix", "area_listed")
    record_audit(
        session, actor=actor, action="reconciliation.remote_area_added", object_type="remote_area",
        object_id=area.id, details={"region_prefix": prefix, "name": area.name},
    )  # fmt: skip
    return area


def list_remote_areas(session: Session, *, actor: Actor, page: int = 1, per_page: int = 50) -> Page[RemoteArea]:
    """List the remote areas by region code."""
    stmt = sa.select(RemoteArea).order_by(RemoteArea.region_prefix, RemoteArea.valid_from)
    return paginate(session, stmt, page=page, per_page=per_page)
