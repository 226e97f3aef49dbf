"""Rows of the authorization matrix for the order endpoints, and orders at each stage of their life.

"own" is an order the caller's organisation placed (hospitals) or that is addressed to it (suppliers); "foreign"
is an order between two other organisations. Orders are placed on a listing, so no tender is needed; the award
rows stage a minimal award row of a supplier (its own, or another's).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from dataclasses import dataclass
from decimal import Decimal

from core.accounts import actor_for_user
from core.actor import Actor
from core.db import utcnow
from core.roles import OrgKind, Role
from procurement.orders import arrangements
from procurement.orders.documents import upload_document
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.ordering import OrderLineIn, confirm_order, place_order
from procurement.orders.receiving import RefusalIn, receive_shipment
from procurement.tenders.models import AgreedVolume, Award, Bid, Lot, Tender
from trace import capture
from trace.canonical import canonical_bytes
from trace.items import register_trade_item
from trace.models import EventType
from trace.transitions import EventIn

HOSPITAL_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER)
SYSTEM = Actor.system("matrix")
_n = itertools.count(1)


def _parties(w, scope: str):
    """Return (hospital, supplier) organisations of an order in the caller's scope."""
    own = scope == "own"
    hospital = w.own_org if own and w.role in HOSPITAL_ROLES else w.factory.org(OrgKind.HOSPITAL)
    supplier = w.own_org if own and w.role == Role.SUPPLIER_REP else w.factory.org(OrgKind.MANUFACTURER)
    return hospital, supplier


def _actor(w, org, role: Role):
    return actor_for_user(w.factory.db, w.factory.user(org, roles=(role,)).id)


def staged_order(w, scope: str, stage: str):
    """Return (once) an order in ``stage`` (submitted, confirmed or shipped) and its shipment, if any."""
    cache = w.__dict__.setdefault("_orders", {})
    if (scope, stage) in cache:
        return cache[(scope, stage)]
    db = w.factory.db
    hospital, supplier = _parties(w, scope)
    arrangements.create_listing(
        db, product_id=w.product.id, supplier_id=supplier.id, price=Decimal("12.5"),
        starts_on=dt.date(2020, 1, 1), actor=SYSTEM,
    )  # fmt: skip
    pharmacist, rep = _actor(w, hospital, Role.PHARMACIST), _actor(w, supplier, Role.SUPPLIER_REP)
    order, _ = place_order(db, hospital_id=hospital.id, lines=[OrderLineIn(w.product.id, 1)], actor=pharmacist)
    shipment, code = None, None
    if stage in ("confirmed", "shipped"):
        confirm_order(db, order_id=order.id, actor=rep)
    if stage == "shipped":
        code = _pack_in_stock(w, rep)
        shipment, _ = ship_order(
            db, order_id=order.id, delivery_note_number="DN", lines=[ShipLineIn(1, [code])], actor=rep
        )
    cache[(scope, stage)] = (order, shipment, code)
    return cache[(scope, stage)]


def _pack_in_stock(w, rep) -> str:
    """Commission one pack of the matrix product in the supplier's stock; return its code.

    Only the holder of a trade item (its MAH) may commission it, so each supplier gets its own trade item.
    """
    db = w.factory.db
    trades = w.__dict__.setdefault("_trades", {})
    trade = trades.get(rep.org_id)
    if trade is None:
        trade = register_trade_item(
            db, actor=SYSTEM, name="矩阵药", holder_org_id=rep.org_id, pack_size=28, unit="片",
            product_id=f"6{next(_n) % 10**5:05d}1", catalogue_ref=w.product.id,
        )  # fmt: skip
        trades[rep.org_id] = trade
    code = f"{trade.product_id}{next(_n):09d}1234"
    events = [EventIn(EventType.COMMISSION, code, batch="M1", expiry=dt.date(2030, 1, 31))]
    batch = capture.BatchIn(
        client_batch_id=f"matrix-{code}", events=events,
        request_sha256=capture.request_digest(canonical_bytes({"c": code})),
    )  # fmt: skip
    assert capture.capture(db, actor=rep, batch=batch, now=utcnow()).accepted
    return code


