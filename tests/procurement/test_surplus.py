"""Surplus retention arithmetic (rulebook 3) and its parameter sets, on small hand-computed cases.

The base case: a full agreement year (2026-04-01 to 2027-03-31, 365 days), reported base 1,000 tablets, agreed
volume 800, pre-tender price 2.0000 a tablet, fund pay ratio 0.70 (Fujian), insured share 0.80.

    Budget        = 1,000 × 2 × 0.70 × 0.80                         = 1,120.00
    Winning       = 900 tablets received for 450.00 (0.50 a tablet); only 800 count (3.6): 400.00, 50.00 excluded
    Spend         = (400.00 + 30.00 non-winning) × 0.70 × 0.80        =   240.80
    Surplus base  = 1,120.00 − 240.80                                 =   879.20
    Indicators    = completion 1.125 → 100; on time 0.90 → 90; growth 480 ÷ 2,000 − 1 < 0 → 100; off-platform
                    10 % → 100 − 100 × (0.10 − 0.05) ÷ 0.20 = 75
    Score         = (40 × 100 + 30 × 90 + 15 × 100 + 15 × 75) ÷ 100   =    93.25 → tier A, 50 %
    Retained      = 879.20 × 0.50                                     =   439.60
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from core.errors import DomainError
from procurement.audit import surplus_rules as rules
from procurement.audit.surplus_calc import Facts, ResultStatus, compute, prorate, split_among_members
from procurement.audit.surplus_rules import SHENZHEN_2024, check_rules, fund_pay_ratio, tier_for

Y0, Y1 = dt.date(2026, 4, 1), dt.date(2027, 3, 31)
FUJIAN = (D("0.70"), "35")


def facts(**changes) -> Facts:
    values = dict(  # noqa: C408 (keyword form reads as the Facts it builds)
        agreed_volume_id=1, tender_id=1, lot_id=1, hospital_id=10, hospital_name="沙县总医院", region_code="350427",
        generic_name="阿托伐他汀钙片", unit="片", year_start=Y0, year_end=Y1, measured_to=Y1, full_days=365,
        annual_base=1000, annual_agreed=800, baseline_price=D("2.0000"), baseline_source="surplus_baseline_prices #1",
        insured_share=D("0.80"), received_units=D(900), received_amount=D("450.00"), receipt_ids=[5, 6],
        non_winning_amount=D("30.00"), non_winning_packs=3, non_winning_receipt_ids=[7],
        on_time={"amount_rate": D("0.90"), "due_amount": D("500"), "on_time_amount": D("450")},
        offline_share={"share": D("0.10"), "platform": D("900"), "offline": D("100")},
        historical_use=1000, demand_report_ids=[3],
    )  # fmt: skip
    values.update(changes)
    return Facts(**values)


def term(outcome, name: str) -> str | None:
    return next(t["value"] for t in outcome.breakdown["terms"] if t["name"] == name)


def test_every_term_of_the_base_case():
    out = compute(facts(), SHENZHEN_2024, fund=FUJIAN)
    assert (out.budget, out.spend, out.surplus_base) == (D("1120.00"), D("240.80"), D("879.20"))
    assert (out.completion, out.score, out.tier, out.ratio) == (D("1.1250"), D("93.25"), "A", D("0.50"))
    assert (out.status, out.retained) == (ResultStatus.RETAINED, D("439.60"))
    assert term(out, "agreed_volume_base") == "1000" and term(out, "agreed_volume") == "800"
    assert term(out, "winning_unit_price") == "0.500000"
    assert (term(out, "winning_units_counted"), term(out, "winning_spend")) == ("800", "400.0000")
    assert term(out, "excluded_above_agreed") == "50.0000"
    assert term(out, "non_winning_spend") == "30.00"
    scores = {i["name"]: (i["value"], i["score"]) for i in out.breakdown["indicators"]}
    assert scores == {
        "volume_completion": ("1.1250", "100.00"),
        "on_time_payment": ("0.9000", "90.00"),
        "cost_growth": ("-0.7600", "100.00"),  # 480 ÷ (1,000 × 2.00) − 1
        "offline_share": ("0.1000", "75.00"),
    }
    every = {t["name"] for t in out.breakdown["terms"]}
    assert {"budget", "spend", "surplus_base", "score", "tier", "retained", "fund_pay_ratio", "insured_share"} <= every
    assert all(t["formula"] is not None and "source" in t for t in out.breakdown["terms"])
    spend = next(t for t in out.breakdown["terms"] if t["name"] == "spend")
    assert "[P]" in spend["source"] and "inference" in spend["source"]


def test_rulebook_3_7_worked_example_completion_and_excess_excluded():
    """Zhongwei, batch 7, first year: agreed 4.68 M units, actual 6.74 M units for RMB 4.48 M → completion 144 %."""
    out = compute(
        facts(annual_base=5_850_000, annual_agreed=4_680_000, received_units=D(6_740_000),
              received_amount=D("4480000.00"), non_winning_amount=D(0), baseline_price=D("1.0000"),
              insured_share=D("1")),
        SHENZHEN_2024, fund=(D("1"), ""),
    )  # fmt: skip
    assert out.completion == D("1.4402") and f"{out.completion:.2%}" == "144.02%"
    # Only the agreed 4.68 M units count, at the year's average price 4.48 M ÷ 6.74 M a unit.
    assert term(out, "winning_units_counted") == "4680000"
    assert term(out, "winning_spend") == "3110741.8398"  # 4,480,000 × 4.68 ÷ 6.74
    assert term(out, "excluded_above_agreed") == "1369258.1602"
    assert out.spend == D("3110741.84") and out.budget == D("5850000.00")
    assert out.surplus_base == D("2739258.16")


def test_non_winning_spend_counts_against_the_surplus():
    without = compute(facts(non_winning_amount=D(0)), SHENZHEN_2024, fund=FUJIAN)
    more = compute(facts(non_winning_amount=D("500.00")), SHENZHEN_2024, fund=FUJIAN)
    assert without.spend == D("224.00")  # 400 × 0.56
    assert more.spend == D("504.00")  # (400 + 500) × 0.56
    assert more.surplus_base == D("616.00")


def test_not_completed_pays_nothing_whatever_the_surplus():
    out = compute(facts(received_units=D(700), received_amount=D("350.00")), SHENZHEN_2024, fund=FUJIAN)
    assert out.completion == D("0.8750") and out.surplus_base == D("907.20")  # 1,120 − (350 + 30) × 0.56
    assert (out.status, out.retained) == (ResultStatus.NOT_COMPLETED, D(0))
    retained = next(t for t in out.breakdown["terms"] if t["name"] == "retained")
    assert retained["formula"] == "the agreed volume was not completed, so nothing is paid (3.3)"


def test_a_failed_assessment_pays_nothing():
    # Completion 100; on time 0 → 0; growth → 100; off-platform 50 % → 0: (4,000 + 1,500) ÷ 100 = 55 → D.
    out = compute(
        facts(on_time={"amount_rate": D(0)}, offline_share={"share": D("0.5"), "platform": 1, "offline": 1}),
        SHENZHEN_2024, fund=FUJIAN,
    )  # fmt: skip
    assert (out.score, out.tier, out.ratio, out.status, out.retained) == (
        D("55.00"), "D", D("0"), ResultStatus.NOT_PASSED, D(0)
    )  # fmt: skip


def test_missing_indicators_drop_out_and_the_rest_are_reweighted():
    out = compute(facts(on_time=None), SHENZHEN_2024, fund=FUJIAN)
    assert out.score == D("94.64")  # (40 × 100 + 15 × 100 + 15 × 75) ÷ 70
    row = next(i for i in out.breakdown["indicators"] if i["name"] == "on_time_payment")
    assert (row["missing"], row["effective_weight"]) == (True, "0.00")
    zero = SHENZHEN_2024.with_overrides("zero-missing", missing_indicator=rules.ZERO)
    assert compute(facts(on_time=None), check_rules(zero), fund=FUJIAN).score == D("66.25")


def test_missing_inputs_leave_no_budget():
    out = compute(facts(baseline_price=None, insured_share=None), SHENZHEN_2024, fund=None)
    assert (out.status, out.budget, out.retained) == (ResultStatus.INPUTS_MISSING, None, D(0))
    assert "Pre-tender weighted average price" in out.breakdown["notes"][-1]
    assert "Fund actual pay ratio" in out.breakdown["notes"][-1]


def test_spending_above_the_budget_leaves_no_surplus():
    out = compute(facts(non_winning_amount=D("2000.00")), SHENZHEN_2024, fund=FUJIAN)
    assert out.spend == D("1344.00") and out.surplus_base == D(0)
    assert (out.status, out.retained) == (ResultStatus.NO_SURPLUS, D(0))


@pytest.mark.parametrize(
    ("score", "tier", "ratio"),
    [("100", "A", "0.50"), ("80.01", "A", "0.50"), ("80", "B", "0.40"), ("70", "B", "0.40"), ("69.99", "C", "0.30"),
     ("60", "C", "0.30"), ("59.99", "D", "0"), ("0", "D", "0")],
)  # fmt: skip
def test_tier_boundaries(score, tier, ratio):
    assert tier_for(SHENZHEN_2024, D(score)) == (tier, D(ratio))


def test_a_score_is_read_at_its_published_two_places():
    """The tier is read from the score as published (two places, half up), so no hidden decimals flip it."""
    only_completion = {"volume_completion": "100", "on_time_payment": "0", "cost_growth": "0", "offline_share": "0"}
    curves = {**SHENZHEN_2024["curves"], "volume_completion": (("0", "0"), ("2", "100"))}
    params = check_rules(SHENZHEN_2024.with_overrides("t", weights=only_completion, curves=curves))
    low = compute(facts(received_units=D("1279.92")), params, fund=FUJIAN)  # 1.5999 × 50 = 79.995 → 80.00
    assert (low.score, low.tier) == (D("80.00"), "B")
    high = compute(facts(received_units=D("1280.08")), params, fund=FUJIAN)  # 1.6001 × 50 = 80.005 → 80.01
    assert (high.score, high.tier) == (D("80.01"), "A")


def test_provisional_years_prorate_the_volumes():
    assert prorate(1000, 100, 365) == 274 and prorate(800, 100, 365) == 219 and prorate(800, 365, 365) == 800
    out = compute(facts(measured_to=Y0 + dt.timedelta(days=99)), SHENZHEN_2024, fund=FUJIAN)
    assert term(out, "agreed_volume_base") == "274" and term(out, "agreed_volume") == "219"
    assert out.budget == D("306.88")  # 274 × 2 × 0.56
    assert "provisional" in out.breakdown["notes"][0]


def test_member_units_split_by_fixed_shares_remainder_to_the_general_hospital():
    members = [(10, "总医院", D("0.5")), (11, "乡镇卫生院甲", D("0.3333")), (12, "乡镇卫生院乙", D("0.1667"))]
    parts = {
        p["hospital_id"]: (p["amount"], p["holds_remainder"]) for p in split_among_members(D("439.60"), members, 10)
    }
    # 146.51868 → 146.51 and 73.28132 → 73.28, rounded down; 219.80 + the remaining 0.01 to the general hospital.
    assert parts == {10: (D("219.81"), True), 11: (D("146.51"), False), 12: (D("73.28"), False)}
    assert sum(amount for amount, _ in parts.values()) == D("439.60")
    out = compute(facts(members=members), SHENZHEN_2024, fund=FUJIAN)
    assert [p["amount"] for p in out.allocations] == [D("219.81"), D("146.51"), D("73.28")]
    assert out.breakdown["member_split"][0]["amount"] == "219.81"


def test_general_hospital_without_a_share_still_takes_the_remainder():
    parts = split_among_members(D("100.00"), [(11, "甲", D("0.3333")), (12, "乙", D("0.6667"))], 10)
    assert [(p["hospital_id"], p["amount"]) for p in parts] == [(11, D("33.33")), (12, D("66.67")), (10, D("0.00"))]
    assert parts[-1]["holds_remainder"]


def test_fund_pay_ratio_by_longest_region_prefix():
    params = SHENZHEN_2024.with_overrides("r", fund_pay_ratios={"35": "0.70", "3502": "0.75", "": "0.60"})
    assert fund_pay_ratio(check_rules(params), "350203") == (D("0.75"), "3502")
    assert fund_pay_ratio(params, "350427") == (D("0.70"), "35")
    assert fund_pay_ratio(params, "440300") == (D("0.60"), "")
    assert fund_pay_ratio(SHENZHEN_2024, "440300") is None


def _tiers(*changes):
    tiers = [dict(t) for t in SHENZHEN_2024["tiers"]]
    for index, key, value in changes:
        tiers[index][key] = value
    return tuple(tiers)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"tiers": _tiers((1, "lower", "71"))}, "tiers", "gap between tiers C and B"),
        ({"tiers": _tiers((2, "upper_closed", True))}, "tiers", "overlap between tiers C and B"),
        ({"tiers": _tiers((1, "lower_closed", False))}, "tiers", "gap between tiers C and B"),
        ({"tiers": _tiers((0, "ratio", "0.60"))}, "tiers", "above the 50 % of rule 3.3"),
        ({"tiers": _tiers((3, "upper", "50"))}, "tiers", "gap between tiers D and C"),
        ({"tiers": _tiers((0, "upper", "99"))}, "tiers", "must end at a score of 100"),
        ({"tiers": _tiers((3, "ratio", "0.10"))}, "tiers", "below the pass mark"),
        ({"retention_cap": "0.55"}, "retention_cap", "between 0 and 0.50"),
        ({"retention_cap": "0.45"}, "tiers", "above the set's retention cap 0.45"),
        ({"weights": {"volume_completion": "40", "on_time_payment": "30", "cost_growth": "15",
                      "offline_share": "5"}}, "weights", "sum to 100, not 90"),
        ({"weights": {"volume_completion": "100"}}, "weights", "exactly the indicators"),
        ({"curves": {**SHENZHEN_2024["curves"], "on_time_payment": (("1", "0"), ("0", "100"))}}, "curves",
         "strictly increase"),
        ({"fund_pay_ratios": {"35": "1.2"}}, "fund_pay_ratios", "in (0, 1]"),
        ({"missing_indicator": "guess"}, "missing_indicator", "reweight"),
    ],
)  # fmt: skip
def test_inconsistent_parameter_sets_are_refused(overrides, field, words):
    with pytest.raises(DomainError) as caught:
        check_rules(SHENZHEN_2024.with_overrides("bad", **overrides))
    assert caught.value.code == "inconsistent_parameter_set"
    assert any(words in message for message in caught.value.errors[field]), caught.value.errors


def test_the_default_set_is_consistent_and_cites_its_rules():
    assert check_rules(SHENZHEN_2024) is SHENZHEN_2024
    assert rules.surplus_rules() is SHENZHEN_2024
    described = SHENZHEN_2024.describe()
    assert {"3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "0.4"} <= set(described["cites"])
    with pytest.raises(DomainError):
        rules.surplus_rules("no-such-version")


def test_the_retained_amount_is_rounded_down_so_it_never_passes_the_cap():
    # Budget 1,000,000.01 and nothing spent: the base is 1,000,000.01, and half of it is 500,000.005.
    out = compute(
        facts(annual_base=1, baseline_price=D("1000000.01"), insured_share=D("1"), received_units=D(800),
              received_amount=D(0), non_winning_amount=D(0), historical_use=None),
        SHENZHEN_2024, fund=(D("1"), ""),
    )  # fmt: skip
    assert (out.surplus_base, out.ratio, out.status) == (D("1000000.01"), D("0.50"), ResultStatus.RETAINED)
    assert out.retained == D("500000.00") and out.retained <= out.surplus_base * rules.LEGAL_RETENTION_CAP
    assert "rounded down" in next(t for t in out.breakdown["terms"] if t["name"] == "retained")["formula"]


def test_off_platform_purchases_of_the_winning_product_are_capped_at_the_agreed_volume():
    """3.6: the platform's 700 units leave 100 of the agreed 800; 300 units bought off the platform for 150.00
    (0.50 a unit) fill them, and the other 200 units (100.00) are excluded. A non-winning product's 20.00 counts."""
    out = compute(
        facts(received_units=D(700), received_amount=D("350.00"), offline_amount=D("170.00"), offline_ids=[8, 9],
              offline_winning_amount=D("150.00"), offline_winning_units=D(300)),
        SHENZHEN_2024, fund=FUJIAN,
    )  # fmt: skip
    assert term(out, "offline_spend") == "170.00"
    assert term(out, "excluded_above_agreed") == "100.0000"
    assert out.spend == D("252.00")  # (350 + 30 + 170 − 100) × 0.56
    above = compute(facts(offline_amount=D("150.00"), offline_winning_amount=D("150.00"),
                          offline_winning_units=D(300)), SHENZHEN_2024, fund=FUJIAN)  # fmt: skip
    assert term(above, "excluded_above_agreed") == "200.0000"  # 50.00 on the platform, all 150.00 off it
    assert above.spend == D("240.80")  # as the base case: nothing off the platform counts


