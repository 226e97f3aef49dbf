"""Alerts: flags with a stable code, severity and evidence, from every source, kept for the audit workbench."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel

from core.actor import Actor
from core.audit import record_audit
from core.db import UTCDateTime, utcnow
from core.models import JSONType


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (
        sa.CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name="severity"),
        sa.CheckConstraint("status IN ('open', 'assigned', 'confirmed', 'dismissed')", name="status"),
        sa.Index("ix_alerts_subject_org_id_status", "subject_org_id", "status"),
        sa.Index("ix_alerts_object", "object_type", "object_id"),
        sa.UniqueConstraint("dedupe_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, index=True))
    source: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))  # trace, orders, reconciliation, …
    severity: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    status: str = Field(default=AlertStatus.OPEN.value, sa_column=sa.Column(sa.String(16), nullable=False))
    title: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    subject_org_id: int | None = Field(default=None, foreign_key="organisations.id")
    object_type: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    object_id: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    rule: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    # Workbench state: who reviews it, when it last changed, and a key that makes a re-run raise it only once.
    assignee_user_id: int | None = Field(default=None, foreign_key="users.id")
    updated_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    dedupe_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))


def raise_alert(
    session: Session,
    *,
    actor: Actor,
    code: str,
    source: str,
    severity: Severity,
    title: str,
    object_type: str,
    object_id: object,
    evidence: dict[str, Any],
    rule: dict[str, Any],
    subject_org_id: int | None,
    dedupe_key: str | None = None,
) -> Alert:
    """Store an alert with its evidence and the parameter set that raised it."""
    alert = Alert(
        dedupe_key=dedupe_key,
        code=code,
        source=source,
        severity=Severity(severity).value,
        title=title,
        subject_org_id=subject_org_id,
        object_type=object_type,
        object_id=str(object_id),
        evidence=evidence,
        rule=rule,
    )
    session.add(alert)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="alert.raised",
        object_type="alert",
        object_id=alert.id,
        details={"code": code, "subject_org_id": subject_org_id},
    )
    return alert


def raise_alert_once(session: Session, *, dedupe_key: str, **fields: Any) -> tuple[Alert, bool]:
    """Raise an alert unless one with ``dedupe_key`` exists; return it and whether it is new.

    Audit runs are repeatable: running a period twice, or two runs at once, leaves one alert per finding. The key
    names the finding (e.g. ``"RECON-CHAIN-TOO-LONG|receipt:12"``); the unique constraint settles races.
    """
    existing = session.exec(sa.select(Alert).where(Alert.dedupe_key == dedupe_key)).scalars().first()
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            alert = raise_alert(session, dedupe_key=dedupe_key, **fields)
    except sa.exc.IntegrityError:
        existing = session.exec(sa.select(Alert).where(Alert.dedupe_key == dedupe_key)).scalars().one()
        return existing, False
    return alert, True
