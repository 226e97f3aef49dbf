"""The demo tenders, run through the tender services with ``now`` in the past so that every stage has an example.

* a national batch (vbp.batch10, 福建省药械联合采购中心): two lots, demand from all seven hospitals, sealed bids from
  the three makers, a bid that fails the 1.8× rule and revives, opened, evaluated twice, awarded and in force;
* a Sanming-alliance batch (alliance.sanming-ab, 三明采购联盟办公室) with group A and B products, awarded;
* a hospital-led batch (协和医院's 药共体) still bidding, its deadline a month ahead, two bids sealed;
* a batch-11 round collecting demand, two hospitals reported so far.

No generic name has two makers in the base catalogue, so the makers first bring competing strengths and packs of
the drugs in the lots, coded with the same helpers as the base catalogue.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from decimal import Decimal

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from core.accounts import actor_for_user
from core.actor import Actor
from core.db import utcnow
from core.models import User
from procurement.catalogue import GqceStatus, Product, create_product
from procurement.rules.types import Outcome
from procurement.tenders import awarding, bidding, demand, opening, setup
from procurement.tenders import lots as tender_lots
from procurement.tenders.demand import DemandLineIn
from procurement.tenders.lots import LotProductIn
from procurement.tenders.models import AgreedVolume, Bid, BidOutcome, Lot, Tender, TenderKind, TenderStatus
from scripts.demo.drugs import DRUGS, DemoDrug
from scripts.demo.world import LUJIANG, MINHAI, SHAXI
from trace.signing import public_raw

# Demo only: every demo tender is sealed under this passphrase so that demo users can open them; it is printed by
# ``python -m scripts.manage demo-logins``. A real organiser chooses a secret passphrase per tender.
DEMO_OPENING_PASSPHRASE = "yaolian-demo-opening-2026"

ATORVASTATIN, METFORMIN, AMLODIPINE = "阿托伐他汀钙片", "盐酸二甲双胍片", "苯磺酸氨氯地平片"
LEVOFLOXACIN, OMEPRAZOLE = "左氧氟沙星片", "奥美拉唑肠溶胶囊"

# Competing products: (generic name, strength, pack quantity, package specification, maker).
_RIVALS = (
    (ATORVASTATIN, "20mg", 14, "20mg×7片×2板", LUJIANG),
    (ATORVASTATIN, "40mg", 7, "40mg×7片", SHAXI),
    (METFORMIN, "0.25g", 100, "0.25g×100片/瓶", MINHAI),
    (METFORMIN, "0.85g", 30, "0.85g×10片×3板", SHAXI),
    (AMLODIPINE, "5mg", 14, "5mg×7片×2板", LUJIANG),
    (AMLODIPINE, "10mg", 7, "10mg×7片", SHAXI),
    (LEVOFLOXACIN, "0.5g", 10, "0.5g×10片", MINHAI),
    (LEVOFLOXACIN, "0.25g", 12, "0.25g×6片×2板", LUJIANG),
)


def _rival(name: str, strength: str, pack: int, spec: str, maker: str) -> DemoDrug:
    base = next(drug for drug in DRUGS if drug.generic_name == name)
    return dataclasses.replace(
        base, strength=strength, pack_quantity=pack, package_spec=spec, maker=maker, mah=None, gqce_passed=True
    )


COMPETITORS: tuple[DemoDrug, ...] = tuple(_rival(*row) for row in _RIVALS)
# Clear of the base catalogue's codes: its approval-number indexes run from 0, its GTIN and trace items per maker
# from 1 and the consumables' from 901.
FIRST_INDEX, FIRST_ITEM = 100, 501


def competing_products(session: Session, *, maker_ids: dict[str, int], actor: Actor) -> list[Product]:
    """Add the makers' competing products to the catalogue through the catalogue service."""
    # Imported here: scripts.demo_data imports this module to call load_demo_tenders.
    from scripts.demo_data import approval_number, gtin14, insurance_code, trace_product_id

    names: dict[str, int] = {}
    strengths: dict[str, list[str]] = {}
    for drug in (*DRUGS, *COMPETITORS):  # numbered as the base catalogue numbers them, rivals' strengths after
        names.setdefault(drug.generic_name, 101 + len(names))
        seen = strengths.setdefault(drug.generic_name, [])
        if drug.strength not in seen:
            seen.append(drug.strength)
    products = []
    for offset, drug in enumerate(COMPETITORS):
        item = FIRST_ITEM + offset
        strength_no = strengths[drug.generic_name].index(drug.strength) + 1
        data = {
            "generic_name": drug.generic_name,
            "generic_name_en": drug.generic_name_en,
            "dosage_form": drug.dosage_form,
            "strength": drug.strength,
            "pack_quantity": drug.pack_quantity,
            "unit": drug.unit,
            "package_spec": drug.package_spec,
            "manufacturer_id": maker_ids[drug.maker],
            "approval_number": approval_number(FIRST_INDEX + offset),
            "insurance_code": insurance_code(drug, name_no=names[drug.generic_name], strength_no=strength_no),
            "trace_product_id": trace_product_id(drug.maker, item),
            "gtin": gtin14(drug.maker, item),
            "gqce_status": GqceStatus.PASSED.value,
            "essential": drug.essential,
        }
        products.append(create_product(session, data=data, actor=actor))
    return products


