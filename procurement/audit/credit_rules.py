"""The price and procurement credit rating (医药价格和招采信用评价) as versioned parameter sets (rulebook 6).

Two rule sets: the 2020 catalogue and discretion benchmark, and the 2025 revision that applies from 2025-07-01
(6.0). Each holds its misconduct categories (6.2), its levels from mildest to gravest (6.3), the amount bands of
the categories rated by amount (6.4 bribery, 6.5 tax), the flags rated at the top level directly (6.6), the
consequences of each level (6.7) and the repair measures each category × level requires (6.8). Every set is
checked when built: levels ordered, bands non-overlapping and rising with the level, consequences and measures
naming only known levels and measures. An inconsistent set is refused with :class:`CreditRulesError`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from core.alerts import Severity
from core.params import ParameterSet, parameter_set

# Stable alert codes raised by the credit rating.
CREDIT_WARNING = "CREDIT-WARNING"  # 提醒告诫 / 提示风险: a rated case without suspension
CREDIT_SUSPENDED = "CREDIT-SUSPENDED"  # 限制或中止挂网、投标、配送 (6.7)
CREDIT_EXPIRED = "CREDIT-WINDOW-EXPIRED"  # the case left the 3-year window (6.4)

# Misconduct categories (6.2). Bribery and tax keep one code across both sets: they are the ones rated by amount.
BRIBERY = "bribery"  # 给予回扣等商业贿赂 / 商业贿赂
TAX = "tax"  # 涉税违法
CATEGORIES_2020 = (BRIBERY, TAX, "monopoly", "unfair_price", "disrupting_procurement", "breach_of_contract", "other")
CATEGORIES_2025 = (
    BRIBERY,
    TAX,
    "price_monopoly",  # 价格垄断
    "price_violation",  # 价格违法
    "resisting_supervision",  # 抗拒监管
    "bid_violation",  # 违规竞标
    "breaking_commitment",  # 违反承诺
)

# Evidence sources (6.1): 2025 adds audit reports and audit-referral findings.
COURT_JUDGMENT = "court_judgment"
ADMINISTRATIVE_PENALTY = "administrative_penalty"
AUDIT_REPORT = "audit_report"
AUDIT_REFERRAL = "audit_referral"

# Repair measures ①–⑥ (6.8), and the charitable donation the 2025 rules no longer accept.
STOP_CONDUCT = "stop_conduct"  # ① 停止失信行为
DISCIPLINE_STAFF = "discipline_staff"  # ② 处理涉事人员
PUBLIC_APOLOGY = "public_apology"  # ③ 公开致歉
COMPLIANCE_REPORT = "compliance_report"  # ④ 提交合规整改报告
REMOVE_INFLATED_MARGIN = "remove_inflated_margin"  # ⑤ 剔除虚高空间
RETURN_GAINS = "return_gains"  # ⑥ 退回不合理收益
CHARITABLE_DONATION = "charitable_donation"
MEASURES = (STOP_CONDUCT, DISCIPLINE_STAFF, PUBLIC_APOLOGY, COMPLIANCE_REPORT, REMOVE_INFLATED_MARGIN, RETURN_GAINS)

# Consequence scopes of a level (6.7).
CASE_PRODUCTS = "case_products"  # the case products, in every province
ALL_PRODUCTS_IN_PROVINCE = "all_products_in_province"  # every product of the firm, in the rating province
# The rule a credit disposal's supplier sanction cites: it bars listing, bidding and distribution (6.7), unlike the
# VBP violation list (1.8.1), which bars bidding only.
DISPOSAL_RULE = "6.7"

# Flags rated at the top level directly (6.6).
BRIBED_INSURANCE_STAFF = "bribed_insurance_staff"
BRIBED_PROCUREMENT_STAFF = "bribed_procurement_staff"
VBP_BID_RIGGING = "vbp_bid_rigging"
FLAGS = (BRIBED_INSURANCE_STAFF, BRIBED_PROCUREMENT_STAFF, VBP_BID_RIGGING)

SINGLE = "single"
CUMULATIVE = "cumulative"


class CreditRulesError(ValueError):
    """A credit rule set contradicts itself; it is refused rather than used."""


def _band(level: str, basis: str, low: str, high: str | None, rule: str) -> dict[str, Any]:
    """One amount band: ``low`` ≤ amount < ``high`` (``high`` None = no upper bound) gives ``level``."""
    return {"level": level, "basis": basis, "min": Decimal(low), "max": Decimal(high) if high else None, "rule": rule}


def _measures(*numbers: int) -> tuple[str, ...]:
    return tuple(MEASURES[n - 1] for n in numbers)


def validate_credit_rules(rules: ParameterSet) -> ParameterSet:
    """Return ``rules`` if consistent; raise :class:`CreditRulesError` naming the first contradiction."""
    name = f"{rules.name} {rules.version}"
    levels = list(rules["levels"])
    if not levels or len(set(levels)) != len(levels):
        raise CreditRulesError(f"{name}: levels must be a non-empty list without repeats")
    grades = [rules["grades"].get(level) for level in levels]
    if None in grades or grades != sorted(grades) or len(set(grades)) != len(grades):
        raise CreditRulesError(f"{name}: every level needs a grade, strictly rising from the mildest level")
    if rules["public_from"] not in levels:
        raise CreditRulesError(f"{name}: public_from {rules['public_from']!r} is not a level")
    categories = set(rules["categories"])
    for category, bands in rules["thresholds"].items():
        if category not in categories:
            raise CreditRulesError(f"{name}: thresholds for unknown category {category!r}")
        for basis in (SINGLE, CUMULATIVE):
            _check_bands(name, category, basis, [b for b in bands if b["basis"] == basis], levels)
    for level in levels:
        consequence = rules["consequences"].get(level)
        if consequence is None:
            raise CreditRulesError(f"{name}: level {level!r} has no consequence (6.7)")
        unknown = set(consequence["sanctions"]) - {CASE_PRODUCTS, ALL_PRODUCTS_IN_PROVINCE}
        if unknown:
            raise CreditRulesError(f"{name}: level {level!r} has unknown sanction scopes {sorted(unknown)}")
        Severity(consequence["severity"])
    _check_measures(name, rules, levels, categories)
    if set(rules["top_level_flags"]) - set(FLAGS):
        raise CreditRulesError(f"{name}: unknown automatic top-level flags")
    return rules


def _check_bands(name: str, category: str, basis: str, bands: list[dict], levels: list[str]) -> None:
    previous = None
    for band in sorted(bands, key=lambda b: b["min"]):
        where = f"{name}: {category} {basis} band {band['level']!r}"
        if band["level"] not in levels:
            raise CreditRulesError(f"{where} names an unknown level")
        if band["min"] <= 0 or (band["max"] is not None and band["max"] <= band["min"]):
            raise CreditRulesError(f"{where} must run from a positive amount up to a larger one")
        if previous is not None:
            if previous["max"] is None or band["min"] < previous["max"]:
                raise CreditRulesError(f"{where} overlaps the band below it")
            if levels.index(band["level"]) <= levels.index(previous["level"]):
                raise CreditRulesError(f"{where} is not a higher level than the band below it")
        previous = band


def _check_measures(name: str, rules: ParameterSet, levels: list[str], categories: set[str]) -> None:
    allowed = set(rules["allowed_measures"])
    for key, table in (("default", rules["required_measures"]), *rules["category_measures"].items()):
        if key != "default" and key not in categories:
            raise CreditRulesError(f"{name}: repair measures for unknown category {key!r}")
        for level in levels:
            if level not in table:
                raise CreditRulesError(f"{name}: no repair measures for {key} at level {level!r} (6.8)")
            if set(table[level]) - allowed:
                raise CreditRulesError(f"{name}: {key} at {level!r} requires measures the set does not allow")


_COMMON_NOTE = (
    "The 3-year window counts from the decision date and leaves out conduct before 2020-08-28 (6.4). The rulebook "
    "gives repair measures only for 2025 bribery (6.8); every other category and the 2020 levels use the same "
    "measures by rank ([U], a parameter)."
)

CREDIT_2020 = validate_credit_rules(
    parameter_set(
        "credit.rating",
        "2020",
        ("6.0", "6.1", "6.2", "6.3", "6.4", "6.5", "6.7", "6.8"),
        note=_COMMON_NOTE + " The 中等 cumulative bribery band 150k–500k is inferred [P]; 6.5's 2020 'failure' tax "
        "tier (100k–1M) is rated 一般.",
        applies_from=dt.date(2020, 11, 20),
        earliest_conduct=dt.date(2020, 8, 28),
        window_years=3,
        categories=CATEGORIES_2020,
        evidence_sources=(COURT_JUDGMENT, ADMINISTRATIVE_PENALTY),
        levels=("general", "medium", "serious", "most_serious"),  # 一般 / 中等 / 严重 / 特别严重
        grades={"general": 1, "medium": 2, "serious": 3, "most_serious": 4},
        public_from="serious",
        thresholds={
            BRIBERY: (
                _band("general", SINGLE, "10000", "100000", "6.4"),
                _band("medium", SINGLE, "100000", "300000", "6.4"),
                _band("serious", SINGLE, "300000", "2000000", "6.4"),
                _band("most_serious", SINGLE, "2000000", None, "6.4"),
                _band("general", CUMULATIVE, "10000", "150000", "6.4"),
                _band("medium", CUMULATIVE, "150000", "500000", "6.4 [P]"),
                _band("serious", CUMULATIVE, "500000", "2000000", "6.4"),
                _band("most_serious", CUMULATIVE, "2000000", None, "6.4"),
            ),
            TAX: (
                _band("general", CUMULATIVE, "100000", "1000000", "6.5"),
                _band("serious", CUMULATIVE, "1000000", "10000000", "6.5"),
                _band("most_serious", CUMULATIVE, "10000000", None, "6.5"),
            ),
        },
        top_level_flags=(),  # 6.6 is a 2025 rule
        consequences={
            "general": {"action": "reminder", "sanctions": (), "severity": Severity.LOW.value},
            "medium": {"action": "risk_alert", "sanctions": (), "severity": Severity.MEDIUM.value},
            "serious": {"action": "disclosure", "sanctions": (CASE_PRODUCTS,), "severity": Severity.HIGH.value},
            "most_serious": {
                "action": "disclosure",
                "sanctions": (ALL_PRODUCTS_IN_PROVINCE,),
                "severity": Severity.CRITICAL.value,
            },
        },
        allowed_measures=(*MEASURES, CHARITABLE_DONATION),
        required_measures={
            "general": _measures(1, 4, 5, 6),
            "medium": _measures(1, 4, 5, 6),
            "serious": _measures(1, 2, 4, 5, 6),
            "most_serious": _measures(1, 2, 3, 4, 5, 6),
        },
        category_measures={},
    )
)

CREDIT_2025 = validate_credit_rules(
    parameter_set(
        "credit.rating",
        "2025",
        ("6.0", "6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "6.7", "6.8"),
        note=_COMMON_NOTE + " 严重失信 is published but the rulebook names no suspension for it (6.7): a warning "
        "alert and the public list. Charitable donations are not a repair measure.",
        applies_from=dt.date(2025, 7, 1),
        earliest_conduct=dt.date(2020, 8, 28),
        window_years=3,
        categories=CATEGORIES_2025,
        evidence_sources=(COURT_JUDGMENT, ADMINISTRATIVE_PENALTY, AUDIT_REPORT, AUDIT_REFERRAL),
        levels=("dishonest", "serious", "most_serious"),  # 失信 / 严重失信 / 特别严重失信
        grades={"dishonest": 1, "serious": 3, "most_serious": 4},
        public_from="serious",
        thresholds={
            BRIBERY: (
                _band("dishonest", CUMULATIVE, "10000", "500000", "6.4"),
                _band("serious", CUMULATIVE, "500000", "1000000", "6.4"),
                _band("most_serious", CUMULATIVE, "1000000", None, "6.4"),
            ),
            TAX: (
                _band("dishonest", CUMULATIVE, "50000", "500000", "6.5"),
                _band("serious", CUMULATIVE, "500000", "2500000", "6.5"),
                _band("most_serious", CUMULATIVE, "2500000", None, "6.5"),
            ),
        },
        top_level_flags=FLAGS,
        consequences={
            "dishonest": {"action": "reminder", "sanctions": (), "severity": Severity.MEDIUM.value},
            "serious": {"action": "disclosure", "sanctions": (), "severity": Severity.HIGH.value},
            "most_serious": {
                "action": "suspension",
                "sanctions": (ALL_PRODUCTS_IN_PROVINCE, CASE_PRODUCTS),
                "severity": Severity.CRITICAL.value,
            },
        },
        allowed_measures=MEASURES,
        required_measures={
            "dishonest": _measures(1, 4, 5, 6),
            "serious": _measures(1, 2, 4, 5, 6),
            "most_serious": _measures(1, 2, 3, 4, 5, 6),
        },
        category_measures={},
    )
)

RULE_SETS: dict[str, ParameterSet] = {"2020": CREDIT_2020, "2025": CREDIT_2025}


def rule_set(version: str) -> ParameterSet:
    """Return the credit rule set of a version ("2020" or "2025"); KeyError for any other."""
    return RULE_SETS[version]


def default_version(decision_date: dt.date) -> str:
    """Return the version in force on a decision date: the newest set whose start is not after it (6.0)."""
    usable = [v for v, rules in RULE_SETS.items() if rules["applies_from"] <= decision_date]
    return max(usable, key=lambda v: RULE_SETS[v]["applies_from"]) if usable else "2020"


def window_end(rules: ParameterSet, decision_date: dt.date) -> dt.date:
    """Return the first day a case no longer counts: its decision date plus the window's years (6.4)."""
    years = rules["window_years"]
    try:
        return decision_date.replace(year=decision_date.year + years)
    except ValueError:  # 29 February → 1 March
        return decision_date.replace(year=decision_date.year + years, month=3, day=1)


def required_measures(rules: ParameterSet, *, category: str, level: str) -> tuple[str, ...]:
    """Return the repair measures a case of this category and level must complete (6.8)."""
    table = rules["category_measures"].get(category, rules["required_measures"])
    return tuple(table[level])


def describe_rules(rules: ParameterSet) -> dict[str, Any]:
    """Return the set's JSON-friendly description (amounts as strings, dates ISO) for alerts and answers."""
    return _jsonable(rules.describe())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
