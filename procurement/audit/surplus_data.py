"""Gather the facts of surplus retention from the platform's records and the bureau's inputs (rulebook 3.1–3.6, 3.9).

One result covers an agreed volume (a hospital × lot, which names the generic name and its comparable unit) over
one agreement year of its tender's cycle: the purchase agreement is signed every year (1.6.1) and 3.7's worked data
point is a first year. A year the period cuts short is measured to the period's last day and its volumes are
prorated by days, as agreed-volume progress does. Purchases are the packs accepted at receipt on calendar days in
China, at their order lines' prices (as in progress and the online share), converted to comparable units by the
lot's specification table.

Declared off-platform purchases are monthly amounts. Each counts once: in the agreement year that holds most of its
month's days (a tie goes to the later year; 3.7's year from 2022-11-30 holds November 2023, not November 2022), and
in one lot — the lot whose specification table lists its product, else a lot of the same generic name and dosage
form, else the first lot of the name. A whole month is kept rather than prorated by days, so that each declaration
stays one row of one result. A purchase of a winning product of the lot is converted to comparable units at its
award's price per unit (a declaration has no quantity), so that 3.6's cap can apply to it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.models import Organisation
from procurement.audit.surplus_calc import Facts
from procurement.audit.surplus_models import SurplusBaselinePrice, SurplusInsuredShare, SurplusMemberShare
from procurement.catalogue import Product
from procurement.orders import payments
from procurement.orders.models import OfflinePurchase, OrderLine, PurchaseOrder, Receipt, ShipmentPack
from procurement.orders.online_share import online_share
from procurement.orders.progress import Period, agreement_period, received_packs
from procurement.orders.supply import next_month
from procurement.tenders.models import AgreedVolume, Award, DemandReport, Lot, LotProduct


def years_overlapping(cycle_start: dt.date, cycle_end: dt.date, start: dt.date, end: dt.date) -> list[Period]:
    """Return the agreement years of a cycle that overlap [start, end) and have begun by its last day."""
    years, day, last = [], cycle_start, end - dt.timedelta(days=1)
    while day <= cycle_end:
        year = agreement_period(cycle_start, cycle_end, day)
        if year.start <= last and year.end >= start:
            years.append(year)
        day = year.end + dt.timedelta(days=1)
    return years


def _winning(session: Session, hospitals: set[int], lots: set[int], first: dt.date, last: dt.date) -> dict:
    """(hospital, lot) → [units, amount, receipt ids] of winning products accepted on first..last."""
    units = {
        (lot, product): factor * quantity
        for lot, product, factor, quantity in session.exec(
            sa.select(LotProduct.lot_id, LotProduct.product_id, LotProduct.spec_factor, Product.pack_quantity)
            .join(Product, Product.id == LotProduct.product_id)
            .where(LotProduct.lot_id.in_(lots))
        ).all()
    }
    key = (PurchaseOrder.hospital_id, OrderLine.lot_id, OrderLine.product_id, Receipt.id)
    stmt = (
        received_packs(*key, sa.func.count(ShipmentPack.id), sa.func.sum(OrderLine.unit_price), first=first, last=last)
        .where(PurchaseOrder.hospital_id.in_(hospitals), OrderLine.lot_id.in_(lots), OrderLine.award_id.is_not(None))
        .group_by(*key)
    )
    out: dict[tuple[int, int], list] = defaultdict(lambda: [Decimal(0), Decimal(0), set()])
    for hospital, lot, product, receipt, packs, amount in session.exec(stmt).all():
        row = out[(hospital, lot)]
        row[0] += units.get((lot, product), Decimal(0)) * packs
        row[1] += amount or Decimal(0)
        row[2].add(receipt)
    return out


def _non_winning(session: Session, hospitals: set[int], winners: set[int], first: dt.date, last: dt.date) -> dict:
    """(hospital, winning product) → [packs, amount, receipt ids] of non-winning products bought in its place."""
    key = (PurchaseOrder.hospital_id, OrderLine.winning_product_id, Receipt.id)
    stmt = (
        received_packs(*key, sa.func.count(ShipmentPack.id), sa.func.sum(OrderLine.unit_price), first=first, last=last)
        .where(PurchaseOrder.hospital_id.in_(hospitals), OrderLine.winning_product_id.in_(winners))
        .group_by(*key)
    )
    out: dict[tuple[int, int], list] = defaultdict(lambda: [0, Decimal(0), set()])
    for hospital, winner, receipt, packs, amount in session.exec(stmt).all():
        row = out[(hospital, winner)]
        row[0] += packs
        row[1] += amount or Decimal(0)
        row[2].add(receipt)
    return out


def owns_month(year: Period, month: dt.date) -> bool:
    """Whether a month's off-platform purchases count in this agreement year: the year holding most of its days."""
    last = next_month(month) - dt.timedelta(days=1)
    inside = (min(last, year.end) - max(month, year.start)).days + 1
    before, after = (year.start - month).days, (last - year.end).days
    return inside > 0 and inside >= before and inside > after  # a tie goes to the later year


