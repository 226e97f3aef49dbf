"""Tables of the traceability core: trade items, packs, events, capture batches, organisation keys, the ledger."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from core.models import JSONType


class ItemStatus(StrEnum):
    ACTIVE = "active"  # in its custodian's stock
    IN_TRANSIT = "in_transit"  # shipped, awaiting receipt by ``pending_org_id``
    PARTIAL = "partial"  # split pack (拆零) with units left
    DISPENSED = "dispensed"  # sold or dispensed in full
    RETURNED = "returned"  # returned by the patient after dispensing: never dispensed again
    DESTROYED = "destroyed"


class EventType(StrEnum):
    COMMISSION = "commission"
    AGGREGATE = "aggregate"
    DISAGGREGATE = "disaggregate"
    SHIP = "ship"
    RECEIVE = "receive"
    DISPENSE = "dispense"
    RETURN = "return"
    RECALL = "recall"
    DESTROY = "destroy"
    UNDO = "undo"


class TradeItem(SQLModel, table=True):
    """A registered product at one packaging level: the "three codes in one" mapping (rulebook 5.4.3)."""

    __tablename__ = "trade_items"
    __table_args__ = (
        sa.CheckConstraint("level IN (1, 2, 3)", name="level"),
        sa.CheckConstraint("pack_size > 0", name="pack_size_positive"),
        sa.CheckConstraint("product_id IS NOT NULL OR gtin IS NOT NULL", name="has_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    product_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(7), unique=True))  # 20-digit codes
    gtin: str | None = Field(default=None, sa_column=sa.Column(sa.String(14), unique=True))  # GS1 codes
    name: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    level: int = Field(default=1, nullable=False)  # rulebook 5.4.1: 1 = 小码 (sales unit), 2 = 中码, 3 = 大码
    pack_size: int = Field(nullable=False)  # smallest units (片, 支 …) per pack at this level
    unit: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    insurance_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), index=True))
    commodity_barcode: str | None = Field(default=None, sa_column=sa.Column(sa.String(14)))
    holder_org_id: int = Field(foreign_key="organisations.id", nullable=False)  # MAH or importer
    catalogue_ref: int | None = Field(default=None, index=True)  # the procurement catalogue's product id
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class Item(SQLModel, table=True):
    """One physical pack (or case) identified by its trace code."""

    __tablename__ = "trace_items"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({', '.join(repr(s.value) for s in ItemStatus)})", name="status"),
        sa.CheckConstraint("dispensed_units >= 0", name="dispensed_units_non_negative"),
        sa.Index("ix_trace_items_custodian_org_id_status", "custodian_org_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code_key: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))  # "<kind>:<key>"
    code_text: str = Field(sa_column=sa.Column(sa.String(120), nullable=False))  # human form
    trade_item_id: int = Field(foreign_key="trade_items.id", nullable=False, index=True)
    serial: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    batch: str | None = Field(default=None, sa_column=sa.Column(sa.String(20)))
    expiry: dt.date | None = Field(default=None)
    parent_id: int | None = Field(default=None, foreign_key="trace_items.id", index=True)
    custodian_org_id: int = Field(foreign_key="organisations.id", nullable=False)
    pending_org_id: int | None = Field(default=None, foreign_key="organisations.id")
    status: str = Field(default=ItemStatus.ACTIVE.value, sa_column=sa.Column(sa.String(16), nullable=False))
    dispensed_units: int = Field(default=0, nullable=False)
    recalled: bool = Field(default=False, nullable=False)  # recall is a flag: a recalled pack still moves back
    last_leaf_hash: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary(32)))
    commissioned_at: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))


class CaptureBatch(SQLModel, table=True):
    """A client's batch of events: the idempotency record and the proof of who attested it."""

    __tablename__ = "capture_batches"
    __table_args__ = (sa.UniqueConstraint("org_id", "client_batch_id"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisations.id", nullable=False)
    client_batch_id: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    request_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    accepted: bool = Field(nullable=False)
    event_count: int = Field(nullable=False)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    signature: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    signing_key_id: int | None = Field(default=None, foreign_key="org_signing_keys.id")
    created_by_user_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class OrgSigningKey(SQLModel, table=True):
    """An organisation's Ed25519 public key for signing capture batches."""

    __tablename__ = "org_signing_keys"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    public_key: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))  # raw key, hex
    registered_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class TraceEvent(SQLModel, table=True):
    """An accepted event, queryable; its canonical bytes live in the ledger entry it points to."""

    __tablename__ = "trace_events"
    __table_args__ = (
        sa.CheckConstraint(f"type IN ({', '.join(repr(t.value) for t in EventType)})", name="type"),
        sa.Index("ix_trace_events_item_id_id", "item_id", "id"),
        sa.Index("ix_trace_events_org_id_at", "org_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="capture_batches.id", nullable=False, index=True)
    item_id: int = Field(foreign_key="trace_items.id", nullable=False)
    type: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    org_id: int = Field(foreign_key="organisations.id", nullable=False)
    at: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    to_org_id: int | None = Field(default=None, foreign_key="organisations.id")
    quantity: int | None = Field(default=None)
    patient_ref: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))  # keyed pseudonym only
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    ledger_index: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, unique=True))


class LedgerEntry(SQLModel, table=True):
    """One log entry: canonical JSON bytes, their RFC 6962 leaf hash, and the item chain link inside the bytes."""

    __tablename__ = "ledger_entries"

    idx: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    item_key: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, index=True))
    entry: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    leaf_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))


class LedgerNode(SQLModel, table=True):
    """A complete, power-of-two-aligned subtree hash (level ≥ 1), so proofs need O(log n) look-ups."""

    __tablename__ = "ledger_nodes"

    level: int = Field(sa_column=sa.Column(sa.SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))


class LedgerHead(SQLModel, table=True):
    """The single row that serialises appends: the log size and the appender's border hashes."""

    __tablename__ = "ledger_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(default=1, primary_key=True)
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    border: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))


class Checkpoint(SQLModel, table=True):
    """A signed tree head: tree size, root and time, signed with the platform's Ed25519 key."""

    __tablename__ = "ledger_checkpoints"

    tree_size: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    signed_at: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    key_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    signature: bytes = Field(sa_column=sa.Column(sa.LargeBinary(64), nullable=False))
