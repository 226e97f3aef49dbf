"""Surplus retention tables: the inputs the platform cannot know, and each computed result with its breakdown.

The budget of rule 3.1 needs three figures that come from the insurance bureau, not from purchases: the generic
name's weighted average price before the tender (集采前加权平均价格), the share of its use by insured patients of
the pooling region (参保患者使用量占比), and, in Sanming, the share of retained money each member unit of a medical
community gets from its general hospital (0.4). Results are stored with every term that produced them and the
parameter set used, so a figure can be explained and defended after the inputs change.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import Money, UTCDateTime, utcnow
from core.models import JSONType


class SurplusBaselinePrice(SQLModel, table=True):
    """A generic name's pre-tender weighted average price per comparable unit, for a tender and a region (3.1)."""

    __tablename__ = "surplus_baseline_prices"
    __table_args__ = (
        sa.UniqueConstraint("tender_id", "region_code", "generic_name", "unit"),
        sa.CheckConstraint("price > 0", name="price_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    # A region-code prefix: "350200" a city, "35" a province, "" every region of the tender (longest match wins).
    region_code: str = Field(sa_column=sa.Column(sa.String(6), nullable=False))
    generic_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    unit: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # the lot's comparable unit
    price: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # yuan per comparable unit
    source: str = Field(default="", sa_column=sa.Column(sa.String(300), nullable=False))
    entered_by_id: int | None = Field(default=None, foreign_key="users.id")
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class SurplusInsuredShare(SQLModel, table=True):
    """The share of a hospital's use of a generic name by insured patients of the pooling region (3.1)."""

    __tablename__ = "surplus_insured_shares"
    __table_args__ = (
        sa.UniqueConstraint("tender_id", "hospital_id", "generic_name"),
        # Money is a scaled integer on SQLite, so "≤ 1" is the service's check, not the database's.
        sa.CheckConstraint("share >= 0", name="share_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    generic_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    share: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    source: str = Field(default="", sa_column=sa.Column(sa.String(300), nullable=False))
    entered_by_id: int | None = Field(default=None, foreign_key="users.id")
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class SurplusMemberShare(SQLModel, table=True):
    """One member unit's fixed share of what its general hospital (总医院) retains (Sanming, 0.4).

    A general hospital's shares are replaced as a set and always sum to exactly 1; the general hospital may hold a
    share itself.
    """

    __tablename__ = "surplus_member_shares"
    __table_args__ = (
        sa.UniqueConstraint("general_hospital_id", "member_id"),
        sa.CheckConstraint("share > 0", name="share_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    general_hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    member_id: int = Field(foreign_key="organisations.id", nullable=False)
    share: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    entered_by_id: int | None = Field(default=None, foreign_key="users.id")
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class SurplusResult(SQLModel, table=True):
    """One hospital × generic name (lot) × agreement year of a tender cycle: budget, spending, score, retained."""

    __tablename__ = "surplus_results"
    __table_args__ = (
        sa.UniqueConstraint("agreed_volume_id", "year_start"),
        sa.Index("ix_surplus_results_hospital_id_year_start", "hospital_id", "year_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    lot_id: int = Field(foreign_key="tender_lots.id", nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", nullable=False)
    agreed_volume_id: int = Field(foreign_key="tender_agreed_volumes.id", nullable=False)
    generic_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    unit: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    year_start: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))  # the agreement year (1.6.1)
    year_end: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    measured_to: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))  # last day counted
    final: bool = Field(nullable=False)  # the whole agreement year was measured
    status: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))  # surplus.ResultStatus
    completion: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    score: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    tier: str | None = Field(default=None, sa_column=sa.Column(sa.String(8)))
    ratio: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    budget: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    spend: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    surplus_base: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    retained: Decimal = Field(default=Decimal(0), sa_column=sa.Column(Money, nullable=False))
    breakdown: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    rule: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    computed_by_id: int | None = Field(default=None, foreign_key="users.id")
    computed_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class SurplusAllocation(SQLModel, table=True):
    """The part of a result's retained money that one member unit of a medical community receives (0.4)."""

    __tablename__ = "surplus_allocations"
    __table_args__ = (sa.UniqueConstraint("result_id", "hospital_id"),)

    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("surplus_results.id", ondelete="CASCADE"), nullable=False)
    )
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    share: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    holds_remainder: bool = Field(default=False, nullable=False)  # the general hospital takes the rounding fen
