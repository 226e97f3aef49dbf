"""Bids: retries under an Idempotency-Key, linked firms as one bidder (rulebook 1.1.5), bids left sealed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import DomainError
from procurement.rules.types import Outcome
from procurement.tenders import awarding, bidding, opening
from procurement.tenders import lots as tender_lots
from procurement.tenders.models import BidStatus, TenderStatus
from tests.errors import domain_error as _error
from tests.procurement.tender_world import AFTER, PASSPHRASE, T0, build_world

DAY1 = T0 + dt.timedelta(days=1)


@pytest.fixture
def world(db, factory):
    return build_world(db, factory)


def _bid(world, tender, lot, maker: int, product: int, price: str, **kwargs):
    return bidding.submit_bid(
        world.db, tender_id=tender.id, lot_id=lot.id, actor=world.makers[maker], product_id=world.products[product].id,
        price=Decimal(price), signing_key=world.key, now=DAY1, **kwargs,
    )  # fmt: skip


def _hold(world, db, *, holder: int, product: int) -> None:
    """Make makers[holder] the marketing-authorisation holder of products[product]; its maker now makes it on
    contract (委托生产)."""
    world.products[product].mah_id = world.makers[holder].org_id
    db.flush()


# Idempotency-Key


def test_a_true_retry_answers_with_the_first_bid_even_written_differently(world):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    first, created = _bid(world, tender, lot, 0, 0, "12.0000", idempotency_key="bid-0001")
    again, created_again = _bid(world, tender, lot, 0, 0, "12", idempotency_key="bid-0001")
    assert (again.id, again.receipt, created, created_again) == (first.id, first.receipt, True, False)


def test_the_same_key_with_another_price_product_or_lot_is_a_conflict(world, db):
    tender, lot = world.tender()
    other_lot = tender_lots.add_lot(
        db, tender_id=tender.id, actor=world.organiser, generic_name=lot.generic_name, dosage_form=lot.dosage_form,
        reference_strength=lot.reference_strength, ceiling_ucp=Decimal("1.0000"),
    )  # fmt: skip
    world.to_bidding(tender, lot)
    _hold(world, db, holder=0, product=2)  # makers[0] may also bid products[2]
    first, _ = _bid(world, tender, lot, 0, 0, "12.0000", idempotency_key="bid-0001")
    for product, price, on in ((0, "11.0000", lot), (2, "12.0000", lot), (0, "12.0000", other_lot)):
        with pytest.raises(DomainError) as caught:
            _bid(world, tender, on, 0, product, price, idempotency_key="bid-0001")
        error = caught.value
        assert error.code == "idempotency_key_reused" and error.kind == "conflict"
        assert str(first.id) in error.message and "Idempotency-Key" in error.errors
    # A new bid on the other lot under a new key goes through; the first bid is untouched.
    assert _bid(world, tender, other_lot, 0, 0, "11.0000", idempotency_key="bid-0002")[1] is True
    assert _bid(world, tender, lot, 0, 0, "12.0000", idempotency_key="bid-0001")[0].id == first.id


def test_the_stored_request_digest_is_keyed_by_the_platform(world):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    bid, _ = _bid(world, tender, lot, 0, 0, "12.0000", idempotency_key="bid-0001")
    request = {
        "tender_id": tender.id,
        "lot_id": lot.id,
        "supplier_id": world.makers[0].org_id,
        "product_id": world.products[0].id,
        "price": Decimal("12"),
    }
    assert bid.request_sha256 == bidding.request_digest(world.key, "bid-0001", **request)
    # Without the platform's key the price cannot be tried against it.
    assert bid.request_sha256 != bidding.request_digest(Ed25519PrivateKey.generate(), "bid-0001", **request)


# Rulebook 1.1.5: linked firms are one bidder


def test_holder_and_contract_maker_cannot_both_bid_one_product(world, db):
    """The reviewer's case: both used to win with a cap of 2 for "3 bidders" and the independent third lost."""
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    _hold(world, db, holder=1, product=0)
    _bid(world, tender, lot, 0, 0, "14.0000")
    error = _error(lambda: _bid(world, tender, lot, 1, 0, "14.5000"), "product_already_bid")
    assert error.kind == "conflict" and "1.1.5" in error.message
    assert error.errors == {"product_id": ["already bid on this lot by its contract manufacturer (rule 1.1.5)"]}
    independent = world.bid(tender, lot, 2, "20.0000")
    results = world.open_and_evaluate(tender)[0]
    assert (results.cap, results.n_valid) == (2, 2)
    assert {r.bid_id: r.outcome for r in results.results}[independent.id] == Outcome.WON


