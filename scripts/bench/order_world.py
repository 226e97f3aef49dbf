"""The world the order benchmarks act in: a hospital buying awarded products delivered by a distributor.

Everything goes through the services. An administrator registers the organisations (a procurement office, the
hospital, two makers and a distributor), their users and the products; the office runs a tender of three lots
(three generic names, one product of each from each maker) from demand to award, with ``now`` in the past so that
the awards are in force today. The winning makers name the distributor for the hospital
(``arrangements.assign_distributor``), so every awarded product the hospital orders goes to that one supplier and
an order may hold up to three lines. ``listed`` more products are listed for the region, supplied by the same
distributor (``arrangements.create_listing``): they are part of what the hospital may buy, as in real life, and
may be ordered too. Every awarded product is registered in the trace record as a pack (a 20-digit product
identifier and a GTIN) and as a case, and :func:`shipped_order` commissions packs at the maker, moves them to the
distributor and ships a confirmed order of them to the hospital, ready to be received.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session
from stdnum import ean

from core.accounts import TokenPolicy, actor_for_user, create_organisation, create_user, issue_token
from core.actor import Actor
from core.db import make_engine, new_session, utcnow
from core.roles import HospitalGrade, OrgKind, Role
from procurement.catalogue import create_product
from procurement.orders import arrangements
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.models import PurchaseOrder, Shipment
from procurement.orders.ordering import OrderLineIn, confirm_order, place_order
from procurement.tenders import awarding, bidding, demand, opening, setup
from procurement.tenders import lots as tender_lots
from procurement.tenders.demand import DemandLineIn
from procurement.tenders.models import AgreedVolume, Award, TenderKind, TenderStatus
from scripts.bench.trace_world import uscc
from trace import capture
from trace.canonical import canonical_bytes
from trace.items import register_trade_item
from trace.models import EventType
from trace.transitions import EventIn

HOSPITAL_REGION = ("350203", "思明区")
# The lots: generic name, strength, tablets per pack, package specification. One product of each per maker.
LOTS = (
    ("阿托伐他汀钙片", "10mg", 28, "10mg×7片×4板"),
    ("苯磺酸氨氯地平片", "5mg", 14, "5mg×7片×2板"),
    ("盐酸二甲双胍片", "0.5g", 60, "0.5g×20片×3板"),
)
CEILING_UCP = Decimal("0.6000")  # per tablet
BID_UCP = (Decimal("0.2000"), Decimal("0.3000"))  # maker 0, maker 1: both within 1.8 × the lowest, both win
# Batch 2–9 rules: the cycle runs whole years from its start (1.6.1), so the awards stay in force whatever today's
# date; batch 10 and 11 contracts end on fixed dates.
RULE_SET = "vbp.batch2-9"
PASSPHRASE = "bench-only-opening-passphrase-2026"
EXPIRY, BATCH = dt.date(2028, 12, 31), "2601A"


@dataclass(frozen=True)
class Packaging:
    """A product's trade items in the trace record: the pack and the case, each with both kinds of code."""

    product_id: int  # the catalogue's
    maker_id: int
    pack_code_id: str  # 7 digits of a 20-digit code
    pack_gtin: str
    case_code_id: str
    case_gtin: str

    def pack_code(self, serial: int, *, gs1: bool) -> str:
        """Return a pack's scanned text: a 20-digit code, or a GS1 element string with a GS separator."""
        return _code(self.pack_code_id, self.pack_gtin, serial, gs1)

    def case_code(self, serial: int, *, gs1: bool) -> str:
        """Return a case's scanned text."""
        return _code(self.case_code_id, self.case_gtin, serial, gs1)


def _code(code_id: str, gtin: str, serial: int, gs1: bool) -> str:
    if gs1:
        return f"01{gtin}17{EXPIRY:%y%m%d}10{BATCH}\x1d21{serial:09d}"
    return f"{code_id}{serial:09d}1234"  # the verification digits are not checked (rulebook 5.2.2)


