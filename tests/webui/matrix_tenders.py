"""Rows of the authorization matrix for the tender endpoints, and tenders in each stage they act on.

"own" is a tender organised by the caller's organisation (or, for hospitals, one in their area; for suppliers, a
lot holding their product); "foreign" is the same stage organised elsewhere or out of reach.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from core.accounts import actor_for_user
from core.db import utcnow
from core.roles import OrgKind, Role
from procurement.catalogue import Product
from procurement.tenders import bidding, demand, opening, setup
from procurement.tenders import lots as tender_lots
from procurement.tenders.demand import DemandLineIn
from procurement.tenders.models import TenderKind
from trace.signing import load_or_create_private_key

PASSPHRASE = "matrix-passphrase-2026"
_n = itertools.count(1)
HOSPITAL_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER)


@dataclass
class Staged:
    tender_id: int
    lot_id: int
    bid_id: int | None = None


def _world(w) -> dict:
    if getattr(w, "_tenders", None) is None:
        w._tenders = {}
    return w._tenders


def _office(w, scope: str):
    """The organising office: the caller's own organisation when it organises, else a separate one."""
    if scope == "own" and w.role == Role.ORGANISER:
        return w.own_org
    return w.factory.org(OrgKind.PROCUREMENT_OFFICE)


def _actor(w, org, role: Role):
    return actor_for_user(w.factory.db, w.factory.user(org, roles=(role,)).id)


def _product(w, maker) -> Product:
    product = Product(
        generic_name=f"矩阵药{next(_n)}",
        dosage_form="片剂",
        strength="10mg",
        pack_quantity=10,
        unit="片",
        package_spec="10mg×10片",
        manufacturer_id=maker.id,
        gqce_status="passed",
    )
    w.factory.db.add(product)
    w.factory.db.flush()
    return product


def staged(w, scope: str, stage: str) -> Staged:
    """Return (once) a tender in ``stage``: draft, demand, bidding, closed_bidding, opened, evaluated or awarded."""
    cache = _world(w)
    if (scope, stage) in cache:
        return cache[(scope, stage)]
    db = w.factory.db
    office = _office(w, scope)
    organiser = _actor(w, office, Role.ORGANISER)
    makers = [w.own_org if w.role == Role.SUPPLIER_REP and scope == "own" else w.factory.org(OrgKind.MANUFACTURER)]
    makers.append(w.factory.org(OrgKind.MANUFACTURER))
    first = _product(w, makers[0])
    second = Product(**{**first.model_dump(exclude={"id", "created_at"}), "manufacturer_id": makers[1].id})
    db.add(second)
    db.flush()
    now = utcnow()
    closed = stage not in ("draft", "demand", "bidding")
    deadline = now - dt.timedelta(hours=1) if closed else now + dt.timedelta(days=3)
    before = deadline - dt.timedelta(days=2)
    region = w.own_org.region_code[:2] if scope == "own" else "11"  # foreign: Beijing, outside the caller's area
    tender = setup.create_tender(
        db,
        actor=organiser,
        title=f"矩阵{next(_n)}",
        kind=TenderKind.NATIONAL_VBP,
        rule_set="vbp.batch10",
        region_prefix=region,
        bid_deadline=deadline,
    )
    lot = tender_lots.add_lot(
        db,
        tender_id=tender.id,
        actor=organiser,
        generic_name=first.generic_name,
        dosage_form="片剂",
        reference_strength="10mg",
        ceiling_ucp=Decimal("1.0000"),
    )
    result = Staged(tender.id, lot.id)
    if stage != "draft":
        setup.update_tender(
            db, tender_id=tender.id, actor=organiser, changes={"status": "demand_collection"}, now=before
        )
    if stage not in ("draft", "demand"):
        hospital = w.factory.org(OrgKind.HOSPITAL, region_code=f"{region}0100")
        demand.report_demand(
            db,
            tender_id=tender.id,
            actor=_actor(w, hospital, Role.PHARMACIST),
            now=before,
            lines=[DemandLineIn(lot_id=lot.id, quantity=1000, product_id=first.id)],
        )
        setup.update_tender(
            db,
            tender_id=tender.id,
            actor=organiser,
            changes={"status": "bidding", "opening_passphrase": PASSPHRASE},
            now=before,
        )
        key = load_or_create_private_key(w.app.config["SIGNING_KEY_PATH"])  # the key the app checks receipts with
        bids = []
        offers = [(makers[1], second, "2.0000")]
        if closed:  # while bidding is open the first maker (the caller, for suppliers) has not bid yet
            offers.insert(0, (makers[0], first, "9.0000"))
        for maker, product, price in offers:
            bids.append(
                bidding.submit_bid(
                    db,
                    tender_id=tender.id,
                    lot_id=lot.id,
                    actor=_actor(w, maker, Role.SUPPLIER_REP),
                    product_id=product.id,
                    price=Decimal(price),
                    signing_key=key,
                    now=before,
                )[0]
            )
        result.bid_id = bids[0].id  # when closed: 0.90 per unit against 0.20 fails 1.8 × lowest → revival offered
    if stage in ("opened", "evaluated", "awarded"):
        opening.open_tender(db, tender_id=tender.id, actor=organiser, passphrase=PASSPHRASE, now=now)
    if stage in ("evaluated", "awarded"):
        opening.evaluate_tender(db, tender_id=tender.id, actor=organiser, now=now)
    if stage == "awarded":
        from procurement.tenders import awarding

        awarding.award_tender(db, tender_id=tender.id, actor=organiser, now=now)
    cache[(scope, stage)] = result
    return result


