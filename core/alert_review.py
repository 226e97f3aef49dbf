"""The alerts workbench: one queue of flags from every source, reviewed by auditors and answered by their subjects.

Auditors (and administrators) see every alert; a hospital or supplier sees the alerts about itself and may answer
them. Review moves an alert open → assigned → confirmed or dismissed (a note is required to close it) and may reopen
it; every step is an :class:`AlertEvent` (the alert's history) and an audit record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel

from core.actor import Actor
from core.alerts import Alert, AlertStatus
from core.audit import record_audit
from core.db import UTCDateTime, utcnow
from core.errors import CONFLICT, FORBIDDEN, DomainError, invalid, not_found
from core.models import User, UserRole
from core.pagination import Page, paginate
from core.roles import Role

REVIEW_ROLES = (Role.AUDITOR, Role.ADMIN)
NOTE_MAX = 2000


class ReviewAction(StrEnum):
    ASSIGN = "assign"
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    REOPEN = "reopen"
    COMMENT = "comment"
    ANSWER = "answer"  # the subject organisation's reply


# Which statuses each review action may start from, and where it leads (None: the status stays).
TRANSITIONS: dict[ReviewAction, tuple[frozenset[str], str | None]] = {
    ReviewAction.ASSIGN: (frozenset({AlertStatus.OPEN, AlertStatus.ASSIGNED}), AlertStatus.ASSIGNED),
    ReviewAction.CONFIRM: (frozenset({AlertStatus.OPEN, AlertStatus.ASSIGNED}), AlertStatus.CONFIRMED),
    ReviewAction.DISMISS: (frozenset({AlertStatus.OPEN, AlertStatus.ASSIGNED}), AlertStatus.DISMISSED),
    ReviewAction.REOPEN: (frozenset({AlertStatus.CONFIRMED, AlertStatus.DISMISSED}), AlertStatus.OPEN),
    ReviewAction.COMMENT: (frozenset(AlertStatus), None),
    ReviewAction.ANSWER: (frozenset(AlertStatus), None),
}
NOTE_REQUIRED = frozenset({ReviewAction.CONFIRM, ReviewAction.DISMISS, ReviewAction.REOPEN, ReviewAction.COMMENT,
                           ReviewAction.ANSWER})  # fmt: skip


class AlertEvent(SQLModel, table=True):
    """One step in an alert's history: who did what, from which status to which, with their note."""

    __tablename__ = "alert_events"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alerts.id", index=True, nullable=False)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    action: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    actor_user_id: int | None = Field(default=None, foreign_key="users.id")
    actor_name: str = Field(sa_column=sa.Column(sa.String(150), nullable=False))
    actor_org_id: int | None = Field(default=None, foreign_key="organisations.id")
    from_status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    to_status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    assignee_user_id: int | None = Field(default=None, foreign_key="users.id")
    note: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    # Whether the organisation the alert is about may read the note (its own answers always; reviewers choose).
    shared: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))


@dataclass(frozen=True)
class AlertFilter:
    status: str | None = None
    source: str | None = None
    code: str | None = None
    severity: str | None = None
    subject_org_id: int | None = None
    assignee_user_id: int | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    # Findings about one physician or one product, wherever the alert points (read from the evidence).
    physician_id: int | None = None
    product_id: int | None = None


def can_see_all(actor: Actor) -> bool:
    return actor.has(*REVIEW_ROLES) or actor.is_system


