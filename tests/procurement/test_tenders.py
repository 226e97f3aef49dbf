"""Tender services end to end: lifecycle, demand, sealed bids, opening, evaluation with reasons, awards."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.alerts import Alert
from core.audit import AuditRecord
from procurement import sealing
from procurement.rules.types import Outcome
from procurement.tenders import awarding, bidding, demand, opening, reads, setup
from procurement.tenders.demand import DemandLineIn
from procurement.tenders.models import AgreedVolume, Award, Bid, BidOutcome, LotProduct, TenderKind, TenderStatus
from tests.errors import domain_error as _error
from tests.procurement.tender_world import AFTER, DEADLINE, PASSPHRASE, T0, build_world
from trace.signing import public_raw


@pytest.fixture
def world(db, factory):
    return build_world(db, factory)


def test_whole_batch_from_demand_to_award(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    assert tender.frozen_rules["name"] == "vbp.batch10"
    prices = ["14.0000", "10.0000", "27.0000", "15.0000"]  # 28×10mg, 14×20mg, 28×10mg, 14×20mg packs
    bids = [world.bid(tender, lot, index, price) for index, price in enumerate(prices)]
    opening.open_tender(db, tender_id=tender.id, actor=world.organiser, passphrase=PASSPHRASE, now=AFTER)
    # Unit comparable prices: per tablet, 20 mg tablets divided by the 1.7 spec-difference factor (rulebook 1.2.3).
    assert [bid.ucp for bid in bids] == [Decimal("0.5000"), Decimal("0.4202"), Decimal("0.9643"), Decimal("0.6303")]
    opening.evaluate_tender(db, tender_id=tender.id, actor=world.organiser, now=AFTER)
    outcomes = {row.bid_id: row for row in db.exec(sa.select(BidOutcome)).scalars()}
    assert set(outcomes) == {bid.id for bid in bids}  # every bid exactly one outcome
    assert all(row.reason and row.rule for row in outcomes.values())
    # 0.9643 > 1.8 × 0.4202 fails rule 1 of batch 10; the three rule-1 winners already fill the cap for four
    # bidders (1.3.5, batch-10 row), so there is no revival seat left.
    assert outcomes[bids[2].id].outcome == Outcome.LOST.value and outcomes[bids[2].id].rule.startswith("1.3")
    assert outcomes[bids[1].id].rank == 1 and outcomes[bids[1].id].outcome == Outcome.WON.value
    awarding.award_tender(db, tender_id=tender.id, actor=world.organiser, cycle_start=dt.date(2026, 4, 1), now=AFTER)
    assert tender.status == TenderStatus.AWARDED.value and tender.cycle_end == dt.date(2027, 12, 31)
    awards = db.exec(sa.select(Award).where(Award.tender_id == tender.id).order_by(Award.rank)).scalars().all()
    assert awards[0].bid_id == bids[1].id and awards[0].unit_price == Decimal("10.0000")  # its own bid per pack
    volumes = db.exec(sa.select(AgreedVolume).where(AgreedVolume.tender_id == tender.id)).scalars().all()
    assert sorted(v.hospital_id for v in volumes) == sorted(h.org_id for h in world.hospitals)
    assert all(0 < v.agreed_volume <= v.reported_base for v in volumes)
    standards = db.exec(sa.select(LotProduct).where(LotProduct.lot_id == lot.id)).scalars().all()
    assert all(row.payment_standard is not None and row.payment_rule for row in standards)
    actions = set(db.exec(sa.select(AuditRecord.action)).scalars())
    assert {
        "tender.created",
        "tender.lot_added",
        "tender.bidding",
        "tender.bid_sealed",
        "tender.opened",
        "tender.evaluated",
        "tender.awarded",
        "tender.demand_reported",
    } <= actions


def test_sealed_price_is_nowhere_in_clear_before_opening(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    bid = world.bid(tender, lot, 0, "13.5791")
    db.flush()
    dumps = []
    for table in ("tender_bids", "audit_records", "alerts", "tenders"):
        for row in db.connection().execute(sa.text(f"SELECT * FROM {table}")).all():
            dumps.append(repr(tuple(row)))
    text = "\n".join(dumps)
    assert "13.5791" not in text and "135791" not in text
    assert bid.price is None and bid.ucp is None
    assert b"13.5791" not in bid.ciphertext


def test_receipt_verifies_and_detects_alteration_after_opening(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    bid = world.bid(tender, lot, 0, "12.0000")
    receipt = dict(bid.receipt)
    assert sealing.verify_receipt(public_raw(world.key.public_key()), receipt)
    forged = {**receipt, "commitment": "0" * 64}
    assert not sealing.verify_receipt(public_raw(world.key.public_key()), forged)
    opening.open_tender(db, tender_id=tender.id, actor=world.organiser, passphrase=PASSPHRASE, now=AFTER)
    key = public_raw(world.key.public_key())
    assert sealing.check_opened_bid(receipt, bid.opened_payload, public_key_raw=key)
    assert not sealing.check_opened_bid(receipt, {**bid.opened_payload, "price": "11.0000"}, public_key_raw=key)


def test_tampered_stored_bid_is_detected_at_opening_and_nothing_opens(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    honest = world.bid(tender, lot, 0, "12.0000")
    altered = world.bid(tender, lot, 1, "9.0000")
    flipped = bytes([altered.ciphertext[40] ^ 1])
    altered.ciphertext = altered.ciphertext[:40] + flipped + altered.ciphertext[41:]
    db.flush()
    error = _error(
        lambda: opening.open_tender(db, tender_id=tender.id, actor=world.organiser, passphrase=PASSPHRASE, now=AFTER),
        "bid_tampered",
    )
    assert f"bids.{altered.id}" in error.errors and f"bids.{honest.id}" not in error.errors
    assert error.keep_work
    alert = db.exec(sa.select(Alert).where(Alert.object_id == str(altered.id))).scalars().one()
    assert alert.code == opening.BID_TAMPERED


def test_wrong_passphrase_opens_nothing_and_opening_happens_once(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    world.bid(tender, lot, 0, "12.0000")
    _error(
        lambda: opening.open_tender(
            db, tender_id=tender.id, actor=world.organiser, passphrase="guess-guess-guess", now=AFTER
        ),
        "wrong_passphrase",
    )
    assert tender.status == TenderStatus.BIDDING.value
    _error(
        lambda: opening.open_tender(
            db,
            tender_id=tender.id,
            actor=world.organiser,
            passphrase=PASSPHRASE,
            now=DEADLINE - dt.timedelta(minutes=1),
        ),
        "before_deadline",
    )
    opening.open_tender(db, tender_id=tender.id, actor=world.organiser, passphrase=PASSPHRASE, now=AFTER)
    _error(
        lambda: opening.open_tender(db, tender_id=tender.id, actor=world.organiser, passphrase=PASSPHRASE, now=AFTER),
        "already_opened",
    )


def test_bids_refused_with_their_reason(world, db, factory):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    late = DEADLINE + dt.timedelta(seconds=1)
    _error(lambda: world.bid(tender, lot, 0, "12.0000", now=late), "bid_deadline_passed")
    _error(lambda: world.bid(tender, lot, 0, "28.0028"), "above_ceiling")  # 1.0001 per tablet > 1.0000
    _error(lambda: world.bid(tender, lot, 0, "12.00001"), "invalid")  # five decimals
    world.bid(tender, lot, 0, "12.0000")
    _error(lambda: world.bid(tender, lot, 0, "11.0000"), "duplicate_bid")
    _error(
        lambda: bidding.submit_bid(
            db,
            tender_id=tender.id,
            lot_id=lot.id,
            actor=world.makers[1],
            product_id=world.products[2].id,
            price=Decimal("10"),
            signing_key=world.key,
            now=T0,
        ),
        "not_your_product",
    )
    world.products[3].gqce_status = "not_evaluated"
    db.flush()
    _error(lambda: world.bid(tender, lot, 3, "10.0000"), "product_not_qualified")
    bidding.add_sanction(
        db,
        actor=world.auditor,
        supplier_id=world.makers[2].org_id,
        rule="1.8.1",
        reason="未按约定供应 (batch 3)",
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2026, 12, 31),
    )
    error = _error(lambda: world.bid(tender, lot, 2, "10.0000"), "supplier_suspended")
    assert "1.8.1" in error.message
    assert db.exec(sa.select(sa.func.count()).select_from(Bid)).one()[0] == 1  # only the valid one


def test_retried_bid_with_the_same_idempotency_key_returns_the_first(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    first = world.bid(tender, lot, 0, "12.0000", idempotency_key="abc-1")
    again = world.bid(tender, lot, 0, "12.0000", idempotency_key="abc-1")
    assert again.id == first.id and again.receipt == first.receipt


def test_transitions_out_of_order_are_refused(world, db):
    tender, _lot = world.tender()
    _error(
        lambda: setup.update_tender(
            db, tender_id=tender.id, actor=world.organiser, changes={"status": "bidding"}, now=T0
        ),
        "transition_not_permitted",
    )
    _error(lambda: opening.evaluate_tender(db, tender_id=tender.id, actor=world.organiser), "tender_status")
    _error(lambda: awarding.award_tender(db, tender_id=tender.id, actor=world.organiser), "tender_status")
    _error(
        lambda: setup.update_tender(
            db, tender_id=tender.id, actor=world.organiser, changes={"status": "awarded"}, now=T0
        ),
        "transition_by_action",
    )
    setup.update_tender(db, tender_id=tender.id, actor=world.organiser, changes={"status": "demand_collection"}, now=T0)
    _error(
        lambda: setup.update_tender(
            db, tender_id=tender.id, actor=world.organiser, changes={"status": "bidding"}, now=T0
        ),
        "invalid",
    )  # no passphrase
    setup.update_tender(
        db,
        tender_id=tender.id,
        actor=world.organiser,
        changes={"status": "bidding", "opening_passphrase": PASSPHRASE},
        now=T0,
    )
    _error(
        lambda: setup.update_tender(db, tender_id=tender.id, actor=world.organiser, changes={"overrides": {}}, now=T0),
        "tender_frozen",
    )


def test_rule_set_is_frozen_with_its_overrides_when_bidding_opens(world, db):
    tender, lot = world.tender()
    setup.update_tender(
        db, tender_id=tender.id, actor=world.organiser, changes={"overrides": {"spread_multiple": "1.5"}}, now=T0
    )
    world.to_bidding(tender, lot, demand_lines=False)
    assert tender.frozen_rules["values"]["spread_multiple"] == "1.5"
    assert setup.rule_set_of(tender)["spread_multiple"] in ("1.5", Decimal("1.5"))


def test_demand_report_checked_against_history(world, db):
    tender, lot = world.tender()
    setup.update_tender(db, tender_id=tender.id, actor=world.organiser, changes={"status": "demand_collection"}, now=T0)
    hospital = world.hospitals[0]
    error = _error(
        lambda: demand.report_demand(
            db,
            tender_id=tender.id,
            actor=hospital,
            now=T0,
            lines=[DemandLineIn(lot_id=lot.id, quantity=700, historical_use=1000)],
        ),
        "demand_invalid",
    )
    assert any("lines[0]" in key for key in error.errors) and "1.1.7" in str(error.errors)
    saved = demand.report_demand(
        db,
        tender_id=tender.id,
        actor=hospital,
        now=T0,
        lines=[
            DemandLineIn(lot_id=lot.id, quantity=700, historical_use=1000, exception_reason="科室撤并，用量下降"),
            DemandLineIn(lot_id=lot.id, quantity=9000, historical_use=1000, product_id=world.products[0].id),
        ],
    )
    assert saved[0].flags == ["below_history_excused"] and "over_reported" in saved[1].flags
    error = _error(
        lambda: demand.report_demand(
            db,
            tender_id=tender.id,
            actor=hospital,
            now=T0,
            lines=[
                DemandLineIn(lot_id=lot.id, quantity=800, historical_use=1000),
                DemandLineIn(lot_id=lot.id, quantity=900, historical_use=1000),
            ],
        ),
        "demand_invalid",
    )
    assert "lines[1]" in error.errors
    report = demand.report_demand(
        db,
        tender_id=tender.id,
        actor=hospital,
        now=T0,
        lines=[DemandLineIn(lot_id=lot.id, quantity=850, historical_use=1000)],
    )[0]
    assert report.id == saved[0].id and report.quantity == 850  # a re-report replaces the earlier line


def test_counts_only_before_opening(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    world.bid(tender, lot, 0, "12.0000")
    detail = reads.tender_detail(db, tender_id=tender.id, actor=world.organiser)
    assert detail["lots"][0]["bid_count"] == 1 and detail["lots"][0]["demand_hospitals"] == 3
    _error(lambda: reads.visible_bids(db, tender_id=tender.id, actor=world.organiser), "sealed_until_opening")
    own = reads.visible_bids(db, tender_id=tender.id, actor=world.makers[0])
    assert len(own) == 1 and own[0].price is None
    assert reads.visible_bids(db, tender_id=tender.id, actor=world.makers[1]) == []


def test_revival_round_then_award(world, db):
    tender, lot = world.tender(rule_set="vbp.batch10")
    world.to_bidding(tender, lot)
    bids = [world.bid(tender, lot, 0, "5.6000"), world.bid(tender, lot, 2, "27.0000")]  # 0.20 and 0.9643 per tablet
    world.open_and_evaluate(tender)
    outcome = db.exec(sa.select(BidOutcome).where(BidOutcome.bid_id == bids[1].id)).scalars().one()
    assert outcome.outcome == Outcome.REVIVAL_OFFERED.value and outcome.offer_price is not None
    bidding.accept_revival(db, tender_id=tender.id, lot_id=lot.id, bid_id=bids[1].id, actor=world.makers[2], now=AFTER)
    _error(lambda: awarding.award_tender(db, tender_id=tender.id, actor=world.organiser, now=AFTER), "evaluate_again")
    opening.evaluate_tender(db, tender_id=tender.id, actor=world.organiser, now=AFTER)
    db.expire_all()
    outcome = db.exec(sa.select(BidOutcome).where(BidOutcome.bid_id == bids[1].id)).scalars().one()
    assert outcome.outcome == Outcome.WON_REVIVED.value and outcome.round == 2
    awards = awarding.award_tender(db, tender_id=tender.id, actor=world.organiser, now=AFTER)
    assert [a.revived for a in sorted(awards, key=lambda a: a.rank)] == [False, True]


def test_hospital_led_records_ceiling_negotiated_price_and_difference(db, factory):
    world = build_world(db, factory)
    from core.accounts import actor_for_user
    from core.roles import Role

    lead = factory.org(kind=__import__("core.roles", fromlist=["OrgKind"]).OrgKind.HOSPITAL, region_code="350203")
    world.organiser = actor_for_user(db, factory.user(lead, roles=(Role.ORGANISER,)).id)
    tender, lot = world.tender(rule_set="hospital-led.negotiated", kind=TenderKind.HOSPITAL_LED)
    world.to_bidding(tender, lot)
    world.bid(tender, lot, 0, "16.8000")  # 0.60 per tablet
    world.bid(tender, lot, 2, "19.6000")  # 0.70 per tablet
    world.open_and_evaluate(tender)
    award = awarding.award_tender(db, tender_id=tender.id, actor=world.organiser, now=AFTER)[0]
    assert (award.ceiling_ucp, award.award_ucp, award.difference_per_unit) == (
        Decimal("1.0000"),
        Decimal("0.6000"),
        Decimal("0.4000"),
    )
