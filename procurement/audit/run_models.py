"""An audit run: which computations ran over which period, how far each got, and what each found.

Statuses: ``queued`` → ``running`` → ``done`` or ``failed``; a queued or running run whose process stopped is marked
``interrupted`` (parts committed before the stop keep their results).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from core.models import JSONType


class AuditRun(SQLModel, table=True):
    __tablename__ = "audit_runs"
    __table_args__ = (
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'interrupted')", name="status"),
        sa.CheckConstraint("period_end > period_start", name="period_order"),
        sa.UniqueConstraint("requested_by_org_id", "key_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    period_start: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    period_end: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))  # exclusive
    parts: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    status: str = Field(default="queued", sa_column=sa.Column(sa.String(16), nullable=False))
    # Per part: {"status": pending|running|done|failed, "done": n, "total": n, "summary": {...}, "seconds": s}
    progress: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    requested_by_user_id: int | None = Field(default=None, foreign_key="users.id")
    requested_by_org_id: int | None = Field(default=None, foreign_key="organisations.id")
    key_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    started_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    finished_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    # Who is running it ("host:pid:process start") and when it last reported, so a run whose process died is found
    # and marked interrupted instead of blocking later runs of the same period for ever.
    runner: str | None = Field(default=None, sa_column=sa.Column(sa.String(160)))
    heartbeat_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
