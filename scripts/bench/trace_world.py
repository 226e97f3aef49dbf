"""The supply chain the trace benchmarks capture into: a maker, hospitals, users, tokens, products and event plans.

A maker (a manufacturer with a supplier representative) commissions packs of its products, ships them straight to
one of the hospitals, whose pharmacist receives and dispenses them: four events per pack, captured a lot at a time,
one batch per step. Two products in three carry 20-digit codes, the third GS1 element strings (as in the demo); a
dispensing names a pseudonymised patient three times in five and carries the product's insurance drug code.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

from stdnum import ean
from stdnum.cn import uscc as uscc_std

from core.accounts import TokenPolicy, create_organisation, create_user, issue_token
from core.accounts import actor_for_user as load_actor
from core.actor import Actor
from core.db import make_engine, new_session, utcnow
from core.pseudonym import pseudonymise
from core.roles import HospitalGrade, OrgKind, Role
from trace.items import register_trade_item
from trace.models import EventType
from trace.transitions import EventIn

REGION_CODE, REGION_NAME = "350200", "厦门市"
PRODUCTS = 6  # every third one is a GS1 product
STEPS = (EventType.COMMISSION, EventType.SHIP, EventType.RECEIVE, EventType.DISPENSE)
PATIENT_KEY = b"bench-only-pseudonymisation-key-0123456789abcdef"
SERIAL_LIMIT = 10**9  # 9-digit serials of 20-digit codes


def uscc(tag: int, serial: int) -> str:
    """Return a valid unified social credit code for a benchmark organisation."""
    body = f"12{REGION_CODE}{tag:05d}{serial:04d}"
    return body + uscc_std.calc_check_digit(body)


@dataclass(frozen=True)
class Product:
    trade_item_id: int
    product_id: str | None  # 20-digit codes
    gtin: str | None  # GS1 codes
    insurance_code: str

    def code(self, serial: int) -> str:
        """Return the trace code of the pack with this serial."""
        if self.gtin:
            return f"01{self.gtin}17281231102601A\x1d21S{serial:09d}"
        return f"{self.product_id}{serial:09d}1234"  # the verification digits are not checked (rulebook 5.2.2)


@dataclass
class World:
    url: str
    maker_id: int
    hospital_ids: list[int]
    maker_user_id: int
    hospital_user_ids: list[int]
    products: list[Product]
    tokens: dict[str, list[str]] = field(default_factory=dict)  # "maker" / "hospital<n>" → bearer secrets

    def actors(self) -> dict[str, Actor]:
        """Return the actors of the maker's and each hospital's user, read from the database."""
        engine = make_engine(self.url)
        try:
            with new_session(engine) as session:
                found = {"maker": load_actor(session, self.maker_user_id)}
                for n, user_id in enumerate(self.hospital_user_ids):
                    found[f"hospital{n}"] = load_actor(session, user_id)
                return found
        finally:
            engine.dispose()


def seed_world(url: str, *, hospitals: int = 2, tokens_per_user: int = 0) -> World:
    """Create the maker, the hospitals, their users (and bearer tokens) and the products in a migrated database."""
    admin = Actor.system("bench")
    tag = secrets.randbelow(90_000) + 10_000
    engine = make_engine(url)
    try:
        with new_session(engine) as session:
            maker = create_organisation(
                session, name=f"基准药业 {tag}", kind=OrgKind.MANUFACTURER, uscc=uscc(tag, 0),
                region_code=REGION_CODE, region_name=REGION_NAME, actor=admin,
            )  # fmt: skip
            maker_user = create_user(
                session, username=f"maker{tag}", password=f"bench-password-{tag}", display_name="基准供货代表",
                organisation_id=maker.id, roles=[Role.SUPPLIER_REP], actor=admin,
            )  # fmt: skip
            world = World(url, maker.id, [], maker_user.id, [], [])
            users = {"maker": maker_user}
            for n in range(hospitals):
                hospital = create_organisation(
                    session, name=f"基准医院 {tag}-{n}", kind=OrgKind.HOSPITAL, uscc=uscc(tag, n + 1),
                    region_code=REGION_CODE, region_name=REGION_NAME, hospital_grade=HospitalGrade.G3A, actor=admin,
                )  # fmt: skip
                pharmacist = create_user(
                    session, username=f"pharmacist{tag}_{n}", password=f"bench-password-{tag}",
                    display_name=f"基准药师 {n}", organisation_id=hospital.id, roles=[Role.PHARMACIST], actor=admin,
                )  # fmt: skip
                world.hospital_ids.append(hospital.id)
                world.hospital_user_ids.append(pharmacist.id)
                users[f"hospital{n}"] = pharmacist
            for n in range(PRODUCTS):
                world.products.append(_register_product(session, admin, maker.id, tag, n))
            now, policy = utcnow(), TokenPolicy()
            for name, user in users.items():
                world.tokens[name] = [
                    issue_token(session, user=user, name=f"bench {i}", now=now, policy=policy)[1]
                    for i in range(tokens_per_user)
                ]
            session.commit()
            return world
    finally:
        engine.dispose()


def _register_product(session, admin: Actor, maker_id: int, tag: int, n: int) -> Product:
    insurance_code = f"XC10AAA{tag:05d}{n:03d}01010135"
    if n % 3 == 2:
        body = f"069{tag:05d}{n:04d}1"
        gtin = body + ean.calc_check_digit(body)
        trade = register_trade_item(
            session, actor=admin, name=f"基准片 {n} (GS1)", holder_org_id=maker_id, pack_size=28, unit="片",
            gtin=gtin, insurance_code=insurance_code,
        )  # fmt: skip
        return Product(trade.id, None, gtin, insurance_code)
    product_id = f"8{tag % 10_000:04d}{n:02d}"
    trade = register_trade_item(
        session, actor=admin, name=f"基准片 {n}", holder_org_id=maker_id, pack_size=28, unit="片",
        product_id=product_id, insurance_code=insurance_code,
    )  # fmt: skip
    return Product(trade.id, product_id, None, insurance_code)


# ---------------------------------------------------------------- event plans


@dataclass(frozen=True)
class PlannedBatch:
    who: str  # "maker" or "hospital<n>"
    step: EventType
    lot: int
    events: list[EventIn]


def lot_events(world: World, step: EventType, serials: range, hospital: int, now: dt.datetime) -> list[EventIn]:
    """Return one step's events for the packs with these serials, as a client would report them."""
    at = now - dt.timedelta(minutes=10 * (len(STEPS) - STEPS.index(step)))
    products, to_org = world.products, world.hospital_ids[hospital]
    events = []
    for serial in serials:
        product = products[serial % len(products)]
        code = product.code(serial)
        if step == EventType.COMMISSION:
            extra = {} if product.gtin else {"batch": "2601A", "expiry": dt.date(2028, 12, 31)}
            events.append(EventIn(step, code, at=at, **extra))
        elif step == EventType.SHIP:
            events.append(EventIn(step, code, at=at, to_org_id=to_org))
        elif step == EventType.RECEIVE:
            events.append(EventIn(step, code, at=at))
        else:
            patient = pseudonymise(PATIENT_KEY, f"MZ{serial % 40_000:06d}") if serial % 5 < 3 else None
            events.append(EventIn(step, code, at=at, patient_ref=patient, insurance_code=product.insurance_code))
    return events


def plan(world: World, *, events: int, batch_size: int, first_serial: int = 1) -> Iterator[PlannedBatch]:
    """Yield batches of at most ``batch_size`` events: lots of packs through the four steps, about ``events`` in all."""
    packs = events // len(STEPS)
    if first_serial + packs > SERIAL_LIMIT:
        raise ValueError("too many packs for 9-digit serials")
    for lot, start in enumerate(range(0, packs, batch_size)):
        serials = range(first_serial + start, first_serial + min(packs, start + batch_size))
        hospital = lot % len(world.hospital_ids)
        now = utcnow()
        for step in STEPS:
            who = "maker" if step in (EventType.COMMISSION, EventType.SHIP) else f"hospital{hospital}"
            yield PlannedBatch(who, step, lot, lot_events(world, step, serials, hospital, now))