def _offline(session: Session, rows: list[tuple], winners: dict[tuple[int, int], Decimal]) -> dict:
    """(agreed volume, year start) → [amount, ids, winning amount, winning units] of declared off-platform purchases.

    ``rows`` are (volume, lot, hospital, year, measured to); ``winners`` maps (lot, product) to the award's price
    per pack. Each purchase goes to one row: see the module's description.
    """
    hospitals = {volume.hospital_id for volume, *_ in rows}
    by_name: dict[tuple[int, str], list[tuple]] = defaultdict(list)
    for row in rows:
        by_name[(row[0].hospital_id, row[1].generic_name)].append(row)
    listed = {
        (lot, product): factor
        for lot, product, factor in session.exec(
            sa.select(LotProduct.lot_id, LotProduct.product_id, LotProduct.spec_factor).where(
                LotProduct.lot_id.in_({lot.id for _v, lot, *_ in rows})
            )
        ).all()
    }
    stmt = (
        sa.select(OfflinePurchase.id, OfflinePurchase.hospital_id, OfflinePurchase.product_id, OfflinePurchase.month,
                  OfflinePurchase.amount, Product.generic_name, Product.dosage_form, Product.pack_quantity)
        .join(Product, Product.id == OfflinePurchase.product_id)
        .where(
            OfflinePurchase.hospital_id.in_(hospitals),
            Product.generic_name.in_({lot.generic_name for _v, lot, *_ in rows}),
            OfflinePurchase.month >= min(year.start for *_, year, _m in rows).replace(day=1),
            OfflinePurchase.month <= max(measured for *_, measured in rows),
        )
        .order_by(OfflinePurchase.id)
    )  # fmt: skip
    out: dict[tuple[int, dt.date], list] = defaultdict(lambda: [Decimal(0), [], Decimal(0), Decimal(0)])
    for row_id, hospital, product, month, amount, name, form, pack_quantity in session.exec(stmt).all():
        candidates = [
            (volume, lot, year)
            for volume, lot, _h, year, measured in by_name[(hospital, name)]
            if month <= measured and owns_month(year, month)
        ]
        if not candidates:
            continue
        volume, lot, year = min(
            candidates,
            key=lambda c: ((c[1].id, product) not in listed, c[1].dosage_form != form, c[0].tender_id, c[1].number),
        )
        found = out[(volume.id, year.start)]
        found[0] += amount
        found[1].append(row_id)
        price = winners.get((lot.id, product))
        if price:
            found[2] += amount
            found[3] += amount * pack_quantity * listed.get((lot.id, product), Decimal(1)) / price
    return out


