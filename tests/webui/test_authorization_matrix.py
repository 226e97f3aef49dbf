"""For every API endpoint, each role, acting in its own and in a foreign organisation, gets exactly its access.

The matrix must name every route under /api/v1: a new endpoint fails ``test_matrix_covers_every_endpoint`` until
its row is added. Objects outside the caller's scope answer 404 (their existence is not revealed); actions the
caller's role does not allow answer 403.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from core import accounts
from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.models import ApiToken
from core.roles import ROLE_ORG_KINDS, OrgKind, Role
from procurement.catalogue import Product
from tests.factories import DEFAULT_ROLES, PASSWORD, make_uscc
from tests.webui.matrix_agreements import agreement_rows
from tests.webui.matrix_alerts import alert_rows
from tests.webui.matrix_catalogue import catalogue_rows
from tests.webui.matrix_circulation import circulation_rows
from tests.webui.matrix_credit import credit_rows
from tests.webui.matrix_money import money_rows
from tests.webui.matrix_orders import Multipart, order_rows
from tests.webui.matrix_prescriptions import prescription_rows
from tests.webui.matrix_reconciliation import reconciliation_rows
from tests.webui.matrix_supply import supply_rows
from tests.webui.matrix_surplus import surplus_rows
from tests.webui.matrix_tenders import tender_rows
from tests.webui.matrix_trace import trace_rows

ROLES = list(Role)
SCOPES = ("own", "foreign")
ALL_OK = dict.fromkeys(ROLES, (200, 200))

# The organisation kind each role's caller sits in.
HOME_KIND = {
    Role.PHARMACIST: OrgKind.HOSPITAL,
    Role.PHARMACY_MANAGER: OrgKind.HOSPITAL,
    Role.SUPPLIER_REP: OrgKind.MANUFACTURER,
    Role.AUDITOR: OrgKind.INSURANCE_BUREAU,
    Role.ORGANISER: OrgKind.PROCUREMENT_OFFICE,
    Role.ADMIN: OrgKind.PROCUREMENT_OFFICE,
}


@dataclass
class World:
    caller: object
    own_org: object
    foreign_org: object
    colleague: object
    stranger: object
    factory: object
    product: object
    role: Role | None = None

    def org(self, scope: str):
        return self.own_org if scope == "own" else self.foreign_org

    def user(self, scope: str):
        return self.colleague if scope == "own" else self.stranger


def _product(factory, db):
    maker = factory.org(OrgKind.MANUFACTURER)
    product = Product(
        generic_name="阿托伐他汀钙片",
        dosage_form="片剂",
        strength="10mg",
        pack_quantity=28,
        unit="片",
        package_spec="10mg×7片×4板",
        manufacturer_id=maker.id,
    )
    db.add(product)
    db.flush()
    return product


Request = tuple[str, str, dict | None]


def _new_org_body(_w: World, _scope: str) -> dict:
    n = uuid.uuid4().int % 10**9
    return {
        "name": f"新医院{n}",
        "kind": "hospital",
        "uscc": make_uscc(n),
        "region_code": "350200",
        "region_name": "厦门市",
        "hospital_grade": "2A",
    }


def _new_user_body(w: World, scope: str) -> dict:
    org = w.org(scope)
    roles = [r.value for r in DEFAULT_ROLES[OrgKind(org.kind)]]
    return {
        "username": f"u{uuid.uuid4().hex[:10]}",
        "password": PASSWORD,
        "display_name": "新用户",
        "organisation_id": org.id,
        "roles": roles,
    }


@dataclass(frozen=True)
class Row:
    method: str
    rule: str
    build: Callable[[World, str], Request]
    expect: dict[Role, tuple[int, int]]  # role -> (status in own scope, status in foreign scope)
    public: bool = False


def _admin_only(status: int) -> dict[Role, tuple[int, int]]:
    return {role: (status, status) if role == Role.ADMIN else (403, 403) for role in ROLES}


def _own_or_admin() -> dict[Role, tuple[int, int]]:
    return {role: (200, 200) if role == Role.ADMIN else (200, 404) for role in ROLES}


MATRIX: list[Row] = [
    Row(
        "POST",
        "/api/v1/auth/tokens",
        lambda w, s: ("POST", "/api/v1/auth/tokens", {"username": w.caller.username, "password": PASSWORD}),
        dict.fromkeys(ROLES, (201, 201)),
        public=True,
    ),
    Row("GET", "/api/v1/auth/tokens", lambda w, s: ("GET", "/api/v1/auth/tokens", None), ALL_OK),
    Row(
        "DELETE",
        "/api/v1/auth/tokens/<int:token_id>",
        lambda w, s: ("DELETE", f"/api/v1/auth/tokens/{w.token_id(s)}", None),
        _own_or_admin(),
    ),
    Row("GET", "/api/v1/me", lambda w, s: ("GET", "/api/v1/me", None), ALL_OK),
    Row("GET", "/api/v1/organisations", lambda w, s: ("GET", "/api/v1/organisations", None), ALL_OK),
    Row(
        "POST",
        "/api/v1/organisations",
        lambda w, s: ("POST", "/api/v1/organisations", _new_org_body(w, s)),
        _admin_only(201),
    ),
    Row(
        "GET",
        "/api/v1/organisations/<int:org_id>",
        lambda w, s: ("GET", f"/api/v1/organisations/{w.org(s).id}", None),
        ALL_OK,
    ),
    Row("GET", "/api/v1/users", lambda w, s: ("GET", "/api/v1/users", None), ALL_OK),
    Row("POST", "/api/v1/users", lambda w, s: ("POST", "/api/v1/users", _new_user_body(w, s)), _admin_only(201)),
    Row(
        "GET",
        "/api/v1/users/<int:user_id>",
        lambda w, s: ("GET", f"/api/v1/users/{w.user(s).id}", None),
        _own_or_admin(),
    ),
    Row("GET", "/api/v1/audit/records", lambda w, s: ("GET", "/api/v1/audit/records", None), ALL_OK),
    Row("GET", "/api/v1/catalogue/products", lambda w, s: ("GET", "/api/v1/catalogue/products", None), ALL_OK),
    Row(
        "GET",
        "/api/v1/catalogue/products/<int:product_id>",
        lambda w, s: ("GET", f"/api/v1/catalogue/products/{w.product.id}", None),
        ALL_OK,
    ),
]


MATRIX += trace_rows(Row)
MATRIX += catalogue_rows(Row)
MATRIX += tender_rows(Row)
MATRIX += supply_rows(Row)
MATRIX += order_rows(Row)
MATRIX += agreement_rows(Row)
MATRIX += money_rows(Row)
MATRIX += prescription_rows(Row)
MATRIX += alert_rows(Row)
MATRIX += credit_rows(Row)
MATRIX += reconciliation_rows(Row)
MATRIX += circulation_rows(Row)
MATRIX += surplus_rows(Row)


@pytest.fixture
def world_for(factory, db, app):
    def build(role: Role) -> World:
        kind = HOME_KIND[role]
        assert kind in ROLE_ORG_KINDS[role]
        own, foreign = factory.org(kind), factory.org(kind)
        caller = factory.user(own, roles=(role,))
        colleague = factory.user(own)
        stranger = factory.user(foreign)
        world = World(caller, own, foreign, colleague, stranger, factory, _product(factory, db), role)
        ids = {"own": _token_id(factory, caller), "foreign": _token_id(factory, stranger)}
        world.token_id = ids.__getitem__  # type: ignore[attr-defined]
        world.app = app  # type: ignore[attr-defined]  # tender bids are signed with the app's platform key
        return world

    return build


def _body(body) -> dict:
    """A row's body: JSON, or a multipart form (a ``Multipart``) for uploads."""
    if isinstance(body, Multipart):
        return {"data": body.form(), "content_type": "multipart/form-data"}
    return {"json": body}