def staged_award(w, scope: str) -> Award:
    """Return (once) a bare award of the caller's firm (own) or another firm (foreign), with one agreed volume."""
    cache = w.__dict__.setdefault("_awards", {})
    if scope in cache:
        return cache[scope]
    db = w.factory.db
    supplier = w.own_org if scope == "own" and w.role == Role.SUPPLIER_REP else w.factory.org(OrgKind.MANUFACTURER)
    office = w.factory.org(OrgKind.PROCUREMENT_OFFICE)
    tender = Tender(title="矩阵中选", kind="national_vbp", status="awarded", organiser_org_id=office.id,
                    rule_set_name="vbp.batch10", rule_set_version="1")  # fmt: skip
    db.add(tender)
    db.flush()
    lot = Lot(tender_id=tender.id, number=1, generic_name="矩阵药", dosage_form="片剂", reference_strength="10mg",
              unit="片", ceiling_ucp=Decimal(1), category="chemical", dosage_class="oral_solid")  # fmt: skip
    db.add(lot)
    db.flush()
    bid = Bid(tender_id=tender.id, lot_id=lot.id, supplier_id=supplier.id, product_id=w.product.id,
              ciphertext=b"x", commitment="0" * 64, ciphertext_sha256="0" * 64, status="opened")  # fmt: skip
    db.add(bid)
    db.flush()
    today = utcnow().date()
    award = Award(
        tender_id=tender.id, lot_id=lot.id, bid_id=bid.id, supplier_id=supplier.id, product_id=w.product.id, rank=1,
        award_ucp=Decimal("0.5"), unit_price=Decimal(14), ceiling_ucp=Decimal(1), difference_per_unit=Decimal("0.5"),
        cycle_start=today, cycle_end=today + dt.timedelta(days=365),
    )  # fmt: skip
    db.add(award)
    db.flush()
    hospital = w.factory.org(OrgKind.HOSPITAL)
    db.add(AgreedVolume(tender_id=tender.id, lot_id=lot.id, hospital_id=hospital.id, award_id=award.id,
                        region="350200", reported_base=1000, agreed_volume=800, basis="reported"))  # fmt: skip
    db.flush()
    cache[scope] = (award, hospital)
    return cache[scope]


def _by_role(values: dict[Role, tuple[int, int]], default: tuple[int, int]) -> dict[Role, tuple[int, int]]:
    return {role: values.get(role, default) for role in Role}


def _order_req(method: str, stage: str, suffix: str = "", body=None):
    def build(w, scope: str):
        order, _shipment, _code = staged_order(w, scope, stage)
        return method, f"/api/v1/orders/{order.id}{suffix}", body(w, scope) if callable(body) else body

    return build


def _ship_body(w, scope):
    order, _, _ = staged_order(w, scope, "confirmed")
    rep = _actor(w, w.factory.db.get(type(w.own_org), order.supplier_id), Role.SUPPLIER_REP)
    return {"delivery_note_number": "DN-M", "lines": [{"line_no": 1, "codes": [_pack_in_stock(w, rep)]}]}


def _receive_body(w, scope):
    _, shipment, code = staged_order(w, scope, "shipped")
    return {"shipment_id": shipment.id, "codes": [code]}


def _stock(w, scope):
    hospital = w.own_org if scope == "own" else w.factory.org(OrgKind.HOSPITAL)
    return "GET", f"/api/v1/stock?hospital_id={hospital.id}", None


def _distributors(method: str):
    def build(w, scope):
        award, hospital = staged_award(w, scope)
        body = {"hospital_id": hospital.id, "distributor_id": w.factory.org(OrgKind.DISTRIBUTOR).id}
        return method, f"/api/v1/awards/{award.id}/distributors", body if method == "POST" else None

    return build


@dataclass(frozen=True)
class Multipart:
    """A multipart form body (an upload): fields and one file."""

    fields: dict
    filename: str
    data: bytes

    def form(self) -> dict:
        return {**self.fields, "file": (io.BytesIO(self.data), self.filename)}


PDF = b"%PDF-1.7\n%%EOF\n"


def _documents(method: str, download: bool = False):
    def build(w, scope):
        order, shipment, _code = staged_order(w, scope, "shipped")
        path = f"/api/v1/orders/{order.id}/shipments/{shipment.id}/documents"
        if download:
            rep = _actor(w, w.factory.db.get(type(w.own_org), order.supplier_id), Role.SUPPLIER_REP)
            document, _ = upload_document(w.factory.db, shipment_id=shipment.id, kind="delivery_note",
                                          filename="dn.pdf", data=PDF + b"download", actor=rep)  # fmt: skip
            return method, f"{path}/{document.id}", None
        body = (
            Multipart({"kind": "delivery_note"}, "dn.pdf", PDF + f"{next(_n)}".encode()) if method == "POST" else None
        )
        return method, path, body

    return build


def _take_back(w, scope):
    """A fresh shipment whose one pack the hospital refused, so every call finds a pack waiting."""
    db = w.factory.db
    order, _shipment, _code = staged_order(w, scope, "submitted")  # lists the product for the parties
    pharmacist = _actor(w, db.get(type(w.own_org), order.hospital_id), Role.PHARMACIST)
    rep = _actor(w, db.get(type(w.own_org), order.supplier_id), Role.SUPPLIER_REP)
    fresh, _ = place_order(db, hospital_id=order.hospital_id, lines=[OrderLineIn(w.product.id, 1)], actor=pharmacist)
    confirm_order(db, order_id=fresh.id, actor=rep)
    code = _pack_in_stock(w, rep)
    shipment, _ = ship_order(db, order_id=fresh.id, delivery_note_number="DN-R", lines=[ShipLineIn(1, [code])],
                             actor=rep)  # fmt: skip
    receive_shipment(db, shipment_id=shipment.id, codes=[], refusals=[RefusalIn(code, "破损")], actor=pharmacist)
    return "POST", f"/api/v1/orders/{fresh.id}/shipments/{shipment.id}/take-back", None


