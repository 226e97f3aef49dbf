"""Organisations, users, roles, logins and tokens through the core services."""

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from core import accounts
from core.actor import Actor
from core.db import utcnow
from core.errors import DomainError
from core.models import AuditRecord, LoginAttempt, Organisation, User
from core.roles import HospitalGrade, OrgKind, Role
from tests.factories import PASSWORD, make_uscc

SYSTEM = Actor.system("tests")


def audit_actions(db) -> list[str]:
    return db.exec(sa.select(AuditRecord.action).order_by(AuditRecord.id)).scalars().all()


def test_admin_registers_a_hospital_with_grade_and_audit(db):
    org = accounts.create_organisation(
        db,
        name="厦门大学附属第一医院",
        kind=OrgKind.HOSPITAL,
        uscc=make_uscc(900001),
        region_code="350200",
        region_name="厦门市",
        hospital_grade=HospitalGrade.G3A,
        actor=SYSTEM,
    )
    assert org.id and org.hospital_grade == "3A"
    assert audit_actions(db) == ["organisation.created"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"uscc": "12350200000000001X"}, "uscc"),
        ({"region_code": "35A200"}, "region_code"),
        ({"hospital_grade": None}, "hospital_grade"),
        ({"kind": OrgKind.MANUFACTURER}, "hospital_grade"),
    ],
)
def test_bad_organisations_are_refused_naming_the_field(db, overrides, field):
    fields = {
        "name": "某医院",
        "kind": OrgKind.HOSPITAL,
        "uscc": make_uscc(900002),
        "region_code": "350200",
        "region_name": "厦门市",
        "hospital_grade": HospitalGrade.G2A,
    }
    fields.update(overrides)
    with pytest.raises(DomainError) as err:
        accounts.create_organisation(db, actor=SYSTEM, **fields)
    assert err.value.kind == "invalid" and field in err.value.errors
    assert db.exec(sa.select(sa.func.count()).select_from(Organisation)).one()[0] == 0


def test_duplicate_credit_code_is_a_conflict(db, factory):
    existing = factory.org()
    with pytest.raises(DomainError) as err:
        accounts.create_organisation(
            db,
            name="another",
            kind=OrgKind.DISTRIBUTOR,
            uscc=existing.uscc,
            region_code="350200",
            region_name="厦门市",
            actor=SYSTEM,
        )
    assert err.value.kind == "conflict"


def test_only_administrators_create_organisations_and_users(db, factory):
    hospital = factory.org()
    manager = Actor(1, "m", hospital.id, OrgKind.HOSPITAL, frozenset({Role.PHARMACY_MANAGER}))
    with pytest.raises(DomainError) as err:
        accounts.create_user(
            db,
            username="newbie",
            password=PASSWORD,
            display_name="N",
            organisation_id=hospital.id,
            roles=[Role.PHARMACIST],
            actor=manager,
        )
    assert err.value.kind == "forbidden"


def test_roles_must_fit_the_organisation_kind(db, factory):
    hospital = factory.org(OrgKind.HOSPITAL)
    with pytest.raises(DomainError) as err:
        accounts.create_user(
            db,
            username="rep",
            password=PASSWORD,
            display_name="R",
            organisation_id=hospital.id,
            roles=[Role.SUPPLIER_REP],
            actor=SYSTEM,
        )
    assert "supplier_rep" in err.value.message and "roles" in err.value.errors
    lead = accounts.create_user(
        db,
        username="lead.organiser",
        password=PASSWORD,
        display_name="L",
        organisation_id=hospital.id,
        roles=[Role.ORGANISER, Role.PHARMACY_MANAGER],
        actor=SYSTEM,
    )
    assert accounts.user_roles(db, lead.id) == {Role.ORGANISER, Role.PHARMACY_MANAGER}


@pytest.mark.parametrize("password", ["short", "Kim.Lee.2026"])
def test_weak_passwords_are_refused(db, factory, password):
    org = factory.org()
    with pytest.raises(DomainError) as err:
        accounts.create_user(
            db,
            username="kim.lee.2026",
            password=password,
            display_name="K",
            organisation_id=org.id,
            roles=[Role.PHARMACIST],
            actor=SYSTEM,
        )
    assert err.value.code == "weak_password"


def test_usernames_are_unique_ignoring_case(db, factory):
    factory.user(username="Zhang.San")
    with pytest.raises(DomainError) as err:
        accounts.create_user(
            db,
            username="zhang.san",
            password=PASSWORD,
            display_name="Z",
            organisation_id=factory.org().id,
            roles=[Role.PHARMACIST],
            actor=SYSTEM,
        )
    assert err.value.kind == "conflict"


def test_passwords_are_stored_as_argon2_hashes(db):
    org = accounts.create_organisation(
        db,
        name="局",
        kind=OrgKind.INSURANCE_BUREAU,
        uscc=make_uscc(900003),
        region_code="350000",
        region_name="福建省",
        actor=SYSTEM,
    )
    user = accounts.create_user(
        db,
        username="auditor1",
        password=PASSWORD,
        display_name="A",
        organisation_id=org.id,
        roles=[Role.AUDITOR],
        actor=SYSTEM,
    )
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_login_checks_password_and_records_attempts(db, factory):
    user = factory.user(username="li.si")
    policy = accounts.LoginPolicy()
    with pytest.raises(DomainError) as err:
        accounts.authenticate(db, username="li.si", password="wrong", ip="10.0.0.1", policy=policy, now=utcnow())
    assert err.value.kind == "unauthenticated" and err.value.keep_work
    ok = accounts.authenticate(db, username="LI.SI", password=PASSWORD, ip="10.0.0.1", policy=policy, now=utcnow())
    assert ok.id == user.id and ok.last_login_at is not None
    attempts = db.exec(sa.select(LoginAttempt.succeeded).order_by(LoginAttempt.id)).scalars().all()
    assert attempts == [False, True]


