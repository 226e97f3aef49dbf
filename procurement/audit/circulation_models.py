"""What circulation monitoring reads that the platform does not record itself: hospitals' monthly finance reports.

The out-of-catalogue share (rulebook 0.11) and the revenue structure (0.16) need a hospital's income by kind and its
insured spending inside and outside the insurance catalogue. No procurement record holds these, so hospitals (or the
auditors, from the hospitals' financial statements) upload one report per hospital and month. Findings themselves
are not stored here: they are alerts, and the indicators are recomputed from the reports on every request.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import Money, UTCDateTime, utcnow

# The amounts of a report, in the order forms and exports show them.
AMOUNT_FIELDS = (
    "service_income",  # 医疗服务收入
    "drug_income",  # 药品收入
    "consumable_income",  # 卫生材料（耗材）收入
    "test_income",  # 检查化验收入
    "insured_in_catalogue",  # 医保目录内费用
    "insured_out_of_catalogue",  # 医保目录外费用
)


class ReportSource:
    HOSPITAL = "hospital"
    AUDITOR = "auditor"


class HospitalFinanceReport(SQLModel, table=True):
    """One hospital's income by kind and its insured patients' spending for one month, in yuan."""

    __tablename__ = "hospital_finance_reports"
    __table_args__ = (
        sa.UniqueConstraint("hospital_id", "month"),
        sa.CheckConstraint(" AND ".join(f"{name} >= 0" for name in AMOUNT_FIELDS), name="non_negative"),
        sa.CheckConstraint("source IN ('hospital', 'auditor')", name="source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    month: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False, index=True))  # first day of the month
    service_income: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    drug_income: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    consumable_income: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    test_income: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    insured_in_catalogue: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    insured_out_of_catalogue: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    source: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # who uploaded it: hospital or auditor
    note: str = Field(default="", sa_column=sa.Column(sa.String(500), nullable=False))
    submitted_by_id: int | None = Field(default=None, foreign_key="users.id")
    submitted_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    updated_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))  # set when replaced