def _history(session: Session, volume_ids: list[tuple[int, int]]) -> dict:
    """(lot, hospital) → [historical use, demand report ids] from the demand reports (1.1.7)."""
    lots = {lot for lot, _ in volume_ids}
    stmt = sa.select(DemandReport.id, DemandReport.lot_id, DemandReport.hospital_id, DemandReport.historical_use).where(
        DemandReport.lot_id.in_(lots), DemandReport.historical_use.is_not(None)
    )
    out: dict[tuple[int, int], list] = defaultdict(lambda: [0, []])
    for row_id, lot, hospital, used in session.exec(stmt).all():
        out[(lot, hospital)][0] += used
        out[(lot, hospital)][1].append(row_id)
    return out


def _inputs(session: Session, tenders: set[int], hospitals: set[int]):
    prices = session.exec(sa.select(SurplusBaselinePrice).where(SurplusBaselinePrice.tender_id.in_(tenders)))
    by_name: dict[tuple[int, str, str], list[SurplusBaselinePrice]] = defaultdict(list)
    for price in prices.scalars():
        by_name[(price.tender_id, price.generic_name, price.unit)].append(price)
    shares = {
        (s.tender_id, s.hospital_id, s.generic_name): s
        for s in session.exec(
            sa.select(SurplusInsuredShare).where(
                SurplusInsuredShare.tender_id.in_(tenders), SurplusInsuredShare.hospital_id.in_(hospitals)
            )
        ).scalars()
    }
    members: dict[int, list[tuple[int, str, Decimal]]] = defaultdict(list)
    stmt = (
        sa.select(SurplusMemberShare.general_hospital_id, SurplusMemberShare.member_id, Organisation.name,
                  SurplusMemberShare.share)
        .join(Organisation, Organisation.id == SurplusMemberShare.member_id)
        .where(SurplusMemberShare.general_hospital_id.in_(hospitals))
        .order_by(SurplusMemberShare.general_hospital_id, SurplusMemberShare.member_id)
    )  # fmt: skip
    for general, member, name, share in session.exec(stmt).all():
        members[general].append((member, name, share))
    return by_name, shares, members


def baseline_for(prices: list[SurplusBaselinePrice], region_code: str) -> SurplusBaselinePrice | None:
    """Return the baseline price whose region prefix matches the hospital's region code most closely."""
    matching = [p for p in prices if region_code.startswith(p.region_code)]
    return max(matching, key=lambda p: len(p.region_code)) if matching else None


