"""Money tables: invoices of the two-invoice chain with their lines, payments, and insurance prepayments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import Money, UTCDateTime, utcnow


class InvoiceKind(StrEnum):
    FIRST = "first"  # manufacturer (or its 视同生产企业) → distributor (rulebook 4.1)
    SECOND = "second"  # distributor → hospital; a manufacturer delivering itself issues only this one
    # Invoices between the first and the second, kept so that reconciliation can see the whole chain (rulebook 4.3,
    # 4.4): a transfer inside a distribution group, and any other extra hop (allowed once in remote areas).
    TRANSFER = "transfer"
    EXTRA = "extra"


INTERMEDIATE_KINDS = (InvoiceKind.TRANSFER.value, InvoiceKind.EXTRA.value)


class Invoice(SQLModel, table=True):
    """A VAT invoice uploaded against a shipment; its lines and totals are checked to add up."""

    __tablename__ = "invoices"
    __table_args__ = (
        sa.UniqueConstraint("seller_org_id", "number"),
        sa.CheckConstraint(f"kind IN ({', '.join(repr(k.value) for k in InvoiceKind)})", name="kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    number: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))  # 发票号码
    issued_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    seller_org_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    buyer_org_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    shipment_id: int = Field(foreign_key="shipments.id", index=True, nullable=False)
    order_id: int = Field(foreign_key="purchase_orders.id", index=True, nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # 金额, tax excluded
    tax: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # 税额
    total: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # 价税合计
    uploaded_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        sa.UniqueConstraint("invoice_id", "line_no"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id", index=True, nullable=False)
    line_no: int = Field(nullable=False)
    product_id: int = Field(foreign_key="products.id", nullable=False)
    batch: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    quantity: int = Field(nullable=False)
    unit_price: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # tax excluded
    tax_rate: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    tax: Decimal = Field(sa_column=sa.Column(Money, nullable=False))


class Payment(SQLModel, table=True):
    """Money a hospital paid against a second invoice."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint("hospital_id", "idempotency_key"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id", index=True, nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    payee_org_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    paid_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    reference: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False))  # bank reference
    idempotency_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    recorded_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class InsurancePrepayment(SQLModel, table=True):
    """The insurance fund's VBP prepayment to a hospital for one tender (rulebook 1.9.2), kept as its own ledger."""

    __tablename__ = "insurance_prepayments"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    received_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    annual_agreed_amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # at the time it was recorded
    recorded_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
