"""Refused packs go back to the supplier: in the trace record they are in transit until the supplier takes them
back; then they are its stock again, to ship on another order. Only the shipment's supplier takes back, once."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.models import AuditRecord
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.models import ShipmentPack
from procurement.orders.receiving import RefusalIn, receive_shipment
from procurement.orders.take_back import take_back_refused
from tests.errors import domain_error as _error
from tests.procurement.order_world import TODAY, build_order_world
from trace.codes import parse
from trace.items import code_key
from trace.models import ItemStatus
from trace.state import ITEMS

LATER = TODAY + dt.timedelta(days=2)


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _items(db, codes):
    keys = [code_key(parse(c)) for c in codes]
    return {row.code_key: row for row in db.execute(sa.select(ITEMS).where(ITEMS.c.code_key.in_(keys))).all()}


def test_refused_packs_are_taken_back_into_the_suppliers_stock_and_ship_again(ow, db):
    hospital = ow.hospital(0)
    order, shipment, codes = ow.shipped(hospital, 5)
    receive_shipment(db, shipment_id=shipment.id, codes=codes[:3], actor=hospital, now=TODAY,
                     refusals=[RefusalIn(c, "外包装破损") for c in codes[3:]])  # fmt: skip
    stuck = _items(db, codes[3:])
    assert {(r.status, r.custodian_org_id, r.pending_org_id) for r in stuck.values()} == {
        (ItemStatus.IN_TRANSIT.value, ow.distributor.org_id, hospital.org_id)
    }  # with the carrier: nobody may ship or dispense them
    _error(lambda: take_back_refused(db, order_id=order.id, shipment_id=shipment.id, actor=hospital), "role_required")
    _error(lambda: take_back_refused(db, order_id=order.id, shipment_id=shipment.id, actor=ow.hospital(1)),
           "order_not_found")  # fmt: skip
    done = take_back_refused(db, order_id=order.id, shipment_id=shipment.id, actor=ow.distributor, now=LATER)
    assert (done.packs, sorted(done.codes)) == (2, sorted(codes[3:]))
    back = _items(db, codes[3:])
    assert {(r.status, r.custodian_org_id, r.pending_org_id) for r in back.values()} == {
        (ItemStatus.ACTIVE.value, ow.distributor.org_id, None)
    }
    rows = db.exec(sa.select(ShipmentPack).where(ShipmentPack.shipment_id == shipment.id)).scalars().all()
    taken = {row.code_key: row.taken_back_at for row in rows}
    refused_keys = set(_items(db, codes[3:]))
    assert {k for k, at in taken.items() if at is not None} == refused_keys
    assert all(row.status == "refused" for row in rows if row.code_key in refused_keys)  # still refused on the order
    record = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "shipment.refused_taken_back")).scalar_one()
    assert record.details["packs"] == 2
    _error(lambda: take_back_refused(db, order_id=order.id, shipment_id=shipment.id, actor=ow.distributor),
           "nothing_refused")  # fmt: skip
    # Back in stock: the distributor ships them to another hospital's order.
    other, _award = ow.confirmed_order(ow.hospital(1), 2)
    again, _ = ship_order(db, order_id=other.id, delivery_note_number="DN-again", lines=[ShipLineIn(1, codes[3:])],
                          actor=ow.distributor, now=LATER)  # fmt: skip
    assert again.pack_count == 2


def test_a_case_refused_whole_comes_back_whole(ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    case, packs = ow.commission_case(award.product_id, 4)
    order, _ = ow.confirmed_order(hospital, 4)
    shipment, _ = ship_order(db, order_id=order.id, delivery_note_number="DN-case", lines=[ShipLineIn(1, [case])],
                             actor=ow.distributor, now=TODAY)  # fmt: skip
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=[], actor=hospital, now=TODAY,
                                  refusals=[RefusalIn(case, "冷链温度超标")])  # fmt: skip
    assert receipt.refused_count == 4
    done = take_back_refused(db, order_id=order.id, shipment_id=shipment.id, actor=ow.distributor, now=LATER)
    assert done.packs == 4 and len(done.codes) == 1  # the case code, carrying its packs
    assert {r.custodian_org_id for r in _items(db, packs).values()} == {ow.distributor.org_id}
