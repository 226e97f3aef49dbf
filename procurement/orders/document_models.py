"""Documents filed with a shipment: the delivery note (随货同行单) and the invoices' original files, as uploaded."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow


class DocumentKind(StrEnum):
    DELIVERY_NOTE = "delivery_note"  # 随货同行单, signed or stamped copy
    INVOICE = "invoice"  # the original invoice file (PDF or OFD e-invoice, or a scan) of a recorded invoice
    OTHER = "other"  # e.g. a test report (检验报告) travelling with the goods


class ShipmentDocument(SQLModel, table=True):
    """One file attached to a shipment. The bytes are kept as uploaded; ``sha256`` identifies them, so the same file
    attached twice to one shipment is one document (an upload retried after a lost response adds nothing)."""

    __tablename__ = "shipment_documents"
    __table_args__ = (
        sa.UniqueConstraint("shipment_id", "sha256"),
        sa.CheckConstraint("kind IN ('delivery_note', 'invoice', 'other')", name="kind"),
        sa.CheckConstraint("size > 0", name="size_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id", nullable=False)  # led by the unique (shipment, sha256)
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id")
    filename: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    media_type: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    size: int = Field(nullable=False)
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    content: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))  # listings never select it
    uploaded_by_id: int | None = Field(default=None, foreign_key="users.id")
    uploaded_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
