"""Circulation inputs for the demo: a year of hospitals' finance reports and one delivery outside the channel.

Every demo hospital gets twelve monthly finance reports (the twelve full months before ``now``), filed by the
auditor from the hospitals' statements. Planted for the workbench (rulebook 0.11, 0.16): Fuzhou Cangshan District
Hospital spends about 13.5 % of insured spending outside the catalogue (above the 12 % cap), and Xiamen Jimei District
Second Hospital earns about 38 : 44 : 18 instead of 5 : 3 : 2. The others sit near 9 % and near 5 : 3 : 2.

Off channel (0.1, 1.5): Bamin, which the winners named for hospitals outside Xiamen, takes three packs of a product
Jimei has an agreed volume for from its maker and delivers them to Jimei, which is served by Ludao, with no order;
Jimei receives them. A circulation run over that month flags CIRC-OFF-CHANNEL twice (no order; not the assigned
distributor) and the packs as stock of a product Jimei never ordered, if it never did.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.accounts import actor_for_user
from core.actor import Actor
from core.db import utcnow
from core.models import Organisation, User, UserRole
from core.roles import OrgKind, Role
from procurement.audit.circulation_finance import months_of, submit_report
from procurement.tenders.models import AgreedVolume, Award
from scripts.demo.world import BAMIN, FZ_CANGSHAN, XM_JIMEI
from trace import capture
from trace.canonical import canonical_bytes
from trace.models import EventType, TradeItem
from trace.transitions import EventIn

SEED = 20260706
CENT = Decimal("0.01")
_serials = itertools.count(760_000_001)


def _org(session: Session, name: str) -> Organisation | None:
    return session.exec(sa.select(Organisation).where(Organisation.name == name)).scalars().first()


def _actor_of(session: Session, org_id: int, roles: tuple[Role, ...]) -> Actor | None:
    stmt = (
        sa.select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.organisation_id == org_id, UserRole.role.in_([r.value for r in roles]))
        .order_by(User.id)
    )
    user_id = session.exec(stmt).scalars().first()
    return actor_for_user(session, user_id) if user_id is not None else None


def _figures(rng: random.Random, scale: Decimal, structure: tuple[int, int, int], outside: Decimal) -> dict:
    """Return a month's amounts: incomes in the given structure (drugs split 4 : 1 with consumables), ±3 %."""

    def jitter(value: Decimal) -> Decimal:
        return (value * Decimal(str(1 + rng.uniform(-0.03, 0.03)))).quantize(CENT)

    service, goods, tests = (jitter(scale * part / 10) for part in structure)
    insured = jitter(scale * Decimal("0.7"))
    out_share = outside + Decimal(str(rng.uniform(-0.005, 0.005)))
    return {
        "service_income": service,
        "drug_income": (goods * Decimal("0.8")).quantize(CENT),
        "consumable_income": (goods * Decimal("0.2")).quantize(CENT),
        "test_income": tests,
        "insured_in_catalogue": (insured * (1 - out_share)).quantize(CENT),
        "insured_out_of_catalogue": (insured * out_share).quantize(CENT),
    }


def _finance_reports(session: Session, actor: Actor, now: dt.datetime, months: int) -> int:
    rng = random.Random(SEED)
    this_month = (now + dt.timedelta(hours=8)).date().replace(day=1)
    first = this_month
    for _ in range(months):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    hospitals = session.exec(
        sa.select(Organisation).where(Organisation.kind == OrgKind.HOSPITAL.value).order_by(Organisation.id)
    ).scalars()
    filed = 0
    for hospital in hospitals:
        scale = Decimal(
            30_000_000 if hospital.hospital_grade == "3A" else 6_000_000 if hospital.hospital_grade == "2A" else 800_000
        )
        structure = (38, 44, 18) if hospital.name == XM_JIMEI else (50, 30, 20)
        outside = Decimal("0.135") if hospital.name == FZ_CANGSHAN else Decimal("0.09")
        for month in months_of(first, this_month):
            amounts = _figures(rng, scale, structure, outside)
            submit_report(session, actor=actor, hospital_id=hospital.id, month=month, amounts=amounts, now=now)
            filed += 1
    return filed


def _off_channel_delivery(session: Session, now: dt.datetime) -> str:
    jimei, bamin = _org(session, XM_JIMEI), _org(session, BAMIN)
    if jimei is None or bamin is None:
        return "no off-channel delivery (demo organisations missing)"
    stmt = (
        sa.select(TradeItem)
        .join(Award, Award.product_id == TradeItem.catalogue_ref)
        .join(AgreedVolume, AgreedVolume.award_id == Award.id)
        .where(AgreedVolume.hospital_id == jimei.id, TradeItem.level == 1)
        .order_by(TradeItem.id)
    )
    trade = session.exec(stmt).scalars().first()
    maker = _actor_of(session, trade.holder_org_id, (Role.SUPPLIER_REP,)) if trade else None
    distributor = _actor_of(session, bamin.id, (Role.SUPPLIER_REP,))
    pharmacy = _actor_of(session, jimei.id, (Role.PHARMACIST, Role.PHARMACY_MANAGER))
    if not (trade and maker and distributor and pharmacy):
        return "no off-channel delivery (no awarded trade item or capturing users)"
    codes = [f"{trade.product_id}{next(_serials):09d}0706" for _ in range(3)]
    when = now - dt.timedelta(days=3)
    expiry = (when + dt.timedelta(days=700)).date()
    steps = (
        (maker, [EventIn(EventType.COMMISSION, c, batch="OC2607", expiry=expiry) for c in codes]),
        (maker, [EventIn(EventType.SHIP, c, to_org_id=bamin.id) for c in codes]),
        (distributor, [EventIn(EventType.RECEIVE, c) for c in codes]),
        (distributor, [EventIn(EventType.SHIP, c, to_org_id=jimei.id) for c in codes]),
        (pharmacy, [EventIn(EventType.RECEIVE, c) for c in codes]),
    )  # fmt: skip
    for number, (actor, events) in enumerate(steps):
        batch = capture.BatchIn(
            client_batch_id=f"demo-off-channel-{number}",
            events=events,
            request_sha256=capture.request_digest(canonical_bytes({"off-channel": number})),
        )
        result = capture.capture(session, actor=actor, batch=batch, now=when + dt.timedelta(hours=number))
        assert result.accepted, result.body
    return f"3 packs of {trade.name} delivered by Bamin to Jimei outside any order"


def load_demo_circulation(session: Session, actor: Actor, *, now: dt.datetime | None = None, months: int = 12) -> str:
    """File a year of finance reports for every demo hospital as ``actor`` (an auditor) and plant one off-channel
    delivery; return a summary; never commits."""
    now = now or utcnow()
    filed = _finance_reports(session, actor, now, months)
    delivery = _off_channel_delivery(session, now)
    planted = "Cangshan above the 12 % cap, Jimei off 5 : 3 : 2"
    return f"Circulation: {filed} monthly finance reports filed ({planted}); {delivery}."
