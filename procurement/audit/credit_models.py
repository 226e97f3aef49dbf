"""Credit-rating tables: misconduct cases, their products, repairs, and the sanctions each case created (rulebook 6).

A case stores the level it was rated at and the threshold that decided it, so a rating can be explained later
even if the rule sets change. Ratings themselves are not stored: a supplier's current level is read from its
counting, un-repaired cases inside the window on the day asked (``procurement.audit.credit.ratings``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import Money, UTCDateTime, utcnow
from core.models import JSONType


class CreditCase(SQLModel, table=True):
    """One misconduct case (失信事项) of a supplier, from a judgment, penalty decision or audit finding (6.1)."""

    __tablename__ = "credit_cases"
    __table_args__ = (
        sa.UniqueConstraint("supplier_id", "category", "decision_number"),
        sa.CheckConstraint("rule_set_version IN ('2020', '2025')", name="rule_set_version"),
        sa.CheckConstraint("decision_date >= conduct_date", name="decided_after_conduct"),
        sa.CheckConstraint("single_amount IS NULL OR single_amount >= 0", name="single_amount"),
        sa.CheckConstraint("cumulative_amount IS NULL OR cumulative_amount >= 0", name="cumulative_amount"),
    )

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    # For a distributor, the manufacturer / MAH that actually controlled the conduct: disposal penetrates to it.
    controlling_org_id: int | None = Field(default=None, foreign_key="organisations.id")
    category: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    rule_set_version: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    conduct_date: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    decision_date: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    evidence_source: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    decision_number: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))  # 文书编号
    summary: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    single_amount: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    cumulative_amount: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    flags: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    documents: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    level: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    # Which threshold (or flag, or auditor's choice) decided the level, and the rule number it cites.
    basis: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    # The rating province: the first two digits of a region code (the recording bureau's, unless named).
    province: str = Field(sa_column=sa.Column(sa.String(2), nullable=False))
    # False when the conduct predates the system (6.4): kept on record, never rated or sanctioned.
    counts: bool = Field(default=True, nullable=False)
    excluded_reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    window_ends_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))  # first day it no longer counts
    recorded_by_id: int | None = Field(default=None, foreign_key="users.id")
    recorded_by_org_id: int | None = Field(default=None, foreign_key="organisations.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    # Credit repair (6.8): set when an auditor approves the completed measures; the level is cleared from then.
    repaired_on: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    repair_approved_by_id: int | None = Field(default=None, foreign_key="users.id")
    repair_note: str | None = Field(default=None, sa_column=sa.Column(sa.String(500)))


class CreditCaseProduct(SQLModel, table=True):
    """A product involved in a case (涉案药品): the scope of case-product disposals (6.7)."""

    __tablename__ = "credit_case_products"

    case_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("credit_cases.id", ondelete="CASCADE"), primary_key=True)
    )
    product_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("products.id"), primary_key=True))


class CreditRepair(SQLModel, table=True):
    """Corrective measures a firm reports for a case, each with its evidence (信用修复, 6.8)."""

    __tablename__ = "credit_repairs"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="credit_cases.id", index=True, nullable=False)
    # [{"measure": "stop_conduct", "evidence": "...", "documents": ["..."]}, ...]
    measures: list[dict[str, Any]] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    note: str = Field(default="", sa_column=sa.Column(sa.String(1000), nullable=False))
    submitted_by_id: int | None = Field(default=None, foreign_key="users.id")
    submitted_by_org_id: int | None = Field(default=None, foreign_key="organisations.id")
    submitted_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class CreditDisposal(SQLModel, table=True):
    """A supplier sanction created by a case, and its reach: case products everywhere, or all products in a province.

    ``supplier_sanctions`` has no region, so the province of an all-products disposal lives here and the listing
    check reads it (``procurement.audit.credit_scope``).
    """

    __tablename__ = "credit_disposals"
    __table_args__ = (
        sa.CheckConstraint("scope IN ('case_products', 'all_products_in_province')", name="scope"),
        sa.UniqueConstraint("sanction_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="credit_cases.id", index=True, nullable=False)
    sanction_id: int = Field(foreign_key="supplier_sanctions.id", nullable=False)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    scope: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    province: str | None = Field(default=None, sa_column=sa.Column(sa.String(2)))


def is_active(case: CreditCase, on: dt.date) -> bool:
    """Return whether a case rates its supplier on a day: counting, decided, inside the window, not repaired."""
    repaired = case.repaired_on is not None and case.repaired_on <= on
    return case.counts and case.decision_date <= on < case.window_ends_on and not repaired