@dataclass
class OrderWorld:
    url: str
    tag: int
    hospital_id: int
    distributor_id: int
    user_ids: dict[str, int]  # "hospital", "distributor", "maker<org id>" → user id
    awarded: list[Packaging]  # the hospital's awarded products, all delivered by the distributor
    listed: list[int]  # catalogue ids of the listed products, supplied by the distributor
    tokens: list[str] = field(default_factory=list)  # the hospital pharmacist's bearer secrets
    serials: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def actors(self, session: Session) -> dict[str, Actor]:
        """Return the actors of the world's users, read from the database."""
        return {name: actor_for_user(session, user_id) for name, user_id in self.user_ids.items()}


def seed_order_world(url: str, *, listed: int = 20, tokens: int = 0) -> OrderWorld:
    """Create the organisations, users, products, the awarded tender, the distributor and the listings."""
    admin = Actor.system("bench")
    tag = secrets.randbelow(90_000) + 10_000  # so that runs against one given database do not clash
    engine = make_engine(url)
    try:
        with new_session(engine) as session:
            orgs, users = _parties(session, admin, tag)
            products = _products(session, admin, tag, makers=[orgs["maker0"].id, orgs["maker1"].id])
            actors = {name: actor_for_user(session, user.id) for name, user in users.items()}
            awards = _award(session, actors, tag, products, hospital_id=orgs["hospital"].id)
            world = OrderWorld(
                url, tag, orgs["hospital"].id, orgs["distributor"].id,
                {"hospital": users["hospital"].id, "distributor": users["distributor"].id,
                 **{f"maker{orgs[m].id}": users[m].id for m in ("maker0", "maker1")}},
                [], [],
            )  # fmt: skip
            for n, award in enumerate(awards):
                arrangements.assign_distributor(
                    session, award_id=award.id, hospital_id=world.hospital_id, distributor_id=world.distributor_id,
                    actor=actors[f"maker{products.index(award.product_id) % 2}"],
                )  # fmt: skip
                world.awarded.append(_packaging(session, admin, tag, n, award))
            for n in range(listed):
                product = _drug(session, admin, tag, 100 + n, orgs[f"maker{n % 2}"].id, f"基准挂网药{n:03d}",
                                ("5mg", 24, "5mg×12片×2板"))  # fmt: skip
                arrangements.create_listing(
                    session, product_id=product.id, supplier_id=world.distributor_id, price=Decimal("9.8000"),
                    region_prefix=HOSPITAL_REGION[0][:2], starts_on=utcnow().date() - dt.timedelta(days=30),
                    actor=admin,
                )  # fmt: skip
                world.listed.append(product.id)
            now, policy = utcnow(), TokenPolicy()
            world.tokens = [
                issue_token(session, user=users["hospital"], name=f"bench {n}", now=now, policy=policy)[1]
                for n in range(tokens)
            ]
            session.commit()
            return world
    finally:
        engine.dispose()


def _parties(session: Session, admin: Actor, tag: int):
    kinds = {
        "office": (OrgKind.PROCUREMENT_OFFICE, "福建省药械联合采购中心", ("350000", "福建省"), Role.ORGANISER),
        "hospital": (OrgKind.HOSPITAL, "基准医院", HOSPITAL_REGION, Role.PHARMACIST),
        "maker0": (OrgKind.MANUFACTURER, "基准药业甲", ("350100", "福州市"), Role.SUPPLIER_REP),
        "maker1": (OrgKind.MANUFACTURER, "基准药业乙", ("350100", "福州市"), Role.SUPPLIER_REP),
        "distributor": (OrgKind.DISTRIBUTOR, "基准医药配送", ("350200", "厦门市"), Role.SUPPLIER_REP),
    }
    orgs, users = {}, {}
    for n, (name, (kind, title, (code, region), role)) in enumerate(kinds.items()):
        orgs[name] = create_organisation(
            session, name=f"{title} {tag}", kind=kind, uscc=uscc(tag, n), region_code=code, region_name=region,
            hospital_grade=HospitalGrade.G3A if kind == OrgKind.HOSPITAL else None, actor=admin,
        )  # fmt: skip
        users[name] = create_user(
            session, username=f"{name}{tag}", password=f"bench-password-{tag}", display_name=f"{title}用户",
            organisation_id=orgs[name].id, roles=[role], actor=admin,
        )  # fmt: skip
    return orgs, users


