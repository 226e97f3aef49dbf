"""What a hospital may buy today: its awarded products at the winning price, and listed products at their price.

An awarded line is the hospital's agreed volume of a lot (rulebook 1.4) supplied by the award it was allocated
(1.5), delivered by the distributor the winner named for the hospital, or by the winner itself. Past the agreed
volume the winning price still holds until the cycle ends (1.7.1). Any other product listed for the hospital's
region (挂网) may be bought at its listing price (1.4.1); where the hospital has a winning product of the same
generic name, the line records it, because that purchase counts against surplus retention (3.6).

A credit disposal in force on the day (6.7: suspended listing and distribution) takes an award or listing out of
the offer while it lasts, where it reaches the product and the hospital's region and names the delivering firm,
the winner, or the product's maker or MAH (``credit_scope.disposal_bars``). The listing or award itself is left
as it is, so the offer returns when the sanction ends or the case is repaired (6.8).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
import sqlalchemy.orm
from sqlmodel import Session

from core.models import Organisation
from procurement.audit.credit_scope import disposal_bars
from procurement.catalogue import Product
from procurement.orders.driver_sql import DriverSelect
from procurement.orders.models import DistributorAssignment, PriceBasis, ProductListing
from procurement.tenders.models import AgreedVolume, Award, Lot, LotProduct, SupplierSanction, Tender, TenderStatus

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


def connection_of(session: Session | sa.Connection) -> sa.Connection:
    """Return the connection to run Core statements on, after writing the session's pending changes."""
    if isinstance(session, sa.Connection):
        return session
    session.flush()  # Core statements do not autoflush: pending changes (a new listing) must count
    return session.connection()


def buyable_products(
    session: Session | sa.Connection, *, hospital_id: int, on: dt.date, product_ids: Collection[int] | None = None
) -> dict[int, Buyable]:
    """Return every product the hospital may order on ``on`` (or just ``product_ids``), keyed by product id."""
    wanted = sorted(set(product_ids)) if product_ids is not None else None
    result: dict[int, Buyable] = {}
    winners_by_name: dict[str, int] = {}
    conn = connection_of(session)  # the ORM's execution would cost more than these small reads
    for row in _AWARDED_ROWS.rows(conn, {"hospital": hospital_id, "on": on}):
        winners_by_name.setdefault(row.generic_name, row.product_id)
        if wanted is not None and row.product_id not in wanted:
            continue
        result[row.product_id] = Buyable(
            product_id=row.product_id,
            generic_name=row.generic_name,
            strength=row.strength,
            package_spec=row.package_spec,
            pack_quantity=row.pack_quantity,
            price=row.unit_price,
            price_basis=PriceBasis.AWARDED,
            supplier_id=row.deliverer_id,
            supplier_name=row.deliverer_name,
            award_id=row.award_id,
            lot_id=row.lot_id,
            tender_id=row.tender_id,
            tender_title=row.tender_title,
            agreed_volume_id=row.volume_id,
            agreed_volume=row.agreed_volume,
            spec_factor=row.spec_factor,
            cycle_start=row.cycle_start,
            cycle_end=row.cycle_end,
        )
    if wanted is not None and all(pid in result for pid in wanted):
        return result  # every product asked for is awarded: no listing can change its price
    region = conn.execute(_REGION, {"hospital": hospital_id}).scalar_one()
    for row in _listed_rows(conn, region=region, on=on, product_ids=wanted):
        if row.product_id in result:
            continue  # the awarded price wins over any listing of the same product
        result[row.product_id] = Buyable(
            product_id=row.product_id,
            generic_name=row.generic_name,
            strength=row.strength,
            package_spec=row.package_spec,
            pack_quantity=row.pack_quantity,
            price=row.price,
            price_basis=PriceBasis.LISTED,
            supplier_id=row.supplier_id,
            supplier_name=row.supplier_name,
            listing_id=row.listing_id,
            winning_product_id=winners_by_name.get(row.generic_name),
        )
    return result


@dataclass(frozen=True)
class Suspension:
    """Why a product the hospital could otherwise order is not offered: a credit disposal in force (6.7)."""

    product_id: int
    supplier_id: int  # the sanctioned firm
    rule: str
    reason: str
    ends_on: dt.date | None


def suspended_products(
    session: Session | sa.Connection, *, hospital_id: int, on: dt.date, product_ids: Collection[int]
) -> dict[int, Suspension]:
    """Return, of ``product_ids``, those awarded or listed for the hospital but barred on ``on`` by a sanction.

    Only for explaining a refusal: :func:`buyable_products` already leaves barred awards and listings out.
    """
    wanted = sorted(set(product_ids))
    if not wanted:
        return {}
    conn = connection_of(session)
    region = conn.execute(_REGION, {"hospital": hospital_id}).scalar_one()
    found: dict[int, Suspension] = {}
    for stmt, params in (
        (_AWARDED_BARRED, {"hospital": hospital_id, "on": on, "products": wanted}),
        (_LISTED_BARRED, {"region": region, "on": on, "products": wanted}),
    ):
        for row in conn.execute(stmt, params).all():
            if row.product_id not in found:
                found[row.product_id] = Suspension(row.product_id, row.supplier_id, row.rule, row.reason, row.ends_on)
    return found