def alert_query(actor: Actor, flt: AlertFilter) -> sa.Select[Any]:
    """Select the alerts an actor may see that match a filter, newest first."""
    stmt = sa.select(Alert)
    if not can_see_all(actor):
        stmt = stmt.where(Alert.subject_org_id == actor.org_id) if actor.org_id else stmt.where(sa.false())
    for column, value in (
        (Alert.status, flt.status),
        (Alert.source, flt.source),
        (Alert.code, flt.code),
        (Alert.severity, flt.severity),
        (Alert.subject_org_id, flt.subject_org_id),
        (Alert.assignee_user_id, flt.assignee_user_id),
        (Alert.object_type, flt.object_type),
        (Alert.object_id, flt.object_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    for key, value in (("physician_id", flt.physician_id), ("product_id", flt.product_id)):
        if value is not None:
            stmt = stmt.where(Alert.evidence[key].as_integer() == value)
    if flt.since is not None:
        stmt = stmt.where(Alert.created_at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(Alert.created_at < flt.until)
    return stmt.order_by(Alert.created_at.desc(), Alert.id.desc())


def list_alerts(session: Session, actor: Actor, flt: AlertFilter, *, page: int = 1, per_page: int = 50) -> Page[Alert]:
    return paginate(session, alert_query(actor, flt), page=page, per_page=per_page)


def get_alert(session: Session, actor: Actor, alert_id: int) -> Alert:
    """Return an alert the actor may see; another organisation's alert is reported as not found."""
    alert = session.get(Alert, alert_id)
    if alert is None or not (can_see_all(actor) or (actor.org_id and alert.subject_org_id == actor.org_id)):
        raise not_found("alert", alert_id)
    return alert


def alert_history(session: Session, alert_id: int, *, actor: Actor | None = None) -> list[AlertEvent]:
    """Return an alert's history; for the organisation it is about, reviewers' unshared notes are left out.

    The subject sees every step (who, when, which status) but not the auditors' internal notes or whom it was
    assigned to, unless a reviewer shared the note with it; its own answers it always sees.
    """
    stmt = sa.select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.at, AlertEvent.id)
    events = list(session.exec(stmt).scalars())
    if actor is None or can_see_all(actor):
        return events
    return [event if event.shared else _without_note(event) for event in events]


def _without_note(event: AlertEvent) -> AlertEvent:
    """A detached copy of a step with its internal note and assignee withheld."""
    values = {column.name: getattr(event, column.name) for column in AlertEvent.__table__.columns}
    return AlertEvent(**{**values, "note": "", "assignee_user_id": None})


def review_alert(
    session: Session,
    actor: Actor,
    alert_id: int,
    *,
    action: ReviewAction | str,
    note: str = "",
    assignee_user_id: int | None = None,
    share_with_subject: bool = False,
) -> Alert:
    """Apply one review step to an alert (row-locked so two reviewers cannot both close it) and record it."""
    try:
        action = ReviewAction(action)
    except ValueError:
        raise invalid(
            "action", f"unknown action {action!r}; one of {', '.join(a.value for a in ReviewAction)}"
        ) from None
    alert = get_alert(session, actor, alert_id)
    session.refresh(alert, with_for_update=True)
    if action is ReviewAction.ANSWER:
        if alert.subject_org_id is None or actor.org_id != alert.subject_org_id:
            raise DomainError(FORBIDDEN, "only the organisation the alert is about may answer it", code="not_subject")
    elif not actor.has(*REVIEW_ROLES):
        raise DomainError(FORBIDDEN, "reviewing alerts needs the auditor role", code="role_required")
    note = (note or "").strip()
    if action in NOTE_REQUIRED and not note:
        raise invalid("note", f"a note is required to {action.value} an alert")
    if len(note) > NOTE_MAX:
        raise invalid("note", f"a note may have at most {NOTE_MAX} characters")
    allowed_from, to_status = TRANSITIONS[action]
    if alert.status not in allowed_from:
        raise DomainError(
            CONFLICT,
            f"an alert that is {alert.status} cannot be given the action {action.value}",
            code="bad_transition",
        )
    if action is ReviewAction.ASSIGN:
        assignee_user_id = assignee_user_id or actor.user_id
        assignee = session.get(User, assignee_user_id) if assignee_user_id else None
        if assignee is None:
            raise invalid("assignee_user_id", "assign to an existing user")
        roles = session.exec(sa.select(UserRole.role).where(UserRole.user_id == assignee.id)).scalars().all()
        if not {r.value for r in REVIEW_ROLES} & set(roles):
            raise invalid("assignee_user_id", "alerts are assigned to auditors")
        alert.assignee_user_id = assignee.id
    from_status = alert.status
    if to_status is not None:
        alert.status = to_status
    alert.updated_at = utcnow()
    session.add(alert)
    session.add(
        AlertEvent(
            alert_id=alert.id,
            action=action.value,
            actor_user_id=actor.user_id,
            actor_name=actor.username,
            actor_org_id=actor.org_id,
            from_status=from_status,
            to_status=alert.status,
            assignee_user_id=alert.assignee_user_id if action is ReviewAction.ASSIGN else None,
            note=note,
            shared=action is ReviewAction.ANSWER or bool(share_with_subject),
        )
    )
    session.flush()
    record_audit(
        session,
        actor=actor,
        action=f"alert.{action.value}",
        object_type="alert",
        object_id=alert.id,
        details={"from": from_status, "to": alert.status, "note": note[:200], "shared": bool(share_with_subject)},
    )
    return alert


def alert_counts(session: Session, actor: Actor, flt: AlertFilter | None = None) -> list[dict[str, Any]]:
    """Count the visible alerts (raised in the filter's period, if any) by source, code and status."""
    sub = alert_query(actor, flt or AlertFilter()).order_by(None).subquery()
    stmt = sa.select(sub.c.source, sub.c.code, sub.c.status, sa.func.count()).group_by(
        sub.c.source, sub.c.code, sub.c.status
    )
    return [
        {"source": source, "code": code, "status": status, "count": int(n)}
        for source, code, status, n in session.exec(stmt).all()
    ]


def record_finding_change(session: Session, *, actor: Actor, alert_id: int, note: str, reopen: bool = False) -> None:
    """Note on an alert's history that the computation behind it changed its mind (gone, or found again).

    Audit runs call this: a finding no longer found leaves a comment; one found again after it was closed reopens
    the alert, so nobody misses it. The note is shared with the alert's subject (it states a fact, not a judgement).
    """
    alert = session.get(Alert, alert_id)
    if alert is None:
        return
    to_status = AlertStatus.OPEN.value if reopen and alert.status in TRANSITIONS[ReviewAction.REOPEN][0] else None
    action = ReviewAction.REOPEN if to_status else ReviewAction.COMMENT
    from_status = alert.status
    if to_status:
        alert.status = to_status
    alert.updated_at = utcnow()
    session.add(alert)
    session.add(
        AlertEvent(
            alert_id=alert.id, action=action.value, actor_user_id=actor.user_id, actor_name=actor.username,
            actor_org_id=actor.org_id, from_status=from_status, to_status=alert.status, note=note[:NOTE_MAX],
            shared=True,
        )
    )  # fmt: skip
    record_audit(
        session,
        actor=actor,
        action=f"alert.{action.value}",
        object_type="alert",
        object_id=alert.id,
        details={"from": from_status, "to": alert.status, "note": note[:200], "by": "audit run"},
    )
