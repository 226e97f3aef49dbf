"""An awarded tender ready for ordering: hospitals with agreed volumes, a distributor, packs in its stock.

``build_order_world`` runs a real batch through the tender services (demand, sealed bids, opening, evaluation,
award), registers each product's trade items (pack and case of 10 packs) and commissions packs at the makers,
moving them to the distributor through the trace core, so orders, shipments and receipts work on real records.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from core.accounts import actor_for_user
from core.actor import Actor
from core.roles import OrgKind, Role
from procurement.orders import arrangements
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.ordering import OrderLineIn, confirm_order, place_order
from procurement.tenders import awarding
from procurement.tenders.models import AgreedVolume, Award
from tests.procurement.tender_world import AFTER, World, build_world
from trace import capture
from trace.canonical import canonical_bytes
from trace.items import register_trade_item
from trace.models import EventType
from trace.transitions import EventIn

SYSTEM = Actor.system("tests")
CYCLE_START = dt.date(2026, 4, 1)
TODAY = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)
_serials = itertools.count(300_000_001)
_ids = itertools.count(1)


@dataclass
class OrderWorld:
    world: World
    tender: object
    lot: object
    awards: list[Award]
    distributor: Actor
    packs: dict[int, object] = field(default_factory=dict)  # product id → level-1 trade item
    cases: dict[int, object] = field(default_factory=dict)  # product id → level-3 trade item (10 packs)
    stock: dict[int, list[str]] = field(default_factory=dict)  # product id → loose pack codes at the distributor

    @property
    def db(self):
        return self.world.db

    def hospital(self, index: int = 0) -> Actor:
        return self.world.hospitals[index]

    def award_of(self, hospital: Actor) -> Award:
        """Return the award allocated to a hospital."""
        volume = self.db.exec(sa.select(AgreedVolume).where(AgreedVolume.hospital_id == hospital.org_id)).scalar_one()
        return self.db.get(Award, volume.award_id)

    def maker_of(self, product_id: int) -> Actor:
        index = next(i for i, p in enumerate(self.world.products) if p.id == product_id)
        return self.world.makers[index]

    def code(self, product_id: int) -> str:
        return f"{self.packs[product_id].product_id}{next(_serials):09d}1234"

    def capture(self, actor: Actor, *events: EventIn) -> None:
        body = {"events": [repr(e) for e in events]}
        batch = capture.BatchIn(
            client_batch_id=f"ow{next(_serials)}",
            events=list(events),
            request_sha256=capture.request_digest(canonical_bytes(body)),
        )
        result = capture.capture(self.db, actor=actor, batch=batch, now=TODAY - dt.timedelta(days=1))
        assert result.accepted, result.body

    def commission(self, product_id: int, count: int, *, batch: str = "B2601", expiry=dt.date(2028, 6, 30)):
        """Make ``count`` loose packs and move them to the distributor; return their codes."""
        maker = self.maker_of(product_id)
        codes = [self.code(product_id) for _ in range(count)]
        self.capture(maker, *(EventIn(EventType.COMMISSION, c, batch=batch, expiry=expiry) for c in codes))
        self.capture(maker, *(EventIn(EventType.SHIP, c, to_org_id=self.distributor.org_id) for c in codes))
        self.capture(self.distributor, *(EventIn(EventType.RECEIVE, c) for c in codes))
        return codes

    def commission_case(self, product_id: int, count: int = 10, *, batch: str = "B2601"):
        """Make a case of ``count`` packs at the maker and move it to the distributor; return (case, packs)."""
        maker = self.maker_of(product_id)
        packs = [self.code(product_id) for _ in range(count)]
        case = f"{self.cases[product_id].product_id}{next(_serials):09d}1234"
        expiry = dt.date(2028, 6, 30)
        self.capture(
            maker,
            *(EventIn(EventType.COMMISSION, c, batch=batch, expiry=expiry) for c in [*packs, case]),
            EventIn(EventType.AGGREGATE, case, children=tuple(packs)),
        )
        self.capture(maker, EventIn(EventType.SHIP, case, to_org_id=self.distributor.org_id))
        self.capture(self.distributor, EventIn(EventType.RECEIVE, case))
        return case, packs

    def confirmed_order(self, hospital: Actor, quantity: int = 5):
        """Place and confirm an order for the hospital's awarded product."""
        award = self.award_of(hospital)
        order, _ = place_order(
            self.db,
            hospital_id=hospital.org_id,
            lines=[OrderLineIn(award.product_id, quantity)],
            actor=hospital,
            now=TODAY,
        )
        confirm_order(self.db, order_id=order.id, actor=self.distributor, now=TODAY)
        self.db.flush()  # HTTP tests share the connection: pending changes must not land after a request's own
        return order, award

    def shipped(self, hospital: Actor, quantity: int = 5, **ship_kwargs):
        """Place, confirm and ship an order of loose packs; return (order, shipment, codes)."""
        order, award = self.confirmed_order(hospital, quantity)
        codes = self.commission(award.product_id, quantity)
        shipment, _ = ship_order(
            self.db,
            order_id=order.id,
            delivery_note_number=f"DN-{next(_ids)}",
            lines=[ShipLineIn(1, codes)],
            actor=self.distributor,
            now=TODAY,
            **ship_kwargs,
        )
        return order, shipment, codes


def build_order_world(db, factory) -> OrderWorld:
    """Award a batch-10 tender to the world's hospitals and set up a distributor for every award."""
    world = build_world(db, factory)
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    for index, price in enumerate(["14.0000", "10.0000", "27.0000", "15.0000"]):
        world.bid(tender, lot, index, price)
    world.open_and_evaluate(tender)
    awards = awarding.award_tender(db, tender_id=tender.id, actor=world.organiser, cycle_start=CYCLE_START, now=AFTER)
    org = factory.org(OrgKind.DISTRIBUTOR, region_code="350200", region_name="厦门市")
    distributor = actor_for_user(db, factory.user(org, roles=(Role.SUPPLIER_REP,)).id)
    ow = OrderWorld(world, tender, lot, awards, distributor)
    for index, product in enumerate(world.products):
        n = next(_ids) * 10 + index
        ow.packs[product.id] = register_trade_item(
            db, actor=SYSTEM, name=f"{product.generic_name} {product.package_spec}",
            holder_org_id=product.manufacturer_id, pack_size=product.pack_quantity, unit="片",
            product_id=f"7{n:05d}1", catalogue_ref=product.id,
        )  # fmt: skip
        ow.cases[product.id] = register_trade_item(
            db, actor=SYSTEM, name=f"{product.generic_name} 箱", holder_org_id=product.manufacturer_id,
            pack_size=product.pack_quantity * 10, unit="片", product_id=f"7{n:05d}3", level=3, catalogue_ref=product.id,
        )  # fmt: skip
    volumes = db.exec(sa.select(AgreedVolume).where(AgreedVolume.tender_id == tender.id)).scalars().all()
    for volume in volumes:
        award = db.get(Award, volume.award_id)
        maker = ow.maker_of(award.product_id)
        arrangements.assign_distributor(
            db, award_id=award.id, hospital_id=volume.hospital_id, distributor_id=org.id, actor=maker
        )
    return ow


def listed_price(value: str) -> Decimal:
    return Decimal(value)
