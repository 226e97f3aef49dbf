"""Winner selection per era against the rulebook's rules and tables (1.2.1, 1.3.1–1.3.6, 2.4, 0.6)."""

import dataclasses
import datetime as dt
from decimal import Decimal as D

import pytest

from core.errors import DomainError
from procurement.rules.rulesets import apply_overrides, get_rule_set
from procurement.rules.selection import evaluate_batch
from procurement.rules.types import BidInput, BidResult, DosageClass, LotInput, Outcome

T0 = dt.datetime(2025, 10, 27, 9, 0, tzinfo=dt.UTC)
B9_CAPS = (1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9, 9, 10, 10, 10, 10)
B10_CAPS = (1, 2, 2, 3, 3, 3, 4, 5, 6, 6, 7, 8, 8, 9, 9, 10)


def bid(bid_id, ucp, *, pack=1, seconds=0, **extra):
    """A bid whose supplier and product share its id; price = ucp × pack."""
    return BidInput(bid_id, bid_id, bid_id, D(ucp) * pack, D(ucp), T0 + dt.timedelta(seconds=seconds), **extra)


def lot(ceiling, *bids, lot_id=1, accepted=(), **extra):
    return LotInput(lot_id, D(ceiling), bids=tuple(bids), revival_accepted=frozenset(accepted), **extra)


def outcomes(lot_result):
    return {r.bid_id: r.outcome for r in lot_result.results}


def by_id(lot_result):
    return {r.bid_id: r for r in lot_result.results}


def one(rule_set_name, a_lot):
    return evaluate_batch(get_rule_set(rule_set_name), [a_lot])[0]


def equal_bids(n, ucp="1.00"):
    return [bid(i, ucp, seconds=i) for i in range(1, n + 1)]


# ---------------------------------------------------------------- 1.2.1 ceiling, reasons


def test_a_bid_above_the_ceiling_is_invalid_and_never_ranked():
    result = one("vbp.batch2-9", lot("1.00", bid(1, "0.50"), bid(2, "1.20")))
    invalid = by_id(result)[2]
    assert invalid.outcome == Outcome.INVALID and invalid.rule == "1.2.1" and invalid.rank is None
    assert invalid.reason == "invalid: 1.20 above ceiling 1.00"
    assert result.n_valid == 1 and result.results[-1].bid_id == 2


def test_a_bid_at_the_ceiling_is_valid():
    assert one("vbp.batch2-9", lot("1.00", bid(1, "1.00"))).winners[0].bid_id == 1


def test_reasons_quote_their_values_as_strings():
    result = one("vbp.batch2-9", lot("1.00", bid(1, "0.51"), bid(2, "0.82")))
    won = by_id(result)[2]
    assert won.reason == "won: unit price 0.82 ≤ 1.8 × lowest 0.51 = 0.918"
    assert won.rule == "1.3.3(a)" and won.reason_code == "within_spread"
    assert won.reason_params == {"spread": "1.8", "lowest": "0.51", "limit": "0.918", "ucp": "0.82", "rank": "2"}


def test_an_unknown_selector_is_refused():
    broken = get_rule_set("vbp.batch10").with_overrides("x", selector="coin_toss")
    with pytest.raises(DomainError):
        evaluate_batch(broken, [lot("1.00", bid(1, "0.5"))])


def test_duplicate_bid_ids_in_a_lot_are_refused():
    with pytest.raises(DomainError):
        evaluate_batch(get_rule_set("vbp.batch10"), [lot("1.00", bid(1, "0.5"), bid(1, "0.6"))])


# ---------------------------------------------------------------- 1.3.5 caps, both rows, every N


@pytest.mark.parametrize("n", [*range(1, 17), 20])
def test_1_3_5_batch_9_cap_for_every_number_of_bidders(n):
    result = one("vbp.batch2-9", lot("2.00", *equal_bids(n)))
    assert result.cap == B9_CAPS[min(n, 16) - 1] == len(result.winners)
    assert all(r.rule == "1.3.5" for r in result.results if r.outcome == Outcome.LOST)