class _Demo:
    """The session, the demo users as actors, the products by (name, maker, strength), the key and the clock."""

    def __init__(self, session: Session, users: dict[str, User], signing_key: Ed25519PrivateKey, now: dt.datetime):
        self.session, self.users, self.key, self.now = session, users, signing_key, now
        self.maker_ids = {
            maker: users[username].organisation_id
            for maker, username in ((MINHAI, "minhai.rep"), (LUJIANG, "lujiang.rep"), (SHAXI, "shaxi.rep"))
        }
        self.makers = {self.maker_ids[maker]: maker for maker in self.maker_ids}
        self._actors: dict[str, Actor] = {}

    def actor(self, username: str) -> Actor:
        if username not in self._actors:
            self._actors[username] = actor_for_user(self.session, self.users[username].id)
        return self._actors[username]

    def at(self, days: float) -> dt.datetime:
        return self.now + dt.timedelta(days=days)

    def product(self, name: str, maker: str, strength: str) -> Product:
        stmt = sa.select(Product).where(
            Product.generic_name == name, Product.manufacturer_id == self.maker_ids[maker], Product.strength == strength
        )
        return self.session.exec(stmt).scalars().one()

    def tender(self, organiser: str, *, lots: list[dict], **fields) -> tuple[Tender, list[Lot]]:
        tender = setup.create_tender(self.session, actor=self.actor(organiser), **fields)
        added = [
            tender_lots.add_lot(self.session, tender_id=tender.id, actor=self.actor(organiser), **lot) for lot in lots
        ]
        return tender, added

    def move(self, organiser: str, tender: Tender, status: TenderStatus, days: float) -> None:
        changes = {"status": status.value}
        if status == TenderStatus.BIDDING:
            changes["opening_passphrase"] = DEMO_OPENING_PASSPHRASE
        setup.update_tender(
            self.session, tender_id=tender.id, actor=self.actor(organiser), changes=changes, now=self.at(days)
        )

    def report(self, tender: Tender, username: str, lines: list[DemandLineIn], days: float) -> None:
        demand.report_demand(
            self.session, tender_id=tender.id, actor=self.actor(username), lines=lines, now=self.at(days)
        )

    def bid(self, tender: Tender, lot: Lot, product: Product, price: str, days: float) -> Bid:
        rep = {MINHAI: "minhai.rep", LUJIANG: "lujiang.rep", SHAXI: "shaxi.rep"}[self.makers[product.manufacturer_id]]
        bid, _created = bidding.submit_bid(
            self.session, tender_id=tender.id, lot_id=lot.id, actor=self.actor(rep), product_id=product.id,
            price=Decimal(price), signing_key=self.key, now=self.at(days),
        )  # fmt: skip
        return bid

    def open_and_evaluate(self, organiser: str, tender: Tender, days: float) -> None:
        actor = self.actor(organiser)
        opening.open_tender(
            self.session, tender_id=tender.id, actor=actor, passphrase=DEMO_OPENING_PASSPHRASE,
            receipt_key=public_raw(self.key.public_key()), now=self.at(days),
        )  # fmt: skip
        opening.evaluate_tender(self.session, tender_id=tender.id, actor=actor, now=self.at(days))


