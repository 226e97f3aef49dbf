"""Organisations' Ed25519 keys for signing capture batches."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.errors import CONFLICT, DomainError, invalid, not_found
from core.pagination import Page, paginate
from core.roles import Role
from trace.models import OrgSigningKey
from trace.signing import public_from_hex

KEY_ROLES = (Role.SUPPLIER_REP, Role.PHARMACY_MANAGER)


def register_key(session: Session, *, actor: Actor, public_key_hex: str, now: dt.datetime) -> OrgSigningKey:
    """Register a public key for the actor's organisation."""
    actor.require(*KEY_ROLES)
    try:
        public_from_hex(public_key_hex)
    except ValueError as exc:
        raise invalid("public_key", f"not an Ed25519 public key: {exc}") from exc
    if session.exec(sa.select(OrgSigningKey.id).where(OrgSigningKey.public_key == public_key_hex)).first():
        raise DomainError(CONFLICT, "this key is registered already", code="key_exists")
    key = OrgSigningKey(org_id=actor.org_id, public_key=public_key_hex, registered_at=now)
    session.add(key)
    session.flush()
    record_audit(session, actor=actor, action="signing_key.registered", object_type="org_signing_key", object_id=key.id)
    return key


def list_keys(session: Session, *, actor: Actor, page: int = 1, per_page: int = 50) -> Page[OrgSigningKey]:
    """List the actor's organisation's keys."""
    stmt = sa.select(OrgSigningKey).where(OrgSigningKey.org_id == actor.org_id).order_by(OrgSigningKey.id)
    return paginate(session, stmt, page=page, per_page=per_page)


def revoke_key(session: Session, *, actor: Actor, key_id: int, now: dt.datetime) -> OrgSigningKey:
    """Revoke a key of the actor's organisation; batches it signed keep their proof."""
    actor.require(*KEY_ROLES)
    key = session.get(OrgSigningKey, key_id)
    if key is None or key.org_id != actor.org_id:
        raise not_found("Key", key_id)
    if key.revoked_at is not None:
        raise DomainError(CONFLICT, "the key is already revoked", code="key_already_revoked")
    key.revoked_at = now
    record_audit(session, actor=actor, action="signing_key.revoked", object_type="org_signing_key", object_id=key.id)
    return key