@pytest.mark.parametrize("n", [*range(1, 17), 20])
def test_1_3_5_batch_10_cap_for_every_number_of_bidders(n):
    result = one("vbp.batch10", lot("2.00", *equal_bids(n)))
    assert result.cap == B10_CAPS[min(n, 16) - 1] == len(result.winners)


def test_1_3_5_caps_count_bidders_not_invalid_bids():
    bids = [*equal_bids(4), bid(5, "3.00"), bid(6, "3.00")]  # two above the ceiling do not count
    assert one("vbp.batch10", lot("2.00", *bids)).cap == 3


def test_1_3_5_batch_7_never_more_than_10_winners_even_with_a_bigger_table():
    wider = apply_overrides(get_rule_set("vbp.batch7"), {"winner_caps": [20]}, version="wide")
    result = evaluate_batch(wider, [lot("2.00", *equal_bids(16))])[0]
    assert result.cap == 10 == len(result.winners)


# ---------------------------------------------------------------- 1.3.3 batches 2–9 and 7


def test_1_3_3_a_within_1_8_times_the_lowest_wins_and_just_above_loses():
    result = one("vbp.batch2-9", lot("1.00", bid(1, "0.30"), bid(2, "0.54"), bid(3, "0.5401"), bid(4, "0.60")))
    assert outcomes(result) == {1: Outcome.WON, 2: Outcome.WON, 3: Outcome.LOST, 4: Outcome.LOST}
    assert by_id(result)[3].rule == "1.3.3" and by_id(result)[3].reason_code == "not_eligible"


def test_1_3_3_b_at_most_0_10_wins_even_beyond_the_spread():
    result = one("vbp.batch2-9", lot("1.00", bid(1, "0.04"), bid(2, "0.10"), bid(3, "0.11")))
    assert by_id(result)[2].rule == "1.3.3(b)" and by_id(result)[2].outcome == Outcome.WON
    assert by_id(result)[2].reason == "won: unit price 0.10 ≤ low-price threshold 0.10"
    assert by_id(result)[3].outcome == Outcome.LOST


def test_1_3_3_c_a_50_percent_reduction_wins_even_beyond_the_spread():
    result = one("vbp.batch2-9", lot("1.00", bid(1, "0.20"), bid(2, "0.50"), bid(3, "0.5001")))
    assert by_id(result)[2].rule == "1.3.3(c)" and by_id(result)[2].outcome == Outcome.WON
    assert by_id(result)[2].reason == "won: unit price 0.50 is 50.00% below ceiling 1.00 (≥ 50.00%)"
    assert by_id(result)[3].outcome == Outcome.LOST


def test_1_3_3_batch_7_the_highest_eligible_bid_cannot_win():
    bids = (bid(1, "0.50"), bid(2, "0.60"), bid(3, "0.80"), bid(4, "0.95"))  # N = 4 → cap 3; 4 is not eligible
    result = one("vbp.batch7", lot("1.00", *bids))
    assert outcomes(result) == {1: Outcome.WON, 2: Outcome.WON, 3: Outcome.LOST, 4: Outcome.LOST}
    assert by_id(result)[3].reason_code == "highest_eligible"
    # the same lot under batches 2–9 lets all three eligible bids win
    assert [w.bid_id for w in one("vbp.batch2-9", lot("1.00", *bids)).winners] == [1, 2, 3]


def test_1_3_3_batch_7_ties_at_the_highest_eligible_price_all_lose_but_one_price_for_all_is_kept():
    tied = one("vbp.batch7", lot("1.00", bid(1, "0.50"), bid(2, "0.80"), bid(3, "0.80")))
    assert [w.bid_id for w in tied.winners] == [1]
    same = one("vbp.batch7", lot("1.00", bid(1, "0.50"), bid(2, "0.50")))
    assert len(same.winners) == 2


# ---------------------------------------------------------------- 1.3.4 batch 10