def _line(lot: Lot, quantity: int, history: int | None, brand: Product | None = None, why: str | None = None):
    return DemandLineIn(
        lot_id=lot.id,
        quantity=quantity,
        product_id=brand.id if brand else None,
        historical_use=history,
        exception_reason=why,
    )


def _national_batch(demo: _Demo) -> Tender:
    """Batch 10 from demand to award: a loser under the 1.8× rule revives (rulebook 1.3.4), then in force."""
    organiser = "fj.organiser"
    tender, (statins, metformin) = demo.tender(
        organiser,
        title="第十批国家组织药品集中带量采购（福建）",
        kind=TenderKind.NATIONAL_VBP,
        rule_set="vbp.batch10",
        description="演示数据：两个品种，福建省全部公立医院报量。",
        region_prefix="35",
        demand_deadline=demo.at(-130),
        bid_deadline=demo.at(-110),
        lots=[
            {"generic_name": ATORVASTATIN, "dosage_form": "片剂", "reference_strength": "10mg",
             "ceiling_ucp": Decimal("0.6000")},
            {"generic_name": METFORMIN, "dosage_form": "片剂", "reference_strength": "0.5g",
             "ceiling_ucp": Decimal("0.2000")},
        ],
    )  # fmt: skip
    demo.move(organiser, tender, TenderStatus.DEMAND_COLLECTION, -150)
    statin_10, statin_20 = demo.product(ATORVASTATIN, MINHAI, "10mg"), demo.product(ATORVASTATIN, LUJIANG, "20mg")
    metformin_05, metformin_025 = demo.product(METFORMIN, LUJIANG, "0.5g"), demo.product(METFORMIN, MINHAI, "0.25g")
    # Comparable units a year (10 mg and 0.5 g tablets); by brand or by generic name; one over-reported (3.9), one
    # below 80 % of its history with the reason (1.1.7).
    reports = {
        "xm1.manager": [_line(statins, 180_000, 170_000, statin_10), _line(metformin, 420_000, 400_000)],
        "xmzy.manager": [_line(statins, 60_000, 58_000), _line(metformin, 90_000, 88_000, metformin_05)],
        "jm2.manager": [_line(statins, 40_000, 38_000, statin_20), _line(metformin, 75_000, 70_000)],
        "sm1.manager": [_line(statins, 120_000, 100_000), _line(metformin, 260_000, 250_000, metformin_025)],
        "xinkou.manager": [_line(statins, 9_000, 5_000), _line(metformin, 30_000, 28_000)],
        "xh.manager": [_line(statins, 200_000, 210_000, statin_10), _line(metformin, 480_000, 470_000, metformin_05)],
        "cs.manager": [
            _line(statins, 30_000, 45_000, why="门诊部搬迁改建，预计年门诊量下降约三分之一"),
            _line(metformin, 52_000, 50_000),
        ],
    }
    for index, (username, lines) in enumerate(reports.items()):
        demo.report(tender, username, lines, -145 + index)
    demo.move(organiser, tender, TenderStatus.BIDDING, -125)
    # Atorvastatin (ceiling 0.60 per 10 mg): 0.21 and 0.35 meet rule 1, 0.3999 does not and the 2 seats for 3
    # bidders (1.3.5) are taken. Metformin (0.20 per 0.5 g): 0.07 wins alone, 0.17 and 0.1799 may revive at
    # 1.8 × 0.07 = 0.126 for the one seat left; Minhai accepts, Shaxi then finds the seat taken.
    demo.bid(tender, statins, statin_10, "5.8800", -118)  # 28 × 10 mg: 0.21
    demo.bid(tender, statins, statin_20, "8.3300", -117)  # 14 × 20 mg, factor 1.7: 0.35
    demo.bid(tender, statins, demo.product(ATORVASTATIN, SHAXI, "40mg"), "8.0900", -116)  # 7 × 40 mg, 2.89: 0.3999
    demo.bid(tender, metformin, metformin_05, "4.2000", -118)  # 60 × 0.5 g: 0.07
    revived = demo.bid(tender, metformin, metformin_025, "10.0000", -117)  # 100 × 0.25 g, factor 0.5882: 0.17
    demo.bid(
        tender, metformin, demo.product(METFORMIN, SHAXI, "0.85g"), "8.1000", -116
    )  # 30 × 0.85 g, factor 1.5006: 0.1799
    demo.open_and_evaluate(organiser, tender, -109)
    bidding.accept_revival(
        demo.session, tender_id=tender.id, lot_id=metformin.id, bid_id=revived.id, actor=demo.actor("minhai.rep"),
        now=demo.at(-107),
    )  # fmt: skip
    opening.evaluate_tender(demo.session, tender_id=tender.id, actor=demo.actor(organiser), now=demo.at(-105))
    awarding.award_tender(demo.session, tender_id=tender.id, actor=demo.actor(organiser), now=demo.at(-100))
    demo.move(organiser, tender, TenderStatus.IN_FORCE, -95)
    return tender


