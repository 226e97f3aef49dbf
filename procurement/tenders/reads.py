"""What each party may read of a tender: counts before opening, outcomes after evaluation, awards once published."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.errors import CONFLICT, DomainError
from core.pagination import MAX_PER_PAGE, Page
from core.roles import Role
from procurement.tenders.lots import lot_products, lots_of
from procurement.tenders.models import AgreedVolume, Award, Bid, BidOutcome, DemandReport, Lot, Tender, TenderStatus
from procurement.tenders.setup import get_tender

PUBLISHED = (TenderStatus.AWARDED.value, TenderStatus.IN_FORCE.value, TenderStatus.CLOSED.value)
OPENED = (TenderStatus.OPENED.value, TenderStatus.EVALUATED.value, *PUBLISHED)


def is_overseer(tender: Tender, actor: Actor) -> bool:
    """The tender's organiser, auditors and administrators see everything the stage allows."""
    return (
        actor.is_system
        or actor.has(Role.ADMIN, Role.AUDITOR)
        or (actor.has(Role.ORGANISER) and actor.org_id == tender.organiser_org_id)
    )


def tender_detail(session: Session, *, tender_id: int, actor: Actor) -> dict[str, Any]:
    """Return a tender with its lots, their product tables, and counts of demand and (sealed) bids."""
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    lots = lots_of(session, tender.id)
    lot_ids = [lot.id for lot in lots]
    bids = dict(
        session.exec(
            sa.select(Bid.lot_id, sa.func.count()).where(Bid.tender_id == tender.id).group_by(Bid.lot_id)
        ).all()
    )
    demand = {
        row[0]: (int(row[1] or 0), int(row[2] or 0))
        for row in session.exec(
            sa.select(
                DemandReport.lot_id,
                sa.func.sum(DemandReport.quantity),
                sa.func.count(sa.distinct(DemandReport.hospital_id)),
            )
            .where(DemandReport.tender_id == tender.id)
            .group_by(DemandReport.lot_id)
        ).all()
    }
    products: dict[int, list] = {lot_id: [] for lot_id in lot_ids}
    for lot_product, _product in lot_products(session, lot_ids):
        products[lot_product.lot_id].append(lot_product)
    out = _tender_dict(tender)
    out["lots"] = [
        {
            **_lot_dict(lot),
            "products": products[lot.id],
            "bid_count": int(bids.get(lot.id, 0)),
            "demand_total": demand.get(lot.id, (0, 0))[0],
            "demand_hospitals": demand.get(lot.id, (0, 0))[1],
        }
        for lot in lots
    ]
    return out


def _tender_dict(tender: Tender) -> dict[str, Any]:
    return {column.name: getattr(tender, column.name) for column in Tender.__table__.columns}


def _lot_dict(lot: Lot) -> dict[str, Any]:
    return {column.name: getattr(lot, column.name) for column in Lot.__table__.columns}


def listed(session: Session, stmt: sa.Select, *, page: int | None, per_page: int, rows: bool = False):
    """Return a statement's results: all of them (pages) or one page with the total (the API's paginated lists)."""
    if page is None:
        result = session.exec(stmt)
        return list(result.all() if rows else result.scalars())
    total = session.exec(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).one()[0]
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    result = session.exec(stmt.limit(per_page).offset((max(page, 1) - 1) * per_page))
    return Page(list(result.all() if rows else result.scalars()), int(total), max(page, 1), per_page)


def visible_bids(
    session: Session, *, tender_id: int, actor: Actor, page: int | None = None, per_page: int = 50
) -> list[Bid] | Page[Bid]:
    """Return bids: a supplier always sees its own; overseers see all, but only once the tender is opened."""
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    stmt = sa.select(Bid).where(Bid.tender_id == tender.id).order_by(Bid.lot_id, Bid.id)
    if is_overseer(tender, actor):
        if tender.status not in OPENED:
            raise DomainError(
                CONFLICT,
                "bids stay sealed until opening; the tender shows their counts",
                code="sealed_until_opening",
            )
    elif tender.status not in PUBLISHED:  # published results name every bid and its price
        stmt = stmt.where(Bid.supplier_id == actor.org_id)
    return listed(session, stmt, page=page, per_page=per_page)


def outcome_rows(
    session: Session, *, tender_id: int, actor: Actor, page: int | None = None, per_page: int = 50
) -> list[dict[str, Any]] | Page[dict[str, Any]]:
    """Return each bid's outcome and reason: overseers after evaluation, suppliers their own, all once published."""
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    stmt = (
        sa.select(BidOutcome, Bid)
        .join(Bid, Bid.id == BidOutcome.bid_id)
        .where(BidOutcome.tender_id == tender.id)
        .order_by(BidOutcome.lot_id, sa.func.coalesce(BidOutcome.rank, 10**6), BidOutcome.bid_id)
    )
    if not (is_overseer(tender, actor) or tender.status in PUBLISHED):
        stmt = stmt.where(Bid.supplier_id == actor.org_id)
    found = listed(session, stmt, page=page, per_page=per_page, rows=True)
    items = [_outcome_row(outcome, bid) for outcome, bid in (found if page is None else found.items)]
    return items if page is None else Page(items, found.total, found.page, found.per_page)


def _outcome_row(outcome: BidOutcome, bid: Bid) -> dict[str, Any]:
    row = {column.name: getattr(outcome, column.name) for column in BidOutcome.__table__.columns}
    row.update(supplier_id=bid.supplier_id, product_id=bid.product_id, price=bid.price, ucp=bid.ucp)
    return row


def award_view(session: Session, *, tender_id: int, actor: Actor) -> dict[str, Any]:
    """Return the published awards, and agreed volumes: a hospital its own, a supplier those it supplies."""
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    if tender.status not in PUBLISHED:
        raise DomainError(CONFLICT, "the tender has not been awarded yet", code="not_awarded")
    awards = list(
        session.exec(sa.select(Award).where(Award.tender_id == tender.id).order_by(Award.lot_id, Award.rank)).scalars()
    )
    stmt = sa.select(AgreedVolume).where(AgreedVolume.tender_id == tender.id)
    if not is_overseer(tender, actor):
        mine = [award.id for award in awards if award.supplier_id == actor.org_id]
        stmt = stmt.where(
            sa.or_(
                AgreedVolume.hospital_id == actor.org_id,
                AgreedVolume.award_id.in_(mine),
                AgreedVolume.backup_award_id.in_(mine),
            )
        )
    volumes = list(session.exec(stmt.order_by(AgreedVolume.lot_id, AgreedVolume.hospital_id)).scalars())
    return {
        "tender_id": tender.id,
        "status": tender.status,
        "cycle_start": tender.cycle_start,
        "cycle_end": tender.cycle_end,
        "awards": awards,
        "agreed_volumes": volumes,
    }