def test_1_3_4_revival_with_several_rule_1_winners_is_at_the_highest_rule_1_price():
    ucps = ["0.50", "0.70", "0.90", "1.00", "1.20", "1.50", "1.80", "1.90"]  # N = 8 → cap 5
    bids = [bid(i, u, pack=10) for i, u in enumerate(ucps, 1)]
    first_round = one("vbp.batch10", lot("2.00", *bids))
    assert [w.bid_id for w in first_round.winners] == [1, 2, 3] and first_round.cap == 5
    offered = by_id(first_round)[4]
    assert offered.outcome == Outcome.REVIVAL_OFFERED and offered.rule == "1.3.4(2)"
    assert offered.offer_ucp == D("0.90") and offered.offer_price == D("9.00")
    assert offered.reason == "lost: unit price 1.00 above 1.8 × lowest 0.50 = 0.90; may revive at 0.90"
    assert {r.outcome for r in first_round.results[3:]} == {Outcome.REVIVAL_OFFERED}

    # Bids 6, 8 and 4 accept; the better-ranked two fill the two free places, bid 8 is over the cap.
    second = one("vbp.batch10", lot("2.00", *bids, accepted={4, 6, 8}))
    assert [w.bid_id for w in second.winners] == [1, 2, 3, 4, 6]
    assert by_id(second)[6].outcome == Outcome.WON_REVIVED and by_id(second)[6].award_ucp == D("0.90")
    assert by_id(second)[6].award_price == D("9.00")
    assert by_id(second)[8].outcome == Outcome.LOST and by_id(second)[8].rule == "1.3.5"
    assert by_id(second)[5].outcome == Outcome.LOST  # no place left to offer


def test_1_3_4_revival_with_one_rule_1_winner_is_at_1_8_times_its_price():
    bids = (bid(1, "0.50"), bid(2, "1.00"), bid(3, "1.10"))  # N = 3 → cap 2
    first_round = one("vbp.batch10", lot("2.00", *bids))
    assert [w.bid_id for w in first_round.winners] == [1]
    assert by_id(first_round)[2].offer_ucp == by_id(first_round)[3].offer_ucp == D("0.90")
    second = one("vbp.batch10", lot("2.00", *bids, accepted={3}))
    assert by_id(second)[3].outcome == Outcome.WON_REVIVED
    assert by_id(second)[3].reason == "won: accepted the revival price 0.90"
    assert by_id(second)[2].outcome == Outcome.LOST, "the only free place went to the bid that accepted"


def test_1_3_4_no_50_percent_protection_in_batch_10():
    result = one("vbp.batch10", lot("1.00", bid(1, "0.20"), bid(2, "0.50")))
    assert by_id(result)[2].outcome == Outcome.REVIVAL_OFFERED


def test_1_3_4_absolute_low_price_threshold_by_dosage_class():
    bids = (bid(1, "0.02"), bid(2, "0.09"))
    oral = one("vbp.batch10", lot("1.00", *bids, dosage_class=DosageClass.ORAL_SOLID))
    assert by_id(oral)[2].outcome == Outcome.WON and by_id(oral)[2].reason_code == "low_price"
    injection = one("vbp.batch10", lot("1.00", *bids, dosage_class=DosageClass.SMALL_INJECTION))
    assert by_id(injection)[2].outcome == Outcome.REVIVAL_OFFERED  # [U]: no threshold set for injections


# ---------------------------------------------------------------- 1.3.6 batch 11


