"""Tender tables: batches, lots and their specification table, demand reports, sealed bids, outcomes, awards."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import Money, UTCDateTime, utcnow
from core.models import JSONType


class TenderKind(StrEnum):
    NATIONAL_VBP = "national_vbp"  # 国家组织集采 (rulebook 1)
    ALLIANCE = "alliance"  # 省际/三明联盟 (rulebook 2)
    HOSPITAL_LED = "hospital_led"  # 药共体: a lead hospital negotiates for a group (rulebook 0.6)


class TenderStatus(StrEnum):
    DRAFT = "draft"
    DEMAND_COLLECTION = "demand_collection"
    BIDDING = "bidding"
    OPENED = "opened"
    EVALUATED = "evaluated"
    AWARDED = "awarded"
    IN_FORCE = "in_force"
    CLOSED = "closed"


class BidStatus(StrEnum):
    SEALED = "sealed"
    OPENED = "opened"


def _enum_check(column: str, enum: type[StrEnum]) -> sa.CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return sa.CheckConstraint(f"{column} IN ({values})", name=column)


class Tender(SQLModel, table=True):
    """A procurement batch run by an organiser under a named rule set, frozen when bidding opens."""

    __tablename__ = "tenders"
    __table_args__ = (_enum_check("kind", TenderKind), _enum_check("status", TenderStatus))

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    description: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    status: str = Field(default=TenderStatus.DRAFT.value, sa_column=sa.Column(sa.String(24), nullable=False))
    organiser_org_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    rule_set_name: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    rule_set_version: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    overrides: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    # The rule set in force, copied in when bidding opens; later edits to the catalogue of rules cannot touch it.
    frozen_rules: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONType))
    # Which hospitals take part: those whose region code starts with this prefix ("" = everywhere), and how many
    # leading digits of a region code make one supply region when winners choose regions (rulebook 1.5.1).
    region_prefix: str = Field(default="", sa_column=sa.Column(sa.String(6), nullable=False))
    supply_region_digits: int = Field(default=4, nullable=False)
    demand_deadline: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    bid_deadline: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    # The tender's sealing key: the public half in clear, the private half encrypted under the opening passphrase.
    key_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    public_key: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    encrypted_private_key: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    opened_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    evaluated_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    published_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    cycle_start: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    cycle_end: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    # The payment deadline of this batch's documents (rulebook 1.9.4); None = the platform's order rules.
    payment_terms: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONType))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class Lot(SQLModel, table=True):
    """One product group (同品种) with its maximum valid bid price in unit comparable terms (rulebook 1.2)."""

    __tablename__ = "tender_lots"
    __table_args__ = (
        sa.UniqueConstraint("tender_id", "number"),
        sa.CheckConstraint("ceiling_ucp > 0", name="ceiling_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    number: int = Field(nullable=False)
    generic_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    dosage_form: str = Field(sa_column=sa.Column(sa.String(50), nullable=False))
    reference_strength: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))  # 代表品规格
    unit: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    ceiling_ucp: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # 最高有效申报价 per comparable unit
    category: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))  # rules.types.LotCategory
    dosage_class: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))  # rules.types.DosageClass


class LotProduct(SQLModel, table=True):
    """A product that may be reported and bid in a lot, with its specification-difference factor (差比价, 1.2.3).

    ``spec_factor`` converts one smallest unit of this product into reference units: the unit comparable price is
    ``price per pack ÷ pack quantity ÷ spec_factor``.
    """

    __tablename__ = "tender_lot_products"
    __table_args__ = (sa.UniqueConstraint("lot_id", "product_id"), sa.CheckConstraint("spec_factor > 0", name="factor"))

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(foreign_key="tender_lots.id", index=True, nullable=False)
    product_id: int = Field(foreign_key="products.id", index=True, nullable=False)
    spec_factor: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    group: str | None = Field(default=None, sa_column=sa.Column("bid_group", sa.String(8)))  # Sanming A/B (2.4)
    # Filled at award (rulebook 1.10): the insurance payment standard per pack and the rule that set it.
    payment_standard: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    payment_rule: str | None = Field(default=None, sa_column=sa.Column(sa.String(32)))


class DemandReport(SQLModel, table=True):
    """A hospital's reported annual demand (报量) for a lot, by generic name or by brand (rulebook 1.1.7)."""

    __tablename__ = "tender_demand_reports"
    __table_args__ = (
        sa.UniqueConstraint("lot_id", "hospital_id", "brand_key"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    lot_id: int = Field(foreign_key="tender_lots.id", index=True, nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    product_id: int | None = Field(default=None, foreign_key="products.id")  # the brand, or None = generic name
    brand_key: int = Field(default=0, nullable=False)  # product_id or 0, so "generic" is unique too
    quantity: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # comparable units per year
    historical_use: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    exception_reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500)))
    flags: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    reported_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class Bid(SQLModel, table=True):
    """A sealed bid: the price travels only inside ``ciphertext`` until the organiser opens the tender."""

    __tablename__ = "tender_bids"
    __table_args__ = (sa.UniqueConstraint("lot_id", "supplier_id"), _enum_check("status", BidStatus))

    id: int | None = Field(default=None, primary_key=True)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    lot_id: int = Field(foreign_key="tender_lots.id", index=True, nullable=False)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    product_id: int = Field(foreign_key="products.id", nullable=False)
    status: str = Field(default=BidStatus.SEALED.value, sa_column=sa.Column(sa.String(16), nullable=False))
    ciphertext: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    commitment: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    ciphertext_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    receipt: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    idempotency_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))  # SHA-256 of the header
    # The request made under that key, as a keyed HMAC (bidding.request_digest) so it gives the sealed price away
    # to no one: a retry must match it. None for bids without a key and for those stored before it existed.
    request_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    submitted_by: int | None = Field(default=None, foreign_key="users.id")
    submitted_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    # Known only after opening.
    price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))  # per pack
    ucp: Decimal | None = Field(default=None, sa_column=sa.Column(Money))  # unit comparable price
    opened_payload: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONType))
    revival_accepted_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class BidOutcome(SQLModel, table=True):
    """The evaluation's verdict on one bid and the rule that decided it; replaced by each evaluation round."""

    __tablename__ = "tender_bid_outcomes"

    id: int | None = Field(default=None, primary_key=True)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    lot_id: int = Field(foreign_key="tender_lots.id", index=True, nullable=False)
    bid_id: int = Field(foreign_key="tender_bids.id", unique=True, nullable=False)
    round: int = Field(nullable=False)
    outcome: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    rule: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    reason_code: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    reason_params: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    rank: int | None = Field(default=None)
    award_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))  # comparable-unit price it wins at
    offer_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    may_choose_regions: bool = Field(default=True, nullable=False)


