"""The credit rating's rule sets (rulebook 6.3–6.6): every band edge of 6.4 / 6.5 by hand, flags, refused sets.

Every amount below is a band edge of 6.4 / 6.5 or one fen under it; the expected level is read off the rulebook's
tables, not computed by the code under test.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import DomainError
from procurement.audit.credit_rating import rate_case
from procurement.audit.credit_rules import (
    CREDIT_2020,
    CREDIT_2025,
    CreditRulesError,
    _band,
    default_version,
    validate_credit_rules,
)

D = Decimal

BRIBERY_2020 = [
    # (single, cumulative, level, basis that decided it, band minimum)
    ("10000", None, "general", "single", "10000"),
    ("99999.99", None, "general", "single", "10000"),
    ("100000", None, "medium", "single", "100000"),
    ("299999.99", None, "medium", "single", "100000"),
    ("300000", None, "serious", "single", "300000"),
    ("1999999.99", None, "serious", "single", "300000"),
    ("2000000", None, "most_serious", "single", "2000000"),
    (None, "149999.99", "general", "cumulative", "10000"),
    (None, "150000", "medium", "cumulative", "150000"),
    (None, "499999.99", "medium", "cumulative", "150000"),
    (None, "500000", "serious", "cumulative", "500000"),
    (None, "1999999.99", "serious", "cumulative", "500000"),
    (None, "2000000", "most_serious", "cumulative", "2000000"),
    ("50000", "600000", "serious", "cumulative", "500000"),  # small bribes adding up: the cumulative band decides
    ("350000", "400000", "serious", "single", "300000"),  # one large bribe: the single band decides
]
BRIBERY_2025 = [
    (None, "10000", "dishonest", "10000"),
    (None, "499999.99", "dishonest", "10000"),
    (None, "500000", "serious", "500000"),
    (None, "999999.99", "serious", "500000"),
    (None, "1000000", "most_serious", "1000000"),
    ("600000", None, "serious", "500000"),  # a single amount is at least the cumulative one
]
TAX = [
    ("2020", "100000", "general", "100000"),
    ("2020", "999999.99", "general", "100000"),
    ("2020", "1000000", "serious", "1000000"),
    ("2020", "9999999.99", "serious", "1000000"),
    ("2020", "10000000", "most_serious", "10000000"),
    ("2025", "50000", "dishonest", "50000"),
    ("2025", "499999.99", "dishonest", "50000"),
    ("2025", "500000", "serious", "500000"),
    ("2025", "2499999.99", "serious", "500000"),
    ("2025", "2500000", "most_serious", "2500000"),
]
BELOW = [("2020", "bribery", "9999.99"), ("2025", "bribery", "9999.99"), ("2020", "tax", "99999.99"),
         ("2025", "tax", "49999.99")]  # fmt: skip
RULES = {"2020": CREDIT_2020, "2025": CREDIT_2025}


def _d(value):
    return None if value is None else D(value)


@pytest.mark.parametrize(("single", "cumulative", "level", "basis", "low"), BRIBERY_2020)
def test_2020_bribery_bands(single, cumulative, level, basis, low):
    rating = rate_case(CREDIT_2020, category="bribery", single_amount=_d(single), cumulative_amount=_d(cumulative))
    assert (rating.level, rating.basis["basis"], rating.basis["min"], rating.basis["rule"][:3]) == (
        level, basis, low, "6.4",
    )  # fmt: skip


@pytest.mark.parametrize(("single", "cumulative", "level", "low"), BRIBERY_2025)
def test_2025_bribery_bands(single, cumulative, level, low):
    rating = rate_case(CREDIT_2025, category="bribery", single_amount=_d(single), cumulative_amount=_d(cumulative))
    assert (rating.level, rating.basis["basis"], rating.basis["min"]) == (level, "cumulative", low)


@pytest.mark.parametrize(("version", "amount", "level", "low"), TAX)
def test_tax_bands(version, amount, level, low):
    rating = rate_case(RULES[version], category="tax", single_amount=None, cumulative_amount=D(amount))
    assert (rating.level, rating.basis["min"], rating.basis["rule"]) == (level, low, "6.5")


@pytest.mark.parametrize(("version", "category", "amount"), BELOW)
def test_amounts_below_the_lowest_band_are_not_rated(version, category, amount):
    with pytest.raises(DomainError) as caught:
        rate_case(RULES[version], category=category, single_amount=None, cumulative_amount=D(amount))
    assert caught.value.code == "below_threshold" and "cumulative_amount" in caught.value.errors


def test_other_categories_take_the_auditors_level_within_the_set():
    rating = rate_case(
        CREDIT_2025, category="bid_violation", single_amount=None, cumulative_amount=None, level="serious"
    )
    assert rating.level == "serious" and rating.basis == {"rule": "6.3", "kind": "auditor", "level": "serious"}
    for version, category, level, field in (
        ("2025", "bid_violation", None, "level"),  # must choose
        ("2025", "bid_violation", "medium", "level"),  # 中等 is a 2020 level only
        ("2020", "bribery", "serious", "level"),  # bribery is rated by amount
        ("2020", "bid_violation", "serious", "category"),  # a 2025 category
    ):
        with pytest.raises(DomainError) as caught:
            rate_case(RULES[version], category=category, single_amount=None, cumulative_amount=D(1), level=level)
        assert field in caught.value.errors


def test_flags_rate_at_the_top_level_directly_in_2025_only():
    rating = rate_case(
        CREDIT_2025, category="bribery", single_amount=None, cumulative_amount=D("20000"),
        flags=["bribed_insurance_staff"],
    )  # fmt: skip
    assert rating.level == "most_serious" and rating.basis["rule"] == "6.6"
    rigging = rate_case(CREDIT_2025, category="bid_violation", single_amount=None, cumulative_amount=None,
                        flags=["vbp_bid_rigging"])  # fmt: skip
    assert rigging.level == "most_serious"
    with pytest.raises(DomainError) as caught:
        rate_case(CREDIT_2020, category="bribery", single_amount=None, cumulative_amount=D("20000"),
                  flags=["vbp_bid_rigging"])  # fmt: skip
    assert "flags" in caught.value.errors


def test_the_2025_rules_apply_from_july_2025():
    assert default_version(dt.date(2025, 6, 30)) == "2020"
    assert default_version(dt.date(2025, 7, 1)) == "2025"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"thresholds": {"tax": (_band("general", "cumulative", "100000", "1000000", "6.5"),
                                 _band("serious", "cumulative", "900000", None, "6.5"))}}, "overlaps"),
        ({"thresholds": {"tax": (_band("serious", "cumulative", "100000", "1000000", "6.5"),
                                 _band("general", "cumulative", "1000000", None, "6.5"))}}, "not a higher level"),
        ({"thresholds": {"tax": (_band("general", "cumulative", "100000", "1000000", "6.5"),
                                 _band("serious", "cumulative", "2000000", "1500000", "6.5"))}}, "larger one"),
        ({"thresholds": {"tax": (_band("grave", "cumulative", "100000", None, "6.5"),)}}, "unknown level"),
        ({"grades": {"general": 1, "medium": 3, "serious": 2, "most_serious": 4}}, "strictly rising"),
        ({"levels": ("general", "general")}, "without repeats"),
        ({"public_from": "grave"}, "public_from"),
        ({"consequences": {"general": CREDIT_2020["consequences"]["general"]}}, "has no consequence"),
        ({"required_measures": {**CREDIT_2020["required_measures"], "medium": ("prayer",)}}, "does not allow"),
    ],
)  # fmt: skip
def test_inconsistent_rule_sets_are_refused(overrides, message):
    with pytest.raises(CreditRulesError, match=message):
        validate_credit_rules(CREDIT_2020.with_overrides("bad", **overrides))
