"""Tables of the shared kernel: organisations, users and their roles, API tokens, login attempts, audit records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from core.roles import HospitalGrade, OrgKind, Role


def _values(enum: type) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN ({_values(OrgKind)})", name="kind"),
        sa.CheckConstraint(f"hospital_grade IS NULL OR hospital_grade IN ({_values(HospitalGrade)})", name="grade"),
        sa.CheckConstraint("(kind = 'hospital') = (hospital_grade IS NOT NULL)", name="grade_iff_hospital"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, unique=True))
    name_en: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    kind: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, index=True))
    uscc: str = Field(sa_column=sa.Column(sa.String(18), nullable=False, unique=True))
    region_code: str = Field(sa_column=sa.Column(sa.String(6), nullable=False))
    region_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    hospital_grade: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    # A medical community's general hospital (总医院) and its member units, or an alliance and its members.
    parent_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    is_active: bool = Field(default=True, nullable=False)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    display_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    email: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    organisation_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    password_hash: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    is_active: bool = Field(default=True, nullable=False)
    preferred_locale: str | None = Field(default=None, sa_column=sa.Column(sa.String(8)))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    last_login_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    # Raised when the user signs out: a browser session made before then no longer signs anyone in.
    session_generation: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))


class UserRole(SQLModel, table=True):
    __tablename__ = "user_roles"
    __table_args__ = (sa.CheckConstraint(f"role IN ({_values(Role)})", name="role"),)

    user_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    role: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))


class ApiToken(SQLModel, table=True):
    """A bearer token; only the SHA-256 of its secret is stored (the secret has 256 bits of entropy)."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, nullable=False)
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    prefix: str = Field(sa_column=sa.Column(sa.String(12), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    expires_at: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class LoginAttempt(SQLModel, table=True):
    """One password check, kept to rate-limit guessing by account and by address."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        sa.Index("ix_login_attempts_username_at", "username", "at"),
        sa.Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    ip: str = Field(sa_column=sa.Column(sa.String(45), nullable=False))
    at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    succeeded: bool = Field(nullable=False)


class AuditRecord(SQLModel, table=True):
    """An append-only record of a state change; database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_records"
    __table_args__ = (
        sa.Index("ix_audit_records_actor_org_id_at", "actor_org_id", "at"),
        sa.Index("ix_audit_records_object", "object_type", "object_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False, index=True))
    actor_user_id: int | None = Field(default=None, foreign_key="users.id")
    actor_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    actor_org_id: int | None = Field(default=None, foreign_key="organisations.id")
    action: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, index=True))
    object_type: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    object_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    request_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