def _drug(session: Session, admin: Actor, tag: int, n: int, maker_id: int, name: str, spec: tuple[str, int, str]):
    strength, pack, package_spec = spec
    data = {
        "generic_name": name, "dosage_form": "片剂", "strength": strength, "pack_quantity": pack, "unit": "片",
        "package_spec": package_spec, "manufacturer_id": maker_id, "gqce_status": "passed",
        "approval_number": f"国药准字H{tag % 10_000:04d}{n:04d}",
    }  # fmt: skip
    return create_product(session, data=data, actor=admin)


def _products(session: Session, admin: Actor, tag: int, *, makers: list[int]) -> list[int]:
    """Return the catalogue ids, lot by lot and maker by maker (index = 2 × lot + maker)."""
    ids = []
    for lot, (name, strength, pack, spec) in enumerate(LOTS):
        for m, maker_id in enumerate(makers):
            ids.append(_drug(session, admin, tag, 2 * lot + m, maker_id, name, (strength, pack, spec)).id)
    return ids


def _award(session: Session, actors: dict[str, Actor], tag: int, products: list[int], *, hospital_id: int):
    """Run the tender from demand to award in the past; return the awards allocated to the hospital."""
    t0 = utcnow() - dt.timedelta(days=90)
    office = actors["office"]
    tender = setup.create_tender(
        session, actor=office, title=f"基准带量采购 {tag}", kind=TenderKind.NATIONAL_VBP, rule_set=RULE_SET,
        region_prefix=HOSPITAL_REGION[0][:2], demand_deadline=t0 + dt.timedelta(days=5),
        bid_deadline=t0 + dt.timedelta(days=20),
    )  # fmt: skip
    lots = []
    for name, strength, _pack, _spec in LOTS:
        lots.append(tender_lots.add_lot(
            session, tender_id=tender.id, actor=office, generic_name=name, dosage_form="片剂",
            reference_strength=strength, ceiling_ucp=CEILING_UCP,
        ))  # fmt: skip
    setup.update_tender(session, tender_id=tender.id, actor=office, changes={"status": "demand_collection"}, now=t0)
    demand.report_demand(
        session, tender_id=tender.id, actor=actors["hospital"], now=t0 + dt.timedelta(days=1),
        lines=[DemandLineIn(lot_id=lot.id, quantity=120_000, historical_use=120_000) for lot in lots],
    )  # fmt: skip
    setup.update_tender(
        session, tender_id=tender.id, actor=office, now=t0 + dt.timedelta(days=6),
        changes={"status": TenderStatus.BIDDING.value, "opening_passphrase": PASSPHRASE},
    )  # fmt: skip
    key = Ed25519PrivateKey.generate()
    for n, lot in enumerate(lots):
        pack = LOTS[n][2]
        for m in range(2):
            bidding.submit_bid(
                session, tender_id=tender.id, lot_id=lot.id, actor=actors[f"maker{m}"],
                product_id=products[2 * n + m], price=BID_UCP[m] * pack, signing_key=key,
                now=t0 + dt.timedelta(days=7),
            )  # fmt: skip
    after = t0 + dt.timedelta(days=21)
    opening.open_tender(session, tender_id=tender.id, actor=office, passphrase=PASSPHRASE, now=after)
    opening.evaluate_tender(session, tender_id=tender.id, actor=office, now=after)
    awarding.award_tender(session, tender_id=tender.id, actor=office, cycle_start=after.date(), now=after)
    stmt = (
        sa.select(Award)
        .join(AgreedVolume, AgreedVolume.award_id == Award.id)
        .where(AgreedVolume.tender_id == tender.id, AgreedVolume.hospital_id == hospital_id)
        .order_by(AgreedVolume.lot_id)
    )
    awards = list(session.exec(stmt).scalars())
    if len(awards) != len(LOTS):
        raise RuntimeError(f"the hospital was allocated {len(awards)} awards, not {len(LOTS)}")
    return awards


