"""Small factories for organisations, users and tokens; they insert directly and stay fast."""

from __future__ import annotations

import datetime as dt
import itertools
from functools import cache

from sqlmodel import Session
from stdnum.cn import uscc as uscc_std

from core.db import utcnow
from core.models import ApiToken, Organisation, User, UserRole
from core.passwords import hash_password
from core.roles import HospitalGrade, OrgKind, Role
from core.token_lookup import hash_secret as _hash_secret

PASSWORD = "correct-horse-battery"
_serial = itertools.count(1)

DEFAULT_ROLES: dict[OrgKind, tuple[Role, ...]] = {
    OrgKind.HOSPITAL: (Role.PHARMACIST,),
    OrgKind.MANUFACTURER: (Role.SUPPLIER_REP,),
    OrgKind.DISTRIBUTOR: (Role.SUPPLIER_REP,),
    OrgKind.INSURANCE_BUREAU: (Role.AUDITOR,),
    OrgKind.PROCUREMENT_OFFICE: (Role.ORGANISER,),
}


@cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def make_uscc(n: int, region: str = "350200") -> str:
    """Return a valid unified social credit code (registration authority 1 = institution, 2 = public institution)."""
    body = f"12{region}{n:09d}"[:17]
    return body + uscc_std.calc_check_digit(body)


class Factory:
    def __init__(self, db: Session) -> None:
        self.db = db

    def org(self, kind: OrgKind = OrgKind.HOSPITAL, **fields) -> Organisation:
        n = next(_serial)
        values = {
            "name": f"{kind.value} {n}",
            "kind": kind.value,
            "uscc": make_uscc(n),
            "region_code": "350200",
            "region_name": "厦门市",
            "hospital_grade": HospitalGrade.G3A.value if kind == OrgKind.HOSPITAL else None,
        }
        values.update(fields)
        org = Organisation(**values)
        self.db.add(org)
        self.db.flush()
        return org

    def user(self, org: Organisation | None = None, roles: tuple[Role, ...] | None = None, **fields) -> User:
        org = org or self.org()
        n = next(_serial)
        user = User(
            username=fields.pop("username", f"user{n}"),
            display_name=fields.pop("display_name", f"User {n}"),
            organisation_id=org.id,
            password_hash=password_hash(),
            **fields,
        )
        self.db.add(user)
        self.db.flush()
        for role in roles or DEFAULT_ROLES[OrgKind(org.kind)]:
            self.db.add(UserRole(user_id=user.id, role=Role(role).value))
        self.db.flush()
        return user

    def token(self, user: User, *, expires_in: dt.timedelta = dt.timedelta(days=1), revoked: bool = False) -> str:
        n = next(_serial)
        secret = f"yl_test_{n}_{'x' * 24}"
        now = utcnow()
        self.db.add(
            ApiToken(
                user_id=user.id,
                name=f"test {n}",
                token_hash=_hash_secret(secret),
                prefix=secret[:10],
                created_at=now,
                expires_at=now + expires_in,
                revoked_at=now if revoked else None,
            )
        )
        self.db.flush()
        return secret
