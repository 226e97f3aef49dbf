"""The audit trail: one append-only record per state change, written in the same transaction as the change."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.models import AuditRecord
from core.pagination import Page, paginate
from core.roles import Role


def record_audit(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    details: dict[str, Any] | None = None,
    org_id: int | None = None,
) -> AuditRecord:
    """Append an audit record for a state change; ``org_id`` overrides the organisation it is filed under."""
    record = AuditRecord(
        actor_user_id=actor.user_id,
        actor_name=actor.username,
        actor_org_id=org_id if org_id is not None else actor.org_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        request_id=actor.request_id,
        details=details or {},
    )
    session.add(record)
    return record


def list_audit(
    session: Session,
    *,
    actor: Actor,
    page: int = 1,
    per_page: int = 50,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    org_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Page[AuditRecord]:
    """List audit records, newest first: administrators and auditors see all, everyone else their organisation's."""
    stmt = sa.select(AuditRecord).order_by(AuditRecord.id.desc())
    if not actor.has(Role.ADMIN, Role.AUDITOR):
        stmt = stmt.where(AuditRecord.actor_org_id == actor.org_id)
    if org_id is not None:
        stmt = stmt.where(AuditRecord.actor_org_id == org_id)
    if action:
        stmt = stmt.where(AuditRecord.action == action)
    if object_type:
        stmt = stmt.where(AuditRecord.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditRecord.object_id == object_id)
    if since:
        stmt = stmt.where(AuditRecord.at >= since)
    if until:
        stmt = stmt.where(AuditRecord.at < until)
    return paginate(session, stmt, page=page, per_page=per_page)


def daily_counts(session: Session, *, actor: Actor, since: dt.datetime) -> list[tuple[dt.date, int]]:
    """Count audit records per UTC day since ``since``, within the actor's visibility."""
    day = (
        sa.func.date(AuditRecord.at)
        if session.get_bind().dialect.name == "sqlite"
        else sa.cast(AuditRecord.at, sa.Date)
    )
    stmt = sa.select(day.label("day"), sa.func.count()).where(AuditRecord.at >= since).group_by(day).order_by(day)
    if not actor.has(Role.ADMIN, Role.AUDITOR):
        stmt = stmt.where(AuditRecord.actor_org_id == actor.org_id)
    out = []
    for value, count in session.exec(stmt).all():
        out.append((value if isinstance(value, dt.date) else dt.date.fromisoformat(value), int(count)))
    return out
