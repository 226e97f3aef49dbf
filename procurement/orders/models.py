"""Order-to-payment tables: orders and lines, shipments and their packs, receipts, listings and distributors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import Money, UTCDateTime, utcnow
from core.models import JSONType


class OrderStatus(StrEnum):
    SUBMITTED = "submitted"  # placed by the hospital, awaiting the supplier
    CONFIRMED = "confirmed"  # accepted by the supplier; shipments may follow
    REJECTED = "rejected"  # refused by the supplier, with a reason
    CANCELLED = "cancelled"  # withdrawn by the hospital before anything shipped
    SHIPPED = "shipped"  # every pack ordered has been shipped
    COMPLETED = "completed"  # every shipped pack has been received or refused


class PriceBasis(StrEnum):
    AWARDED = "awarded"  # the winning price of a tender the hospital takes part in (1.7.1)
    LISTED = "listed"  # the listing price (挂网价) of another product (1.4.1)


class ShipmentStatus(StrEnum):
    IN_TRANSIT = "in_transit"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"


class PackStatus(StrEnum):
    SHIPPED = "shipped"
    RECEIVED = "received"
    REFUSED = "refused"


class ProductListing(SQLModel, table=True):
    """A product listed for sale on the platform (挂网) at a price per pack, delivered by one supplier."""

    __tablename__ = "product_listings"
    __table_args__ = (sa.CheckConstraint("price > 0", name="price_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id", index=True, nullable=False)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    price: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # per pack, tax included
    region_prefix: str = Field(default="", sa_column=sa.Column(sa.String(6), nullable=False))  # "" = everywhere
    starts_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    ends_on: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class DistributorAssignment(SQLModel, table=True):
    """The distributor (配送企业) a winning manufacturer names to deliver its award to one hospital."""

    __tablename__ = "distributor_assignments"
    __table_args__ = (sa.UniqueConstraint("award_id", "hospital_id"),)

    id: int | None = Field(default=None, primary_key=True)
    award_id: int = Field(foreign_key="tender_awards.id", nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    distributor_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    assigned_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class PurchaseOrder(SQLModel, table=True):
    """A hospital's purchase order to one supplier, at awarded or listed prices only."""

    __tablename__ = "purchase_orders"
    __table_args__ = (
        sa.UniqueConstraint("hospital_id", "idempotency_key"),
        sa.CheckConstraint(f"status IN ({', '.join(repr(s.value) for s in OrderStatus)})", name="status"),
        sa.Index("ix_purchase_orders_supplier_id_status", "supplier_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    hospital_id: int = Field(foreign_key="organisations.id", nullable=False)  # led by the unique (hospital, key)
    supplier_id: int = Field(foreign_key="organisations.id", nullable=False)
    status: str = Field(default=OrderStatus.SUBMITTED.value, sa_column=sa.Column(sa.String(16), nullable=False))
    total_amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    note: str = Field(default="", sa_column=sa.Column(sa.String(500), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500)))  # rejection or cancellation
    idempotency_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))  # SHA-256 of the header
    request_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    placed_by_id: int | None = Field(default=None, foreign_key="users.id")
    placed_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    confirmed_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    closed_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class OrderLine(SQLModel, table=True):
    """One product on an order; the shipped, received and refused counts are kept under a row lock."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "line_no"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("shipped_qty >= 0 AND shipped_qty <= quantity", name="shipped_within_ordered"),
        sa.CheckConstraint("received_qty + refused_qty <= shipped_qty", name="received_within_shipped"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="purchase_orders.id", nullable=False)  # led by the unique (order, line_no)
    line_no: int = Field(nullable=False)
    product_id: int = Field(foreign_key="products.id", index=True, nullable=False)
    quantity: int = Field(nullable=False)  # packs
    unit_price: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # per pack, tax included
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    price_basis: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    award_id: int | None = Field(default=None, foreign_key="tender_awards.id", index=True)
    lot_id: int | None = Field(default=None, foreign_key="tender_lots.id", index=True)
    listing_id: int | None = Field(default=None, foreign_key="product_listings.id")
    # A non-winning product bought where a winning one of the same generic name was awarded (counts in 3.6).
    winning_product_id: int | None = Field(default=None, foreign_key="products.id")
    shipped_qty: int = Field(default=0, nullable=False)
    received_qty: int = Field(default=0, nullable=False)
    refused_qty: int = Field(default=0, nullable=False)


class Shipment(SQLModel, table=True):
    """One delivery against an order, with its delivery note (随货同行单) and the packs it carries."""

    __tablename__ = "shipments"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="purchase_orders.id", index=True, nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    delivery_note_number: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    status: str = Field(default=ShipmentStatus.IN_TRANSIT.value, sa_column=sa.Column(sa.String(24), nullable=False))
    pack_count: int = Field(nullable=False)
    idempotency_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    request_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    trace_batch_id: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    shipped_by_id: int | None = Field(default=None, foreign_key="users.id")
    shipped_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class ShipmentPack(SQLModel, table=True):
    """One sales-unit pack on a shipment; ``case_key`` is the case code it travelled in, if any."""

    __tablename__ = "shipment_packs"
    __table_args__ = (
        sa.UniqueConstraint("shipment_id", "item_id"),
        sa.Index("ix_shipment_packs_shipment_id_code_key", "shipment_id", "code_key"),
        sa.Index("ix_shipment_packs_shipment_id_case_key", "shipment_id", "case_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id", nullable=False)
    order_line_id: int = Field(foreign_key="purchase_order_lines.id", index=True, nullable=False)
    item_id: int = Field(foreign_key="trace_items.id", index=True, nullable=False)
    code_key: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    case_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    batch: str | None = Field(default=None, sa_column=sa.Column(sa.String(20)))
    expiry: dt.date | None = Field(default=None)
    status: str = Field(default=PackStatus.SHIPPED.value, sa_column=sa.Column(sa.String(16), nullable=False))
    receipt_id: int | None = Field(default=None, foreign_key="receipts.id")
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(300)))
    # A refused pack stays "refused"; when its supplier takes it back into stock (trace: the sender receives it back)
    # this records when. Refused and not yet taken back means the pack is still with the carrier.
    taken_back_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class Receipt(SQLModel, table=True):
    """A hospital's acceptance of (part of) a shipment; it starts the payment clock (rulebook 1.9.4)."""

    __tablename__ = "receipts"
    __table_args__ = (sa.UniqueConstraint("hospital_id", "idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id", index=True, nullable=False)
    order_id: int = Field(foreign_key="purchase_orders.id", index=True, nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    accepted_count: int = Field(nullable=False)
    refused_count: int = Field(nullable=False)
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # accepted packs at the order's prices
    due_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False, index=True))
    payment_rule: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    refusals: list[dict[str, Any]] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    idempotency_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    request_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    received_by_id: int | None = Field(default=None, foreign_key="users.id")
    received_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class OfflinePurchase(SQLModel, table=True):
    """A purchase made outside the platform, declared for the online-purchase share (rulebook 0.2)."""

    __tablename__ = "offline_purchases"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    month: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))  # first day of the month
    product_kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # drug / consumable
    product_id: int | None = Field(default=None, foreign_key="products.id")
    description: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    declared_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
