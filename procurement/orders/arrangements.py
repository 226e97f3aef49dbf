"""Standing arrangements around orders: a winner's distributors, listings (挂网), off-platform purchases, stock.

A winning manufacturer names the distributor (配送企业) that delivers its award to each hospital; orders go there.
Administrators list other products at a price for a region. Hospitals declare what they bought outside the
platform, so the online-purchase share (rulebook 0.2) can be computed by amount. Stock on hand is read from the
trace record: the packs a hospital holds, per product and batch.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, DomainError, invalid, not_found
from core.models import Organisation
from core.roles import OrgKind, Role
from procurement.audit.credit_scope import listing_sanction, supply_sanction
from procurement.catalogue import Product
from procurement.orders.models import DistributorAssignment, OfflinePurchase, ProductListing
from procurement.orders.ordering import HOSPITAL_ROLES
from procurement.orders.supply import china_today
from procurement.tenders.models import AgreedVolume, Award
from procurement.tenders.setup import money_value
from trace.models import Item, ItemStatus, TradeItem


def assign_distributor(
    session: Session,
    *,
    award_id: int,
    hospital_id: int,
    distributor_id: int,
    actor: Actor,
    on: dt.date | None = None,
) -> DistributorAssignment:
    """Name (or change) the distributor that delivers an award to one hospital, as the winning supplier.

    A distributor whose credit disposal bars it from supplying the product to that hospital on ``on`` (default:
    today in China) is refused (6.7). An assignment made earlier stays on record when a sanction starts later: the
    orders read the sanction by date (``buyable``), so delivery resumes once it ends.
    """
    award = session.get(Award, award_id)
    if award is None:
        raise not_found("Award", award_id)
    actor.require(Role.SUPPLIER_REP, org_id=award.supplier_id)
    volume = session.exec(
        sa.select(AgreedVolume).where(AgreedVolume.award_id == award.id, AgreedVolume.hospital_id == hospital_id)
    ).scalars()
    if volume.first() is None:
        raise invalid("hospital_id", f"hospital {hospital_id} has no agreed volume on this award")
    distributor = session.get(Organisation, distributor_id)
    if distributor is None or distributor.kind not in (OrgKind.DISTRIBUTOR.value, OrgKind.MANUFACTURER.value):
        raise invalid("distributor_id", f"organisation {distributor_id} is not a distributor")
    hospital = session.get(Organisation, hospital_id)
    sanction = supply_sanction(
        session,
        firm_ids=[distributor_id],
        product_id=award.product_id,
        region_code=hospital.region_code,
        on=on or china_today(utcnow()),
    )
    if sanction is not None:
        until = sanction.ends_on.isoformat() if sanction.ends_on else "further notice"
        message = f"suspended from distributing product {award.product_id} until {until} (rulebook {sanction.rule})"
        raise DomainError(
            CONFLICT,
            f"organisation {distributor_id} is {message}: {sanction.reason}",
            code="supplier_suspended",
            errors={"distributor_id": [message]},
        )
    stmt = sa.select(DistributorAssignment).where(
        DistributorAssignment.award_id == award.id, DistributorAssignment.hospital_id == hospital_id
    )
    row = session.exec(stmt).scalars().first()
    before = row.distributor_id if row else None
    if row is None:
        row = DistributorAssignment(award_id=award.id, hospital_id=hospital_id, distributor_id=distributor_id)
    row.distributor_id, row.assigned_by_id = distributor_id, actor.user_id
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="award.distributor_assigned",
        object_type="distributor_assignment",
        object_id=row.id,
        details={"award_id": award.id, "hospital_id": hospital_id, "distributor_id": distributor_id, "was": before},
    )
    return row


def create_listing(
    session: Session,
    *,
    product_id: int,
    supplier_id: int,
    price: Decimal,
    starts_on: dt.date,
    actor: Actor,
    region_prefix: str = "",
    ends_on: dt.date | None = None,
) -> ProductListing:
    """List a product for sale at a price per pack, delivered by a supplier (administrators and organisers)."""
    actor.require(Role.ADMIN, Role.ORGANISER)
    if session.get(Product, product_id) is None:
        raise invalid("product_id", f"product {product_id} is not in the catalogue")
    supplier = session.get(Organisation, supplier_id)
    if supplier is None or supplier.kind not in (OrgKind.DISTRIBUTOR.value, OrgKind.MANUFACTURER.value):
        raise invalid("supplier_id", f"organisation {supplier_id} is not a supplier")
    amount = money_value("price", price)
    if amount <= 0:
        raise invalid("price", "must be above zero")
    if not (region_prefix == "" or (region_prefix.isdigit() and len(region_prefix) <= 6)):
        raise invalid("region_prefix", "up to 6 digits of a region code, or empty for everywhere")
    if ends_on is not None and ends_on < starts_on:
        raise invalid("ends_on", "ends before it starts")
    sanction = listing_sanction(
        session, supplier_id=supplier_id, product_id=product_id, region_prefix=region_prefix, on=starts_on
    )
    if sanction is not None:  # a suspended firm may not list (rulebook 1.8.1, 6.7)
        until = sanction.ends_on.isoformat() if sanction.ends_on else "further notice"
        raise DomainError(
            CONFLICT,
            f"organisation {sanction.supplier_id} is suspended from listing until {until} "
            f"(rulebook {sanction.rule}): {sanction.reason}",
            code="supplier_suspended",
            errors={"supplier_id": [f"suspended under rule {sanction.rule} until {until}"]},
        )
    listing = ProductListing(
        product_id=product_id,
        supplier_id=supplier_id,
        price=amount,
        region_prefix=region_prefix,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    session.add(listing)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="listing.created",
        object_type="product_listing",
        object_id=listing.id,
        details={"product_id": product_id, "price": str(amount), "region_prefix": region_prefix},
    )
    return listing


def declare_offline_purchase(
    session: Session,
    *,
    hospital_id: int,
    month: dt.date,
    product_kind: str,
    description: str,
    amount: Decimal,
    reason: str,
    actor: Actor,
    product_id: int | None = None,
    today: dt.date | None = None,
) -> OfflinePurchase:
    """Declare a purchase made outside the platform, for the online-purchase share (rulebook 0.2)."""
    actor.require(*HOSPITAL_ROLES, org_id=hospital_id)
    if product_kind not in ("drug", "consumable"):
        raise invalid("product_kind", "drug or consumable")
    first = month.replace(day=1)
    if today is not None and first > today:
        raise invalid("month", "a purchase cannot be declared for a future month")
    value = money_value("amount", amount)
    if value <= 0:
        raise invalid("amount", "must be above zero")
    for field, text in (("description", description), ("reason", reason)):
        if not text or not text.strip():
            raise invalid(field, "required")
    if product_id is not None and session.get(Product, product_id) is None:
        raise invalid("product_id", f"product {product_id} is not in the catalogue")
    row = OfflinePurchase(
        hospital_id=hospital_id,
        month=first,
        product_kind=product_kind,
        product_id=product_id,
        description=description.strip()[:300],
        amount=value,
        reason=reason.strip()[:500],
        declared_by_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="offline_purchase.declared",
        object_type="offline_purchase",
        object_id=row.id,
        details={"month": first.isoformat(), "amount": str(value), "kind": product_kind},
    )
    return row


def list_offline_purchases(session: Session, *, actor: Actor, hospital_id: int | None = None) -> list[OfflinePurchase]:
    """Return declared off-platform purchases: a hospital its own, auditors any hospital's."""
    if not actor.has(Role.AUDITOR, Role.ADMIN) and not actor.is_system:
        actor.require(*HOSPITAL_ROLES)
        hospital_id = actor.org_id
    stmt = sa.select(OfflinePurchase)
    if hospital_id is not None:
        stmt = stmt.where(OfflinePurchase.hospital_id == hospital_id)
    return list(session.exec(stmt.order_by(OfflinePurchase.month.desc(), OfflinePurchase.id.desc())).scalars())


