"""What a hospital may buy today: its awarded products at the winning price, and listed products at their price.

An awarded line is the hospital's agreed volume of a lot (rulebook 1.4) supplied by the award it was allocated
(1.5), delivered by the distributor the winner named for the hospital, or by the winner itself. Past the agreed
volume the winning price still holds until the cycle ends (1.7.1). Any other product listed for the hospital's
region (挂网) may be bought at its listing price (1.4.1); where the hospital has a winning product of the same
generic name, the line records it, because that purchase counts against surplus retention (3.6).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.models import Organisation
from procurement.catalogue import Product
from procurement.orders.models import DistributorAssignment, PriceBasis, ProductListing
from procurement.tenders.models import AgreedVolume, Award, Lot, LotProduct, Tender, TenderStatus

IN_FORCE = (TenderStatus.AWARDED.value, TenderStatus.IN_FORCE.value)  # awarded: agreements signed, in force soon


@dataclass(frozen=True)
class Buyable:
    """One product a hospital may order, at the only price it may order it at."""

    product_id: int
    generic_name: str
    strength: str
    package_spec: str
    pack_quantity: int
    price: Decimal  # per pack
    price_basis: PriceBasis
    supplier_id: int
    supplier_name: str
    award_id: int | None = None
    lot_id: int | None = None
    tender_id: int | None = None
    tender_title: str | None = None
    agreed_volume_id: int | None = None
    agreed_volume: int | None = None  # comparable units per agreement year (1.6.1: signed every year)
    spec_factor: Decimal | None = None  # comparable units per smallest unit (差比价)
    cycle_start: dt.date | None = None
    cycle_end: dt.date | None = None
    listing_id: int | None = None
    winning_product_id: int | None = None  # for a listed product: the winning one of its generic name


def buyable_products(session: Session, *, hospital_id: int, on: dt.date) -> dict[int, Buyable]:
    """Return every product the hospital may order on ``on``, keyed by product id."""
    hospital = session.get(Organisation, hospital_id)
    result: dict[int, Buyable] = {}
    winners_by_name: dict[str, int] = {}
    for row in _awarded_rows(session, hospital_id=hospital_id, on=on):
        volume, award, lot, tender, product, spec = row
        delivering = session.get(Organisation, _deliverer(session, award=award, hospital_id=hospital_id))
        result[product.id] = Buyable(
            product_id=product.id,
            generic_name=product.generic_name,
            strength=product.strength,
            package_spec=product.package_spec,
            pack_quantity=product.pack_quantity,
            price=award.unit_price,
            price_basis=PriceBasis.AWARDED,
            supplier_id=delivering.id,
            supplier_name=delivering.name,
            award_id=award.id,
            lot_id=lot.id,
            tender_id=tender.id,
            tender_title=tender.title,
            agreed_volume_id=volume.id,
            agreed_volume=volume.agreed_volume,
            spec_factor=spec.spec_factor if spec is not None else None,
            cycle_start=award.cycle_start,
            cycle_end=award.cycle_end,
        )
        winners_by_name.setdefault(product.generic_name, product.id)
    for listing, product, supplier in _listed_rows(session, region=hospital.region_code, on=on):
        if product.id in result:
            continue  # the awarded price wins over any listing of the same product
        result[product.id] = Buyable(
            product_id=product.id,
            generic_name=product.generic_name,
            strength=product.strength,
            package_spec=product.package_spec,
            pack_quantity=product.pack_quantity,
            price=listing.price,
            price_basis=PriceBasis.LISTED,
            supplier_id=supplier.id,
            supplier_name=supplier.name,
            listing_id=listing.id,
            winning_product_id=winners_by_name.get(product.generic_name),
        )
    return result


def _awarded_rows(session: Session, *, hospital_id: int, on: dt.date):
    stmt = (
        sa.select(AgreedVolume, Award, Lot, Tender, Product, LotProduct)
        .join(Award, Award.id == AgreedVolume.award_id)
        .join(Lot, Lot.id == AgreedVolume.lot_id)
        .join(Tender, Tender.id == AgreedVolume.tender_id)
        .join(Product, Product.id == Award.product_id)
        .outerjoin(LotProduct, sa.and_(LotProduct.lot_id == Lot.id, LotProduct.product_id == Product.id))
        .where(
            AgreedVolume.hospital_id == hospital_id,
            Tender.status.in_(IN_FORCE),
            Award.cycle_start <= on,
            Award.cycle_end >= on,
        )
        .order_by(Lot.generic_name, Award.product_id)
    )
    return session.exec(stmt).all()


def _listed_rows(session: Session, *, region: str, on: dt.date):
    stmt = (
        sa.select(ProductListing, Product, Organisation)
        .join(Product, Product.id == ProductListing.product_id)
        .join(Organisation, Organisation.id == ProductListing.supplier_id)
        .where(
            ProductListing.starts_on <= on,
            sa.or_(ProductListing.ends_on.is_(None), ProductListing.ends_on >= on),
            sa.literal(region).startswith(ProductListing.region_prefix),
        )
        .order_by(Product.generic_name, ProductListing.price, ProductListing.id)
    )
    seen: set[int] = set()
    for listing, product, supplier in session.exec(stmt).all():
        if product.id not in seen:  # the cheapest listing of a product for this region
            seen.add(product.id)
            yield listing, product, supplier


def _deliverer(session: Session, *, award: Award, hospital_id: int) -> int:
    stmt = sa.select(DistributorAssignment.distributor_id).where(
        DistributorAssignment.award_id == award.id, DistributorAssignment.hospital_id == hospital_id
    )
    distributor = session.exec(stmt).scalars().first()
    return distributor if distributor is not None else award.supplier_id
