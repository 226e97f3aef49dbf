"""Allocation of hospitals among winners (rulebook 1.5) with agreed volumes per hospital (1.4)."""

import dataclasses
import datetime as dt
from decimal import Decimal as D

import pytest

from core.errors import DomainError
from procurement.rules.allocation import DemandTable, allocate, allocate_batch
from procurement.rules.rulesets import get_rule_set
from procurement.rules.selection import evaluate_batch
from procurement.rules.types import Allocation, BidInput, HospitalDemand, LotCategory, LotInput

T0 = dt.datetime(2025, 10, 27, 9, 0, tzinfo=dt.UTC)


def bid(bid_id, ucp, **extra):
    return BidInput(bid_id, bid_id, bid_id, D(ucp), D(ucp), T0, **extra)


def evaluated(name, *bids, accepted=()):
    rule_set = get_rule_set(name)
    lot = LotInput(7, D("2.00"), bids=tuple(bids), revival_accepted=frozenset(accepted))
    return rule_set, evaluate_batch(rule_set, [lot])[0]


DEMANDS = [
    HospitalDemand(1, "350100", 300),
    HospitalDemand(2, "350100", 200),  # 350100: 500
    HospitalDemand(3, "350300", 400),  # 350300: 400 (ties with 350200, which has the lower code)
    HospitalDemand(4, "350200", 400),
    HospitalDemand(5, "350400", 100),
    HospitalDemand(6, "350500", 50),
]


def test_1_5_1_regions_are_picked_in_rank_order_largest_volume_first_with_backups_1_5_2():
    rule_set, result = evaluated("vbp.batch10", bid(1, "0.50"), bid(2, "0.60"), bid(3, "0.70"), bid(4, "1.90"))
    assert [w.bid_id for w in result.winners] == [1, 2, 3]
    allocations = allocate(rule_set, result, DEMANDS, category=LotCategory.CHEMICAL)
    by_hospital = {a.hospital_id: a for a in allocations}
    # Picks: 350100 (500) → 1, 350200 (400) → 2, 350300 (400) → 3, then round two: 350400 → 1, 350500 → 2.
    assert {h: by_hospital[h].supplier_bid_id for h in range(1, 7)} == {1: 1, 2: 1, 3: 3, 4: 2, 5: 1, 6: 2}
    # Backup: the next winner in rank order after the primary, wrapping round.
    assert {h: by_hospital[h].backup_bid_id for h in range(1, 7)} == {1: 2, 2: 2, 3: 1, 4: 3, 5: 2, 6: 3}
    # 1.4.2: 3 winners → 70 % of each hospital's reported base.
    assert [by_hospital[h].agreed_volume for h in range(1, 7)] == [210, 140, 280, 280, 70, 35]
    assert by_hospital[1] == Allocation(1, 7, "350100", 1, 2, 210, "region_pick")


def test_1_5_2_a_single_winner_supplies_everyone_without_backup():
    rule_set, result = evaluated("vbp.batch10", bid(1, "0.50"), bid(2, "1.90"))
    allocations = allocate(rule_set, result, DEMANDS, category="chemical")
    assert {(a.supplier_bid_id, a.backup_bid_id) for a in allocations} == {(1, None)}
    assert allocations[0].agreed_volume == 150  # 1 winner → 50 %


def test_1_5_2_no_backup_regions_before_batch_7():
    rule_set, result = evaluated("vbp.batch2-9", bid(1, "0.50"), bid(2, "0.60"), bid(3, "1.90"))
    allocations = allocate(rule_set, result, DEMANDS, category="chemical")
    assert {a.supplier_bid_id for a in allocations} == {1, 2}
    assert {a.backup_bid_id for a in allocations} == {None}