def stock_on_hand(session: Session, *, hospital_id: int, actor: Actor) -> list[dict]:
    """Return the packs a hospital holds per product and batch, from the trace record."""
    if not (actor.is_system or actor.has(Role.AUDITOR, Role.ADMIN)):
        actor.require(*HOSPITAL_ROLES, org_id=hospital_id)
    held = (ItemStatus.ACTIVE.value, ItemStatus.PARTIAL.value)
    stmt = (
        sa.select(
            TradeItem.catalogue_ref,
            Item.batch,
            sa.func.min(Item.expiry),
            sa.func.count(),
            sa.func.sum(TradeItem.pack_size - Item.dispensed_units),
        )
        .join(TradeItem, TradeItem.id == Item.trade_item_id)
        .where(Item.custodian_org_id == hospital_id, Item.status.in_(held), TradeItem.level == 1)
        .group_by(TradeItem.catalogue_ref, Item.batch)
        .order_by(TradeItem.catalogue_ref, Item.batch)
    )
    rows = session.execute(stmt).all()
    names = {p.id: p for p in session.exec(sa.select(Product).where(Product.id.in_({r[0] for r in rows}))).scalars()}
    return [
        {
            "product_id": product_id,
            "generic_name": names[product_id].generic_name if product_id in names else None,
            "package_spec": names[product_id].package_spec if product_id in names else None,
            "batch": batch,
            "expiry": expiry,
            "packs": int(packs),
            "units": int(units or 0),
        }
        for product_id, batch, expiry, packs, units in rows
    ]


def list_listings(session: Session, *, product_id: int | None = None) -> list[ProductListing]:
    """Return product listings (public to every signed-in user, like the catalogue)."""
    stmt = sa.select(ProductListing)
    if product_id is not None:
        stmt = stmt.where(ProductListing.product_id == product_id)
    return list(session.exec(stmt.order_by(ProductListing.product_id, ProductListing.id)).scalars())


def list_assignments(session: Session, *, award_id: int, actor: Actor) -> list[DistributorAssignment]:
    """Return the distributors named for an award: to its supplier, the named distributors' and auditors."""
    award = session.get(Award, award_id)
    if award is None:
        raise not_found("Award", award_id)
    stmt = sa.select(DistributorAssignment).where(DistributorAssignment.award_id == award_id)
    rows = list(session.exec(stmt.order_by(DistributorAssignment.hospital_id)).scalars())
    if actor.is_system or actor.has(Role.AUDITOR, Role.ADMIN, Role.ORGANISER) or actor.org_id == award.supplier_id:
        return rows
    return [row for row in rows if actor.org_id in (row.hospital_id, row.distributor_id)]