def _by_role(values: dict[Role, tuple[int, int]], default: tuple[int, int]) -> dict[Role, tuple[int, int]]:
    return {role: values.get(role, default) for role in Role}


def _req(method: str, stage: str, suffix: str = "", body=None):
    def build(w, scope: str):
        s = staged(w, scope, stage)
        path = f"/api/v1/tenders/{s.tender_id}{suffix.format(lot=s.lot_id, bid=s.bid_id)}"
        return method, path, body(w, scope) if callable(body) else body

    return build


def tender_rows(Row):
    """Return the matrix rows of the tender endpoints."""
    everyone = dict.fromkeys(Role, (200, 200))
    organiser_only = _by_role({Role.ORGANISER: (200, 403)}, (403, 403))
    draft_edit = _by_role({Role.ORGANISER: (200, 404), Role.ADMIN: (403, 403)}, (404, 404))
    draft_lot = _by_role({Role.ORGANISER: (201, 404), Role.ADMIN: (403, 403)}, (404, 404))
    draft_read = _by_role({Role.ORGANISER: (200, 404), Role.ADMIN: (200, 200)}, (404, 404))
    demand_write = _by_role(dict.fromkeys(HOSPITAL_ROLES, (201, 403)), (403, 403))
    sealed = _by_role({Role.ORGANISER: (409, 200), Role.ADMIN: (409, 409), Role.AUDITOR: (409, 409)}, (200, 200))
    bid_write = _by_role({Role.SUPPLIER_REP: (201, 403)}, (403, 403))
    revival = _by_role({Role.SUPPLIER_REP: (200, 404)}, (403, 403))

    def new_tender(w, scope):
        return {"title": "新批次", "kind": "national_vbp", "rule_set": "vbp.batch10"}

    def new_lot(w, scope):
        s = staged(w, scope, "draft")
        from procurement.tenders.models import Lot

        lot = w.factory.db.get(Lot, s.lot_id)
        return {
            "generic_name": lot.generic_name,
            "dosage_form": "片剂",
            "reference_strength": "10mg",
            "ceiling_ucp": "2",
        }

    def demand_line(w, scope):
        return {"lines": [{"lot_id": staged(w, scope, "demand").lot_id, "quantity": 500}]}

    def bid(w, scope):
        s = staged(w, scope, "bidding")
        from procurement.tenders.models import LotProduct

        rows = w.factory.db.exec(sa.select(LotProduct.product_id).where(LotProduct.lot_id == s.lot_id)).all()
        products = [row[0] for row in rows]
        own = [p for p in products if w.factory.db.get(Product, p).manufacturer_id == w.own_org.id]
        return {"product_id": (own or products)[0], "price": "5.0000"}

    return [
        Row("GET", "/api/v1/tenders/rule-sets", lambda w, s: ("GET", "/api/v1/tenders/rule-sets", None), everyone),
        Row("GET", "/api/v1/tenders", lambda w, s: ("GET", "/api/v1/tenders", None), everyone),
        Row(
            "POST",
            "/api/v1/tenders",
            lambda w, s: ("POST", "/api/v1/tenders", new_tender(w, s)),
            _by_role({Role.ORGANISER: (201, 201)}, (403, 403)),
        ),
        Row("GET", "/api/v1/tenders/<int:tender_id>", _req("GET", "draft"), draft_read),
        Row("PATCH", "/api/v1/tenders/<int:tender_id>", _req("PATCH", "draft", body={"title": "改名"}), draft_edit),
        Row("POST", "/api/v1/tenders/<int:tender_id>/lots", _req("POST", "draft", "/lots", new_lot), draft_lot),
        Row("GET", "/api/v1/tenders/<int:tender_id>/demand", _req("GET", "demand", "/demand"), everyone),
        Row(
            "POST",
            "/api/v1/tenders/<int:tender_id>/demand",
            _req("POST", "demand", "/demand", demand_line),
            demand_write,
        ),
        Row("GET", "/api/v1/tenders/<int:tender_id>/bids", _req("GET", "bidding", "/bids"), sealed),
        Row(
            "POST",
            "/api/v1/tenders/<int:tender_id>/lots/<int:lot_id>/bids",
            _req("POST", "bidding", "/lots/{lot}/bids", bid),
            bid_write,
        ),
        Row(
            "POST",
            "/api/v1/tenders/<int:tender_id>/lots/<int:lot_id>/bids/<int:bid_id>/revival",
            _req("POST", "evaluated", "/lots/{lot}/bids/{bid}/revival"),
            revival,
        ),
        Row(
            "POST",
            "/api/v1/tenders/<int:tender_id>/open",
            _req("POST", "closed_bidding", "/open", {"passphrase": PASSPHRASE}),
            organiser_only,
        ),
        Row("POST", "/api/v1/tenders/<int:tender_id>/evaluate", _req("POST", "opened", "/evaluate"), organiser_only),
        Row("GET", "/api/v1/tenders/<int:tender_id>/results", _req("GET", "evaluated", "/results"), everyone),
        Row("POST", "/api/v1/tenders/<int:tender_id>/award", _req("POST", "evaluated", "/award", {}), organiser_only),
        Row("GET", "/api/v1/tenders/<int:tender_id>/awards", _req("GET", "awarded", "/awards"), everyone),
        Row("GET", "/api/v1/tenders/<int:tender_id>/ocds", _req("GET", "awarded", "/ocds"), everyone),
    ]
