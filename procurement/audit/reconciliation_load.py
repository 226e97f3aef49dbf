"""Load the reconciliation frames of a period from the database with Core selects, never ORM objects.

A shipment is in the period when one of its receipts, invoices or payments falls in it; all of its packs, invoices
and payments are loaded, so a chain is always judged whole. Money comes back as ``Decimal`` and is turned into
integer fen here, exactly, before the vectorised core sees it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from core.models import Organisation
from core.roles import OrgKind
from procurement.audit.reconciliation_frames import Frames, conform, empty
from procurement.audit.reconciliation_models import DistributionGroupMember, ManufacturerEquivalent, RemoteArea
from procurement.catalogue import Product
from procurement.orders.invoice_checks import to_fen
from procurement.orders.models import OrderLine, PackStatus, ProductListing, Receipt, Shipment, ShipmentPack
from procurement.orders.money_models import Invoice, InvoiceLine, Payment
from procurement.orders.progress import day_bounds
from procurement.tenders.models import Award


def scope(start: dt.date, end: dt.date) -> sa.Subquery:
    """Return the ids of the shipments with a receipt, an invoice or a payment in [start, end) (China days)."""
    low, high = day_bounds(start, end - dt.timedelta(days=1))
    received = sa.select(Receipt.shipment_id).where(Receipt.received_at >= low, Receipt.received_at < high)
    invoiced = sa.select(Invoice.shipment_id).where(Invoice.issued_on >= start, Invoice.issued_on < end)
    paid = (
        sa.select(Invoice.shipment_id)
        .join(Payment, Payment.invoice_id == Invoice.id)
        .where(Payment.paid_on >= start, Payment.paid_on < end)
    )
    return sa.union(received, invoiced, paid).subquery("scope")


def _read(session: Session, stmt: sa.Select) -> pd.DataFrame:
    return pd.read_sql(stmt, session.connection(), coerce_float=False)  # money stays Decimal


def _fen(values: pd.Series) -> pd.Series:
    return values.map(lambda v: int(to_fen(Decimal(v)) * 100)).astype("int64")


def _naive(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.tz_localize(None)


def load_frames(session: Session, *, start: dt.date, end: dt.date) -> Frames:
    """Return the frames of every shipment touched in [start, end)."""
    ids = sa.select(scope(start, end).c.shipment_id)
    lines = _read(
        session,
        sa.select(
            InvoiceLine.id.label("line_id"), InvoiceLine.invoice_id, Invoice.kind, Invoice.seller_org_id,
            Invoice.buyer_org_id, Invoice.shipment_id, InvoiceLine.product_id, InvoiceLine.batch,
            InvoiceLine.quantity, InvoiceLine.unit_price, InvoiceLine.tax_rate,
        )
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(Invoice.shipment_id.in_(ids)),
    )  # fmt: skip
    if len(lines):
        tax_included = [to_fen(u * (1 + t)) for u, t in zip(lines["unit_price"], lines["tax_rate"], strict=True)]
        lines["price_fen"] = _fen(pd.Series(tax_included, index=lines.index))
    else:
        lines["price_fen"] = pd.Series(dtype="int64")
    received = sa.case((ShipmentPack.status == PackStatus.RECEIVED.value, 1), else_=0)
    refused = sa.case((ShipmentPack.status == PackStatus.REFUSED.value, 1), else_=0)
    packs = _read(
        session,
        sa.select(
            ShipmentPack.shipment_id, ShipmentPack.order_line_id, OrderLine.product_id,
            sa.func.coalesce(ShipmentPack.batch, "").label("batch"), sa.func.count().label("shipped"),
            sa.func.sum(received).label("received"), sa.func.sum(refused).label("refused"),
            sa.func.max(Receipt.received_at).label("received_on"),
        )
        .join(OrderLine, OrderLine.id == ShipmentPack.order_line_id)
        .outerjoin(Receipt, sa.and_(Receipt.id == ShipmentPack.receipt_id, ShipmentPack.status == "received"))
        .where(ShipmentPack.shipment_id.in_(ids))
        .group_by(ShipmentPack.shipment_id, ShipmentPack.order_line_id, OrderLine.product_id, ShipmentPack.batch),
    )  # fmt: skip
    packs["received_on"] = _naive(packs["received_on"])
    supplier = sa.orm.aliased(Organisation)
    hospital = sa.orm.aliased(Organisation)
    shipments = _read(
        session,
        sa.select(
            Shipment.id.label("shipment_id"), Shipment.hospital_id, Shipment.supplier_id,
            (supplier.kind == OrgKind.MANUFACTURER.value).label("supplier_is_maker"), hospital.region_code,
            Shipment.shipped_at.label("shipped_on"),
        )
        .join(supplier, supplier.id == Shipment.supplier_id)
        .join(hospital, hospital.id == Shipment.hospital_id)
        .where(Shipment.id.in_(ids)),
    )  # fmt: skip
    shipments["shipped_on"] = _naive(shipments["shipped_on"])
    shipments["supplier_is_maker"] = shipments["supplier_is_maker"].astype(bool)
    shipments["remote"] = _remote(session, shipments)
    order_lines = _read(
        session,
        sa.select(
            OrderLine.id.label("order_line_id"), OrderLine.quantity, OrderLine.unit_price,
            sa.func.coalesce(Award.unit_price, ProductListing.price, OrderLine.unit_price).label("award_price"),
        )
        .outerjoin(Award, Award.id == OrderLine.award_id)
        .outerjoin(ProductListing, ProductListing.id == OrderLine.listing_id)
        .where(OrderLine.order_id.in_(sa.select(Shipment.order_id).where(Shipment.id.in_(ids)))),
    )  # fmt: skip
    order_lines["price_fen"] = _fen(order_lines["unit_price"])
    order_lines["award_price_fen"] = _fen(order_lines["award_price"])
    invoices = _read(
        session,
        sa.select(
            Invoice.id.label("invoice_id"), Invoice.kind, Invoice.seller_org_id, Invoice.shipment_id, Invoice.total
        ).where(Invoice.shipment_id.in_(ids)),
    )
    invoices["total_fen"] = _fen(invoices["total"])
    payments = _read(
        session,
        sa.select(
            Payment.id.label("payment_id"), Payment.invoice_id, Payment.hospital_id, Payment.payee_org_id,
            Payment.amount,
        )
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(Invoice.shipment_id.in_(ids)),
    )  # fmt: skip
    payments["amount_fen"] = _fen(payments["amount"])
    return Frames(
        lines=conform("lines", lines),
        packs=conform("packs", packs),
        shipments=conform("shipments", shipments),
        order_lines=conform("order_lines", order_lines),
        invoices=conform("invoices", invoices),
        payments=conform("payments", payments),
        makers=_makers(session, set(lines["product_id"]) | set(packs["product_id"])),
        equivalents=_equivalents(session, start, end),
        groups=conform(
            "groups",
            _read(session, sa.select(DistributionGroupMember.org_id, DistributionGroupMember.group_id)),
        ),
    )


def _in_force(model, start: dt.date, end: dt.date):
    return sa.and_(model.valid_from < end, sa.or_(model.valid_to.is_(None), model.valid_to > start))


def _utc_instant(moment: dt.datetime) -> pd.Timestamp:
    return pd.Timestamp(moment).tz_convert("UTC").tz_localize(None)  # as ``shipped_on`` holds it


def _remote(session: Session, shipments: pd.DataFrame) -> pd.Series:
    """Return whether each shipment's hospital was on the remote-area list on the day it shipped (rulebook 4.4)."""
    # The list's dates are calendar days in China: a shipment at 07:30 Beijing time on the day a listing starts is
    # covered by it, although the day before in UTC. ``shipped_on`` holds UTC instants, so compare with the instants
    # that open and close the listing's days.
    areas = session.exec(sa.select(RemoteArea.region_prefix, RemoteArea.valid_from, RemoteArea.valid_to)).all()
    remote = pd.Series(False, index=shipments.index)
    shipped = shipments["shipped_on"]
    for prefix, valid_from, valid_to in areas:
        in_force = shipped >= _utc_instant(day_bounds(valid_from, valid_from)[0])
        if valid_to is not None:
            in_force &= shipped < _utc_instant(day_bounds(valid_to, valid_to)[0])
        remote |= shipments["region_code"].astype(str).str.startswith(prefix) & in_force
    return remote


def _makers(session: Session, product_ids: set[int]) -> pd.DataFrame:
    if not product_ids:
        return empty("makers")
    maker = sa.orm.aliased(Organisation)
    frame = _read(
        session,
        sa.select(
            Product.id.label("product_id"), Product.manufacturer_id, Product.mah_id,
            maker.parent_id.label("group_org_id"),
        )
        .join(maker, maker.id == Product.manufacturer_id)
        .where(Product.id.in_(sorted(int(p) for p in product_ids))),
    )  # fmt: skip
    return conform("makers", frame.fillna({"mah_id": -1, "group_org_id": -1}))


def _equivalents(session: Session, start: dt.date, end: dt.date) -> pd.DataFrame:
    stmt = sa.select(ManufacturerEquivalent.org_id, ManufacturerEquivalent.principal_org_id).where(
        _in_force(ManufacturerEquivalent, start, end)
    )
    return conform("equivalents", _read(session, stmt))