def test_1_3_6_anchor_is_half_the_mean_when_the_lowest_is_below_it():
    # N = 10 → cap 6: the six lowest are shortlisted; mean 6.10 / 6, anchor 0.5 × mean = 0.508333…, breaker 0.915.
    ucps = ["0.10", "1.00", "1.10", "1.20", "1.30", "1.40", "1.50", "1.60", "1.70", "1.90"]
    demand = [100, 100, 100, 100, 100, 100, 500, 0, 400, 1000]  # average 250 per brand
    bids = [bid(i, u, reported_demand=d) for i, (u, d) in enumerate(zip(ucps, demand, strict=True), 1)]
    result = one("vbp.batch11", lot("2.00", *bids))
    assert result.cap == 6 and result.anchor_ucp == D("0.508333333333")
    assert [w.bid_id for w in result.winners] == [1]
    cut = by_id(result)[2]
    assert cut.outcome == Outcome.REVIVAL_OFFERED and cut.offer_ucp == D("0.915") and cut.may_choose_regions
    assert cut.reason == "lost: above circuit breaker 1.8 × anchor 0.5083 = 0.915; may revive at 0.915"
    # Not shortlisted: 7 (demand 500 ≥ 250) may revive without choosing regions; 8 has too little demand;
    # 10 is the highest first-round bid.
    assert by_id(result)[7].outcome == Outcome.REVIVAL_OFFERED and not by_id(result)[7].may_choose_regions
    assert by_id(result)[8].rule == "1.3.6(i)" and by_id(result)[8].outcome == Outcome.LOST
    assert by_id(result)[10].rule == "1.3.6(ii)" and by_id(result)[10].outcome == Outcome.LOST

    second = one("vbp.batch11", lot("2.00", *bids, accepted={2, 3, 7}))
    assert [w.bid_id for w in second.winners] == [1, 2, 3, 7]
    assert by_id(second)[2].may_choose_regions and not by_id(second)[7].may_choose_regions
    assert by_id(second)[7].award_ucp == D("0.915")
    assert by_id(second)[4].outcome == Outcome.REVIVAL_OFFERED, "two places are still free"


def test_1_3_6_anchor_is_the_lowest_when_it_is_above_half_the_mean():
    result = one("vbp.batch11", lot("2.00", bid(1, "0.80"), bid(2, "1.00"), bid(3, "1.20")))  # cap 2
    assert result.anchor_ucp == D("0.80")
    assert [w.bid_id for w in result.winners] == [1, 2]
    assert by_id(result)[2].reason == "won: unit price 1.00 ≤ 1.8 × anchor 0.80 = 1.44"
    assert by_id(result)[3].reason_code == "not_shortlisted_highest"


def test_1_3_6_revival_price_is_the_highest_proposed_price_when_several_survive_the_breaker():
    # cap 3 of N = 4: shortlist 0.40, 0.50, 1.00; anchor max(0.40, 0.5 × 1.90 / 3) = 0.40, breaker 0.72.
    result = one("vbp.batch11", lot("2.00", bid(1, "0.40"), bid(2, "0.50"), bid(3, "1.00"), bid(4, "1.10")))
    assert by_id(result)[3].offer_ucp == D("0.50")


def test_1_3_6_oral_solids_at_most_0_10_are_exempt_from_the_breaker():
    bids = (bid(1, "0.03"), bid(2, "0.09"))  # anchor 0.03, breaker 0.054
    oral = one("vbp.batch11", lot("1.00", *bids, dosage_class=DosageClass.ORAL_SOLID))
    assert by_id(oral)[2].outcome == Outcome.WON and by_id(oral)[2].reason_code == "breaker_exempt"
    injection = one("vbp.batch11", lot("1.00", *bids, dosage_class=DosageClass.LARGE_INJECTION))
    assert by_id(injection)[2].outcome == Outcome.REVIVAL_OFFERED and by_id(injection)[2].offer_ucp == D("0.054")


# ---------------------------------------------------------------- 1.3.1 the 4+7 pilot


def test_1_3_1_three_or_more_bidders_lowest_wins_ties_to_larger_sales_coverage():
    result = one(
        "vbp.4plus7",
        lot("1.00", bid(1, "0.40", sales_coverage=10), bid(2, "0.40", sales_coverage=90), bid(3, "0.60")),
    )
    assert [w.bid_id for w in result.winners] == [2] and result.cap == 1
    assert by_id(result)[2].reason == "won: lowest unit price 0.40 among 3 bidders"
    assert by_id(result)[1].outcome == Outcome.LOST