def test_disabled_users_and_organisations_cannot_log_in(db, factory):
    org = factory.org()
    factory.user(org, username="gone", is_active=False)
    factory.user(org, username="stays")
    org.is_active = False
    policy = accounts.LoginPolicy()
    for name in ("gone", "stays"):
        with pytest.raises(DomainError):
            accounts.authenticate(db, username=name, password=PASSWORD, ip="1.1.1.1", policy=policy, now=utcnow())


def test_repeated_failures_lock_the_account_for_the_window(db, factory):
    factory.user(username="wang.wu")
    policy = accounts.LoginPolicy(max_failures_per_user=3, max_failures_per_ip=100, window=dt.timedelta(minutes=15))
    now = utcnow()
    for _ in range(3):
        with pytest.raises(DomainError):
            accounts.authenticate(db, username="wang.wu", password="nope", ip="2.2.2.2", policy=policy, now=now)
    with pytest.raises(DomainError) as err:  # even the right password is refused while locked
        accounts.authenticate(db, username="wang.wu", password=PASSWORD, ip="2.2.2.2", policy=policy, now=now)
    assert err.value.kind == "rate_limited" and err.value.retry_after == 900
    later = now + dt.timedelta(minutes=16)
    assert accounts.authenticate(db, username="wang.wu", password=PASSWORD, ip="2.2.2.2", policy=policy, now=later)


def test_tokens_resolve_expire_and_revoke(db, factory):
    org = factory.org(OrgKind.DISTRIBUTOR)
    user = factory.user(org)
    now = utcnow()
    token, secret = accounts.issue_token(db, user=user, name="erp", now=now, policy=accounts.TokenPolicy())
    assert token.expires_at == now + dt.timedelta(days=30) and secret.startswith("yl_")
    assert token.token_hash != secret and secret not in token.token_hash
    actor = accounts.actor_for_token(db, secret=secret, now=now)
    assert (actor.user_id, actor.org_id, actor.roles) == (user.id, org.id, {Role.SUPPLIER_REP})
    with pytest.raises(DomainError) as err:
        accounts.actor_for_token(db, secret=secret, now=now + dt.timedelta(days=31))
    assert err.value.code == "token_expired"
    accounts.revoke_token(db, token_id=token.id, actor=actor, now=now)
    with pytest.raises(DomainError) as err:
        accounts.actor_for_token(db, secret=secret, now=now)
    assert err.value.code == "token_revoked"
    with pytest.raises(DomainError) as err:
        accounts.actor_for_token(db, secret="yl_made_up", now=now)
    assert err.value.code == "token_invalid"


def test_token_lifetime_is_bounded(db, factory):
    user = factory.user()
    with pytest.raises(DomainError) as err:
        accounts.issue_token(
            db, user=user, name="x", now=utcnow(), policy=accounts.TokenPolicy(), ttl=dt.timedelta(days=400)
        )
    assert "expires_in_days" in err.value.errors


def test_nobody_revokes_someone_elses_token_but_an_administrator(db, factory):
    owner = factory.user()
    token, _ = accounts.issue_token(db, user=owner, name="x", now=utcnow(), policy=accounts.TokenPolicy())
    stranger = factory.user()
    stranger_actor = accounts.actor_for_user(db, stranger.id)
    with pytest.raises(DomainError) as err:
        accounts.revoke_token(db, token_id=token.id, actor=stranger_actor, now=utcnow())
    assert err.value.kind == "not_found"
    accounts.revoke_token(db, token_id=token.id, actor=SYSTEM, now=utcnow())
    with pytest.raises(DomainError) as err:
        accounts.revoke_token(db, token_id=token.id, actor=SYSTEM, now=utcnow())
    assert err.value.kind == "conflict"


def test_users_see_colleagues_not_strangers(db, factory):
    a, b = factory.org(), factory.org()
    ua, ua2, ub = factory.user(a), factory.user(a), factory.user(b)
    actor = accounts.actor_for_user(db, ua.id)
    visible = {u.id for u in accounts.list_users(db, actor=actor).items}
    assert visible == {ua.id, ua2.id}
    with pytest.raises(DomainError):
        accounts.get_user(db, user_id=ub.id, actor=actor)


def test_audit_records_are_append_only(db, factory):
    accounts.create_organisation(
        db,
        name="审计",
        kind=OrgKind.INSURANCE_BUREAU,
        uscc=make_uscc(900004),
        region_code="350000",
        region_name="福建省",
        actor=SYSTEM,
    )
    db.flush()
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.exec(sa.update(AuditRecord).values(action="tampered"))
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.exec(sa.delete(AuditRecord))
    assert audit_actions(db) == ["organisation.created"]


def test_user_rows_never_hold_clear_passwords(db, factory):
    factory.user(username="zhao.liu")
    hashes = db.exec(sa.select(User.password_hash)).scalars().all()
    assert all(PASSWORD not in h for h in hashes)
