"""Agreed volumes (1.4), cycles (1.6) and payment standards (1.10) against the rulebook's tables and examples."""

import datetime as dt
import itertools
from decimal import Decimal as D

import pytest

from core.errors import DomainError
from procurement.rules.rulesets import apply_overrides, get_rule_set
from procurement.rules.types import LotCategory
from procurement.rules.volumes import agreed_volume, agreed_volumes, cycle_dates, payment_standard, volume_ratio

AFATINIB_BASE = 596_327  # rulebook 1.4.2, S20: Afatinib 30 mg demand base in tablets
AFATINIB_PUBLISHED = {1: 298_170, 2: 357_795}  # agreed volumes with 1 and 2 winners


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        (LotCategory.CHEMICAL, ["0.50", "0.60", "0.70", "0.80", "0.80", "0.80"]),
        (LotCategory.SPECIAL_ANTI_INFECTIVE, ["0.30", "0.40", "0.50", "0.50", "0.50", "0.50"]),
    ],
)
def test_1_4_2_ratio_table_by_number_of_winners(category, expected):
    rule_set = get_rule_set("vbp.batch10")
    assert [volume_ratio(rule_set, category=category, n_winners=n) for n in range(1, 7)] == [D(v) for v in expected]


def test_1_4_1_the_4_plus_7_pilot_agrees_65_percent():
    assert volume_ratio(get_rule_set("vbp.4plus7"), category="chemical", n_winners=1) == D("0.65")


def test_1_4_3_batch_11_is_80_percent_reduced_for_few_winners_and_glucocorticoids():
    rule_set = get_rule_set("vbp.batch11")
    assert volume_ratio(rule_set, category="chemical", n_winners=4) == D("0.80")
    assert all(volume_ratio(rule_set, category="chemical", n_winners=n) < D("0.80") for n in (1, 2, 3))
    for n in range(1, 6):
        chemical = volume_ratio(rule_set, category="chemical", n_winners=n)
        assert volume_ratio(rule_set, category="glucocorticoid", n_winners=n) < chemical
        assert volume_ratio(rule_set, category="special_anti_infective", n_winners=n) < chemical


def test_1_4_2_afatinib_with_the_default_rounding_half_up_to_whole_tablets():
    rule_set = get_rule_set("vbp.batch7")
    # 596,327 × 50 % = 298,163.5 and × 60 % = 357,796.2: half-up per hospital gives 298,164 and 357,796, not the
    # published 298,170 and 357,795 (1.4.4 [U]: the rounding rule is unknown).
    assert agreed_volume(rule_set, category="chemical", n_winners=1, reported_base=AFATINIB_BASE) == 298_164
    assert agreed_volume(rule_set, category="chemical", n_winners=2, reported_base=AFATINIB_BASE) == 357_796


def test_1_4_2_afatinib_cannot_be_reproduced_by_one_uniform_rounding_to_whole_units_or_tens():
    # The published figures round 298,163.5 up by 6.5 but 357,796.2 down by 1.2: no single rule to 1, 5, 10 or 100
    # units does both. This is why the rounding is a parameter (volume_rounding, volume_rounding_unit).
    rule_set = get_rule_set("vbp.batch7")
    for mode, unit in itertools.product(("half_up", "ceil", "floor"), (1, 5, 10, 100)):
        tried = apply_overrides(rule_set, {"volume_rounding": mode, "volume_rounding_unit": unit}, version="try")
        got = {n: agreed_volume(tried, category="chemical", n_winners=n, reported_base=AFATINIB_BASE) for n in (1, 2)}
        assert got != AFATINIB_PUBLISHED, (mode, unit)


def test_1_4_2_afatinib_is_reproduced_by_half_up_to_multiples_of_15():
    # An observation, not a verified rule: rounding half-up to 15 tablets (a pack size?) gives both published figures.
    fifteen = apply_overrides(get_rule_set("vbp.batch7"), {"volume_rounding_unit": 15}, version="packs-of-15")
    got = {n: agreed_volume(fifteen, category="chemical", n_winners=n, reported_base=AFATINIB_BASE) for n in (1, 2)}
    assert got == AFATINIB_PUBLISHED


