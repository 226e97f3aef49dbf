"""A surplus-retention world: hospital 0 of the order world on a 100-day cycle with the bureau's inputs set.

The 100-day cycle (2026-05-07 to 2026-08-14) cuts the agreement year to 100 of its 365 days, so the annual agreed
volume of 10,220 tablets becomes 2,800 (100 packs of 28) and the reported base of 14,600 becomes 4,000. With a
pre-tender price of 1.5000 a tablet, Fujian's pay ratio 0.70 and an insured share of 0.80, the budget is
4,000 × 1.5 × 0.56 = 3,360.00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import sqlalchemy as sa

from procurement.audit.surplus_inputs import BaselinePriceIn, InsuredShareIn, save_inputs
from procurement.orders import arrangements
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.ordering import OrderLineIn, confirm_order, place_order
from procurement.orders.receiving import receive_shipment
from procurement.tenders.models import AgreedVolume
from tests.procurement.order_world import TODAY

START, END = dt.date(2026, 5, 7), dt.date(2026, 8, 14)
PERIOD = {"start": START, "end": END + dt.timedelta(days=1)}


def setup_hospital(ow, db, *, base: int = 14_600):
    """Put hospital 0 on the 100-day cycle and give the bureau's inputs; return (hospital, award, volume)."""
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    award.cycle_start, award.cycle_end = START, END
    volume = db.exec(sa.select(AgreedVolume).where(AgreedVolume.hospital_id == hospital.org_id)).scalar_one()
    volume.agreed_volume, volume.reported_base = 10_220, base
    db.flush()
    save_inputs(
        db, actor=ow.world.auditor,
        baseline_prices=[
            BaselinePriceIn(ow.tender.id, ow.lot.generic_name, ow.lot.unit, D("1.5000"), "35", "2025年挂网")
        ],
        insured_shares=[InsuredShareIn(ow.tender.id, hospital.org_id, ow.lot.generic_name, D("0.80"))],
    )  # fmt: skip
    return hospital, award, volume


def receive(ow, db, hospital, packs: int):
    _, shipment, codes = ow.shipped(hospital, packs)
    return receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)[0]


def buy_non_winning(ow, db, hospital, award, packs: int):
    other = next(p for p in ow.world.products if p.id != award.product_id)
    arrangements.create_listing(
        db, product_id=other.id, supplier_id=ow.distributor.org_id, price=D("31.5000"),
        starts_on=dt.date(2026, 1, 1), actor=ow.world.organiser, region_prefix="35",
    )  # fmt: skip
    order, _ = place_order(db, hospital_id=hospital.org_id, lines=[OrderLineIn(other.id, packs)], actor=hospital,
                           now=TODAY)  # fmt: skip
    confirm_order(db, order_id=order.id, actor=ow.distributor, now=TODAY)
    codes = ow.commission(other.id, packs)
    shipment, _ = ship_order(db, order_id=order.id, delivery_note_number="DN-NW-S", lines=[ShipLineIn(1, codes)],
                             actor=ow.distributor, now=TODAY)  # fmt: skip
    return receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)[0]
