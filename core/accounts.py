"""Organisations, users, roles, logins and API tokens."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session
from stdnum.cn import uscc as uscc_std
from stdnum.exceptions import ValidationError as StdnumError

from core.actor import Actor
from core.audit import record_audit
from core.db import serialize_writers
from core.errors import CONFLICT, RATE_LIMITED, UNAUTHENTICATED, DomainError, invalid, not_found
from core.models import ApiToken, LoginAttempt, Organisation, User, UserRole
from core.pagination import Page, paginate
from core.passwords import check_password_policy, hash_password, needs_rehash, verify_password
from core.roles import ROLE_ORG_KINDS, HospitalGrade, OrgKind, Role
from core.token_lookup import hash_secret, principal_for_token

TOKEN_PREFIX = "yl_"


@dataclass(frozen=True)
class LoginPolicy:
    """How many failed logins an account and an address may have within a window before being refused."""

    max_failures_per_user: int = 5
    max_failures_per_ip: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class TokenPolicy:
    default_ttl: dt.timedelta = dt.timedelta(days=30)
    max_ttl: dt.timedelta = dt.timedelta(days=365)


def validate_uscc(code: str) -> str:
    """Return the normalised unified social credit code (统一社会信用代码) or raise naming what is wrong."""
    try:
        return uscc_std.validate(code)
    except StdnumError as exc:
        reason = {
            "InvalidLength": "must be 18 characters",
            "InvalidFormat": "has characters outside 0-9 and A-Y (no I, O, S, V, Z) or a bad region code",
            "InvalidChecksum": "check character does not match",
        }.get(type(exc).__name__, str(exc))
        raise invalid("uscc", f"unified social credit code {code!r} {reason}", code="invalid_uscc") from exc


# ---------------------------------------------------------------- organisations


def create_organisation(
    session: Session,
    *,
    name: str,
    kind: OrgKind,
    uscc: str,
    region_code: str,
    region_name: str,
    actor: Actor,
    hospital_grade: HospitalGrade | None = None,
    name_en: str | None = None,
    parent_id: int | None = None,
) -> Organisation:
    """Register an organisation (administrators only)."""
    actor.require(Role.ADMIN)
    code = validate_uscc(uscc)
    if not (len(region_code) == 6 and region_code.isdigit()):
        raise invalid("region_code", "must be a six-digit administrative division code")
    if (kind == OrgKind.HOSPITAL) != (hospital_grade is not None):
        raise invalid("hospital_grade", "a hospital needs a grade; other organisations have none")
    if parent_id is not None and session.get(Organisation, parent_id) is None:
        raise invalid("parent_id", f"organisation {parent_id} does not exist")
    clash = session.exec(
        sa.select(Organisation.id).where(sa.or_(Organisation.uscc == code, Organisation.name == name))
    ).first()
    if clash is not None:
        raise DomainError(CONFLICT, "an organisation with this name or credit code exists", code="organisation_exists")
    org = Organisation(
        name=name,
        name_en=name_en,
        kind=OrgKind(kind).value,
        uscc=code,
        region_code=region_code,
        region_name=region_name,
        hospital_grade=HospitalGrade(hospital_grade).value if hospital_grade else None,
        parent_id=parent_id,
    )
    session.add(org)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="organisation.created",
        object_type="organisation",
        object_id=org.id,
        details={"name": name, "kind": org.kind, "uscc": code},
    )
    return org


def get_organisation(session: Session, *, org_id: int, actor: Actor) -> Organisation:
    """Return an organisation; the directory of organisations is visible to every signed-in user."""
    org = session.get(Organisation, org_id)
    if org is None:
        raise not_found("Organisation", org_id)
    return org


def list_organisations(
    session: Session, *, actor: Actor, page: int = 1, per_page: int = 50, kind: OrgKind | None = None
) -> Page[Organisation]:
    """List organisations by name."""
    stmt = sa.select(Organisation).order_by(Organisation.name)
    if kind:
        stmt = stmt.where(Organisation.kind == OrgKind(kind).value)
    return paginate(session, stmt, page=page, per_page=per_page)


# ---------------------------------------------------------------- users


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    display_name: str,
    organisation_id: int,
    roles: Iterable[Role],
    actor: Actor,
    email: str | None = None,
) -> User:
    """Create a user in an organisation with roles that organisation's kind allows (administrators only)."""
    actor.require(Role.ADMIN)
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise invalid("organisation_id", f"organisation {organisation_id} does not exist")
    role_set = {Role(role) for role in roles}
    if not role_set:
        raise invalid("roles", "a user needs at least one role")
    for role in sorted(role_set):
        if OrgKind(org.kind) not in ROLE_ORG_KINDS[role]:
            raise invalid("roles", f"role {role.value} cannot be held in a {org.kind} organisation")
    check_password_policy(password, username=username)
    if session.exec(sa.select(User.id).where(sa.func.lower(User.username) == username.lower())).first():
        raise DomainError(
            CONFLICT, f"username {username!r} is taken", code="username_taken", errors={"username": ["taken"]}
        )
    user = User(
        username=username,
        display_name=display_name,
        email=email,
        organisation_id=org.id,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    session.add_all([UserRole(user_id=user.id, role=role.value) for role in sorted(role_set)])
    record_audit(
        session,
        actor=actor,
        action="user.created",
        object_type="user",
        object_id=user.id,
        details={"username": username, "organisation_id": org.id, "roles": sorted(r.value for r in role_set)},
    )
    return user


def user_roles(session: Session, user_id: int) -> frozenset[Role]:
    """Return a user's roles."""
    rows = session.exec(sa.select(UserRole.role).where(UserRole.user_id == user_id)).scalars().all()
    return frozenset(Role(r) for r in rows)


def list_users(
    session: Session, *, actor: Actor, page: int = 1, per_page: int = 50, organisation_id: int | None = None
) -> Page[User]:
    """List users: administrators see everyone, other users their own organisation's colleagues."""
    stmt = sa.select(User).order_by(User.username)
    if not actor.has(Role.ADMIN):
        stmt = stmt.where(User.organisation_id == actor.org_id)
    if organisation_id is not None:
        stmt = stmt.where(User.organisation_id == organisation_id)
    return paginate(session, stmt, page=page, per_page=per_page)


def get_user(session: Session, *, user_id: int, actor: Actor) -> User:
    """Return a user the actor may see (own organisation, or any for administrators)."""
    user = session.get(User, user_id)
    if user is None or (not actor.has(Role.ADMIN) and user.organisation_id != actor.org_id):
        raise not_found("User", user_id)
    return user


def actor_for_user(
    session: Session, user_id: int, *, request_id: str | None = None, generation: int | None = None
) -> Actor | None:
    """Build the actor of an active user in an active organisation, or None; with ``generation`` (a browser
    session's), None also when the user has signed out since that session began."""
    row = session.exec(
        sa.select(User, Organisation)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(User.id == user_id, User.is_active, Organisation.is_active)
    ).first()
    if row is None:
        return None
    user, org = row
    if generation is not None and generation != user.session_generation:
        return None
    return Actor(user.id, user.username, org.id, OrgKind(org.kind), user_roles(session, user.id), request_id)


def session_generation(session: Session, user_id: int) -> int:
    """Return the user's current browser-session generation (stored in the session cookie at sign-in)."""
    return session.exec(sa.select(User.session_generation).where(User.id == user_id)).scalar_one()


def end_sessions(session: Session, *, actor: Actor) -> None:
    """Sign the actor out everywhere: every browser session made so far stops signing them in (audited)."""
    session.execute(
        sa.update(User).where(User.id == actor.user_id).values(session_generation=User.session_generation + 1)
    )
    record_audit(session, actor=actor, action="user.signed_out", object_type="user", object_id=actor.user_id)


# ---------------------------------------------------------------- logins


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    ip: str,
    policy: LoginPolicy,
    now: dt.datetime,
    request_id: str | None = None,
) -> User:
    """Check a username and password, rate-limited per account and per address; every attempt is recorded.

    Refusals carry ``keep_work`` so that the failed attempt is committed even though the request fails.
    """
    key = username.strip().lower()[:64]
    # Attempts on one account take turns (PostgreSQL; SQLite's write lock already does): else parallel guesses would
    # all read the failure count before any of them is recorded, and the per-account limit would not hold.
    serialize_writers(session, f"login:{key}")
    since = now - policy.window
    failures = (
        sa.select(sa.func.count()).select_from(LoginAttempt).where(~LoginAttempt.succeeded, LoginAttempt.at >= since)
    )
    by_user = session.exec(failures.where(LoginAttempt.username == key)).one()[0]
    by_ip = session.exec(failures.where(LoginAttempt.ip == ip)).one()[0]
    if by_user >= policy.max_failures_per_user or by_ip >= policy.max_failures_per_ip:
        raise DomainError(
            RATE_LIMITED,
            "too many failed logins; try again later",
            code="login_rate_limited",
            retry_after=int(policy.window.total_seconds()),
        )
    user = session.exec(sa.select(User).where(sa.func.lower(User.username) == key)).scalars().first()
    org_active = user is not None and session.get(Organisation, user.organisation_id).is_active
    ok = verify_password(user.password_hash if user else None, password) and user.is_active and org_active
    session.add(LoginAttempt(username=key, ip=ip, at=now, succeeded=ok))
    if not ok:
        raise DomainError(UNAUTHENTICATED, "wrong username or password", code="bad_credentials", keep_work=True)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    actor = Actor(user.id, user.username, user.organisation_id, None, frozenset(), request_id)
    record_audit(
        session, actor=actor, action="user.logged_in", object_type="user", object_id=user.id, details={"ip": ip}
    )
    return user


