"""Map a stored tender to the OCDS input of ``procurement.ocds``: prices only once opened, awards once published."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.db import utcnow
from core.models import Organisation
from procurement import ocds
from procurement.tenders.lots import lot_products, lots_of
from procurement.tenders.models import AgreedVolume, Award, Bid, BidOutcome
from procurement.tenders.reads import PUBLISHED
from procurement.tenders.setup import get_tender

OCID_PREFIX = "ocds-yaolian"  # a registered prefix would replace this before publishing to the OCDS registry


def tender_package(session: Session, *, tender_id: int, actor: Actor, publisher: str, uri: str = "") -> dict[str, Any]:
    """Return the tender as an OCDS 1.1 release package."""
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    lots = lots_of(session, tender.id)
    items: dict[int, list[ocds.OcdsItem]] = {lot.id: [] for lot in lots}
    for lot_product, product in lot_products(session, [lot.id for lot in lots]):
        items[lot_product.lot_id].append(
            ocds.OcdsItem(
                product_id=product.id,
                generic_name=product.generic_name,
                dosage_form=product.dosage_form,
                strength=product.strength,
                package_spec=product.package_spec,
                pack_quantity=product.pack_quantity,
                unit=product.unit,
                manufacturer_id=product.manufacturer_id,
                insurance_code=product.insurance_code,
                gtin=product.gtin,
            )
        )
    opened = tender.opened_at is not None
    outcomes = {
        row.bid_id: row.outcome
        for row in session.exec(sa.select(BidOutcome).where(BidOutcome.tender_id == tender.id)).scalars()
    }
    bids = [
        ocds.OcdsBid(
            id=bid.id,
            lot_id=bid.lot_id,
            supplier_id=bid.supplier_id,
            price=bid.price if opened else None,
            submitted_at=bid.submitted_at,
            status=outcomes.get(bid.id, bid.status),
        )
        for bid in session.exec(sa.select(Bid).where(Bid.tender_id == tender.id).order_by(Bid.id)).scalars()
    ]
    awards: list[ocds.OcdsAward] = []
    if tender.status in PUBLISHED:
        volumes = dict(
            session.exec(
                sa.select(AgreedVolume.award_id, sa.func.sum(AgreedVolume.agreed_volume))
                .where(AgreedVolume.tender_id == tender.id)
                .group_by(AgreedVolume.award_id)
            ).all()
        )
        for award in session.exec(sa.select(Award).where(Award.tender_id == tender.id).order_by(Award.id)).scalars():
            awards.append(
                ocds.OcdsAward(
                    id=award.id,
                    lot_id=award.lot_id,
                    supplier_id=award.supplier_id,
                    price=award.award_ucp,  # per comparable unit, like the lot's ceiling and the agreed volume
                    status="active",
                    date=tender.published_at,
                    agreed_volume=int(volumes.get(award.id, 0) or 0),
                    reason=f"rank {award.rank}; {award.award_ucp} per comparable unit under {tender.rule_set_name}",
                )
            )
    org_ids = (
        {tender.organiser_org_id}
        | {bid.supplier_id for bid in bids}
        | {item.manufacturer_id for group in items.values() for item in group}
    )
    parties = [
        ocds.OcdsParty(id=org.id, name=org.name, uscc=org.uscc, region_name=org.region_name)
        for org in session.exec(sa.select(Organisation).where(Organisation.id.in_(org_ids))).scalars()
    ]
    snapshot = ocds.OcdsTender(
        id=tender.id,
        ocid_prefix=OCID_PREFIX,
        title=tender.title,
        description=tender.description,
        status=tender.status,
        procuring_entity_id=tender.organiser_org_id,
        rule_set_name=tender.rule_set_name,
        rule_set_version=tender.rule_set_version,
        bid_deadline=tender.bid_deadline,
        period_start=tender.cycle_start,
        period_end=tender.cycle_end,
        published_at=tender.published_at,
        updated_at=tender.updated_at,
        lots=tuple(
            ocds.OcdsLot(
                id=lot.id,
                title=f"{lot.number}. {lot.generic_name} {lot.dosage_form} {lot.reference_strength}",
                ceiling=lot.ceiling_ucp,
                items=tuple(items[lot.id]),
            )
            for lot in lots
        ),
        bids=tuple(bids),
        awards=tuple(awards),
        parties=tuple(parties),
    )
    return ocds.release_package(
        snapshot, publisher_name=publisher, uri=uri or f"/api/v1/tenders/{tender.id}/ocds", now=utcnow()
    )
