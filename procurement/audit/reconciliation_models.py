"""Two-invoice reconciliation tables: who counts as the manufacturer, distribution groups, remote areas, results.

The registers are what the rulebook leaves to the authorities (4.2 视同生产企业, 4.3 group transfers, 4.4 the remote
list of a province or prefecture); the results are what a reconciliation run found: one pay / hold verdict per
second invoice with its line-by-line explanation, and the violations with the ids of the rows behind them.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from core.models import JSONType


class EquivalentKind(StrEnum):
    # 4.2 (a): a wholly-owned or holding sales company of a manufacturer or group selling only its drugs.
    SALES_COMPANY = "sales_company"
    # 4.2 (b): the domestic general agent (国内总代理) of an imported drug's foreign manufacturer.
    IMPORT_AGENT = "import_agent"


class Verdict(StrEnum):
    PAY = "pay"
    HOLD = "hold"


def _values(enum: type) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)


class ManufacturerEquivalent(SQLModel, table=True):
    """A company treated as the manufacturer (视同生产企业, rulebook 4.2): one nationwide per principal and kind."""

    __tablename__ = "manufacturer_equivalents"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN ({_values(EquivalentKind)})", name="kind"),
        sa.CheckConstraint("org_id <> principal_org_id", name="not_itself"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period"),
        # The services refuse overlapping periods; these keep two racing registrations from both landing.
        sa.UniqueConstraint("org_id", "valid_from"),
        sa.UniqueConstraint("principal_org_id", "kind", "valid_from"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)  # the equivalent company
    # The manufacturer, or the group's holding company whose members' drugs it sells (Organisation.parent_id).
    principal_org_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    valid_from: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    valid_to: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))  # exclusive; None = open
    note: str = Field(default="", sa_column=sa.Column(sa.String(300), nullable=False))
    registered_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class DistributionGroup(SQLModel, table=True):
    """A distribution group whose wholly-owned or holding subsidiaries may transfer goods once (rulebook 4.3)."""

    __tablename__ = "distribution_groups"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, unique=True))
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class DistributionGroupMember(SQLModel, table=True):
    """A distributor in a group; a subsidiary is held by one group, so it belongs to one group only."""

    __tablename__ = "distribution_group_members"
    __table_args__ = (sa.UniqueConstraint("org_id"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="distribution_groups.id", index=True, nullable=False)
    org_id: int = Field(foreign_key="organisations.id", nullable=False)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class RemoteArea(SQLModel, table=True):
    """A region on a province's or prefecture's remote-area list (rulebook 4.4), by region-code prefix."""

    __tablename__ = "remote_areas"
    __table_args__ = (
        sa.UniqueConstraint("region_prefix", "valid_from"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # 2 digits: a province; 4: a prefecture; 6: a county (GB/T 2260). Hospitals whose region code starts with it.
    region_prefix: str = Field(sa_column=sa.Column(sa.String(6), nullable=False, index=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    listed_by: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))  # the authority and its document
    valid_from: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    valid_to: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class ReconciliationVerdict(SQLModel, table=True):
    """The latest pay / hold verdict on a second invoice, with every line's explanation and the rules used."""

    __tablename__ = "reconciliation_verdicts"
    __table_args__ = (sa.CheckConstraint(f"verdict IN ({_values(Verdict)})", name="verdict"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id", unique=True, nullable=False)
    shipment_id: int = Field(foreign_key="shipments.id", index=True, nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    seller_org_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    verdict: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    reasons: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    rule: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    period_start: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    period_end: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    computed_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class ReconciliationViolation(SQLModel, table=True):
    """One finding of a run; a re-run finds it again under the same key and only refreshes ``last_seen_at``."""

    __tablename__ = "reconciliation_violations"
    __table_args__ = (
        sa.UniqueConstraint("dedupe_key"),
        sa.Index("ix_reconciliation_violations_hospital_id_code", "hospital_id", "code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    code: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, index=True))
    severity: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    title: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    shipment_id: int | None = Field(default=None, foreign_key="shipments.id", index=True)
    hospital_id: int = Field(foreign_key="organisations.id", nullable=False)
    supplier_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    subject_org_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    product_id: int | None = Field(default=None, foreign_key="products.id")
    batch: str | None = Field(default=None, sa_column=sa.Column(sa.String(20)))
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id", index=True)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    rule: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    alert_id: int | None = Field(default=None, foreign_key="alerts.id")
    period_start: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    period_end: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    found_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    # Set when a later run over the same shipment no longer finds it (the missing invoice arrived, a register
    # changed); cleared if it is found again. The alert keeps its own review state.
    resolved_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
