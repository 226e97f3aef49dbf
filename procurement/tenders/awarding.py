"""Awards: winners' prices, agreed volumes per hospital, supply regions with backups, payment standards, cycles."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, DomainError
from core.models import Organisation
from procurement.catalogue import Product
from procurement.rules import allocation as allocation_rules
from procurement.rules import selection, volumes
from procurement.rules.types import HospitalDemand, LotCategory, Outcome
from procurement.tenders.lifecycle import move, require_status
from procurement.tenders.models import AgreedVolume, Award, Bid, BidOutcome, DemandReport, Lot, LotProduct, TenderStatus
from procurement.tenders.opening import lot_inputs, outcomes_of
from procurement.tenders.setup import get_tender, quantize4, require_organiser, rule_set_of

WON = (Outcome.WON, Outcome.WON_REVIVED)


def award_tender(
    session: Session,
    *,
    tender_id: int,
    actor: Actor,
    cycle_start: dt.date | None = None,
    now: dt.datetime | None = None,
) -> list[Award]:
    """Publish the awards: winners in rank order, each hospital's agreed volume and supplier, payment standards."""
    tender = get_tender(session, tender_id=tender_id, actor=actor, lock=True)
    require_organiser(tender, actor)
    require_status(tender, TenderStatus.EVALUATED, action="award")
    now = now or utcnow()
    start = cycle_start or _first_of_next_month(now.date())
    rules = rule_set_of(tender)
    lots, inputs = lot_inputs(session, tender.id)
    results = {result.lot_id: result for result in selection.evaluate_batch(rules, inputs)}
    stored = outcomes_of(session, tender.id)
    _check_same_as_published(results, stored)
    _close_unanswered_offers(stored)
    specs = {
        (lp.lot_id, lp.product_id): (lp, product)
        for lp, product in session.exec(
            sa.select(LotProduct, Product)
            .join(Product, Product.id == LotProduct.product_id)
            .where(LotProduct.lot_id.in_([lot.id for lot in lots]))
        ).all()
    }
    bids_by_id = {bid.bid_id: bid for lot_input in inputs for bid in lot_input.bids}
    # The rules see linked firms as one bidder (1.1.5); the award goes to the firm that made the bid.
    firms = dict(session.exec(sa.select(Bid.id, Bid.supplier_id).where(Bid.tender_id == tender.id)).all())
    demands = _demands(session, tender)
    won = [result for result in results.values() if result.winners]
    # One pass allocates every lot with a winner; lots without one have no supplier to allocate to.
    table = allocation_rules.DemandTable.from_demands({r.lot_id: demands.get(r.lot_id, []) for r in won})
    categories = {lot.id: LotCategory(lot.category) for lot in lots}
    allocated: dict[int, list] = defaultdict(list)
    for item in allocation_rules.allocate_batch(rules, won, table, categories=categories).rows():
        allocated[item.lot_id].append(item)
    awards: list[Award] = []
    cycle_ends: list[dt.date] = []
    for lot in lots:
        result = results[lot.id]
        winners = sorted(result.winners, key=lambda r: r.rank or 0)
        if not winners:
            continue
        cycle = volumes.cycle_dates(rules, n_winners=len(winners), start=start)
        cycle_ends.append(cycle[1])
        lot_awards: dict[int, Award] = {}
        for winner in winners:
            bid = bids_by_id[winner.bid_id]
            award_ucp = winner.award_ucp if winner.award_ucp is not None else bid.ucp
            award = Award(
                tender_id=tender.id,
                lot_id=lot.id,
                bid_id=bid.bid_id,
                supplier_id=firms[bid.bid_id],
                product_id=bid.product_id,
                rank=winner.rank or 0,
                award_ucp=award_ucp,
                # The engine converts a revival price back to this bid's pack (its own price when it won as bid).
                unit_price=winner.award_price if winner.award_price is not None else bid.price,
                ceiling_ucp=lot.ceiling_ucp,
                difference_per_unit=lot.ceiling_ucp - award_ucp,
                revived=winner.outcome == Outcome.WON_REVIVED,
                cycle_start=cycle[0],
                cycle_end=cycle[1],
            )
            session.add(award)
            lot_awards[bid.bid_id] = award
            awards.append(award)
        session.flush()
        allocations = allocated[lot.id]
        bases = {demand.hospital_id: demand.reported_base for demand in demands.get(lot.id, [])}
        regions: dict[int, set[str]] = defaultdict(set)
        backups: dict[int, set[str]] = defaultdict(set)
        for item in allocations:
            primary = lot_awards[item.supplier_bid_id]
            backup = lot_awards.get(item.backup_bid_id) if item.backup_bid_id is not None else None
            regions[primary.bid_id].add(item.region)
            if backup is not None:
                backups[backup.bid_id].add(item.region)
            session.add(
                AgreedVolume(
                    tender_id=tender.id,
                    lot_id=lot.id,
                    hospital_id=item.hospital_id,
                    award_id=primary.id,
                    backup_award_id=backup.id if backup else None,
                    region=item.region,
                    reported_base=bases[item.hospital_id],
                    agreed_volume=item.agreed_volume,
                    basis=item.basis,
                )
            )
        for bid_id, award in lot_awards.items():
            award.regions = sorted(regions[bid_id])
            award.backup_regions = sorted(backups[bid_id])
        _payment_standards(rules, lot, winners, bids_by_id, specs, result)
    if not awards:
        raise DomainError(CONFLICT, "no lot has a winner; nothing to award", code="no_winners")
    move(tender, TenderStatus.AWARDED)
    tender.published_at = now
    tender.cycle_start = start
    tender.cycle_end = max(cycle_ends)
    tender.updated_at = now
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="tender.awarded",
        object_type="tender",
        object_id=tender.id,
        details={"awards": len(awards), "cycle": [start.isoformat(), tender.cycle_end.isoformat()]},
    )
    return awards