def test_ceil_to_10_is_a_configurable_alternative():
    tens = apply_overrides(
        get_rule_set("vbp.batch7"), {"volume_rounding": "ceil", "volume_rounding_unit": 10}, version="ceil-10"
    )
    assert agreed_volume(tens, category="chemical", n_winners=1, reported_base=AFATINIB_BASE) == 298_170
    assert agreed_volumes(tens, category="chemical", n_winners=1, reported_bases=[0, 1, 20]) == [0, 10, 10]


@pytest.mark.parametrize(("base", "n_winners"), [(-1, 1), (True, 1), (10, 0)])
def test_agreed_volume_refuses_nonsense(base, n_winners):
    with pytest.raises(DomainError):
        agreed_volume(get_rule_set("vbp.batch7"), category="chemical", n_winners=n_winners, reported_base=base)


# ---------------------------------------------------------------- 1.6 cycles

START = dt.date(2019, 4, 1)


@pytest.mark.parametrize(("n_winners", "years"), [(1, 1), (2, 2), (3, 2), (4, 3), (9, 3)])
def test_1_6_1_cycle_by_number_of_winners(n_winners, years):
    start, end = cycle_dates(get_rule_set("vbp.batch2-9"), n_winners=n_winners, start=START)
    assert start == START and end == dt.date(2019 + years, 3, 31)


def test_1_6_2_batch_7_gives_two_winners_one_year():
    assert cycle_dates(get_rule_set("vbp.batch7"), n_winners=2, start=START)[1] == dt.date(2020, 3, 31)
    assert cycle_dates(get_rule_set("vbp.batch7"), n_winners=3, start=START)[1] == dt.date(2021, 3, 31)


@pytest.mark.parametrize(
    ("name", "end"), [("vbp.batch10", dt.date(2027, 12, 31)), ("vbp.batch11", dt.date(2028, 12, 31))]
)
def test_1_6_3_later_batches_end_on_a_fixed_date(name, end):
    for n_winners in (1, 5):
        assert cycle_dates(get_rule_set(name), n_winners=n_winners, start=dt.date(2025, 3, 1)) == (
            dt.date(2025, 3, 1),
            end,
        )
    with pytest.raises(DomainError):
        cycle_dates(get_rule_set(name), n_winners=1, start=dt.date(2030, 1, 1))


def test_2_4_sanming_cycle_is_two_years():
    assert cycle_dates(get_rule_set("alliance.sanming-ab"), n_winners=1, start=START)[1] == dt.date(2021, 3, 31)


def test_a_cycle_starting_on_29_february_ends_on_28_february():
    assert cycle_dates(get_rule_set("vbp.4plus7"), n_winners=1, start=dt.date(2024, 2, 29))[1] == dt.date(2025, 2, 28)


# ---------------------------------------------------------------- 1.10 payment standards


@pytest.mark.parametrize(
    ("product_price", "won", "gqce", "expected", "rule"),
    [
        ("10", True, True, "10", "1.10.1"),  # the winning price is the standard
        ("25", False, True, "17.5", "1.10.2"),  # ≥ 2 × winning: own price × 0.7
        ("20", False, True, "14.0", "1.10.2"),  # exactly 2 × counts as ≥
        ("19.99", False, True, "10", "1.10.2"),  # < 2 ×: the winning price
        ("8", False, True, "10", "1.10.2"),
        ("30", False, False, "10", "1.10.3"),  # not GQCE-passed: at most the winning price
        ("8", False, False, "8", "1.10.3"),
    ],
)
def test_1_10_payment_standard(product_price, won, gqce, expected, rule):
    standard, ref = payment_standard(
        get_rule_set("vbp.batch2-9"), winning_price=D("10"), product_price=D(product_price), won=won, gqce_passed=gqce
    )
    assert (standard, ref) == (D(expected), rule)