def _sanming_batch(demo: _Demo) -> Tender:
    """A Sanming-alliance round with groups A and B (rulebook 2.4), awarded."""
    organiser = "sm.organiser"
    group_a = [demo.product(LEVOFLOXACIN, SHAXI, "0.5g"), demo.product(LEVOFLOXACIN, MINHAI, "0.5g")]
    group_b = demo.product(LEVOFLOXACIN, LUJIANG, "0.25g")
    tender, (lot,) = demo.tender(
        organiser,
        title="三明采购联盟2026年度抗菌药物带量采购",
        kind=TenderKind.ALLIANCE,
        rule_set="alliance.sanming-ab",
        description="演示数据：A组为通过一致性评价的常用规格，B组为其他规格。",
        region_prefix="35",
        demand_deadline=demo.at(-55),
        bid_deadline=demo.at(-40),
        lots=[
            {"generic_name": LEVOFLOXACIN, "dosage_form": "片剂", "reference_strength": "0.5g",
             "ceiling_ucp": Decimal("3.0000"),
             "products": [*(LotProductIn(p.id, group="A") for p in group_a), LotProductIn(group_b.id, group="B")]},
        ],
    )  # fmt: skip
    demo.move(organiser, tender, TenderStatus.DEMAND_COLLECTION, -70)
    demo.report(tender, "sm1.manager", [_line(lot, 24_000, 22_000, group_a[1])], -66)
    demo.report(tender, "xinkou.manager", [_line(lot, 3_000, 2_800)], -65)
    demo.report(tender, "xm1.manager", [_line(lot, 36_000, 35_000)], -64)
    demo.report(tender, "cs.manager", [_line(lot, 8_000, 7_500, group_b)], -63)
    demo.move(organiser, tender, TenderStatus.BIDDING, -50)
    # Group A, 2 firms: the cheapest 70 % is 1 firm, so Minhai (0.95) wins and Shaxi (1.10) is outside the share.
    # Group B: Lujiang's 0.8501 per 0.5 g is below group A's lowest winning price, so it wins too.
    demo.bid(tender, lot, group_a[0], "4.4000", -47)  # 4 × 0.5 g: 1.10
    demo.bid(tender, lot, group_a[1], "9.5000", -46)  # 10 × 0.5 g: 0.95
    demo.bid(tender, lot, group_b, "6.0000", -45)  # 12 × 0.25 g, factor 0.5882: 0.8501
    demo.open_and_evaluate(organiser, tender, -39)
    awarding.award_tender(demo.session, tender_id=tender.id, actor=demo.actor(organiser), now=demo.at(-35))
    return tender