def _first_of_next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _check_same_as_published(results, stored: dict[int, BidOutcome]) -> None:
    """The award re-derives winners from stored inputs; it must agree with the evaluation the organiser saw."""
    for result in results.values():
        for bid_result in result.results:
            row = stored.get(bid_result.bid_id)
            if row is None:
                raise DomainError(CONFLICT, "evaluate again: a bid has no outcome yet", code="evaluate_again")
            accepted_now = row.outcome == Outcome.REVIVAL_OFFERED.value and bid_result.outcome == Outcome.WON_REVIVED
            if row.outcome != bid_result.outcome.value and not accepted_now:
                raise DomainError(
                    CONFLICT,
                    f"bid {row.bid_id} changed since evaluation ({row.outcome} → {bid_result.outcome.value}); "
                    "evaluate again before awarding",
                    code="evaluate_again",
                )
            if accepted_now:
                raise DomainError(
                    CONFLICT,
                    f"bid {row.bid_id} accepted its revival offer; evaluate again before awarding",
                    code="evaluate_again",
                )


def _close_unanswered_offers(stored: dict[int, BidOutcome]) -> None:
    for row in stored.values():
        if row.outcome == Outcome.REVIVAL_OFFERED.value:
            row.outcome = Outcome.LOST.value
            row.reason = f"{row.reason} — offer not accepted before the award"
            row.reason_code = f"{row.reason_code}_declined"[:64]


def _demands(session: Session, tender) -> dict[int, list[HospitalDemand]]:
    rows = session.exec(
        sa.select(DemandReport, Organisation.region_code)
        .join(Organisation, Organisation.id == DemandReport.hospital_id)
        .where(DemandReport.tender_id == tender.id)
        .order_by(DemandReport.lot_id, DemandReport.hospital_id, DemandReport.id)
    ).all()
    totals: dict[tuple[int, int], int] = defaultdict(int)
    brands: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    regions: dict[int, str] = {}
    for report, region_code in rows:
        key = (report.lot_id, report.hospital_id)
        totals[key] += int(report.quantity)
        regions[report.hospital_id] = region_code[: tender.supply_region_digits]
        if report.product_id is not None:
            brands[key][report.product_id] = brands[key].get(report.product_id, 0) + int(report.quantity)
    out: dict[int, list[HospitalDemand]] = defaultdict(list)
    for (lot_id, hospital_id), total in totals.items():
        # A hospital that named brands is supplied by its largest reported brand if that brand wins (1.5.3).
        brand = max(brands[(lot_id, hospital_id)].items(), key=lambda kv: (kv[1], -kv[0]), default=(None, 0))[0]
        out[lot_id].append(HospitalDemand(hospital_id, regions[hospital_id], total, brand))
    return out


def _payment_standards(rules, lot: Lot, winners, bids_by_id, specs, result) -> None:
    """Set the insurance payment standard per pack of every product in the lot (rulebook 1.10)."""
    winning_ucp = max(w.award_ucp if w.award_ucp is not None else bids_by_id[w.bid_id].ucp for w in winners)
    won_products = {bids_by_id[w.bid_id].product_id: w for w in winners}
    bid_ucp = {
        bid.product_id: bid.ucp for bid in bids_by_id.values() if bid.bid_id in {r.bid_id for r in result.results}
    }
    for (lot_id, product_id), (spec, product) in specs.items():
        if lot_id != lot.id:
            continue
        own = bid_ucp.get(product_id)
        if product_id in won_products:
            winner = won_products[product_id]
            standard_ucp = winner.award_ucp if winner.award_ucp is not None else own
            rule = "1.10.1"
        elif own is None:
            standard_ucp, rule = winning_ucp, "1.10.1"
        else:
            standard_ucp, rule = volumes.payment_standard(
                rules, winning_price=winning_ucp, product_price=own, won=False, gqce_passed=product.gqce_passed
            )
        spec.payment_standard = quantize4(Decimal(standard_ucp) * product.pack_quantity * spec.spec_factor)
        spec.payment_rule = rule


def awards_of(session: Session, tender_id: int) -> list[Award]:
    """Return a tender's awards by lot and rank."""
    stmt = sa.select(Award).where(Award.tender_id == tender_id).order_by(Award.lot_id, Award.rank)
    return list(session.exec(stmt).scalars())


def agreed_volumes_of(session: Session, *, tender_id: int, actor, hospital_id: int | None = None) -> list[AgreedVolume]:
    """Return agreed volumes; a hospital sees its own."""
    stmt = sa.select(AgreedVolume).where(AgreedVolume.tender_id == tender_id)
    if hospital_id is not None:
        stmt = stmt.where(AgreedVolume.hospital_id == hospital_id)
    return list(session.exec(stmt.order_by(AgreedVolume.lot_id, AgreedVolume.hospital_id)).scalars())