def test_1_5_3_batch_11_hospitals_get_the_winning_brand_they_reported():
    # Batch-11 example of test_rules_selection: winners 1 (proposed), 2 and 3 (revived, choose regions) and 7
    # (not shortlisted: supplies only the hospitals that reported it).
    ucps = ["0.10", "1.00", "1.10", "1.20", "1.30", "1.40", "1.50", "1.60", "1.70", "1.90"]
    demand = [100, 100, 100, 100, 100, 100, 500, 0, 400, 1000]
    bids = [bid(i, u, reported_demand=d) for i, (u, d) in enumerate(zip(ucps, demand, strict=True), 1)]
    rule_set, result = evaluated("vbp.batch11", *bids, accepted={2, 3, 7})
    assert [w.bid_id for w in result.winners] == [1, 2, 3, 7]
    demands = [
        HospitalDemand(1, "350100", 1000, reported_product_id=7),  # winning brand 7
        HospitalDemand(2, "350100", 100, reported_product_id=10),  # a losing brand → the region's primary
        HospitalDemand(3, "350100", 50),  # by generic name
        HospitalDemand(4, "350200", 500, reported_product_id=3),  # winning brand 3
        HospitalDemand(5, "350200", 200),
    ]
    by_hospital = {a.hospital_id: a for a in allocate(rule_set, result, demands, category="chemical")}
    # Brand-supplied volume does not count for picking: 350200 (200) is picked before 350100 (150).
    assert by_hospital[5].supplier_bid_id == 1 and by_hospital[2].supplier_bid_id == 2
    assert (by_hospital[1].supplier_bid_id, by_hospital[1].basis, by_hospital[1].backup_bid_id) == (
        7,
        "reported_brand",
        2,
    )
    assert (by_hospital[4].supplier_bid_id, by_hospital[4].basis, by_hospital[4].backup_bid_id) == (
        3,
        "reported_brand",
        1,
    )
    assert by_hospital[2].basis == by_hospital[3].basis == "region_pick"
    assert 7 not in {a.supplier_bid_id for a in by_hospital.values() if a.basis == "region_pick"}
    assert by_hospital[1].agreed_volume == 800  # 1.4.3: 4 winners → 80 %


def test_1_5_3_is_off_outside_batch_11():
    rule_set, result = evaluated("vbp.batch10", bid(1, "0.50"), bid(2, "0.60"), bid(3, "0.70"), bid(4, "1.90"))
    demands = [HospitalDemand(1, "350100", 10, reported_product_id=3)]
    assert allocate(rule_set, result, demands, category="chemical")[0].basis == "region_pick"


def test_a_lot_without_winners_cannot_be_allocated():
    rule_set, result = evaluated("vbp.batch10", bid(1, "3.00"))
    with pytest.raises(DomainError) as caught:
        allocate(rule_set, result, DEMANDS, category="chemical")
    assert caught.value.code == "no_winner"


def test_a_hospital_reporting_twice_for_a_lot_is_refused():
    rule_set, result = evaluated("vbp.batch10", bid(1, "0.50"))
    with pytest.raises(DomainError):
        allocate(rule_set, result, [DEMANDS[0], DEMANDS[0]], category="chemical")


def test_allocations_are_ordinary_frozen_dataclasses():
    rule_set, result = evaluated("vbp.batch10", bid(1, "0.50"))
    allocation = allocate(rule_set, result, DEMANDS[:1], category="chemical")[0]
    assert allocation == Allocation(1, 7, "350100", 1, None, 150, "region_pick")
    assert hash(allocation) == hash(Allocation(1, 7, "350100", 1, None, 150, "region_pick"))
    assert dataclasses.asdict(allocation)["agreed_volume"] == 150
    with pytest.raises(dataclasses.FrozenInstanceError):
        allocation.agreed_volume = 1


def test_a_batch_is_allocated_at_once_like_lot_by_lot():
    """allocate_batch over several lots gives exactly the per-lot allocations (the award uses the batch form)."""
    rule_set = get_rule_set("vbp.batch11")
    lots = [
        LotInput(lot_id, D("10"), bids=tuple(bid(lot_id * 10 + i, f"{1 + i * 0.1:.2f}")  # product id = bid id
                                              for i in range(4)))
        for lot_id in (1, 2, 3)
    ]  # fmt: skip
    results = evaluate_batch(rule_set, lots)
    demands = {
        lot.lot_id: [HospitalDemand(h, f"35{h % 3:02d}", 100 * h, lot.lot_id * 10 + h % 4 if h % 2 else None)
                     for h in range(1, 12)]
        for lot in lots
    }  # fmt: skip
    table = DemandTable.from_demands(demands)
    batch = allocate_batch(rule_set, results, table, categories=dict.fromkeys((1, 2, 3), "chemical")).rows()
    single = [a for r in results for a in allocate(rule_set, r, demands[r.lot_id], category="chemical")]
    assert batch == single and len(batch) == 33
    with pytest.raises(DomainError) as caught:
        allocate_batch(rule_set, results[:1], table, categories={1: "chemical"})
    assert caught.value.code == "unknown_lot"
