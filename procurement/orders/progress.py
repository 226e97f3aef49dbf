"""Agreed-volume progress against time elapsed (序时进度, rulebook 1.7.5), per hospital and awarded lot.

An agreed volume is a year's volume: it is the reported annual demand (报量, comparable units per year) times the
volume ratio (1.4.4), and the purchase agreement is signed every year (1.6.1). Progress is therefore measured over
the agreement year of the cycle that the day falls in, cut short by the cycle's end; a shortened year's volume is
prorated by its days. "Purchased" counts the packs the hospital accepted at receipt (by the receipt's calendar day
in China), converted to comparable units by the lot's specification table (差比价); packs ordered on orders that
were neither cancelled nor rejected are shown beside them. Every awarded pack is bought at the winning price, so
purchases past the agreed volume simply continue at that price (1.7.1). Non-winning products of the same generic
name, bought while the hospital had a winner (OrderLine.winning_product_id), are shown apart, in packs and money.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session

from core.actor import Actor
from core.errors import FORBIDDEN, DomainError
from core.models import Organisation
from core.pagination import MAX_PER_PAGE, Page
from core.params import ParameterSet
from core.roles import OrgKind, Role
from procurement.catalogue import Product
from procurement.ocds_codes import CHINA_TIME
from procurement.orders.models import (
    OrderLine,
    OrderStatus,
    PackStatus,
    PurchaseOrder,
    Receipt,
    ShipmentPack,
)
from procurement.orders.ordering import HOSPITAL_ROLES
from procurement.orders.rules import ORDER_RULES
from procurement.tenders.models import AgreedVolume, Award, Lot, LotProduct, Tender

OVERSEERS = (Role.AUDITOR, Role.ORGANISER, Role.ADMIN)
NOT_PLACED = (OrderStatus.CANCELLED.value, OrderStatus.REJECTED.value)
FOUR_PLACES = Decimal("0.0001")
T = TypeVar("T")


class ProgressStatus(StrEnum):
    NOT_STARTED = "not_started"  # no time has elapsed: nothing is due yet, so nothing is judged
    BEHIND = "behind"  # completion below the warning share of time progress (1.7.5)
    ON_TRACK = "on_track"
    AHEAD = "ahead"  # completion above time progress
    COMPLETE = "complete"  # exactly the agreed volume
    OVER = "over"  # above the agreed volume, still at the winning price (1.7.1)


@dataclass(frozen=True)
class Period:
    """The agreement year a day falls in, clipped to the cycle; ``full_days`` is the unclipped year's length."""

    start: dt.date
    end: dt.date
    full_days: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class ProgressRow:
    agreed_volume_id: int
    tender_id: int
    tender_title: str
    lot_id: int
    lot_number: int
    generic_name: str
    unit: str
    hospital_id: int
    hospital_name: str
    award_id: int
    product_id: int
    supplier_id: int
    supplier_name: str
    unit_price: Decimal  # the winning price per pack, also for purchases past the agreed volume
    cycle_start: dt.date
    cycle_end: dt.date
    period_start: dt.date
    period_end: dt.date
    on: dt.date
    annual_volume: int  # the agreed volume as awarded, comparable units per year
    agreed_volume: int  # the volume due in this period (prorated when the cycle cuts the year short)
    ordered_units: Decimal
    received_units: Decimal
    received_amount: Decimal
    completion: Decimal | None  # received ÷ agreed; None when nothing is agreed
    time_progress: Decimal  # days elapsed ÷ days in the period, 0..1
    pace: Decimal | None  # completion ÷ time progress; None before any time has elapsed
    status: ProgressStatus
    over_units: Decimal  # received beyond the agreed volume, bought at the winning price
    non_winning_packs: int
    non_winning_amount: Decimal
    warning_share: Decimal


def page_of(items: list[T], *, page: int, per_page: int) -> Page[T]:
    """Cut one page (1-based) out of a list computed in full."""
    page, per_page = max(page, 1), min(max(per_page, 1), MAX_PER_PAGE)
    return Page(items=items[(page - 1) * per_page : page * per_page], total=len(items), page=page, per_page=per_page)


def _anniversary(start: dt.date, years: int) -> dt.date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February in a common year: the year runs to 28 February
        return dt.date(start.year + years, 3, 1)


def agreement_period(cycle_start: dt.date, cycle_end: dt.date, on: dt.date) -> Period:
    """Return the agreement year of the cycle that ``on`` falls in (the first before, the last after the cycle)."""
    day = min(max(on, cycle_start), cycle_end)
    years = day.year - cycle_start.year
    if _anniversary(cycle_start, years) > day:
        years -= 1
    start, next_start = _anniversary(cycle_start, years), _anniversary(cycle_start, years + 1)
    return Period(start, min(next_start - dt.timedelta(days=1), cycle_end), (next_start - start).days)