def _bidding_batch(demo: _Demo, ahead: dt.datetime) -> Tender:
    """A hospital-led (药共体) round still bidding: its organiser sees how many bids are sealed, nothing more."""
    organiser = "xh.organiser"
    tender, (lot,) = demo.tender(
        organiser,
        title="协和医院药共体2026年降压药议价采购",
        kind=TenderKind.HOSPITAL_LED,
        rule_set="hospital-led.negotiated",
        description="演示数据：投标截止前，价格密封，组织方只看到每个品种的投标数。",
        region_prefix="3501",
        demand_deadline=demo.at(-5),
        bid_deadline=ahead + dt.timedelta(days=30),
        lots=[
            {"generic_name": AMLODIPINE, "dosage_form": "片剂", "reference_strength": "5mg",
             "ceiling_ucp": Decimal("0.5000")},
        ],
    )  # fmt: skip
    demo.move(organiser, tender, TenderStatus.DEMAND_COLLECTION, -12)
    demo.report(tender, "xh.manager", [_line(lot, 150_000, 140_000)], -10)
    demo.report(tender, "cs.manager", [_line(lot, 40_000, 39_000, demo.product(AMLODIPINE, MINHAI, "5mg"))], -9)
    demo.move(organiser, tender, TenderStatus.BIDDING, -4)
    demo.bid(tender, lot, demo.product(AMLODIPINE, MINHAI, "5mg"), "3.9200", -3)  # 28 × 5 mg: 0.14
    demo.bid(tender, lot, demo.product(AMLODIPINE, LUJIANG, "5mg"), "2.3800", -2)  # 14 × 5 mg: 0.17
    return tender


def _demand_batch(demo: _Demo, ahead: dt.datetime) -> Tender:
    """A batch-11 round collecting demand: two hospitals have reported, the others still can."""
    organiser = "fj.organiser"
    tender, (lot,) = demo.tender(
        organiser,
        title="第十一批国家组织药品集中带量采购（福建）",
        kind=TenderKind.NATIONAL_VBP,
        rule_set="vbp.batch11",
        description="演示数据：报量进行中。",
        region_prefix="35",
        demand_deadline=ahead + dt.timedelta(days=14),
        bid_deadline=ahead + dt.timedelta(days=45),
        lots=[
            {"generic_name": OMEPRAZOLE, "dosage_form": "肠溶胶囊", "reference_strength": "20mg",
             "ceiling_ucp": Decimal("0.8000")},
        ],
    )  # fmt: skip
    demo.move(organiser, tender, TenderStatus.DEMAND_COLLECTION, -6)
    demo.report(tender, "xm1.manager", [_line(lot, 96_000, 92_000)], -3)
    demo.report(tender, "sm1.manager", [_line(lot, 54_000, 60_000)], -2)
    return tender


def load_demo_tenders(
    session: Session, *, users: dict[str, User], signing_key: Ed25519PrivateKey, now: dt.datetime
) -> str:
    """Add the competing products and run the demo tenders; return a summary. Bid receipts are signed with
    ``signing_key``, the platform key; future deadlines are set from the later of ``now`` and the real clock."""
    demo = _Demo(session, users, signing_key, now)
    competing_products(session, maker_ids=demo.maker_ids, actor=Actor.system("demo"))
    ahead = max(now, utcnow())
    tenders = [_national_batch(demo), _sanming_batch(demo), _bidding_batch(demo, ahead), _demand_batch(demo, ahead)]
    ids = [tender.id for tender in tenders]
    stages = Counter(tender.status for tender in tenders)
    bids = session.exec(sa.select(sa.func.count()).where(Bid.tender_id.in_(ids))).one()[0]
    revived = session.exec(
        sa.select(sa.func.count()).where(BidOutcome.tender_id.in_(ids), BidOutcome.outcome == Outcome.WON_REVIVED)
    ).one()[0]
    volumes = session.exec(sa.select(sa.func.count()).where(AgreedVolume.tender_id.in_(ids))).one()[0]
    return (
        f"Tenders: {len(tenders)} ({', '.join(f'{n} {status}' for status, n in stages.items())}), "
        f"{len(COMPETITORS)} competing products, {bids} sealed bids ({revived} revived), {volumes} agreed volumes."
    )
