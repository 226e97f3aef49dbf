"""Supply tables: suppliers' monthly reports and production stops, and hospitals' supply-problem reports."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow


class SupplyReport(SQLModel, table=True):
    """A winner's monthly production, inventory and reserve report for one product (rulebook 1.8.2, 8.3)."""

    __tablename__ = "supply_reports"
    __table_args__ = (
        sa.UniqueConstraint("supplier_id", "product_id", "month"),
        sa.CheckConstraint("produced >= 0 AND inventory >= 0 AND reserve >= 0", name="non_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    product_id: int = Field(foreign_key="products.id", index=True, nullable=False)
    month: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))  # the month reported on, first day
    produced: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # packs
    inventory: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    reserve: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    due_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    late: bool = Field(default=False, nullable=False)
    submitted_by_id: int | None = Field(default=None, foreign_key="users.id")
    submitted_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class ProductionStop(SQLModel, table=True):
    """A notice that a product stops (or stopped) being produced (rulebook 8.1, 8.5)."""

    __tablename__ = "production_stops"

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    product_id: int = Field(foreign_key="products.id", index=True, nullable=False)
    stops_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    resumes_on: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    planned: bool = Field(nullable=False)
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    notice_days: int = Field(nullable=False)  # days between the notice and the stop (negative: reported late)
    reported_by_id: int | None = Field(default=None, foreign_key="users.id")
    reported_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class SupplyProblem(SQLModel, table=True):
    """A hospital's report of a supply problem against an order (rulebook 1.8.4)."""

    __tablename__ = "supply_problems"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="purchase_orders.id", index=True, nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    kind: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))  # late, short, stock_out, quality, other
    description: str = Field(sa_column=sa.Column(sa.String(1000), nullable=False))
    reported_by_id: int | None = Field(default=None, foreign_key="users.id")
    reported_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    resolved_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    resolution: str | None = Field(default=None, sa_column=sa.Column(sa.String(1000)))
