"""Load the Fujian demo world (organisations, users of every role, drugs, a trace flow) into an empty database."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from typing import NamedTuple

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session
from stdnum import ean
from stdnum.cn import uscc as uscc_std

from core.accounts import actor_for_user, create_organisation, create_user
from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, DomainError
from core.models import Organisation, User
from core.roles import OrgKind, Role
from procurement.catalogue import GqceStatus, Product, ProductKind
from scripts.demo.audit import load_demo_audit
from scripts.demo.consumables import consumable_products
from scripts.demo.drugs import DRUGS, DemoDrug
from scripts.demo.orders import load_demo_orders
from scripts.demo.tenders import load_demo_tenders
from scripts.demo.trace_flow import load_trace_flow
from scripts.demo.world import ENTERPRISE, LUJIANG, MINHAI, ORGS, SHAXI, USERS, DemoOrg, DemoUser
from trace.signing import load_or_create_private_key
from webui.config import load_config

DEMO_PASSWORD_ENV = "YAOLIAN_DEMO_PASSWORD"
# One shared development password keeps the printed login table easy to use; it meets the password policy.
DEFAULT_DEMO_PASSWORD = "yaolian-demo-2026"

DEMO_USERS: list[DemoUser] = list(USERS)


def demo_password(username: str) -> str:
    """Return the demo password of a user: ``YAOLIAN_DEMO_PASSWORD`` when set, else the development default."""
    return os.environ.get(DEMO_PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD


# ---------------------------------------------------------------- synthetic codes
# Every code below is synthetic but well-formed: valid check characters, the real layout, made-up serials.

_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def organisation_code_check(body: str) -> str:
    """Return the check character of an 8-character organisation code (组织机构代码, GB 11714)."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, _GB11714_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def org_uscc(index: int, org: DemoOrg) -> str:
    """Return a synthetic unified social credit code: the org's type prefix and region, a made-up 组织机构代码."""
    lead = f"MA{index:02d}" if org.uscc_prefix == ENTERPRISE else f"4{index:03d}"
    body = lead + org.region_code[2:]
    base = org.uscc_prefix + org.region_code + body + organisation_code_check(body)
    return base + uscc_std.calc_check_digit(base)


class MakerCodes(NamedTuple):
    insurance: str  # 5-digit enterprise part of the 医保药品代码
    gs1: str  # 5-digit company prefix after the 69 country prefix
    trace: str  # 2 digits of the 7-digit 码上放心 product identifier


MAKER_CODES: dict[str, MakerCodes] = {
    MINHAI: MakerCodes("01351", "35101", "11"),
    LUJIANG: MakerCodes("02352", "35202", "12"),
    SHAXI: MakerCodes("03354", "35403", "13"),
}

# Illustrative dosage-form part of the 医保药品代码 (A… oral solid forms, B… injections); not the NHSA table.
FORM_CODES = {
    "片剂": "A001",
    "缓释片": "A002",
    "控释片": "A003",
    "胶囊剂": "A011",
    "肠溶胶囊": "A012",
    "注射剂": "B001",
}


# The rulebook gives no layout for the national insurance drug code (0.14 only asks for unified coding), so this
# follows NHSA's published 23-character western-drug codes (XC10AAA…): X, the ATC level-4 class (5), the pinyin
# initial and number of the generic name (4), the dosage form (4), strength and pack (4), the enterprise (5).
def insurance_code(drug: DemoDrug, *, name_no: int, strength_no: int) -> str:
    """Return a synthetic 23-character national insurance drug code (医保药品代码)."""
    maker = MAKER_CODES[drug.maker].insurance
    return f"X{drug.atc}{drug.initial}{name_no:03d}{FORM_CODES[drug.dosage_form]}{strength_no:02d}01{maker}"


def gtin14(maker: str, item: int) -> str:
    """Return a GTIN-14 for a China-registered (69) company prefix with a correct GS1 check digit (rulebook 5.3.2)."""
    body = f"069{MAKER_CODES[maker].gs1}{item:05d}"
    return body + ean.calc_check_digit(body)


def trace_product_id(maker: str, item: int) -> str:
    """Return a 7-digit 码上放心 product identifier, the first 7 digits of a 20-digit trace code (rulebook 5.2.1)."""
    return f"8{MAKER_CODES[maker].trace}{item:04d}"


def approval_number(index: int) -> str:
    """Return a chemical-drug approval number (国药准字H + year + serial) with synthetic digits."""
    return f"国药准字H{2019 + index % 5}{4000 + index * 7:04d}"


# ---------------------------------------------------------------- loading


def demo_products(manufacturer_ids: dict[str, int]) -> list[Product]:
    """Build the catalogue: the drugs, each with its three codes (医保编码, trace identifier, GTIN), then the
    high-value consumables with their UDI-DIs."""
    name_numbers: dict[str, int] = {}
    strengths: dict[str, list[str]] = {}
    per_maker: Counter[str] = Counter()
    products = []
    for index, drug in enumerate(DRUGS):
        name_no = name_numbers.setdefault(drug.generic_name, 101 + len(name_numbers))
        seen = strengths.setdefault(drug.generic_name, [])
        if drug.strength not in seen:
            seen.append(drug.strength)
        per_maker[drug.maker] += 1
        item = per_maker[drug.maker]
        products.append(
            Product(
                generic_name=drug.generic_name,
                generic_name_en=drug.generic_name_en,
                dosage_form=drug.dosage_form,
                strength=drug.strength,
                pack_quantity=drug.pack_quantity,
                unit=drug.unit,
                package_spec=drug.package_spec,
                manufacturer_id=manufacturer_ids[drug.maker],
                mah_id=manufacturer_ids[drug.mah or drug.maker],
                approval_number=approval_number(index),
                insurance_code=insurance_code(drug, name_no=name_no, strength_no=seen.index(drug.strength) + 1),
                trace_product_id=trace_product_id(drug.maker, item),
                gtin=gtin14(drug.maker, item),
                gqce_status=(GqceStatus.PASSED if drug.gqce_passed else GqceStatus.NOT_EVALUATED).value,
                essential=drug.essential,
                key_monitored=drug.key_monitored,
            )
        )
    return products + consumable_products(manufacturer_ids)