def _packaging(session: Session, admin: Actor, tag: int, n: int, award: Award) -> Packaging:
    ids = [f"8{tag % 10_000:04d}{n}{level}" for level in (1, 3)]
    gtins = [f"069{tag:05d}{n:04d}{level}" for level in (1, 3)]
    gtins = [body + ean.calc_check_digit(body) for body in gtins]
    pack_size = LOTS[n][2]
    for level, code_id, gtin in zip((1, 3), ids, gtins, strict=True):
        register_trade_item(
            session, actor=admin, name=f"{LOTS[n][0]} {'箱' if level == 3 else LOTS[n][3]}",
            holder_org_id=award.supplier_id, pack_size=pack_size * (1 if level == 1 else 10), unit="片",
            level=level, product_id=code_id, gtin=gtin, catalogue_ref=award.product_id,
        )  # fmt: skip
    return Packaging(award.product_id, award.supplier_id, ids[0], gtins[0], ids[1], gtins[1])


# ---------------------------------------------------------------- stock, orders and shipments


def capture_all(session: Session, actor: Actor, events: Sequence[EventIn], name: str, now: dt.datetime) -> None:
    """Capture events in order, in batches of at most ``trace.capture.MAX_EVENTS``; stop if one is refused."""
    for start in range(0, len(events), capture.MAX_EVENTS):
        part = events[start : start + capture.MAX_EVENTS]
        body = canonical_bytes({"name": name, "start": start, "codes": [e.code for e in part]})
        batch = capture.BatchIn(f"{name}-{start // capture.MAX_EVENTS}", part, capture.request_digest(body))
        result = capture.capture(session, actor=actor, batch=batch, now=now)
        if not result.accepted:
            raise RuntimeError(f"{name} was refused: {result.body['rejected'][:3]}")


def stock_distributor(
    session: Session, world: OrderWorld, actors: dict[str, Actor], product: Packaging, *, packs: int, gs1: bool,
    case_size: int | None = None,
) -> tuple[list[str], list[str]]:  # fmt: skip
    """Commission packs (loose, or in cases) at the maker and move them to the distributor.

    Return the codes to ship (the packs, or the cases) and the codes of every pack.
    """
    maker, distributor = actors[f"maker{product.maker_id}"], actors["distributor"]
    at = utcnow() - dt.timedelta(days=2)
    pack_codes = [product.pack_code(next(world.serials), gs1=gs1) for _ in range(packs)]
    extra = {} if gs1 else {"batch": BATCH, "expiry": EXPIRY}
    commission = [EventIn(EventType.COMMISSION, code, at=at, **extra) for code in pack_codes]
    shipped = pack_codes
    if case_size:
        shipped = [product.case_code(next(world.serials), gs1=gs1) for _ in range(0, packs, case_size)]
        commission += [EventIn(EventType.COMMISSION, code, at=at, **extra) for code in shipped]
        commission += [
            EventIn(EventType.AGGREGATE, case, at=at, children=tuple(pack_codes[n * case_size : (n + 1) * case_size]))
            for n, case in enumerate(shipped)
        ]
    name = f"stock-{world.tag}-{pack_codes[0][-13:]}"
    capture_all(session, maker, commission, f"{name}-make", at)
    ship = [EventIn(EventType.SHIP, code, at=at, to_org_id=world.distributor_id) for code in shipped]
    capture_all(session, maker, ship, f"{name}-ship", at)
    capture_all(session, distributor, [EventIn(EventType.RECEIVE, code, at=at) for code in shipped], f"{name}-in", at)
    return shipped, pack_codes


def shipped_order(
    session: Session, world: OrderWorld, *, packs: int, gs1: bool = False, case_size: int | None = None
) -> tuple[PurchaseOrder, Shipment, list[str]]:
    """Place and confirm an order of the first awarded product, stock the distributor and ship the order.

    Return the order, the shipment and the codes of every pack shipped (what the hospital scans on receipt).
    """
    actors = world.actors(session)
    product = world.awarded[0]
    order, _ = place_order(
        session, hospital_id=world.hospital_id, lines=[OrderLineIn(product.product_id, packs)],
        actor=actors["hospital"],
    )  # fmt: skip
    confirm_order(session, order_id=order.id, actor=actors["distributor"])
    shipped, pack_codes = stock_distributor(session, world, actors, product, packs=packs, gs1=gs1,
                                            case_size=case_size)  # fmt: skip
    shipment, _ = ship_order(
        session, order_id=order.id, delivery_note_number=f"DN-{order.number}", lines=[ShipLineIn(1, shipped)],
        actor=actors["distributor"],
    )  # fmt: skip
    return order, shipment, pack_codes