# Built once: assembling these statements on every order cost more than running them.
_DELIVERER = sa.func.coalesce(DistributorAssignment.distributor_id, Award.supplier_id)
_DELIVERING = sa.orm.aliased(Organisation)
_BUYER = sa.orm.aliased(Organisation)
_BARRED_COLUMNS = (
    Product.id.label("product_id"),
    SupplierSanction.supplier_id,
    SupplierSanction.rule,
    SupplierSanction.reason,
    SupplierSanction.ends_on,
)
# A credit disposal stops the winner, the distributor it named, and the product's maker or MAH (6.7).
_AWARD_BARS = disposal_bars(
    firms=(_DELIVERER, Award.supplier_id, Product.manufacturer_id, Product.mah_id),
    product_id=Product.id,
    region=_BUYER.region_code,
    on=sa.bindparam("on"),
)
_AWARDED_ALL = (
    sa.select(
        AgreedVolume.id.label("volume_id"),
        AgreedVolume.agreed_volume,
        Award.id.label("award_id"),
        Award.unit_price,
        Award.cycle_start,
        Award.cycle_end,
        Lot.id.label("lot_id"),
        Tender.id.label("tender_id"),
        Tender.title.label("tender_title"),
        Product.id.label("product_id"),
        Product.generic_name,
        Product.strength,
        Product.package_spec,
        Product.pack_quantity,
        LotProduct.spec_factor,
        _DELIVERER.label("deliverer_id"),
        _DELIVERING.name.label("deliverer_name"),
    )
    .join(Award, Award.id == AgreedVolume.award_id)
    .join(Lot, Lot.id == AgreedVolume.lot_id)
    .join(Tender, Tender.id == AgreedVolume.tender_id)
    .join(Product, Product.id == Award.product_id)
    .outerjoin(LotProduct, sa.and_(LotProduct.lot_id == Lot.id, LotProduct.product_id == Product.id))
    .outerjoin(
        DistributorAssignment,
        sa.and_(
            DistributorAssignment.award_id == Award.id,
            DistributorAssignment.hospital_id == AgreedVolume.hospital_id,
        ),
    )
    .join(_DELIVERING, _DELIVERING.id == _DELIVERER)
    .join(_BUYER, _BUYER.id == AgreedVolume.hospital_id)
    .where(
        AgreedVolume.hospital_id == sa.bindparam("hospital"),
        Tender.status.in_(IN_FORCE),
        Award.cycle_start <= sa.bindparam("on"),
        Award.cycle_end >= sa.bindparam("on"),
    )
)
_AWARDED = _AWARDED_ALL.where(~sa.exists().where(*_AWARD_BARS)).order_by(Lot.generic_name, Award.product_id)
_AWARDED_BARRED = (
    _AWARDED_ALL.with_only_columns(*_BARRED_COLUMNS)
    .join(SupplierSanction, sa.and_(*_AWARD_BARS))
    .where(Product.id.in_(sa.bindparam("products", expanding=True)))
    .order_by(Product.id, SupplierSanction.id)
)
# Every order runs this query: compiled once per database and run on the driver (see driver_sql).
_AWARDED_ROWS = DriverSelect(_AWARDED)
_REGION = sa.select(Organisation.region_code).where(Organisation.id == sa.bindparam("hospital"))
_LISTING_BARS = disposal_bars(
    firms=(ProductListing.supplier_id, Product.manufacturer_id, Product.mah_id),
    product_id=Product.id,
    region=sa.bindparam("region"),
    on=sa.bindparam("on"),
)
_LISTED_ALL = (
    sa.select(
        ProductListing.id.label("listing_id"),
        ProductListing.price,
        ProductListing.supplier_id,
        Organisation.name.label("supplier_name"),
        Product.id.label("product_id"),
        Product.generic_name,
        Product.strength,
        Product.package_spec,
        Product.pack_quantity,
    )
    .join(Product, Product.id == ProductListing.product_id)
    .join(Organisation, Organisation.id == ProductListing.supplier_id)
    .where(
        ProductListing.starts_on <= sa.bindparam("on"),
        sa.or_(ProductListing.ends_on.is_(None), ProductListing.ends_on >= sa.bindparam("on")),
        sa.bindparam("region").startswith(ProductListing.region_prefix),
    )
)
_LISTED = _LISTED_ALL.where(~sa.exists().where(*_LISTING_BARS)).order_by(
    Product.generic_name, ProductListing.price, ProductListing.id
)
_LISTED_SOME = _LISTED.where(ProductListing.product_id.in_(sa.bindparam("products", expanding=True)))
_LISTED_BARRED = (
    _LISTED_ALL.with_only_columns(*_BARRED_COLUMNS)
    .join(SupplierSanction, sa.and_(*_LISTING_BARS))
    .where(ProductListing.product_id.in_(sa.bindparam("products", expanding=True)))
    .order_by(Product.id, SupplierSanction.id)
)


def _listed_rows(conn: sa.Connection, *, region: str, on: dt.date, product_ids: list[int] | None):
    params = {"on": on, "region": region}
    stmt = _LISTED if product_ids is None else _LISTED_SOME
    if product_ids is not None:
        params["products"] = product_ids
    seen: set[int] = set()
    for row in conn.execute(stmt, params).all():
        if row.product_id not in seen:  # the cheapest listing of a product for this region
            seen.add(row.product_id)
            yield row
