"""A small procurement world for tender tests: an organiser, hospitals in two prefectures, makers and products."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.accounts import actor_for_user
from core.actor import Actor
from core.roles import OrgKind, Role
from procurement.catalogue import Product
from procurement.rules.types import DosageClass, LotCategory
from procurement.tenders import bidding, demand, opening, setup
from procurement.tenders import lots as tender_lots
from procurement.tenders.demand import DemandLineIn
from procurement.tenders.models import TenderKind, TenderStatus

PASSPHRASE = "open-sesame-2026-batch"
T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
DEADLINE = T0 + dt.timedelta(days=10)
AFTER = DEADLINE + dt.timedelta(hours=1)
_n = itertools.count(1)


@dataclass
class World:
    db: object
    organiser: Actor
    hospitals: list[Actor]
    makers: list[Actor]
    products: list[Product]  # one per maker, same generic name; makers[i] makes products[i]
    auditor: Actor
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def tender(self, rule_set: str = "vbp.batch10", kind: TenderKind = TenderKind.NATIONAL_VBP, **fields):
        """Create a draft tender with one lot holding every product."""
        tender = setup.create_tender(
            self.db,
            actor=self.organiser,
            title=f"第{next(_n)}批",
            kind=kind,
            rule_set=rule_set,
            bid_deadline=DEADLINE,
            **fields,
        )
        lot = tender_lots.add_lot(
            self.db,
            tender_id=tender.id,
            actor=self.organiser,
            generic_name=self.products[0].generic_name,
            dosage_form="片剂",
            reference_strength="10mg",
            ceiling_ucp=Decimal("1.0000"),
            category=LotCategory.CHEMICAL,
            dosage_class=DosageClass.ORAL_SOLID,
        )
        return tender, lot

    def to_bidding(self, tender, lot, *, demand_lines: bool = True):
        """Collect demand from every hospital, then open bidding with the passphrase."""
        setup.update_tender(
            self.db, tender_id=tender.id, actor=self.organiser, changes={"status": "demand_collection"}, now=T0
        )
        if demand_lines:
            for index, hospital in enumerate(self.hospitals):
                demand.report_demand(
                    self.db,
                    tender_id=tender.id,
                    actor=hospital,
                    lines=[
                        DemandLineIn(
                            lot_id=lot.id,
                            quantity=10_000 * (index + 1),
                            historical_use=10_000 * (index + 1),
                            product_id=self.products[index % len(self.products)].id,
                        )
                    ],
                    now=T0,
                )
        setup.update_tender(
            self.db,
            tender_id=tender.id,
            actor=self.organiser,
            changes={"status": TenderStatus.BIDDING.value, "opening_passphrase": PASSPHRASE},
            now=T0,
        )

    def bid(self, tender, lot, maker_index: int, price: str, **kwargs):
        return bidding.submit_bid(
            self.db,
            tender_id=tender.id,
            lot_id=lot.id,
            actor=self.makers[maker_index],
            product_id=self.products[maker_index].id,
            price=Decimal(price),
            signing_key=self.key,
            now=kwargs.pop("now", T0 + dt.timedelta(days=1)),
            **kwargs,
        )[0]

    def open_and_evaluate(self, tender):
        opening.open_tender(self.db, tender_id=tender.id, actor=self.organiser, passphrase=PASSPHRASE, now=AFTER)
        return opening.evaluate_tender(self.db, tender_id=tender.id, actor=self.organiser, now=AFTER)


def build_world(db, factory, *, makers: int = 4) -> World:
    """Create the organisations, users and products."""
    office = factory.org(OrgKind.PROCUREMENT_OFFICE, region_code="350000", region_name="福建省")
    organiser = actor_for_user(db, factory.user(office, roles=(Role.ORGANISER,)).id)
    hospitals = []
    for region, name in (("350203", "思明区"), ("350206", "湖里区"), ("350102", "鼓楼区")):
        org = factory.org(OrgKind.HOSPITAL, region_code=region, region_name=name)
        hospitals.append(actor_for_user(db, factory.user(org, roles=(Role.PHARMACY_MANAGER,)).id))
    maker_actors, products = [], []
    for index in range(makers):
        org = factory.org(OrgKind.MANUFACTURER, region_code="350100", region_name="福州市")
        maker_actors.append(actor_for_user(db, factory.user(org, roles=(Role.SUPPLIER_REP,)).id))
        product = Product(
            generic_name="阿托伐他汀钙片",
            dosage_form="片剂",
            strength="10mg" if index % 2 == 0 else "20mg",
            pack_quantity=28 if index % 2 == 0 else 14,
            unit="片",
            package_spec="10mg×7片×4板" if index % 2 == 0 else "20mg×7片×2板",
            manufacturer_id=org.id,
            approval_number=f"国药准字H2026{next(_n):04d}",
            gqce_status="passed",
        )
        db.add(product)
        products.append(product)
    db.flush()
    bureau = factory.org(OrgKind.INSURANCE_BUREAU, region_code="350200", region_name="厦门市")
    auditor = actor_for_user(db, factory.user(bureau, roles=(Role.AUDITOR,)).id)
    return World(db, organiser, hospitals, maker_actors, products, auditor)
