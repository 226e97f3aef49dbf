"""Rows of the authorization matrix for the trace and ledger endpoints, and the supply chain they act on."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.accounts import actor_for_user
from core.actor import Actor
from core.db import utcnow
from core.roles import OrgKind, Role
from trace import capture, ledger
from trace.items import register_trade_item
from trace.models import EventType, OrgSigningKey
from trace.signing import public_raw
from trace.transitions import EventIn

_n = itertools.count(1)
SYSTEM = Actor.system("matrix")
HOSPITAL_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER)


@dataclass
class TraceWorld:
    trade_own: object
    trade_foreign: object
    pack_own: str
    pack_foreign: str
    key_own: int
    key_foreign: int
    checkpoint_size: int


def _code(trade) -> str:
    return f"{trade.product_id}{next(_n):09d}0000"


def _capture(db, org, *events):
    from tests.factories import Factory

    actor = actor_for_user(db, Factory(db).user(org).id)
    batch = capture.BatchIn(f"m{next(_n)}", list(events), f"{next(_n):064d}")
    assert capture.capture(db, actor=actor, batch=batch, now=utcnow()).accepted


def trace_world(w) -> TraceWorld:
    """Build once per world: products, packs concerning the caller's and a foreign organisation, keys, a checkpoint."""
    if getattr(w, "_trace", None) is not None:
        return w._trace
    db, factory = w.factory.db, w.factory
    makers = (
        (w.own_org, w.foreign_org) if w.own_org.kind == "manufacturer" else (factory.org(OrgKind.MANUFACTURER),) * 2
    )
    trades = []
    for maker in makers:
        pid = f"9{next(_n):06d}"
        trades.append(
            register_trade_item(
                db, actor=SYSTEM, name="药", holder_org_id=maker.id, pack_size=10, unit="片", product_id=pid
            )
        )
    packs = []
    for maker, trade, target in zip(makers, trades, (w.own_org, w.foreign_org), strict=True):
        code = _code(trade)
        events = [EventIn(EventType.COMMISSION, code)]
        if target.id != maker.id:
            events.append(EventIn(EventType.SHIP, code, to_org_id=target.id))
        _capture(db, maker, *events)
        packs.append(code)
    keys = []
    for org in (w.own_org, w.foreign_org):
        key = OrgSigningKey(org_id=org.id, public_key=public_raw(Ed25519PrivateKey.generate().public_key()).hex())
        db.add(key)
        db.flush()
        keys.append(key.id)
    checkpoint = ledger.sign_checkpoint(db, key=Ed25519PrivateKey.generate(), now=utcnow())
    w._trace = TraceWorld(trades[0], trades[1], packs[0], packs[1], keys[0], keys[1], checkpoint.tree_size)
    return w._trace


def capture_request(w, scope: str):
    t = trace_world(w)
    if w.role == Role.SUPPLIER_REP:
        trade = t.trade_own if scope == "own" else t.trade_foreign
        event = {"type": "commission", "code": _code(trade)}
    else:
        event = {"type": "receive", "code": t.pack_own if scope == "own" else t.pack_foreign}
    return "POST", "/api/v1/trace/events", {"batch_id": f"x{next(_n)}", "events": [event]}


def verify_request(w, scope: str):
    t = trace_world(w)
    return (
        "POST",
        "/api/v1/trace/verify",
        {"code": t.pack_own if scope == "own" else t.pack_foreign, "action": "receive"},
    )


def item_request(w, scope: str):
    t = trace_world(w)
    return "GET", f"/api/v1/trace/items/{t.pack_own if scope == 'own' else t.pack_foreign}", None


def ledger_request(path: str):
    def build(w, scope: str):
        trace_world(w)
        return "GET", path, None

    return build


def checkpoint_request(w, scope: str):
    return "GET", f"/api/v1/ledger/checkpoints/{trace_world(w).checkpoint_size}", None


def _by_role(own_foreign: dict[Role, tuple[int, int]], default: tuple[int, int]) -> dict[Role, tuple[int, int]]:
    return {role: own_foreign.get(role, default) for role in Role}


def trace_rows(Row):
    """Return the matrix rows of the trace and ledger endpoints."""
    capture_roles = _by_role(dict.fromkeys((*HOSPITAL_ROLES, Role.SUPPLIER_REP), (201, 422)), (403, 403))
    verify_roles = _by_role(dict.fromkeys((*HOSPITAL_ROLES, Role.SUPPLIER_REP), (200, 200)), (403, 403))
    item_roles = _by_role({Role.AUDITOR: (200, 200), Role.ADMIN: (200, 200), Role.ORGANISER: (200, 404)}, (200, 404))
    key_roles = _by_role({Role.SUPPLIER_REP: (201, 201), Role.PHARMACY_MANAGER: (201, 201)}, (403, 403))
    revoke_roles = _by_role({Role.SUPPLIER_REP: (200, 404), Role.PHARMACY_MANAGER: (200, 404)}, (403, 403))
    auditors = _by_role({Role.AUDITOR: (200, 200), Role.ADMIN: (200, 200)}, (403, 403))
    signers = _by_role({Role.AUDITOR: (201, 201), Role.ADMIN: (201, 201)}, (403, 403))
    everyone = dict.fromkeys(Role, (200, 200))

    def new_key(w, scope):
        trace_world(w)
        return "POST", "/api/v1/trace/keys", {"public_key": public_raw(Ed25519PrivateKey.generate().public_key()).hex()}

    def revoke(w, scope):
        t = trace_world(w)
        return "DELETE", f"/api/v1/trace/keys/{t.key_own if scope == 'own' else t.key_foreign}", None

    return [
        Row("POST", "/api/v1/trace/events", capture_request, capture_roles),
        Row("POST", "/api/v1/trace/verify", verify_request, verify_roles),
        Row("GET", "/api/v1/trace/items/<path:code>", item_request, item_roles),
        Row("POST", "/api/v1/trace/keys", new_key, key_roles),
        Row("GET", "/api/v1/trace/keys", ledger_request("/api/v1/trace/keys"), everyone),
        Row("DELETE", "/api/v1/trace/keys/<int:key_id>", revoke, revoke_roles),
        Row("GET", "/api/v1/ledger/checkpoints/latest", ledger_request("/api/v1/ledger/checkpoints/latest"), everyone),
        Row(
            "GET",
            "/api/v1/ledger/checkpoints/<int:tree_size>",
            lambda w, s: ("GET", f"/api/v1/ledger/checkpoints/{trace_world(w).checkpoint_size}", None),
            everyone,
        ),
        Row("POST", "/api/v1/ledger/checkpoints", lambda w, s: ("POST", "/api/v1/ledger/checkpoints", None), signers),
        Row("GET", "/api/v1/ledger/entries", ledger_request("/api/v1/ledger/entries?start=0&end=2"), auditors),
        Row(
            "GET",
            "/api/v1/ledger/proofs/inclusion",
            ledger_request("/api/v1/ledger/proofs/inclusion?index=0&tree_size=2"),
            everyone,
        ),
        Row(
            "GET",
            "/api/v1/ledger/proofs/consistency",
            ledger_request("/api/v1/ledger/proofs/consistency?first=1&second=2"),
            everyone,
        ),
        Row("GET", "/api/v1/ledger/public-key", ledger_request("/api/v1/ledger/public-key"), everyone),
        Row(
            "GET",
            "/api/v1/trace/items/<path:code>/epcis",
            lambda w, s: ("GET", item_request(w, s)[1] + "/epcis", None),
            item_roles,
        ),
    ]