@pytest.mark.parametrize("flag", ["completion_required", "exclude_above_agreed", "retain_once_per_generic_name"])
def test_the_rules_of_3_3_and_3_6_cannot_be_switched_off(flag):
    with pytest.raises(DomainError) as caught:
        check_rules(SHENZHEN_2024.with_overrides("off", **{flag: False}))
    assert list(caught.value.errors) == [flag] and "must be true" in caught.value.errors[flag][0]


def test_a_pass_mark_below_a_tier_that_retains_nothing_is_refused():
    with pytest.raises(DomainError) as caught:
        check_rules(SHENZHEN_2024.with_overrides("low-pass", pass_score="50"))  # D = [0, 60) at 0 % passes 50–60
    assert caught.value.errors["tiers"] == ["tier D: it holds passing scores (pass mark 50) but retains nothing"]
    closed = _tiers((3, "upper_closed", True), (2, "lower_closed", False))  # D = [0, 60], C = (60, 70)
    with pytest.raises(DomainError) as caught:
        check_rules(SHENZHEN_2024.with_overrides("closed", tiers=closed))  # 60 passes but falls in D
    assert "tier D: it holds passing scores" in caught.value.errors["tiers"][0]


def test_policy_numbers_given_as_floats_mean_their_decimal_value():
    tiers = _tiers((0, "lower", 80.3), (1, "upper", 80.3), (1, "ratio", 0.4))
    params = check_rules(SHENZHEN_2024.with_overrides("floats", tiers=tiers, completion_threshold=1.1))
    assert tier_for(params, D("80.30")) == ("B", D("0.4"))  # 80.3 itself is B's closed upper end
    assert tier_for(params, D("80.31"))[0] == "A"
    out = compute(facts(received_units=D(880), received_amount=D("440.00")), params, fund=FUJIAN)
    assert out.completed and out.status == ResultStatus.RETAINED  # 880 ÷ 800 is exactly the threshold 1.1
