"""Opening sealed bids with the organiser's passphrase, once, and evaluating them under the frozen rule set."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alerts import Severity, raise_alert
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, DomainError
from procurement import sealing
from procurement.catalogue import Product
from procurement.rules import selection
from procurement.rules.types import BidInput, DosageClass, LotCategory, LotInput, LotResult
from procurement.tenders.bidders import bidder_of, contract_links
from procurement.tenders.bidding import bid_aad, unit_comparable_price
from procurement.tenders.lifecycle import move, require_status
from procurement.tenders.models import Bid, BidOutcome, BidStatus, DemandReport, Lot, LotProduct, TenderStatus
from procurement.tenders.setup import get_tender, require_organiser, rule_set_of

BID_TAMPERED = "TENDER-BID-TAMPERED"


def open_tender(
    session: Session,
    *,
    tender_id: int,
    actor: Actor,
    passphrase: str,
    receipt_key: bytes | None = None,
    now: dt.datetime | None = None,
) -> list[Bid]:
    """Open every sealed bid after the deadline; a wrong passphrase or any altered bid opens nothing.

    With ``receipt_key`` (the platform's raw public key) each stored bid is also checked against the receipt the
    supplier holds, which catches a ciphertext replaced wholesale by a fresh seal.
    """
    tender = get_tender(session, tender_id=tender_id, actor=actor, lock=True)
    require_organiser(tender, actor)
    now = now or utcnow()
    if tender.status == TenderStatus.OPENED.value or tender.opened_at is not None:
        raise DomainError(
            CONFLICT, f"tender {tender.id} was already opened at {tender.opened_at}", code="already_opened"
        )
    require_status(tender, TenderStatus.BIDDING, action="open bids")
    if tender.bid_deadline is not None and now < tender.bid_deadline:
        raise DomainError(
            CONFLICT,
            f"bids cannot be opened before the deadline {tender.bid_deadline.isoformat()}",
            code="before_deadline",
            errors={"bid_deadline": [tender.bid_deadline.isoformat()]},
        )
    private_key = sealing.unlock_tender_key(tender.encrypted_private_key, passphrase)
    bids = list(session.exec(sa.select(Bid).where(Bid.tender_id == tender.id).order_by(Bid.id)).scalars())
    specs = _specs(session, [bid.lot_id for bid in bids])
    opened: list[tuple[Bid, dict]] = []
    tampered: dict[int, str] = {}
    for bid in bids:
        if receipt_key is not None and not sealing.check_stored_bid(
            bid.receipt, ciphertext=bid.ciphertext, commitment=bid.commitment, public_key_raw=receipt_key
        ):
            tampered[bid.id] = "the stored bid no longer matches the receipt signed at submission"
            continue
        try:
            payload = sealing.open_bid(
                private_key,
                bid.ciphertext,
                aad=bid_aad(tender.id, bid.lot_id, bid.supplier_id, bid.product_id),
                commitment=bid.commitment,
            )
        except DomainError as error:
            tampered[bid.id] = error.message
            continue
        claimed = (
            payload.get("tender_id"),
            payload.get("lot_id"),
            payload.get("supplier_id"),
            payload.get("product_id"),
        )
        if claimed != (tender.id, bid.lot_id, bid.supplier_id, bid.product_id):
            tampered[bid.id] = "the sealed contents name another tender, lot, firm or product"
            continue
        opened.append((bid, payload))
    if tampered:
        for bid_id, why in tampered.items():
            raise_alert(
                session,
                actor=actor,
                code=BID_TAMPERED,
                source="tenders",
                severity=Severity.CRITICAL,
                title=f"Sealed bid {bid_id} of tender {tender.id} failed its integrity check at opening",
                object_type="tender_bid",
                object_id=bid_id,
                evidence={"tender_id": tender.id, "reason": why},
                rule={"name": "tender.sealing", "cites": ["0.15"]},
                subject_org_id=tender.organiser_org_id,
            )
        raise DomainError(
            CONFLICT,
            f"{len(tampered)} sealed bid(s) were altered after submission; nothing was opened",
            code="bid_tampered",
            errors={f"bids.{bid_id}": [why] for bid_id, why in tampered.items()},
            keep_work=True,  # the alerts must survive the refusal they explain
        )
    for bid, payload in opened:
        product, factor = specs[(bid.lot_id, bid.product_id)]
        price = Decimal(str(payload["price"]))
        bid.price = price
        bid.ucp = unit_comparable_price(price, pack_quantity=product.pack_quantity, spec_factor=factor)
        bid.opened_payload = {
            key: str(value) if isinstance(value, Decimal) else value for key, value in payload.items()
        }
        bid.status = BidStatus.OPENED.value
    move(tender, TenderStatus.OPENED)
    tender.opened_at = now
    tender.updated_at = now
    record_audit(
        session,
        actor=actor,
        action="tender.opened",
        object_type="tender",
        object_id=tender.id,
        details={"bids": len(opened), "key_id": tender.key_id},
    )
    return [bid for bid, _ in opened]


def _specs(session: Session, lot_ids: list[int]) -> dict[tuple[int, int], tuple[Product, Decimal]]:
    if not lot_ids:
        return {}
    rows = session.exec(
        sa.select(LotProduct, Product)
        .join(Product, Product.id == LotProduct.product_id)
        .where(LotProduct.lot_id.in_(set(lot_ids)))
    ).all()
    return {(lp.lot_id, lp.product_id): (product, lp.spec_factor) for lp, product in rows}


def lot_inputs(session: Session, tender_id: int) -> tuple[list[Lot], list[LotInput]]:
    """Build the rules engine's input from the opened bids, demand reports and the lots' tables.

    Refuses while any bid is still sealed: the rules rank prices, and a bid without one cannot be ranked.
    """
    lots = list(session.exec(sa.select(Lot).where(Lot.tender_id == tender_id).order_by(Lot.number)).scalars())
    bids = list(session.exec(sa.select(Bid).where(Bid.tender_id == tender_id).order_by(Bid.id)).scalars())
    _refuse_sealed(tender_id, bids)
    links = contract_links(session, [lot.id for lot in lots])
    groups = {
        (row.lot_id, row.product_id): row.group
        for row in session.exec(sa.select(LotProduct).where(LotProduct.lot_id.in_([lot.id for lot in lots]))).scalars()
    }
    demand: dict[tuple[int, int], int] = defaultdict(int)
    for lot_id, product_id, quantity in session.exec(
        sa.select(DemandReport.lot_id, DemandReport.product_id, DemandReport.quantity).where(
            DemandReport.tender_id == tender_id, DemandReport.product_id.is_not(None)
        )
    ).all():
        demand[(lot_id, product_id)] += int(quantity)
    by_lot: dict[int, list[Bid]] = defaultdict(list)
    for bid in bids:
        by_lot[bid.lot_id].append(bid)
    inputs = []
    for lot in lots:
        # The rules count bidders (N, 1.3.5) and give one place per firm (2.4) by supplier_id: firms linked by
        # contract manufacturing pass as the one bidder they are (1.1.5). Awards take the firm from the bid row.
        bidder = bidder_of({bid.supplier_id for bid in by_lot[lot.id]}, links.get(lot.id, {}))
        inputs.append(
            LotInput(
                lot_id=lot.id,
                ceiling_ucp=lot.ceiling_ucp,
                category=LotCategory(lot.category),
                dosage_class=DosageClass(lot.dosage_class),
                bids=tuple(
                    BidInput(
                        bid_id=bid.id,
                        supplier_id=bidder[bid.supplier_id],
                        product_id=bid.product_id,
                        price=bid.price,
                        ucp=bid.ucp,
                        submitted_at=bid.submitted_at,
                        reported_demand=demand[(lot.id, bid.product_id)],
                        group=groups.get((lot.id, bid.product_id)),
                    )
                    for bid in by_lot[lot.id]
                ),
                revival_accepted=frozenset(bid.id for bid in by_lot[lot.id] if bid.revival_accepted_at is not None),
            )
        )
    return lots, inputs


def _refuse_sealed(tender_id: int, bids: list[Bid]) -> None:
    sealed = [bid for bid in bids if bid.status != BidStatus.OPENED.value or bid.ucp is None]
    if sealed:
        ids = ", ".join(str(bid.id) for bid in sealed)
        raise DomainError(
            CONFLICT,
            f"tender {tender_id} has {len(sealed)} bid(s) still sealed ({ids}), never opened with the others; "
            "without a price they cannot be ranked, so nothing was evaluated",
            code="bids_still_sealed",
            errors={f"bids.{bid.id}": [f"still sealed (lot {bid.lot_id}, submitted {bid.submitted_at.isoformat()})"]
                    for bid in sealed},
        )  # fmt: skip


def evaluate_tender(
    session: Session, *, tender_id: int, actor: Actor, now: dt.datetime | None = None
) -> list[LotResult]:
    """Select winners per the frozen rule set; every bid gets one outcome with its rule and reason.

    Running it again while evaluated is the revival round: accepted revival offers then count.
    """
    tender = get_tender(session, tender_id=tender_id, actor=actor, lock=True)
    require_organiser(tender, actor)
    require_status(tender, TenderStatus.OPENED, TenderStatus.EVALUATED, action="evaluate")
    now = now or utcnow()
    rules = rule_set_of(tender)
    _lots, inputs = lot_inputs(session, tender.id)
    results = selection.evaluate_batch(rules, inputs)
    previous = session.exec(sa.select(sa.func.max(BidOutcome.round)).where(BidOutcome.tender_id == tender.id))
    round_no = int(previous.one()[0] or 0) + 1
    session.exec(sa.delete(BidOutcome).where(BidOutcome.tender_id == tender.id))
    counts: dict[str, int] = defaultdict(int)
    for lot_result in results:
        for result in lot_result.results:
            counts[result.outcome.value] += 1
            session.add(
                BidOutcome(
                    tender_id=tender.id,
                    lot_id=lot_result.lot_id,
                    bid_id=result.bid_id,
                    round=round_no,
                    outcome=result.outcome.value,
                    rule=result.rule,
                    reason_code=result.reason_code,
                    reason_params={k: str(v) for k, v in result.reason_params.items()},
                    reason=result.reason,
                    rank=result.rank,
                    award_price=result.award_ucp,  # stored in comparable units, like the lot's ceiling
                    offer_price=result.offer_ucp,
                    may_choose_regions=result.may_choose_regions,
                )
            )
    move(tender, TenderStatus.EVALUATED)
    tender.evaluated_at = now
    tender.updated_at = now
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="tender.evaluated",
        object_type="tender",
        object_id=tender.id,
        details={"round": round_no, "outcomes": dict(counts), "rule_set": f"{rules.name}@{rules.version}"},
    )
    return results


def outcomes_of(session: Session, tender_id: int) -> dict[int, BidOutcome]:
    """Return the latest evaluation's outcome per bid id."""
    rows = session.exec(sa.select(BidOutcome).where(BidOutcome.tender_id == tender_id)).scalars()
    return {row.bid_id: row for row in rows}