def order_rows(Row):
    """Return the matrix rows of the order endpoints."""
    everyone = dict.fromkeys(Role, (200, 200))
    hospitals = _by_role(dict.fromkeys(HOSPITAL_ROLES, (200, 200)), (403, 403))
    placing = _by_role(dict.fromkeys(HOSPITAL_ROLES, (201, 201)), (403, 403))
    reading = _by_role(
        {**dict.fromkeys((*HOSPITAL_ROLES, Role.SUPPLIER_REP), (200, 404)), Role.AUDITOR: (200, 200),
         Role.ADMIN: (200, 200)}, (404, 404),
    )  # fmt: skip
    seen_not_theirs = {**dict.fromkeys(HOSPITAL_ROLES, (403, 404)), Role.AUDITOR: (403, 403), Role.ADMIN: (403, 403)}
    supplier_acts = _by_role({**seen_not_theirs, Role.SUPPLIER_REP: (200, 404)}, (404, 404))
    shipping = _by_role({**seen_not_theirs, Role.SUPPLIER_REP: (201, 404)}, (404, 404))
    hospital_acts = _by_role(
        {**dict.fromkeys(HOSPITAL_ROLES, (200, 404)), Role.SUPPLIER_REP: (403, 404), Role.AUDITOR: (403, 403),
         Role.ADMIN: (403, 403)}, (404, 404),
    )  # fmt: skip
    receiving = {role: ((201, 404) if pair == (200, 404) else pair) for role, pair in hospital_acts.items()}
    filing = _by_role({**seen_not_theirs, Role.SUPPLIER_REP: (201, 404)}, (404, 404))
    listing_write = _by_role({Role.ADMIN: (201, 201), Role.ORGANISER: (201, 201)}, (403, 403))
    assigning = _by_role({Role.SUPPLIER_REP: (200, 403)}, (403, 403))
    stock = _by_role(
        {**dict.fromkeys(HOSPITAL_ROLES, (200, 403)), Role.AUDITOR: (200, 200), Role.ADMIN: (200, 200)}, (403, 403)
    )

    def new_order(w, scope):
        staged_order(w, scope, "submitted")  # makes the matrix product listed for every region
        return {"lines": [{"product_id": w.product.id, "quantity": 2}]}

    def new_listing(w, scope):
        return {"product_id": w.product.id, "supplier_id": w.factory.org(OrgKind.DISTRIBUTOR).id, "price": "9.9",
                "starts_on": "2026-01-01"}  # fmt: skip

    reason = {"reason": "矩阵"}
    return [
        Row("GET", "/api/v1/orders/catalogue", lambda w, s: ("GET", "/api/v1/orders/catalogue", None), hospitals),
        Row("GET", "/api/v1/orders", lambda w, s: ("GET", "/api/v1/orders", None), everyone),
        Row("POST", "/api/v1/orders", lambda w, s: ("POST", "/api/v1/orders", new_order(w, s)), placing),
        Row("GET", "/api/v1/orders/<int:order_id>", _order_req("GET", "submitted"), reading),
        Row(
            "POST", "/api/v1/orders/<int:order_id>/confirm", _order_req("POST", "submitted", "/confirm"), supplier_acts
        ),
        Row(
            "POST",
            "/api/v1/orders/<int:order_id>/reject",
            _order_req("POST", "submitted", "/reject", reason),
            supplier_acts,
        ),
        Row(
            "POST",
            "/api/v1/orders/<int:order_id>/cancel",
            _order_req("POST", "submitted", "/cancel", reason),
            hospital_acts,
        ),
        Row(
            "POST", "/api/v1/orders/<int:order_id>/ship", _order_req("POST", "confirmed", "/ship", _ship_body), shipping
        ),
        Row(
            "POST",
            "/api/v1/orders/<int:order_id>/receive",
            _order_req("POST", "shipped", "/receive", _receive_body),
            receiving,
        ),
        Row("POST", "/api/v1/orders/<int:order_id>/shipments/<int:shipment_id>/documents", _documents("POST"), filing),
        Row("GET", "/api/v1/orders/<int:order_id>/shipments/<int:shipment_id>/documents", _documents("GET"), reading),
        Row(
            "GET",
            "/api/v1/orders/<int:order_id>/shipments/<int:shipment_id>/documents/<int:document_id>",
            _documents("GET", download=True),
            reading,
        ),
        Row("POST", "/api/v1/orders/<int:order_id>/shipments/<int:shipment_id>/take-back", _take_back, supplier_acts),
        Row("GET", "/api/v1/catalogue/listings", lambda w, s: ("GET", "/api/v1/catalogue/listings", None), everyone),
        Row(
            "POST",
            "/api/v1/catalogue/listings",
            lambda w, s: ("POST", "/api/v1/catalogue/listings", new_listing(w, s)),
            listing_write,
        ),
        Row("GET", "/api/v1/awards/<int:award_id>/distributors", _distributors("GET"), everyone),
        Row("POST", "/api/v1/awards/<int:award_id>/distributors", _distributors("POST"), assigning),
        Row("GET", "/api/v1/stock", _stock, stock),
    ]
