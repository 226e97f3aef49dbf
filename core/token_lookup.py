"""Resolving a bearer token to its principal: one indexed query on every API request, kept as lean as it can be."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import namedtuple
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.errors import UNAUTHENTICATED, DomainError
from core.models import ApiToken, Organisation, User, UserRole
from core.roles import OrgKind, Role


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for: the actor, and read-only views of its user and organisation rows."""

    actor: Actor
    user: Any
    organisation: Any


_USER_COLUMNS = ("id", "username", "display_name", "email", "organisation_id", "is_active")
_ORG_COLUMNS = (
    "id",
    "name",
    "name_en",
    "kind",
    "uscc",
    "region_code",
    "region_name",
    "hospital_grade",
    "parent_id",
    "is_active",
)

# Built once, and run through Core rather than the ORM: this is the hot path of every API request.
_TOKEN_LOOKUP = (
    sa.select(
        ApiToken.expires_at,
        ApiToken.revoked_at,
        *(getattr(User, c).label(f"u_{c}") for c in _USER_COLUMNS),
        *(getattr(Organisation, c).label(f"o_{c}") for c in _ORG_COLUMNS),
        UserRole.role,
    )
    .join(User, User.id == ApiToken.user_id)
    .join(Organisation, Organisation.id == User.organisation_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .where(ApiToken.token_hash == sa.bindparam("token_hash"))
)


_TOKEN_NAMES = tuple(column.key for column in _TOKEN_LOOKUP.selected_columns)
_TokenRow = namedtuple("_TokenRow", _TOKEN_NAMES)
_RAW_LOOKUPS: dict[str, tuple[str, tuple[str, ...] | None, tuple[tuple[int, Any], ...]]] = {}


def _raw_lookup(dialect: sa.Dialect) -> tuple[str, tuple[str, ...] | None, tuple]:
    """Return the token query compiled once for a dialect: SQL text, positional parameter order, result processors.

    The query runs on the driver's cursor directly: SQLAlchemy's per-execution work (compiled-cache look-up,
    execution context, result object) cost more than the indexed query itself on every API request. The column
    types' own result processors still convert the values, so rows read exactly as through SQLAlchemy.
    """
    cached = _RAW_LOOKUPS.get(dialect.name)
    if cached is None:
        compiled = _TOKEN_LOOKUP.compile(dialect=dialect)
        order = tuple(compiled.positiontup) if compiled.positional else None
        processors = tuple(
            (index, processor)
            for index, column in enumerate(_TOKEN_LOOKUP.selected_columns)
            if (processor := column.type._cached_result_processor(dialect, None)) is not None
        )
        cached = _RAW_LOOKUPS[dialect.name] = (compiled.string, order, processors)
    return cached


def _token_rows(conn: sa.Connection, token_hash: str) -> list[_TokenRow]:
    sql, order, processors = _raw_lookup(conn.dialect)
    params: dict[str, str] | tuple[str, ...] = {"token_hash": token_hash}
    if order is not None:
        params = tuple(params[name] for name in order)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, params)
        raw = cursor.fetchall()
    finally:
        cursor.close()
    rows = []
    for row in raw:
        values = list(row)
        for index, processor in processors:
            values[index] = processor(values[index])
        rows.append(_TokenRow._make(values))
    return rows


def principal_for_token(
    bind: Session | sa.Connection, *, secret: str, now: dt.datetime, request_id: str | None = None
) -> Principal:
    """Resolve a bearer secret in one indexed query (token, user, organisation, roles), or refuse with the reason."""
    if isinstance(bind, Session):
        if bind.new or bind.dirty or bind.deleted:
            bind.flush()  # Core execution does not autoflush: pending changes (a revocation) must count
        bind = bind.connection()
    rows = _token_rows(bind, hash_secret(secret))
    if not rows:
        raise DomainError(UNAUTHENTICATED, "the bearer token is not valid", code="token_invalid")
    first = rows[0]
    if first.revoked_at is not None:
        raise DomainError(UNAUTHENTICATED, "the bearer token was revoked", code="token_revoked")
    if first.expires_at <= now:
        raise DomainError(UNAUTHENTICATED, "the bearer token has expired", code="token_expired")
    if not (first.u_is_active and first.o_is_active):
        raise DomainError(UNAUTHENTICATED, "the account is disabled", code="account_disabled")
    user = SimpleNamespace(**{c: getattr(first, f"u_{c}") for c in _USER_COLUMNS})
    org = SimpleNamespace(**{c: getattr(first, f"o_{c}") for c in _ORG_COLUMNS})
    roles = frozenset(Role(row.role) for row in rows if row.role is not None)
    return Principal(Actor(user.id, user.username, org.id, OrgKind(org.kind), roles, request_id), user, org)