def test_1_3_1_pre_winners_top_7_win_others_negotiate_to_the_average_reduction():
    direct = [
        lot("1.00", bid(101, "0.40"), bid(102, "0.50"), bid(103, "0.60"), lot_id=101),  # reduction 60 %
        lot("2.00", bid(111, "1.20"), bid(112, "1.30"), bid(113, "1.40"), lot_id=111),  # reduction 40 %
    ]
    pre_ucps = ["0.20", "0.25", "0.30", "0.35", "0.40", "0.45", "0.48", "0.49", "0.70"]  # reductions 80 … 30 %
    pre = [lot("1.00", bid(i, u), lot_id=i) for i, u in enumerate(pre_ucps, 1)]
    pre[0] = lot("1.00", bid(1, "0.20"), bid(50, "0.90"), lot_id=1)  # two bidders: the lower is the pre-winner
    results = {r.lot_id: r for r in evaluate_batch(get_rule_set("vbp.4plus7"), [*direct, *pre])}
    for lot_id in range(1, 8):
        assert results[lot_id].winners[0].reason_code == "pre_winner_direct"
    assert by_id(results[1])[50].outcome == Outcome.LOST
    assert results[8].winners[0].reason_code == "meets_min_reduction"  # 51 % ≥ the 50 % average
    negotiating = results[9].results[0]
    assert negotiating.outcome == Outcome.REVIVAL_OFFERED and negotiating.offer_ucp == D("0.50")
    assert negotiating.reason == "lost: pre-winner with reduction 30.00% < minimum 50.00%; may win at 0.50"

    accepted = lot("1.00", bid(9, "0.70"), lot_id=9, accepted={9})
    again = {r.lot_id: r for r in evaluate_batch(get_rule_set("vbp.4plus7"), [*direct, *pre[:8], accepted])}
    assert again[9].winners[0].outcome == Outcome.WON_REVIVED and again[9].winners[0].award_ucp == D("0.50")


def test_1_3_1_without_any_three_bidder_drug_the_default_minimum_reduction_applies():
    pre = [lot("1.00", bid(i, "0.70"), lot_id=i) for i in range(1, 9)]
    results = evaluate_batch(get_rule_set("vbp.4plus7"), pre)
    negotiating = [r.results[0] for r in results if r.results[0].outcome == Outcome.REVIVAL_OFFERED]
    assert len(negotiating) == 1 and negotiating[0].bid_id == 8  # ties broken by bid id: the last one negotiates
    assert negotiating[0].offer_ucp == D("0.48")  # 1.00 × (1 − 52 %), rulebook 1.0.5's average cut


# ---------------------------------------------------------------- 2.4 Sanming groups A and B


def grouped(bid_id, ucp, group, **extra):
    return bid(bid_id, ucp, group=group, **extra)


def test_2_4_cheapest_70_and_40_percent_of_firms_and_b_above_a_loses():
    a = [grouped(i, u, "A") for i, u in enumerate(["1.00", "1.20", "1.40", "1.60", "2.00"], 1)]  # 70 % of 5 → 3
    b = [grouped(i, u, "B") for i, u in enumerate(["0.90", "1.10", "1.30", "1.50", "1.70"], 11)]  # 40 % of 5 → 2
    result = one("alliance.sanming-ab", lot("10.00", *a, *b))
    assert sorted(w.bid_id for w in result.winners) == [1, 2, 3, 11]
    assert result.cap == 5
    assert by_id(result)[4].reason_code == "outside_group_share"
    above_a = by_id(result)[12]
    assert above_a.outcome == Outcome.REVIVAL_OFFERED and above_a.offer_ucp == D("0.90")
    assert above_a.reason == (
        "lost: group B unit price 1.10 above group A lowest winning price 1.00; may revive at 0.90"
    )
    assert by_id(result)[13].reason_code == "outside_group_share"


def test_2_4_within_a_group_the_highest_winner_is_at_most_1_5_times_the_lowest():
    bids = (grouped(1, "1.00", "A"), grouped(2, "1.60", "A"), grouped(3, "1.70", "A"))  # 70 % of 3 → 2 firms
    result = one("alliance.sanming-ab", lot("10.00", *bids))
    assert [w.bid_id for w in result.winners] == [1]
    assert by_id(result)[2].reason_code == "group_spread_may_revive" and by_id(result)[2].offer_ucp == D("1.00")
    assert by_id(result)[3].reason_code == "outside_group_share", "outside the share: no revival"
    revived = one("alliance.sanming-ab", lot("10.00", *bids, accepted={2, 3}))
    assert by_id(revived)[2].outcome == Outcome.WON_REVIVED and by_id(revived)[2].award_ucp == D("1.00")
    assert by_id(revived)[3].outcome == Outcome.LOST