# ---------------------------------------------------------------- API tokens


def issue_token(
    session: Session,
    *,
    user: User,
    name: str,
    now: dt.datetime,
    policy: TokenPolicy,
    ttl: dt.timedelta | None = None,
    request_id: str | None = None,
) -> tuple[ApiToken, str]:
    """Issue a bearer token for an authenticated user; return the stored token and its one-time secret."""
    ttl = ttl or policy.default_ttl
    if ttl <= dt.timedelta(0) or ttl > policy.max_ttl:
        raise invalid("expires_in_days", f"must be between 1 and {policy.max_ttl.days} days")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_secret(secret),
        prefix=secret[:10],
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(token)
    session.flush()
    actor = Actor(user.id, user.username, user.organisation_id, None, frozenset(), request_id)
    record_audit(
        session,
        actor=actor,
        action="token.issued",
        object_type="api_token",
        object_id=token.id,
        details={"name": name, "expires_at": token.expires_at.isoformat()},
    )
    return token, secret


def actor_for_token(session: Session, *, secret: str, now: dt.datetime, request_id: str | None = None) -> Actor:
    """Resolve a bearer secret to its actor, or refuse with the reason."""
    return principal_for_token(session, secret=secret, now=now, request_id=request_id).actor


def list_tokens(session: Session, *, actor: Actor, page: int = 1, per_page: int = 50) -> Page[ApiToken]:
    """List the actor's own tokens, newest first (secrets are never shown again)."""
    stmt = sa.select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id.desc())
    return paginate(session, stmt, page=page, per_page=per_page)


def revoke_token(session: Session, *, token_id: int, actor: Actor, now: dt.datetime) -> ApiToken:
    """Revoke a token: one's own, or any as an administrator. Revoking twice is refused."""
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.user_id and not actor.has(Role.ADMIN)):
        raise not_found("Token", token_id)
    if token.revoked_at is not None:
        raise DomainError(CONFLICT, "the token is already revoked", code="token_already_revoked")
    token.revoked_at = now
    record_audit(session, actor=actor, action="token.revoked", object_type="api_token", object_id=token.id)
    return token