def gather_facts(
    session: Session, *, actor: Actor, start: dt.date, end: dt.date, tender_id: int | None = None
) -> list[Facts]:
    """Return the facts of every agreed volume × agreement year overlapping [start, end)."""
    stmt = (
        sa.select(AgreedVolume, Award, Lot, Organisation)
        .join(Award, Award.id == AgreedVolume.award_id)
        .join(Lot, Lot.id == AgreedVolume.lot_id)
        .join(Organisation, Organisation.id == AgreedVolume.hospital_id)
        .order_by(AgreedVolume.tender_id, Lot.number, AgreedVolume.hospital_id)
    )
    if tender_id is not None:
        stmt = stmt.where(AgreedVolume.tender_id == tender_id)
    last = end - dt.timedelta(days=1)
    groups: dict[tuple[dt.date, dt.date], list] = defaultdict(list)
    for volume, award, lot, hospital in session.exec(stmt).all():
        for year in years_overlapping(award.cycle_start, award.cycle_end, start, end):
            groups[(year.start, min(year.end, last))].append((volume, lot, hospital, year))
    if not groups:
        return []
    rows = [row for group in groups.values() for row in group]
    lots = {lot.id for _v, lot, _h, _y in rows}
    winners_of: dict[int, set[int]] = defaultdict(set)
    award_prices: dict[tuple[int, int], Decimal] = {}
    awards = sa.select(Award.lot_id, Award.product_id, Award.unit_price).where(Award.lot_id.in_(lots))
    for lot_id, product_id, unit_price in session.exec(awards.order_by(Award.id)):
        winners_of[lot_id].add(product_id)
        award_prices.setdefault((lot_id, product_id), unit_price)
    prices, shares, members = _inputs(session, {v.tender_id for v, *_ in rows}, {v.hospital_id for v, *_ in rows})
    history = _history(session, [(v.lot_id, v.hospital_id) for v, *_ in rows])
    offline = _offline(
        session, [(*row, measured_to) for (_f, measured_to), group in groups.items() for row in group], award_prices
    )
    rates: dict[tuple[int, dt.date, dt.date], dict | None] = {}
    facts: list[Facts] = []
    for (first, measured_to), group in sorted(groups.items()):
        hospitals = {v.hospital_id for v, *_ in group}
        group_lots = {lot.id for _v, lot, _h, _y in group}
        winning = _winning(session, hospitals, group_lots, first, measured_to)
        winners = set().union(*(winners_of[lot] for lot in group_lots))
        stand_ins = _non_winning(session, hospitals, winners, first, measured_to) if winners else {}
        shares_online = {
            row.hospital_id: row
            for row in online_share(session, actor=actor, start=first, end=measured_to)
            if row.kind == "drug" and row.hospital_id in hospitals
        }
        for volume, lot, hospital, year in group:
            price = baseline_for(prices.get((volume.tender_id, lot.generic_name, lot.unit), []), hospital.region_code)
            insured = shares.get((volume.tender_id, volume.hospital_id, lot.generic_name))
            units, amount, receipts = winning.get((volume.hospital_id, lot.id), (Decimal(0), Decimal(0), set()))
            packs, nw_amount, nw_receipts = 0, Decimal(0), set()
            for winner in winners_of[lot.id]:
                found = stand_ins.get((volume.hospital_id, winner))
                if found:
                    packs, nw_amount, nw_receipts = packs + found[0], nw_amount + found[1], nw_receipts | found[2]
            off_amount, off_ids, off_winning, off_units = offline.get(
                (volume.id, year.start), (Decimal(0), [], Decimal(0), Decimal(0))
            )
            key = (volume.hospital_id, first, measured_to)
            if key not in rates:
                rates[key] = payments.on_time_rate(
                    session, hospital_id=volume.hospital_id, start=first, end=measured_to, actor=actor,
                    today=measured_to,
                )  # fmt: skip
            rate = rates[key]
            online = shares_online.get(volume.hospital_id)
            used, report_ids = history.get((lot.id, volume.hospital_id), (0, []))
            facts.append(
                Facts(
                    agreed_volume_id=volume.id, tender_id=volume.tender_id, lot_id=lot.id,
                    hospital_id=volume.hospital_id, hospital_name=hospital.name,
                    region_code=hospital.region_code, generic_name=lot.generic_name, unit=lot.unit,
                    year_start=year.start, year_end=year.end, measured_to=measured_to, full_days=year.full_days,
                    annual_base=volume.reported_base, annual_agreed=volume.agreed_volume,
                    baseline_price=price.price if price else None,
                    baseline_source=(f"surplus_baseline_prices #{price.id} (region {price.region_code!r}"
                                     f"{'; ' + price.source if price.source else ''})") if price else "",
                    insured_share=insured.share if insured else None,
                    insured_source=(f"surplus_insured_shares #{insured.id}"
                                    f"{'; ' + insured.source if insured.source else ''}") if insured else "",
                    received_units=units, received_amount=amount, receipt_ids=sorted(receipts),
                    non_winning_amount=nw_amount, non_winning_packs=packs, non_winning_receipt_ids=sorted(nw_receipts),
                    offline_amount=off_amount, offline_ids=sorted(off_ids), offline_winning_amount=off_winning,
                    offline_winning_units=off_units,
                    on_time=rate if rate and rate["amount_rate"] is not None else None,
                    offline_share=(
                        {"share": 1 - online.platform_amount / online.total_amount, "platform": online.platform_amount,
                         "offline": online.offline_amount} if online and online.total_amount else None
                    ),
                    historical_use=used or None, demand_report_ids=sorted(report_ids),
                    members=members.get(volume.hospital_id, []),
                )
            )  # fmt: skip
    return facts
