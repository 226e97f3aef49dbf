"""Ordering at awarded prices, the order's life, shipping with trace codes and receiving by scanning."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.models import AuditRecord
from procurement.orders import arrangements
from procurement.orders.buyable import buyable_products
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.models import OrderLine, OrderStatus, PriceBasis, ShipmentPack
from procurement.orders.ordering import (
    MAX_LINES,
    OrderLineIn,
    cancel_order,
    confirm_order,
    list_orders,
    place_order,
    reject_order,
)
from procurement.orders.receiving import RefusalIn, receive_shipment
from tests.errors import domain_error as _error
from tests.procurement.order_world import TODAY, build_order_world
from trace.models import Item, ItemStatus, TraceEvent


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def test_hospital_sees_its_award_at_the_winning_price_and_orders_it(ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    offer = buyable_products(db, hospital_id=hospital.org_id, on=TODAY.date())
    item = offer[award.product_id]
    assert (item.price, item.price_basis, item.supplier_id) == (
        award.unit_price,
        PriceBasis.AWARDED,
        ow.distributor.org_id,
    )
    assert item.agreed_volume > 0 and item.cycle_end == award.cycle_end
    order, created = place_order(
        db, hospital_id=hospital.org_id, lines=[OrderLineIn(award.product_id, 3)], actor=hospital, now=TODAY
    )
    assert created and order.number.startswith("PO20260615-") and order.supplier_id == ow.distributor.org_id
    line = db.exec(sa.select(OrderLine).where(OrderLine.order_id == order.id)).scalar_one()
    assert (line.unit_price, line.amount, line.award_id) == (award.unit_price, award.unit_price * 3, award.id)
    assert order.total_amount == award.unit_price * 3
    audit = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "order.placed")).scalars().all()
    assert [a.object_id for a in audit] == [str(order.id)]


def test_the_client_cannot_set_a_price_or_buy_what_it_was_not_awarded(ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    other = next(p for p in ow.world.products if p.id != award.product_id)
    place = lambda lines: place_order(db, hospital_id=hospital.org_id, lines=lines, actor=hospital, now=TODAY)  # noqa: E731
    error = _error(lambda: place([OrderLineIn(award.product_id, 2, Decimal("0.01"))]), "bad_order_line")
    assert "lines.0.unit_price" in error.errors and str(award.unit_price) in error.errors["lines.0.unit_price"][0]
    error = _error(lambda: place([OrderLineIn(award.product_id, 1), OrderLineIn(other.id, 1)]), "bad_order_line")
    assert list(error.errors) == ["lines.1.product_id"] and "neither awarded" in error.errors["lines.1.product_id"][0]
    for bad in (0, -3, 2.5, True):
        error = _error(lambda bad=bad: place([OrderLineIn(award.product_id, bad)]), "bad_order_line")
        assert list(error.errors) == ["lines.0.quantity"]
    _error(lambda: place([]), "no_lines")
    error = _error(
        lambda: place([OrderLineIn(award.product_id, 1), OrderLineIn(award.product_id, 2)]), "bad_order_line"
    )
    assert "lines.1.product_id" in error.errors
    assert db.exec(sa.select(sa.func.count()).select_from(OrderLine)).one()[0] == 0  # nothing half-saved


def test_listed_non_winning_product_is_allowed_and_records_the_winner(ow, db, factory):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    other = next(p for p in ow.world.products if p.id != award.product_id)
    admin = ow.world.organiser
    arrangements.create_listing(
        db, product_id=other.id, supplier_id=ow.distributor.org_id, price=Decimal("31.5000"),
        starts_on=dt.date(2026, 1, 1), actor=admin, region_prefix="35",
    )  # fmt: skip
    offer = buyable_products(db, hospital_id=hospital.org_id, on=TODAY.date())
    assert offer[other.id].price_basis == PriceBasis.LISTED and offer[other.id].winning_product_id == award.product_id
    order, _ = place_order(db, hospital_id=hospital.org_id, lines=[OrderLineIn(other.id, 2)], actor=hospital, now=TODAY)
    line = db.exec(sa.select(OrderLine).where(OrderLine.order_id == order.id)).scalar_one()
    assert (line.price_basis, line.unit_price, line.winning_product_id) == ("listed", Decimal("31.5"), award.product_id)


def test_too_many_lines_are_refused_naming_the_lines(ow, db):
    hospital = ow.hospital(0)
    lines = [OrderLineIn(ow.award_of(hospital).product_id, 1)] * (MAX_LINES + 1)
    error = _error(lambda: place_order(db, hospital_id=hospital.org_id, lines=lines, actor=hospital, now=TODAY),
                   "too_many_lines")  # fmt: skip
    assert error.errors == {"lines": [f"an order holds at most {MAX_LINES} lines"]}


def test_a_retried_order_with_the_same_key_is_placed_once(ow, db):
    hospital = ow.hospital(1)
    award = ow.award_of(hospital)
    kwargs = {
        "hospital_id": hospital.org_id,
        "actor": hospital,
        "now": TODAY,
        "idempotency_key": "k-1",
        "request_sha256": "a",
    }
    first, created = place_order(db, lines=[OrderLineIn(award.product_id, 4)], **kwargs)
    again, created_again = place_order(db, lines=[OrderLineIn(award.product_id, 4)], **kwargs)
    assert created and not created_again and again.id == first.id
    _error(lambda: place_order(db, lines=[OrderLineIn(award.product_id, 9)], **{**kwargs, "request_sha256": "b"}),
           "idempotency_key_reused")  # fmt: skip
    assert len(list_orders(db, actor=hospital).items) == 1


def test_suppliers_confirm_or_reject_and_hospitals_cancel(ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    place = lambda: place_order(  # noqa: E731
        db, hospital_id=hospital.org_id, lines=[OrderLineIn(award.product_id, 1)], actor=hospital, now=TODAY
    )[0]
    rejected = place()
    _error(lambda: reject_order(db, order_id=rejected.id, reason=" ", actor=ow.distributor), "reason_required")
    reject_order(db, order_id=rejected.id, reason="缺货", actor=ow.distributor)
    assert (rejected.status, rejected.reason) == ("rejected", "缺货")
    _error(lambda: confirm_order(db, order_id=rejected.id, actor=ow.distributor), "order_status")
    maker = ow.world.makers[0]  # not this order's supplier: the order is invisible to it
    _error(lambda: confirm_order(db, order_id=place().id, actor=maker), "order_not_found")
    cancelled = place()
    cancel_order(db, order_id=cancelled.id, reason="重复下单", actor=hospital)
    error = _error(
        lambda: ship_order(db, order_id=cancelled.id, delivery_note_number="D1", lines=[ShipLineIn(1, ["x"])],
                           actor=ow.distributor),
        "order_cancelled",
    )  # fmt: skip
    assert "cancelled" in error.message
    assert [o.status for o in list_orders(db, actor=ow.distributor).items].count("cancelled") == 1


def test_ship_checks_every_code_and_writes_ship_events(ow, db):
    hospital = ow.hospital(0)
    order, award = ow.confirmed_order(hospital, quantity=12)
    loose = ow.commission(award.product_id, 2)
    case, case_packs = ow.commission_case(award.product_id, 10)
    other = next(p for p in ow.world.products if p.id != award.product_id)
    wrong = ow.commission(other.id, 1)
    ship = lambda codes, **kw: ship_order(  # noqa: E731
        db, order_id=order.id, delivery_note_number="DN-9", lines=[ShipLineIn(1, codes, **kw)],
        actor=ow.distributor, now=TODAY,
    )  # fmt: skip
    error = _error(lambda: ship([*loose, wrong[0], case_packs[0], "12345"]), "bad_shipment")
    assert set(error.errors) == {"lines.0.codes.2", "lines.0.codes.3", "lines.0.codes.4"}
    assert "inside a case" in error.errors["lines.0.codes.3"][0]
    error = _error(lambda: ship([*loose, case], batch="OTHER"), "bad_shipment")
    assert "batch" in error.errors["lines.0.codes.0"][0]
    error = _error(lambda: ship([*loose, loose[0]]), "bad_shipment")
    assert "listed twice" in error.errors["lines.0.codes.2"][0]
    shipment, _ = ship([*loose, case], batch="B2601")
    assert shipment.pack_count == 12 and order.status == OrderStatus.SHIPPED.value
    packs = db.exec(sa.select(ShipmentPack).where(ShipmentPack.shipment_id == shipment.id)).scalars().all()
    assert sorted(p.case_key is not None for p in packs).count(True) == 10
    items = db.exec(sa.select(Item).where(Item.id.in_([p.item_id for p in packs]))).scalars().all()
    assert {(i.status, i.pending_org_id) for i in items} == {(ItemStatus.IN_TRANSIT.value, hospital.org_id)}
    error = _error(lambda: ship(ow.commission(award.product_id, 1)), "order_fully_shipped")


def test_cannot_ship_more_than_ordered(ow, db):
    order, award = ow.confirmed_order(ow.hospital(0), quantity=2)
    codes = ow.commission(award.product_id, 3)
    error = _error(
        lambda: ship_order(db, order_id=order.id, delivery_note_number="D", lines=[ShipLineIn(1, codes)],
                           actor=ow.distributor, now=TODAY),
        "bad_shipment",
    )  # fmt: skip
    assert "only 2 of line 1 remain" in error.errors["lines.0.codes"][0]


def test_receive_by_scanning_accepts_and_refuses_each_pack_with_its_reason(ow, db):
    hospital = ow.hospital(0)
    order, shipment, codes = ow.shipped(hospital, quantity=5)
    _, _other_shipment, other_codes = ow.shipped(ow.hospital(1), quantity=1)
    error = _error(
        lambda: receive_shipment(db, shipment_id=shipment.id, codes=[codes[0], codes[0]], actor=hospital, now=TODAY),
        "scanned_twice",
    )
    assert list(error.errors) == ["codes.1"]
    receipt, created = receive_shipment(
        db, shipment_id=shipment.id, codes=[codes[0], codes[1], other_codes[0], "garbage"],
        refusals=[RefusalIn(codes[2], "外包装破损")], actor=hospital, now=TODAY, idempotency_key="r1",
    )  # fmt: skip
    assert created and (receipt.accepted_count, receipt.refused_count) == (2, 3)
    reasons = {r["code"]: r["reason"] for r in receipt.refusals}
    assert reasons["garbage"] == "invalid_code"
    assert reasons[next(iter(r["code"] for r in receipt.refusals if r["reason"] == "not_shipped_here"))]
    assert "refused_by_pharmacist" in reasons.values()
    assert receipt.amount == ow.award_of(hospital).unit_price * 2 and receipt.due_on == dt.date(2026, 7, 15)
    again, created = receive_shipment(
        db, shipment_id=shipment.id, codes=[codes[0], codes[1], other_codes[0], "garbage"],
        refusals=[RefusalIn(codes[2], "外包装破损")], actor=hospital, now=TODAY, idempotency_key="r1",
    )  # fmt: skip
    assert not created and again.id == receipt.id
    second, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)
    assert second.accepted_count == 2  # codes[3], codes[4]; the first three were received or refused already
    assert sorted(r["reason"] for r in second.refusals) == ["already_received", "already_received", "already_refused"]
    line = db.exec(sa.select(OrderLine).where(OrderLine.order_id == order.id)).scalar_one()
    assert (line.shipped_qty, line.received_qty, line.refused_qty) == (5, 4, 1)
    assert order.status == OrderStatus.COMPLETED.value and shipment.status == "received"
    received = db.exec(sa.select(sa.func.count()).select_from(TraceEvent).where(TraceEvent.type == "receive",
                       TraceEvent.org_id == hospital.org_id)).one()[0]  # fmt: skip
    assert received == 4
    stock = arrangements.stock_on_hand(db, hospital_id=hospital.org_id, actor=hospital)
    assert [(row["batch"], row["packs"]) for row in stock] == [("B2601", 4)]


def test_expired_and_recalled_packs_are_refused_at_receipt(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, quantity=2)
    item = db.exec(sa.select(Item).where(Item.code_text == codes[0])).scalar_one()
    item.recalled = True
    later = TODAY.replace(year=2028, month=7)  # after the packs' expiry (2028-06-30)
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes[1:], actor=hospital, now=later)
    assert [r["reason"] for r in receipt.refusals] == ["expired"] and receipt.accepted_count == 0
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes[:1], actor=hospital, now=TODAY)
    assert [r["reason"] for r in receipt.refusals] == ["recalled"]


def test_cases_are_received_whole(ow, db):
    hospital = ow.hospital(0)
    order, award = ow.confirmed_order(hospital, quantity=20)
    case_a, _packs_a = ow.commission_case(award.product_id, 10)
    case_b, packs_b = ow.commission_case(award.product_id, 10)
    shipment, _ = ship_order(
        db, order_id=order.id, delivery_note_number="D", lines=[ShipLineIn(1, [case_a, case_b])],
        actor=ow.distributor, now=TODAY,
    )  # fmt: skip
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=[case_a, *packs_b[:3]], actor=hospital, now=TODAY)
    assert receipt.accepted_count == 10 and {r["reason"] for r in receipt.refusals} == {"partial_case"}
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=packs_b, actor=hospital, now=TODAY)
    assert receipt.accepted_count == 10 and order.status == OrderStatus.COMPLETED.value
