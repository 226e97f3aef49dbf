"""Receiving by scanning: a pack is counted once however it is reached, errors name the scan, China's calendar day."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.models import OrderLine, Receipt, ShipmentPack
from procurement.orders.payments import payables
from procurement.orders.receiving import RefusalIn, receive_shipment
from tests.errors import domain_error as _error
from tests.procurement.order_world import TODAY, build_order_world
from trace.models import EventType
from trace.transitions import EventIn

# 01:00 on 1 July in Beijing, still 30 June in UTC.
BEIJING_1_JULY = dt.datetime(2026, 6, 30, 17, 0, tzinfo=dt.UTC)


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _two_cases(ow, db, hospital):
    order, award = ow.confirmed_order(hospital, quantity=20)
    case_a, packs_a = ow.commission_case(award.product_id, 10)
    case_b, packs_b = ow.commission_case(award.product_id, 10)
    shipment, _ = ship_order(
        db, order_id=order.id, delivery_note_number="D", lines=[ShipLineIn(1, [case_a, case_b])],
        actor=ow.distributor, now=TODAY,
    )  # fmt: skip
    return order, shipment, (case_a, packs_a), (case_b, packs_b)


def _line(db, order) -> OrderLine:
    return db.exec(sa.select(OrderLine).where(OrderLine.order_id == order.id)).scalar_one()


def test_a_case_scanned_with_one_of_its_packs_is_refused_whole_naming_the_pack(ow, db):
    hospital = ow.hospital(0)
    order, shipment, (case_a, packs_a), (case_b, _packs_b) = _two_cases(ow, db, hospital)
    receive = lambda codes, **kw: receive_shipment(  # noqa: E731
        db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY, **kw
    )
    error = _error(lambda: receive([case_a, packs_a[0]]), "scanned_twice")
    assert list(error.errors) == ["codes.1"]
    assert f"{packs_a[0]} is inside case {case_a}, also scanned (codes.0)" in error.errors["codes.1"][0]
    error = _error(lambda: receive([packs_a[3], case_b, case_a]), "scanned_twice")  # the pack first
    assert list(error.errors) == ["codes.0"] and "(codes.2)" in error.errors["codes.0"][0]
    # A refusal counts too: the pack would be both received in its case and refused.
    error = _error(lambda: receive([case_a], refusals=[RefusalIn(packs_a[1], "破损")]), "scanned_twice")
    assert list(error.errors) == ["refusals.0.code"]
    error = _error(lambda: receive([case_b], refusals=[RefusalIn(case_a, "破损"), RefusalIn(packs_a[2], "x")]),
                   "scanned_twice")  # fmt: skip
    assert list(error.errors) == ["refusals.1.code"]
    # Nothing was saved: no receipt, no counts, every pack still in transit; the shipment can be received in full.
    assert db.exec(sa.select(sa.func.count()).select_from(Receipt)).one()[0] == 0
    line = _line(db, order)
    assert (line.received_qty, line.refused_qty) == (0, 0)
    receipt, _ = receive([case_a, case_b])
    assert (receipt.accepted_count, receipt.amount) == (20, line.unit_price * 20)
    assert (line.received_qty, shipment.status) == (20, "received")
    statuses = db.exec(sa.select(ShipmentPack.status).where(ShipmentPack.shipment_id == shipment.id)).scalars()
    assert set(statuses) == {"received"}


def test_goods_accepted_after_midnight_in_beijing_take_china_s_date(ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    order, _ = ow.confirmed_order(hospital, quantity=3)
    good = ow.commission(award.product_id, 2)
    stale = ow.commission(award.product_id, 1, expiry=dt.date(2026, 6, 30))  # the last day it may be used
    shipment, _ = ship_order(db, order_id=order.id, delivery_note_number="D-CN", lines=[ShipLineIn(1, good + stale)],
                             actor=ow.distributor, now=TODAY)  # fmt: skip
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=good + stale, actor=hospital, now=BEIJING_1_JULY)
    assert receipt.due_on == dt.date(2026, 7, 31)  # 30 days from 1 July, China's date; not 30 July
    assert [r["reason"] for r in receipt.refusals] == ["expired"]  # on 1 July in China it has expired
    [row] = payables(db, actor=hospital, today=dt.date(2026, 7, 20))
    assert row["received_on"] == dt.date(2026, 7, 1)


def test_a_code_the_trace_record_refuses_is_named_by_its_position(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 3)
    ow.capture(hospital, EventIn(EventType.RECEIVE, codes[2]))  # received in the trace record behind the order's back
    error = _error(
        lambda: receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY), "trace_refused"
    )
    assert list(error.errors) == ["codes.2"]


def test_a_case_received_by_its_packs_and_refused_by_the_trace_record_is_named_at_its_first_pack(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, (case_a, packs_a), _b = _two_cases(ow, db, hospital)
    ow.capture(hospital, EventIn(EventType.RECEIVE, case_a))
    error = _error(
        lambda: receive_shipment(db, shipment_id=shipment.id, codes=["garbage", *reversed(packs_a)], actor=hospital,
                                 now=TODAY),
        "trace_refused",
    )  # fmt: skip
    assert list(error.errors) == ["codes.1"] and error.errors["codes.1"][0].startswith(f"case {case_a}: ")