def load_demo(
    session: Session,
    *,
    signing_key: Ed25519PrivateKey | None = None,
    pseudonym_key: bytes | None = None,
    scale: float = 1.0,
    now: dt.datetime | None = None,
) -> str:
    """Load the demo world into an empty database through the core services and return a summary; never commits.

    The ledger checkpoints are signed with ``signing_key`` (default: the platform key of the configuration) and
    patient identifiers pseudonymised with ``pseudonym_key`` (default: the configured key); ``scale`` sizes the
    trace flow (1.0: about 3,000 packs).
    """
    existing = session.exec(sa.select(sa.func.count()).select_from(Organisation)).one()[0]
    if existing:
        raise DomainError(
            CONFLICT,
            f"demo data loads only into an empty database; this one already has {existing} organisations",
            code="demo_database_not_empty",
        )
    actor = Actor.system("demo")
    orgs: dict[str, Organisation] = {}
    for index, spec in enumerate(ORGS, start=1):
        orgs[spec.name] = create_organisation(
            session,
            name=spec.name,
            name_en=spec.name_en,
            kind=spec.kind,
            uscc=org_uscc(index, spec),
            region_code=spec.region_code,
            region_name=spec.region_name,
            hospital_grade=spec.grade,
            parent_id=orgs[spec.parent].id if spec.parent else None,
            actor=actor,
        )
    users = {}
    for user in DEMO_USERS:
        users[user.username] = create_user(
            session,
            username=user.username,
            password=demo_password(user.username),
            display_name=user.display_name,
            organisation_id=orgs[user.org_name].id,
            roles=user.roles,
            actor=actor,
        )
    products = demo_products({name: org.id for name, org in orgs.items() if org.kind == OrgKind.MANUFACTURER})
    session.add_all(products)
    session.flush()  # the batch audit records name the product ids
    for maker in MAKER_CODES:
        batch = [p for p in products if p.manufacturer_id == orgs[maker].id]
        record_audit(
            session, actor=actor, action="product.batch_created", object_type="organisation",
            object_id=orgs[maker].id, org_id=orgs[maker].id,
            details={"source": "demo", "count": len(batch), "product_ids": [p.id for p in batch]},
        )  # fmt: skip
    config = load_config() if signing_key is None or pseudonym_key is None else {}
    signing_key = signing_key or load_or_create_private_key(config["SIGNING_KEY_PATH"])
    now = now or utcnow()
    trace = load_trace_flow(
        session,
        products=[p for p in products if p.kind == ProductKind.DRUG],  # trace codes are for drugs
        org_ids={name: org.id for name, org in orgs.items()},
        actors=capture_actors(session, users),
        signing_key=signing_key,
        pseudonym_key=pseudonym_key or config["PSEUDONYM_KEY"],
        now=now,
        scale=scale,
    )
    tenders = load_demo_tenders(session, users=users, signing_key=signing_key, now=now)
    orders = load_demo_orders(session, users=users, signing_key=signing_key, now=now, scale=scale)
    audit = load_demo_audit(
        session,
        users=users,
        pseudonym_key=pseudonym_key or config["PSEUDONYM_KEY"],
        signing_key=signing_key,
        now=now,
        scale=scale,
    )
    kinds = Counter(OrgKind(org.kind) for org in orgs.values())
    return (
        f"Fujian demo world loaded: {len(orgs)} organisations ({kinds[OrgKind.HOSPITAL]} hospitals, "
        f"{kinds[OrgKind.MANUFACTURER]} manufacturers, {kinds[OrgKind.DISTRIBUTOR]} distributors, "
        f"{kinds[OrgKind.INSURANCE_BUREAU]} insurance bureau, {kinds[OrgKind.PROCUREMENT_OFFICE]} procurement "
        f"offices), {len(DEMO_USERS)} users, {len(products)} products. Trace flow: {trace.packs} packs "
        f"({trace.cases} cases) in {trace.batches} batches, {trace.entries} ledger entries, "
        f"{len(trace.alerts)} alerts ({', '.join(sorted(set(trace.alerts)))}), {trace.checkpoints} checkpoints. "
        f"{tenders} {orders} {audit}"
    )


def capture_actors(session: Session, users: dict[str, User]) -> dict[str, Actor]:
    """Return, for each supplier and hospital, the actor of its first demo user who captures trace events."""
    actors: dict[str, Actor] = {}
    for demo in DEMO_USERS:
        if demo.org_name not in actors and set(demo.roles) & {Role.SUPPLIER_REP, Role.PHARMACIST}:
            actors[demo.org_name] = actor_for_user(session, users[demo.username].id)
    return actors