def test_2_4_ties_go_to_the_larger_reported_demand():
    bids = (grouped(1, "1.00", "A", reported_demand=10), grouped(2, "1.00", "A", reported_demand=99))
    result = one("alliance.sanming-ab", lot("10.00", *bids))  # 70 % of 2 firms → 1
    assert [w.bid_id for w in result.winners] == [2]


def test_2_4_share_rounding_is_floored_but_at_least_one_firm():
    result = one("alliance.sanming-ab", lot("10.00", grouped(1, "1.00", "B")))  # 40 % of 1 → 0 → 1
    assert [w.bid_id for w in result.winners] == [1]
    ceil = apply_overrides(get_rule_set("alliance.sanming-ab"), {"group_share_rounding": "ceil"}, version="ceil")
    five = [grouped(i, "1.00", "A", seconds=i) for i in range(1, 6)]
    assert len(evaluate_batch(ceil, [lot("10.00", *five)])[0].winners) == 4  # ⌈3.5⌉
    assert len(one("alliance.sanming-ab", lot("10.00", *five)).winners) == 3  # ⌊3.5⌋


def test_2_4_a_bid_without_a_group_is_invalid():
    result = one("alliance.sanming-ab", lot("10.00", grouped(1, "1.00", "A"), bid(2, "0.50")))
    assert by_id(result)[2].outcome == Outcome.INVALID and by_id(result)[2].rule == "2.4"


# ---------------------------------------------------------------- 0.6 hospital-led negotiation


def test_0_6_the_lowest_wins_and_records_ceiling_negotiated_price_and_difference():
    result = one("hospital-led.negotiated", lot("1.00", bid(1, "0.80"), bid(2, "0.90")))
    winner = result.winners[0]
    assert winner.bid_id == 1 and winner.rule == "0.6"
    assert winner.reason_params == {"negotiated": "0.80", "ceiling": "1.00", "difference": "0.20", "rank": "1"}
    two = apply_overrides(get_rule_set("hospital-led.negotiated"), {"winner_caps": [2]}, version="two")
    assert len(evaluate_batch(two, [lot("1.00", bid(1, "0.80"), bid(2, "0.90"))])[0].winners) == 2


def test_ties_end_with_earliest_submission_then_bid_id():
    result = one("hospital-led.negotiated", lot("1.00", bid(2, "0.80", seconds=5), bid(1, "0.80", seconds=9)))
    assert result.winners[0].bid_id == 2
    result = one("hospital-led.negotiated", lot("1.00", bid(2, "0.80"), bid(1, "0.80")))
    assert result.winners[0].bid_id == 1


def test_results_are_ordinary_frozen_dataclasses():
    outcome = one("vbp.batch10", lot("1.00", bid(1, "0.50", pack=7))).results[0]
    assert outcome == BidResult(**{f.name: getattr(outcome, f.name) for f in dataclasses.fields(BidResult)})
    assert outcome.award_price == D("3.50") and outcome.award_ucp == D("0.50") and outcome.product_id == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.rank = 2


def test_2_4_one_firm_holds_one_place_in_a_group_with_two_products():
    # Found by Hypothesis: one firm bidding two products in group A took two places where its share is one firm.
    first = dataclasses.replace(grouped(1, "1.00", "A"), supplier_id=7)
    second = dataclasses.replace(grouped(2, "1.00", "A", seconds=5), supplier_id=7)
    result = one("alliance.sanming-ab", lot("10.00", first, second))
    assert [w.bid_id for w in result.winners] == [1] and result.cap == 1
    assert by_id(result)[2].outcome == Outcome.LOST and by_id(result)[2].rule == "1.1.5"