class Award(SQLModel, table=True):
    """A winner of a lot: its rank, price, regions and, for hospital-led tenders, the saving per unit (0.6)."""

    __tablename__ = "tender_awards"
    __table_args__ = (sa.UniqueConstraint("lot_id", "bid_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    lot_id: int = Field(foreign_key="tender_lots.id", index=True, nullable=False)
    bid_id: int = Field(foreign_key="tender_bids.id", nullable=False)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    product_id: int = Field(foreign_key="products.id", index=True, nullable=False)
    rank: int = Field(nullable=False)
    award_ucp: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # winning comparable-unit price
    unit_price: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # price per pack hospitals pay
    ceiling_ucp: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    difference_per_unit: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # ceiling − award (0.6)
    regions: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    backup_regions: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    revived: bool = Field(default=False, nullable=False)
    cycle_start: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))  # 采购周期 (rulebook 1.6)
    cycle_end: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))


class AgreedVolume(SQLModel, table=True):
    """One hospital's agreed volume for one lot, and who supplies it (rulebook 1.4, 1.5)."""

    __tablename__ = "tender_agreed_volumes"
    __table_args__ = (sa.UniqueConstraint("lot_id", "hospital_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tender_id: int = Field(foreign_key="tenders.id", index=True, nullable=False)
    lot_id: int = Field(foreign_key="tender_lots.id", index=True, nullable=False)
    hospital_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    award_id: int = Field(foreign_key="tender_awards.id", nullable=False)
    backup_award_id: int | None = Field(default=None, foreign_key="tender_awards.id")
    region: str = Field(sa_column=sa.Column(sa.String(6), nullable=False))
    reported_base: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    agreed_volume: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    basis: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))


class SupplierSanction(SQLModel, table=True):
    """A bar on a supplier taking part: the VBP violation list (1.8.1) or a credit-rating disposal (6.7)."""

    __tablename__ = "supplier_sanctions"

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    product_id: int | None = Field(default=None, foreign_key="products.id")  # None = all the firm's products
    rule: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # e.g. "1.8.1", "6.7"
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    starts_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    ends_on: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    # Where it bars: tenders and listings whose region overlaps this prefix ("" = everywhere), e.g. a credit
    # disposal of all products in the rating province (6.7).
    region_prefix: str = Field(
        default="", sa_column=sa.Column(sa.String(6), nullable=False, server_default=sa.text("''"))
    )
