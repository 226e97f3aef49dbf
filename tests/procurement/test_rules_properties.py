"""Properties every rule set must keep, on random batches (rulebook 1.2.1, 1.3.5, 1.5; deterministic ranking)."""

import datetime as dt
import json
import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from procurement.rules.allocation import allocate, region_suppliers
from procurement.rules.rulesets import RULE_SETS
from procurement.rules.selection import evaluate_batch
from procurement.rules.types import BidInput, DosageClass, HospitalDemand, LotCategory, LotInput, Outcome

T0 = dt.datetime(2025, 10, 27, 9, 0, tzinfo=dt.UTC)
WINNING = (Outcome.WON, Outcome.WON_REVIVED)
prices = st.integers(min_value=1, max_value=30_000).map(lambda cents: Decimal(cents) / 10_000)  # 0.0001 – 3.0000


@st.composite
def batches(draw, max_lots=3, max_bids=20):
    """Random lots with ties in price, time, demand and coverage, some bids above the ceiling, some acceptances."""
    lots, next_id = [], 1
    for lot_id in range(1, draw(st.integers(1, max_lots)) + 1):
        ceiling = draw(st.sampled_from([Decimal("0.0500"), Decimal("0.5000"), Decimal("1.0000"), Decimal("2.5000")]))
        bids = []
        for _ in range(draw(st.integers(0, max_bids))):
            ucp = draw(st.one_of(prices, st.sampled_from([ceiling, ceiling / 2, Decimal("0.10")])))
            bids.append(
                BidInput(
                    bid_id=next_id,
                    supplier_id=draw(st.integers(1, 30)),  # suppliers may repeat across lots
                    product_id=next_id,
                    price=ucp * draw(st.sampled_from([1, 7, 28])),
                    ucp=ucp,
                    submitted_at=T0 + dt.timedelta(minutes=draw(st.integers(0, 3))),
                    reported_demand=draw(st.sampled_from([0, 100, 5000])),
                    sales_coverage=draw(st.sampled_from([0, 10])),
                    group=draw(st.sampled_from(["A", "B", "A", "B", None])),
                )
            )
            next_id += 1
        accepted = frozenset(b.bid_id for b in bids if draw(st.booleans()))
        lots.append(
            LotInput(
                lot_id,
                ceiling,
                draw(st.sampled_from(list(LotCategory))),
                draw(st.sampled_from(list(DosageClass))),
                tuple(bids),
                accepted,
            )
        )
    return lots


rule_sets = st.sampled_from(sorted(RULE_SETS)).map(RULE_SETS.__getitem__)


@settings(max_examples=100, deadline=None)
@given(rule_set=rule_sets, lots=batches())
def test_every_bid_gets_exactly_one_explained_outcome(rule_set, lots):
    results = evaluate_batch(rule_set, lots)
    assert [r.lot_id for r in results] == [lot.lot_id for lot in lots]
    for lot, result in zip(lots, results, strict=True):
        assert sorted(r.bid_id for r in result.results) == sorted(b.bid_id for b in lot.bids)
        for outcome in result.results:
            assert outcome.reason and outcome.rule and outcome.reason_code
            assert outcome.reason.split(":")[0] in {"won", "lost", "invalid"}
            assert all(isinstance(value, str) for value in outcome.reason_params.values())
            json.dumps(outcome.reason_params)
        ranks = [r.rank for r in result.results if r.outcome != Outcome.INVALID]
        assert ranks == list(range(1, len(ranks) + 1)), "valid bids come first, in rank order"


@settings(max_examples=100, deadline=None)
@given(rule_set=rule_sets, lots=batches())
def test_winners_never_exceed_the_cap_nor_the_ceiling(rule_set, lots):
    for lot, result in zip(lots, evaluate_batch(rule_set, lots), strict=True):
        bids = {b.bid_id: b for b in lot.bids}
        assert len(result.winners) <= result.cap  # 1.3.5
        for outcome in result.results:
            bid = bids[outcome.bid_id]
            if bid.ucp > lot.ceiling_ucp:  # 1.2.1: invalid, never ranked
                assert outcome.outcome == Outcome.INVALID and outcome.rank is None
            if outcome.outcome in WINNING:
                assert outcome.award_ucp is not None and outcome.award_ucp <= min(bid.ucp, lot.ceiling_ucp)
                assert outcome.award_price is not None
            if outcome.outcome == Outcome.REVIVAL_OFFERED:
                assert outcome.offer_ucp is not None and outcome.offer_ucp <= min(bid.ucp, lot.ceiling_ucp)
            if outcome.outcome == Outcome.WON_REVIVED:
                assert outcome.bid_id in lot.revival_accepted


@settings(max_examples=100, deadline=None)
@given(rule_set=rule_sets, lots=batches(), seed=st.integers(0, 2**32))
def test_evaluation_does_not_depend_on_the_order_of_bids(rule_set, lots, seed):
    rng = random.Random(seed)
    shuffled = []
    for lot in lots:
        bids = list(lot.bids)
        rng.shuffle(bids)
        shuffled.append(
            LotInput(lot.lot_id, lot.ceiling_ucp, lot.category, lot.dosage_class, tuple(bids), lot.revival_accepted)
        )
    assert evaluate_batch(rule_set, shuffled) == evaluate_batch(rule_set, lots)


@st.composite
def demands(draw):
    hospitals = draw(st.lists(st.integers(1, 10_000), min_size=0, max_size=60, unique=True))
    return [
        HospitalDemand(
            hospital,
            draw(st.sampled_from(["350100", "350200", "350300", "350400"])),
            draw(st.integers(0, 100_000)),
            draw(st.one_of(st.none(), st.integers(1, 40))),
        )
        for hospital in hospitals
    ]


@settings(max_examples=150, deadline=None)
@given(rule_set=rule_sets, lots=batches(max_lots=2), rows=demands())
def test_allocation_covers_every_hospital_once_and_every_region_gets_a_winner(rule_set, lots, rows):
    for lot, result in zip(lots, evaluate_batch(rule_set, lots), strict=True):
        if not result.winners:
            continue
        allocations = allocate(rule_set, result, rows, category=lot.category)
        assert sorted(a.hospital_id for a in allocations) == sorted(d.hospital_id for d in rows)
        winners = {w.bid_id for w in result.winners}
        pickers = {w.bid_id for w in result.winners if w.may_choose_regions}
        for allocation, demand in zip(allocations, rows, strict=True):
            assert allocation.supplier_bid_id in winners and allocation.lot_id == lot.lot_id
            assert allocation.backup_bid_id is None or allocation.backup_bid_id in winners
            assert allocation.backup_bid_id != allocation.supplier_bid_id
            assert 0 <= allocation.agreed_volume <= demand.reported_base
            if allocation.basis == "region_pick":
                assert allocation.supplier_bid_id in pickers or not pickers
        brands = {w.product_id for w in result.winners} if rule_set["supply_reported_brand"] else set()
        volumes = {d.region: 0 for d in rows}
        for d in rows:
            volumes[d.region] += 0 if d.reported_product_id in brands else d.reported_base
        suppliers = region_suppliers(rule_set, result, volumes)
        assert set(suppliers) == set(volumes), "every region gets a primary supplier"
        assert all(primary in winners for primary, _ in suppliers.values())
        for allocation in allocations:
            if allocation.basis == "region_pick":
                assert (allocation.supplier_bid_id, allocation.backup_bid_id) == suppliers[allocation.region]