def test_the_contract_maker_is_told_the_holder_bid_first(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    _hold(world, db, holder=1, product=0)
    _bid(world, tender, lot, 1, 0, "14.0000")
    error = _error(lambda: _bid(world, tender, lot, 0, 0, "14.0000"), "product_already_bid")
    assert error.errors["product_id"] == ["already bid on this lot by its marketing-authorisation holder (rule 1.1.5)"]


def test_firms_linked_by_contract_manufacturing_bid_once_per_lot(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    _hold(world, db, holder=1, product=0)
    world.bid(tender, lot, 1, "10.0000")  # the holder bids its own product
    error = _error(lambda: world.bid(tender, lot, 0, "14.0000"), "linked_bidder")  # its contract maker, its own
    assert "supplier_id" in error.errors and f"product {world.products[0].id}" in error.message
    assert "marketing-authorisation holder" in error.message
    world.bid(tender, lot, 2, "16.0000")  # an unlinked firm still bids


def test_firms_linked_after_bidding_count_as_one_bidder_and_award_to_their_own_firm(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    # Comparable prices 0.50, 0.42, 0.57, 0.63: all within 1.8 × the lowest (batch 10 rule 1).
    bids = [world.bid(tender, lot, index, price) for index, price in enumerate(["14", "10", "16", "15"])]
    _hold(world, db, holder=1, product=0)  # the registration moves to makers[1] before opening (1.1.5)
    result = world.open_and_evaluate(tender)[0]
    outcomes = {r.bid_id: r for r in result.results}
    assert result.cap == 2  # three bidders, not four: batch 10 allows 2 winners (1.3.5)
    assert [b.id for b in bids if outcomes[b.id].outcome == Outcome.WON] == [bids[0].id, bids[1].id]
    assert "2 winner(s) allowed for 3 bidders" in outcomes[bids[2].id].reason
    awards = awarding.award_tender(db, tender_id=tender.id, actor=world.organiser, now=AFTER)
    assert {a.bid_id: a.supplier_id for a in awards} == {b.id: b.supplier_id for b in bids[:2]}


# Bids left sealed


def test_evaluation_refuses_a_bid_left_sealed_and_names_it(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    world.bid(tender, lot, 0, "14.0000")
    late = world.bid(tender, lot, 1, "10.0000")
    opening.open_tender(db, tender_id=tender.id, actor=world.organiser, passphrase=PASSPHRASE, now=AFTER)
    # What a bid stored after the opening read the bids looks like (before bids took the tender's lock).
    late.status, late.price, late.ucp, late.opened_payload = BidStatus.SEALED.value, None, None, None
    db.flush()
    error = _error(
        lambda: opening.evaluate_tender(db, tender_id=tender.id, actor=world.organiser, now=AFTER), "bids_still_sealed"
    )
    assert error.kind == "conflict" and str(late.id) in error.message and list(error.errors) == [f"bids.{late.id}"]
    assert tender.status == TenderStatus.OPENED.value


def test_a_bid_after_the_opening_is_refused(world, db):
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    world.bid(tender, lot, 0, "14.0000")
    opening.open_tender(db, tender_id=tender.id, actor=world.organiser, passphrase=PASSPHRASE, now=AFTER)
    _error(lambda: world.bid(tender, lot, 1, "10.0000", now=DAY1), "tender_status")