@pytest.mark.parametrize(
    ("row", "role", "scope"),
    list(itertools.product(MATRIX, ROLES, SCOPES)),
    ids=lambda v: v.method + " " + v.rule if isinstance(v, Row) else str(v),
)
def test_access(world_for, api, client, row: Row, role: Role, scope: str):
    world = world_for(role)
    method, path, body = row.build(world, scope)
    # The caller acts with a second token so that revoking "own" tokens never revokes the caller's own session.
    caller_token = world.factory.token(world.caller)
    response = client.open(path, method=method, headers={"Authorization": f"Bearer {caller_token}"}, **_body(body))
    want = row.expect[role][0 if scope == "own" else 1]
    assert response.status_code == want, f"{role.value} {scope}: {response.get_data(as_text=True)[:300]}"


@pytest.mark.parametrize("row", [r for r in MATRIX if not r.public], ids=lambda r: f"{r.method} {r.rule}")
def test_anonymous_callers_get_401(world_for, client, row: Row):
    method, path, body = row.build(world_for(Role.PHARMACIST), "own")
    assert client.open(path, method=method, **_body(body)).status_code == 401


def test_matrix_covers_every_endpoint(app):
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == {(row.method, row.rule) for row in MATRIX}


def test_scoped_lists_hold_only_what_the_caller_may_see(api, factory):
    """Lists answer 200 to everyone, so check their contents: no foreign users, no foreign audit records."""
    hospital_a, hospital_b = factory.org(), factory.org()
    pharmacist = factory.user(hospital_a)
    stranger = factory.user(hospital_b)
    accounts.revoke_token(
        factory.db, token_id=_token_id(factory, stranger), actor=Actor.system("t"), now=utcnow()
    )  # filed under no organisation: only administrators and auditors see it
    foreign_actor = accounts.actor_for_user(factory.db, stranger.id)
    record_audit(factory.db, actor=foreign_actor, action="probe.foreign", object_type="probe", object_id=1)
    record_audit(
        factory.db,
        actor=accounts.actor_for_user(factory.db, pharmacist.id),
        action="probe.own",
        object_type="probe",
        object_id=2,
    )
    caller = api(pharmacist)
    users = {u["id"] for u in caller.get("/api/v1/users").json}
    assert stranger.id not in users and pharmacist.id in users
    actions = {r["action"] for r in caller.get("/api/v1/audit/records?page_size=100").json}
    assert "probe.own" in actions and "probe.foreign" not in actions and "token.revoked" not in actions
    auditor = factory.user(factory.org(OrgKind.INSURANCE_BUREAU), roles=(Role.AUDITOR,))
    seen = {r["action"] for r in api(auditor).get("/api/v1/audit/records?page_size=100").json}
    assert {"probe.own", "probe.foreign"} <= seen


def _token_id(factory, user) -> int:
    """Issue a token for ``user`` and return its id."""
    factory.token(user)
    stmt = sa.select(ApiToken.id).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    return factory.db.exec(stmt).scalars().first()
