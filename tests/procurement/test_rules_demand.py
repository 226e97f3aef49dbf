"""Demand reporting checks: the 80 % floor of rulebook 1.1.7 and the over-report flag of 3.9."""

import pytest

from procurement.rules.demand import check_demand
from procurement.rules.rulesets import apply_overrides, get_rule_set

RULES = get_rule_set("vbp.batch11")


def check(quantity, history=1000, reason=None, rule_set=RULES):
    return check_demand(rule_set, quantity=quantity, historical_use=history, exception_reason=reason)


def test_1_1_7_at_least_80_percent_of_history_is_accepted():
    result = check(800)
    assert result.accepted and result.flags == () and result.minimum == 800


def test_1_1_7_below_80_percent_without_a_reason_is_refused_naming_the_rule_and_minimum():
    result = check(799)
    assert not result.accepted
    message = result.errors["quantity"][0]
    assert "1.1.7" in message and "800" in message


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_1_1_7_a_blank_reason_is_no_reason(reason):
    assert not check(100, reason=reason).accepted


def test_1_1_7_below_the_floor_with_a_reason_is_accepted_and_flagged():
    result = check(100, reason="ward closed for renovation in 2025")
    assert result.accepted and result.flags == ("below_history_excused",)


def test_1_1_7_the_floor_rounds_up_to_a_whole_unit():
    assert check(800, history=1001).minimum == 801
    assert not check(800, history=1001).accepted


def test_3_9_far_above_history_is_accepted_but_flagged_over_reported():
    assert check(1500).flags == ("over_reported",)
    assert check(1499).flags == ()
    stricter = apply_overrides(RULES, {"demand_over_factor": "1.2"}, version="strict")
    assert check(1200, rule_set=stricter).flags == ("over_reported",)


def test_no_history_means_nothing_to_compare():
    result = check(5, history=None)
    assert result.accepted and result.flags == ("no_history",) and result.minimum is None


@pytest.mark.parametrize("quantity", [0, -5, 2.5, "800", True])
def test_the_quantity_must_be_a_positive_whole_number(quantity):
    result = check(quantity)
    assert not result.accepted and "quantity" in result.errors


def test_a_negative_history_is_refused():
    assert "historical_use" in check(10, history=-1).errors
