"""The online-purchase share (网采率, rulebook 0.2): platform purchases ÷ all purchases, by amount, per hospital.

Platform purchases are the packs a hospital accepted at receipt, at their order lines' prices, on the receipt's
calendar day in China: what was actually bought, not what was ordered and may yet be cancelled or refused. All
purchases add the off-platform purchases the hospital declared; a declaration covers a month, so every month the
period touches counts whole. Drugs and high-value consumables are shown apart, each against its target.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.errors import invalid
from core.models import Organisation
from core.params import ParameterSet
from core.roles import OrgKind
from procurement.catalogue import Product
from procurement.orders.models import OfflinePurchase, OrderLine, PurchaseOrder
from procurement.orders.ordering import HOSPITAL_ROLES
from procurement.orders.progress import OVERSEERS, ratio, received_packs, require_own_hospital
from procurement.orders.rules import ORDER_RULES

KINDS = ("drug", "consumable")


@dataclass(frozen=True)
class OnlineShareRow:
    hospital_id: int
    hospital_name: str
    kind: str
    start: dt.date
    end: dt.date
    platform_amount: Decimal
    offline_amount: Decimal
    total_amount: Decimal
    share: Decimal | None  # None when the hospital bought nothing of this kind: missing, not zero
    target: Decimal
    meets_target: bool | None


def online_share(
    session: Session,
    *,
    actor: Actor,
    start: dt.date,
    end: dt.date,
    hospital_id: int | None = None,
    rules: ParameterSet = ORDER_RULES,
) -> list[OnlineShareRow]:
    """Return each hospital's platform share of purchases by amount over ``start``..``end``, per kind (0.2)."""
    if end < start:
        raise invalid("end", "the period ends before it starts")
    if not (actor.is_system or actor.has(*OVERSEERS)):
        actor.require(*HOSPITAL_ROLES)
        require_own_hospital(actor, hospital_id)
        hospital_id = actor.org_id
    key = (PurchaseOrder.hospital_id, Product.kind)
    platform = (
        received_packs(*key, sa.func.sum(OrderLine.unit_price), first=start, last=end)
        .join(Product, Product.id == OrderLine.product_id)
        .group_by(*key)
    )
    offline = (
        sa.select(OfflinePurchase.hospital_id, OfflinePurchase.product_kind, sa.func.sum(OfflinePurchase.amount))
        .where(OfflinePurchase.month >= start.replace(day=1), OfflinePurchase.month <= end)
        .group_by(OfflinePurchase.hospital_id, OfflinePurchase.product_kind)
    )
    if hospital_id is not None:
        platform = platform.where(PurchaseOrder.hospital_id == hospital_id)
        offline = offline.where(OfflinePurchase.hospital_id == hospital_id)
    amounts: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for index, stmt in enumerate((platform, offline)):
        for hospital, kind, amount in session.exec(stmt).all():
            amounts[(hospital, kind)][index] += amount or Decimal(0)
    hospitals = {hospital for hospital, _ in amounts} | ({hospital_id} if hospital_id is not None else set())
    hospital_names = sa.select(Organisation.id, Organisation.name).where(
        Organisation.id.in_(hospitals), Organisation.kind == OrgKind.HOSPITAL.value
    )
    names = dict(session.exec(hospital_names).all())
    targets = rules["online_share_targets"]
    out = []
    for hospital in sorted(h for h in hospitals if h in names):
        for kind in KINDS:
            on_platform, declared = amounts.get((hospital, kind), (Decimal(0), Decimal(0)))
            total = on_platform + declared
            share = ratio(on_platform, total) if total else None
            target = Decimal(targets[kind])
            out.append(
                OnlineShareRow(
                    hospital_id=hospital,
                    hospital_name=names[hospital],
                    kind=kind,
                    start=start,
                    end=end,
                    platform_amount=on_platform,
                    offline_amount=declared,
                    total_amount=total,
                    share=share,
                    target=target,
                    # Judged on the exact fraction; the displayed share is rounded.
                    meets_target=on_platform >= target * total if total else None,
                )
            )
    return out
