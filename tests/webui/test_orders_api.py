"""The order API over HTTP: ordering with Idempotency-Key, errors naming the line and field, ship and receive."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.models import AuditRecord, User
from procurement.orders import arrangements
from procurement.orders.models import PurchaseOrder
from procurement.orders.placing import MAX_LINES
from tests.procurement.order_world import build_order_world


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _client(api, db, actor):
    return api(db.get(User, actor.user_id))


def test_order_ship_receive_over_http(ow, db, api):
    hospital = ow.hospital(0)
    pharmacy, supplier = _client(api, db, hospital), _client(api, db, ow.distributor)
    award = ow.award_of(hospital)
    offer = pharmacy.get("/api/v1/orders/catalogue").get_json()
    mine = next(row for row in offer if row["product_id"] == award.product_id)
    assert mine["price"] == str(award.unit_price) and mine["price_basis"] == "awarded"
    body = {"lines": [{"product_id": award.product_id, "quantity": 3}]}
    first = pharmacy.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "api-order-1"})
    again = pharmacy.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "api-order-1"})
    assert (first.status_code, again.status_code) == (201, 200), first.get_json()
    assert first.get_json()["id"] == again.get_json()["id"]
    assert db.exec(sa.select(sa.func.count()).select_from(PurchaseOrder)).one()[0] == 1
    order = first.get_json()
    assert order["lines"][0]["unit_price"] == str(award.unit_price) and order["status"] == "submitted"
    assert supplier.post(f"/api/v1/orders/{order['id']}/confirm").status_code == 200
    codes = ow.commission(award.product_id, 3)
    ship = supplier.post(
        f"/api/v1/orders/{order['id']}/ship",
        json={"delivery_note_number": "SX-1", "lines": [{"line_no": 1, "codes": codes, "batch": "B2601"}]},
    )
    assert ship.status_code == 201, ship.get_json()
    receipt = pharmacy.post(
        f"/api/v1/orders/{order['id']}/receive",
        json={
            "shipment_id": ship.get_json()["id"],
            "codes": codes[:2],
            "refusals": [{"code": codes[2], "reason": "破损"}],
        },
    )
    assert receipt.status_code == 201, receipt.get_json()
    assert (receipt.get_json()["accepted_count"], receipt.get_json()["refused_count"]) == (2, 1)
    detail = pharmacy.get(f"/api/v1/orders/{order['id']}").get_json()
    assert detail["status"] == "completed" and detail["lines"][0]["received_qty"] == 2
    assert detail["receipts"][0]["due_on"] and detail["shipments"][0]["delivery_note_number"] == "SX-1"
    stock = pharmacy.get("/api/v1/stock").get_json()
    assert stock[0]["packs"] == 2


def test_a_new_order_answers_byte_for_byte_as_reading_it_back(ow, db, api):
    hospital = ow.hospital(0)
    pharmacy = _client(api, db, hospital)
    award = ow.award_of(hospital)
    other = next(p for p in ow.world.products if p.id != award.product_id)
    arrangements.create_listing(
        db, product_id=other.id, supplier_id=ow.distributor.org_id, price=Decimal("31.5000"),
        starts_on=dt.date(2026, 1, 1), actor=ow.world.organiser, region_prefix="35",
    )  # fmt: skip
    lines = [
        {"product_id": award.product_id, "quantity": 3},
        {"product_id": other.id, "quantity": 2, "unit_price": "31.50"},
    ]
    body = {"lines": lines, "note": "急用"}
    placed = pharmacy.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "exact-1"})
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    assert [line["price_basis"] for line in order["lines"]] == ["awarded", "listed"]
    assert order["lines"][1]["winning_product_id"] == award.product_id and order["note"] == "急用"
    read = pharmacy.get(f"/api/v1/orders/{order['id']}")
    retried = pharmacy.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "exact-1"})
    assert (read.status_code, retried.status_code) == (200, 200)
    assert placed.get_data() == read.get_data() == retried.get_data()
    audit = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "order.placed")).scalars().one()
    assert (audit.object_id, audit.actor_user_id, audit.actor_org_id) == (
        str(order["id"]),
        hospital.user_id,
        hospital.org_id,
    )
    assert audit.details == {
        "number": order["number"],
        "supplier_id": ow.distributor.org_id,
        "total": order["total_amount"],
    }
    assert audit.request_id


def test_bad_input_is_422_naming_the_line_and_field(ow, db, api):
    hospital = ow.hospital(0)
    pharmacy = _client(api, db, hospital)
    award = ow.award_of(hospital)
    bad = pharmacy.post("/api/v1/orders", json={"lines": [{"product_id": award.product_id, "quantity": 1.5}]})
    assert bad.status_code == 422 and "lines" in bad.get_json()["errors"]["json"]
    priced = pharmacy.post(
        "/api/v1/orders", json={"lines": [{"product_id": award.product_id, "quantity": 1, "unit_price": "0.10"}]}
    )
    body = priced.get_json()
    assert priced.status_code == 422 and "lines.0.unit_price" in body["errors"]["json"], body
    zero = pharmacy.post("/api/v1/orders", json={"lines": [{"product_id": award.product_id, "quantity": 0}]})
    assert zero.status_code == 422 and "lines.0.quantity" in zero.get_json()["errors"]["json"]
    order, _ = ow.confirmed_order(hospital, 1)
    cancelled = pharmacy.post(f"/api/v1/orders/{order.id}/cancel", json={"reason": "x"})
    assert cancelled.status_code == 200, cancelled.get_json()
    shipped = _client(api, db, ow.distributor).post(
        f"/api/v1/orders/{order.id}/ship", json={"delivery_note_number": "D", "lines": [{"line_no": 1, "codes": ["1"]}]}
    )
    assert shipped.status_code == 409, shipped.get_json()
    assert shipped.get_json()["code"] == "order_cancelled"


def test_an_order_of_too_many_lines_is_422_naming_the_lines(ow, db, api):
    hospital = ow.hospital(0)
    line = {"product_id": ow.award_of(hospital).product_id, "quantity": 1}
    response = _client(api, db, hospital).post("/api/v1/orders", json={"lines": [line] * (MAX_LINES + 1)})
    body = response.get_json()
    assert response.status_code == 422 and list(body["errors"]["json"]) == ["lines"], body
    spec = _client(api, db, hospital).get("/api/openapi.json").get_json()
    assert spec["components"]["schemas"]["OrderIn"]["properties"]["lines"]["maxItems"] == MAX_LINES