def _whole(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal:
    """Return a ratio rounded half up to four places, for display (verdicts compare exact values)."""
    return (Decimal(numerator) / Decimal(denominator)).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def _status(received: Decimal, target: int, elapsed: int, days: int, share: Decimal) -> ProgressStatus:
    # Compared cross-multiplied, so that rounding the displayed ratios can never flip a verdict.
    if elapsed == 0:
        return ProgressStatus.NOT_STARTED
    if received > target:
        return ProgressStatus.OVER
    if received == target:
        return ProgressStatus.COMPLETE
    if received * days < share * elapsed * target:
        return ProgressStatus.BEHIND
    if received * days > elapsed * target:
        return ProgressStatus.AHEAD
    return ProgressStatus.ON_TRACK


def day_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Return the instants that open ``first`` and close ``last``, as calendar days in China."""
    # A receipt at 01:00 Beijing time belongs to that day, although it is still the day before in UTC.
    start = dt.datetime.combine(first, dt.time(), CHINA_TIME)
    return start, dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), CHINA_TIME)


def received_packs(*columns: Any, first: dt.date, last: dt.date) -> sa.Select:
    """Select ``columns`` over the packs accepted at receipt on ``first``..``last``, with their lines and orders."""
    low, high = day_bounds(first, last)
    return (
        sa.select(*columns)
        .select_from(ShipmentPack)
        .join(OrderLine, OrderLine.id == ShipmentPack.order_line_id)
        .join(PurchaseOrder, PurchaseOrder.id == OrderLine.order_id)
        .join(Receipt, Receipt.id == ShipmentPack.receipt_id)
        .where(ShipmentPack.status == PackStatus.RECEIVED.value, Receipt.received_at >= low, Receipt.received_at < high)
    )


def _visible_volumes(session: Session, actor: Actor, hospital_id: int | None, tender_id: int | None):
    hospital, supplier = aliased(Organisation), aliased(Organisation)
    stmt = (
        sa.select(AgreedVolume, Award, Lot, Tender.title, hospital.name, supplier.name)
        .join(Award, Award.id == AgreedVolume.award_id)
        .join(Lot, Lot.id == AgreedVolume.lot_id)
        .join(Tender, Tender.id == AgreedVolume.tender_id)
        .join(hospital, hospital.id == AgreedVolume.hospital_id)
        .join(supplier, supplier.id == Award.supplier_id)
        .order_by(AgreedVolume.tender_id, Lot.number, AgreedVolume.hospital_id)
    )
    if not (actor.is_system or actor.has(*OVERSEERS)):
        if actor.has(*HOSPITAL_ROLES) and actor.org_kind == OrgKind.HOSPITAL:
            require_own_hospital(actor, hospital_id)
            stmt = stmt.where(AgreedVolume.hospital_id == actor.org_id)
        else:
            actor.require(Role.SUPPLIER_REP)
            stmt = stmt.where(Award.supplier_id == actor.org_id)  # the rows of the supplier's own awards
    if hospital_id is not None:
        stmt = stmt.where(AgreedVolume.hospital_id == hospital_id)
    if tender_id is not None:
        stmt = stmt.where(AgreedVolume.tender_id == tender_id)
    return session.exec(stmt).all()


def require_own_hospital(actor: Actor, hospital_id: int | None) -> None:
    """Refuse a hospital user asking for another hospital's figures."""
    if hospital_id is not None and hospital_id != actor.org_id:
        raise DomainError(FORBIDDEN, "a hospital sees only its own figures", code="foreign_organisation")


def _purchases(session: Session, hospitals: set[int], lots: set[int], first: dt.date, last: dt.date) -> dict:
    """Sum received packs and money, and packs ordered, per hospital and lot, then product, over ``first``..``last``."""
    key = (PurchaseOrder.hospital_id, OrderLine.lot_id, OrderLine.product_id)
    awarded = (PurchaseOrder.hospital_id.in_(hospitals), OrderLine.lot_id.in_(lots), OrderLine.award_id.is_not(None))
    received = received_packs(
        *key, sa.func.count(ShipmentPack.id), sa.func.sum(OrderLine.unit_price), first=first, last=last
    ).where(*awarded)
    low, high = day_bounds(first, last)
    ordered = (
        sa.select(*key, sa.func.sum(OrderLine.quantity))
        .join(PurchaseOrder, PurchaseOrder.id == OrderLine.order_id)
        .where(PurchaseOrder.status.not_in(NOT_PLACED), PurchaseOrder.placed_at >= low, PurchaseOrder.placed_at < high)
        .where(*awarded)
    )
    # (hospital, lot) → product → [received packs, received money, ordered packs]
    out: dict[tuple[int, int], dict[int, list]] = defaultdict(lambda: defaultdict(lambda: [0, Decimal(0), 0]))
    for hospital_id, lot_id, product_id, packs, amount in session.exec(received.group_by(*key)).all():
        out[(hospital_id, lot_id)][product_id][:2] = [int(packs), amount or Decimal(0)]
    for hospital_id, lot_id, product_id, packs in session.exec(ordered.group_by(*key)).all():
        out[(hospital_id, lot_id)][product_id][2] = int(packs or 0)
    return out


def _non_winning(session: Session, hospitals: set[int], winners: set[int], first: dt.date, last: dt.date) -> dict:
    """Sum received packs and money of non-winning products per hospital and the winner they stood in for."""
    key = (PurchaseOrder.hospital_id, OrderLine.winning_product_id)
    stmt = (
        received_packs(*key, sa.func.count(), sa.func.sum(OrderLine.unit_price), first=first, last=last)
        .where(PurchaseOrder.hospital_id.in_(hospitals), OrderLine.winning_product_id.in_(winners))
        .group_by(*key)
    )
    return {(h, w): (int(packs), amount or Decimal(0)) for h, w, packs, amount in session.exec(stmt).all()}


def _units_per_pack(session: Session, lots: set[int]) -> dict[tuple[int, int], Decimal]:
    stmt = (
        sa.select(LotProduct.lot_id, LotProduct.product_id, LotProduct.spec_factor, Product.pack_quantity)
        .join(Product, Product.id == LotProduct.product_id)
        .where(LotProduct.lot_id.in_(lots))
    )
    return {(lot, product): factor * quantity for lot, product, factor, quantity in session.exec(stmt).all()}


def agreement_progress(
    session: Session,
    *,
    actor: Actor,
    on: dt.date,
    hospital_id: int | None = None,
    tender_id: int | None = None,
    rules: ParameterSet = ORDER_RULES,
) -> list[ProgressRow]:
    """Return each visible hospital × lot: agreed volume against purchases and time elapsed on ``on`` (1.7.5)."""
    rows = _visible_volumes(session, actor, hospital_id, tender_id)
    share = Decimal(rules["progress_warning_share"])
    lots = {volume.lot_id for volume, *_ in rows}
    units = _units_per_pack(session, lots) if lots else {}
    by_period: dict[Period, list] = defaultdict(list)
    for row in rows:
        by_period[agreement_period(row[1].cycle_start, row[1].cycle_end, on)].append(row)
    out: list[ProgressRow] = []
    for period, group in by_period.items():
        last = min(on, period.end)
        bought, stand_ins = {}, {}
        if last >= period.start:
            hospitals = {volume.hospital_id for volume, *_ in group}
            bought = _purchases(session, hospitals, {volume.lot_id for volume, *_ in group}, period.start, last)
            winners = {award.product_id for _, award, *_ in group}
            stand_ins = _non_winning(session, hospitals, winners, period.start, last)
        for volume, award, lot, title, hospital_name, supplier_name in group:
            lines = bought.get((volume.hospital_id, lot.id), {})
            received = sum((units[(lot.id, p)] * v[0] for p, v in lines.items()), Decimal(0))
            ordered = sum((units[(lot.id, p)] * v[2] for p, v in lines.items()), Decimal(0))
            amount = sum((v[1] for v in lines.values()), Decimal(0))
            target = volume.agreed_volume
            if period.days < period.full_days:
                target = _whole(Decimal(volume.agreed_volume) * period.days / period.full_days)
            elapsed = min(max((on - period.start).days + 1, 0), period.days)
            completion = ratio(received, target) if target else None
            time_progress = ratio(elapsed, period.days)
            exact_pace = received * period.days / (target * elapsed) if target and elapsed else None
            packs, stand_in_amount = stand_ins.get((volume.hospital_id, award.product_id), (0, Decimal(0)))
            out.append(
                ProgressRow(
                    agreed_volume_id=volume.id,
                    tender_id=volume.tender_id,
                    tender_title=title,
                    lot_id=lot.id,
                    lot_number=lot.number,
                    generic_name=lot.generic_name,
                    unit=lot.unit,
                    hospital_id=volume.hospital_id,
                    hospital_name=hospital_name,
                    award_id=award.id,
                    product_id=award.product_id,
                    supplier_id=award.supplier_id,
                    supplier_name=supplier_name,
                    unit_price=award.unit_price,
                    cycle_start=award.cycle_start,
                    cycle_end=award.cycle_end,
                    period_start=period.start,
                    period_end=period.end,
                    on=on,
                    annual_volume=volume.agreed_volume,
                    agreed_volume=target,
                    ordered_units=ordered,
                    received_units=received,
                    received_amount=amount,
                    completion=completion,
                    time_progress=time_progress,
                    pace=exact_pace.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP) if exact_pace is not None else None,
                    status=_status(received, target, elapsed, period.days, share),
                    over_units=max(received - target, Decimal(0)),
                    non_winning_packs=packs,
                    non_winning_amount=stand_in_amount,
                    warning_share=share,
                )
            )
    out.sort(key=lambda r: (r.tender_id, r.lot_number, r.hospital_id))
    return out


def list_progress(
    session: Session,
    *,
    actor: Actor,
    on: dt.date,
    hospital_id: int | None = None,
    tender_id: int | None = None,
    status: ProgressStatus | str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[ProgressRow]:
    """Return one page of agreement progress, optionally only the rows in one status."""
    rows = agreement_progress(session, actor=actor, on=on, hospital_id=hospital_id, tender_id=tender_id)
    if status is not None:
        rows = [row for row in rows if row.status == ProgressStatus(status)]
    return page_of(rows, page=page, per_page=per_page)
