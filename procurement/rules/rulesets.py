"""The tender rule sets: one named, versioned parameter set per era, each value citing its rulebook number.

Values are stored JSON-friendly (decimals as strings, dates as ISO strings, tables as tuples and read-only dicts)
so that ``ParameterSet.describe()`` can be stored with a result and rebuilt by :func:`rule_set_from_description`.
Every key has a validator in ``ruleset_checks._SPECS``; :func:`apply_overrides` and the rebuild both go through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from core.errors import INVALID, DomainError, not_found
from core.params import ParameterSet, parameter_set
from procurement.rules.ruleset_checks import (  # noqa: F401  (the value kinds are part of this module's API)
    CATEGORIES,
    DOSAGES,
    SELECTORS,
    SHARE_ROUNDINGS,
    TIE_BREAK_FIELDS,
    VOLUME_ROUNDINGS,
    FrozenDict,
    checked_values,
    inconsistent_values,
)


def _define(name: str, version: str, cites: tuple[str, ...], note: str, **values: Any) -> ParameterSet:
    stored, errors = checked_values(values)
    errors.update(inconsistent_values(stored))
    if errors:
        raise ValueError(f"rule set {name} is malformed: {errors}")
    return parameter_set(name, version, cites, note, **stored)


# ---------------------------------------------------------------- the common values

# 1.4.2: agreed-volume ratio by number of winners (1, 2, 3, ≥4). Glucocorticoids and consumables have no row of
# their own before batch 11 [U]: they use the chemical row.
_RATIOS_1_4_2 = {
    "chemical": ("0.50", "0.60", "0.70", "0.80"),
    "special_anti_infective": ("0.30", "0.40", "0.50", "0.50"),
    "glucocorticoid": ("0.50", "0.60", "0.70", "0.80"),
    "consumable": ("0.50", "0.60", "0.70", "0.80"),
}
_CAPS_BATCH_9 = (1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9, 9, 10, 10, 10, 10)  # 1.3.5, by N = 1..≥16
_CAPS_BATCH_10 = (1, 2, 2, 3, 3, 3, 4, 5, 6, 6, 7, 8, 8, 9, 9, 10)  # 1.3.5, by N = 1..≥16
_NO_THRESHOLDS = dict.fromkeys(DOSAGES)

_COMMON = {
    "max_winners": None,
    "tie_break": (),
    "volume_ratios": _RATIOS_1_4_2,
    # 1.4.4 [U]: half-up to whole units, per hospital. 596,327 × 50 % = 298,163.5 → 298,170 (1.4.2) is reproduced by
    # no uniform rule to whole units or tens; half-up to multiples of 15 reproduces both 1.4.2 figures (a pack size?).
    "volume_rounding": "half_up",
    "volume_rounding_unit": 1,
    "cycle_years": (1, 2, 2, 3),  # 1.6.1: 1 winner → 1 year, 2–3 → 2 years, ≥4 → 3 years
    "cycle_end": None,
    "payment_high_multiple": "2",  # 1.10.2: a non-winner priced ≥ 2 × the winning price ...
    "payment_reduced_factor": "0.7",  # ... is paid at its own price × 0.7
    "demand_min_share": "0.80",  # 1.1.7: report ≥ 80 % of historical use unless an exception is justified
    "demand_over_factor": "1.5",  # 3.9 [P]: flag reports ≥ 1.5 × historical use as over-reported (our threshold)
    "backup_supply": True,  # 1.5.2
    "supply_reported_brand": False,  # 1.5.3 (batch 11)
}

_NATIONAL_CITES = ("1.2.1", "1.3.5", "1.4.2", "1.4.4", "1.5", "1.6.1", "1.10", "1.1.7", "3.9")

VBP_4PLUS7 = _define(
    "vbp.4plus7",
    "2018-11",
    ("1.3.1", "1.4.1", "1.6.1", "1.0.5", "1.2.1", "1.4.4", "1.10", "1.1.7", "3.9"),
    "One winner per drug; pre-winners of drugs with 1–2 bidders are ranked by reduction across the batch. "
    "The minimum reduction for negotiation is the average reduction of the winners of drugs with ≥3 bidders; "
    "default_min_reduction (52 %, the batch-1 average cut of 1.0.5) applies when no drug had ≥3 bidders [U]. "
    "Agreed volume 65 % (1.4.1: 60–70 %). No backup regions before batch 7 (1.5.2).",
    **{
        **_COMMON,
        "selector": "vbp_4plus7",
        "winner_caps": (1,),
        "tie_break": ("sales_coverage",),
        "min_bidders_direct": 3,
        "max_direct_pre_winners": 7,
        "default_min_reduction": "0.52",
        "volume_ratios": dict.fromkeys(CATEGORIES, ("0.65",)),
        "backup_supply": False,
    },
)

_SPREAD_RULES = {
    **_COMMON,
    "selector": "vbp_spread",
    "winner_caps": _CAPS_BATCH_9,
    "spread_multiple": "1.8",  # 1.3.3(a)
    "low_price_threshold": "0.10",  # 1.3.3(b)
    "min_reduction": "0.50",  # 1.3.3(c)
    "exclude_highest": False,
}

VBP_BATCH_2_9 = _define(
    "vbp.batch2-9",
    "2023-11",
    ("1.3.3", "1.3.5", "1.4.2", "1.6.1", "1.6.2", *_NATIONAL_CITES),
    "Win on (a) UCP ≤ 1.8 × lowest, (b) UCP ≤ 0.10 or (c) ≥ 50 % below the ceiling [U: identical in every batch "
    "2–9?]; caps from the batch-9 row of 1.3.5. Cycle by 1.6.1 (1.6.2 gives 2 winners → 1 year for batch 7: "
    "see vbp.batch7). No backup regions before batch 7 (1.5.2).",
    **{**_SPREAD_RULES, "backup_supply": False},
)

VBP_BATCH_7 = _define(
    "vbp.batch7",
    "2022-07",
    ("1.3.3", "1.3.5", "1.4.2", "1.5.2", "1.6.2", *_NATIONAL_CITES),
    "Batch-2–9 rules plus: the highest eligible bid cannot win (applied only when eligible bids differ in price), "
    "and at most 10 winners. Caps: batch-9 row of 1.3.5 [U for batch 7]. Cycle by the batch-7 table of 1.6.2.",
    **{**_SPREAD_RULES, "exclude_highest": True, "max_winners": 10, "cycle_years": (1, 1, 2, 3)},
)

VBP_BATCH_10 = _define(
    "vbp.batch10",
    "2024-12",
    ("1.3.4", "1.3.5", "1.6.3", *_NATIONAL_CITES),
    "Rule 1: UCP ≤ 1.8 × lowest or ≤ the dosage class's absolute low-price threshold. The thresholds are [U]: "
    "oral solid 0.10 per unit (the rulebook's example), none for the other classes until the procurement document "
    "gives them. Rule 2: a valid loser may win at the highest rule-1 winning UCP (1.8 × the winner's UCP when "
    "there is one), within the batch-10 cap. Volume ratios from 1.4.2 [P]. Contracts end 2027-12-31.",
    **{
        **_COMMON,
        "selector": "vbp_revival",
        "winner_caps": _CAPS_BATCH_10,
        "spread_multiple": "1.8",
        "low_price_thresholds": {**_NO_THRESHOLDS, "oral_solid": "0.10"},
        "cycle_years": None,
        "cycle_end": "2027-12-31",
    },
)

VBP_BATCH_11 = _define(
    "vbp.batch11",
    "2025-10",
    ("1.3.6", "1.4.3", "1.5.3", "1.6.3", *_NATIONAL_CITES),
    "anchor = max(lowest, 0.5 × mean UCP of the shortlisted bids); shortlist = the first cap-many ranked bids, "
    "cap from the batch-10 row of 1.3.5 [U]. Breaker at 1.8 × anchor; oral solids ≤ 0.10 exempt. Revivals count "
    "toward the cap (revival_within_cap) [U]. Volume ratios: 80 % for ≥4 winners; the reduced ratios for ≤3 "
    "winners and for glucocorticoids and antimicrobials are [U]: assumed values until the batch document's are "
    "loaded. Contracts end 2028-12-31.",
    **{
        **_COMMON,
        "selector": "vbp_anchor",
        "winner_caps": _CAPS_BATCH_10,
        "spread_multiple": "1.8",
        "anchor_mean_share": "0.5",
        "breaker_exempt": {**_NO_THRESHOLDS, "oral_solid": "0.10"},
        "revival_within_cap": True,
        "volume_ratios": {
            "chemical": ("0.60", "0.70", "0.75", "0.80"),
            "consumable": ("0.60", "0.70", "0.75", "0.80"),
            "glucocorticoid": ("0.40", "0.50", "0.55", "0.60"),
            "special_anti_infective": ("0.40", "0.50", "0.55", "0.60"),
        },
        "cycle_years": None,
        "cycle_end": "2028-12-31",
        "supply_reported_brand": True,
    },
)

ALLIANCE_SANMING_AB = _define(
    "alliance.sanming-ab",
    "2025",
    ("2.4", "2.3", "1.2.1", "1.4.4", "1.5", "1.10", "1.1.7", "3.9"),
    "Group A: cheapest 70 % of firms, group B: cheapest 40 %; 'x % of N firms' is floored but at least 1 "
    "(group_share_rounding) [U]. Within a group the highest winner ≤ 1.5 × the group's lowest; a B bid above A's "
    "lowest winning price loses. Revival [U]: a loser inside its group's share may accept the group's highest "
    "winning UCP (for B at most A's lowest winning UCP); bids outside the share cannot revive. Ties: larger "
    "reported demand. Volume ratios: 1.4.2 [U]. Cycle 2 years.",
    **{
        **_COMMON,
        "selector": "alliance_groups",
        "tie_break": ("reported_demand",),
        "group_shares": {"A": "0.70", "B": "0.40"},
        "group_share_rounding": "floor_min_1",
        "spread_multiple": "1.5",
        "group_revival": True,
        "cycle_years": (2,),
    },
)

HOSPITAL_LED_NEGOTIATED = _define(
    "hospital-led.negotiated",
    "2025-01",
    ("0.6", "2.6", "1.2.1", "1.4.4", "1.10", "1.1.7", "3.9"),
    "The lowest UCP wins; winner_caps = (k,) allows k winners (default 1). Each winner records the ceiling, the "
    "negotiated UCP and the difference per unit. Volume ratios (1.4.2) and the 1-year cycle are [U].",
    **{**_COMMON, "selector": "lowest_negotiated", "winner_caps": (1,), "cycle_years": (1,)},
)

RULE_SETS: dict[str, ParameterSet] = {
    rule_set.name: rule_set
    for rule_set in (
        VBP_4PLUS7,
        VBP_BATCH_2_9,
        VBP_BATCH_7,
        VBP_BATCH_10,
        VBP_BATCH_11,
        ALLIANCE_SANMING_AB,
        HOSPITAL_LED_NEGOTIATED,
    )
}


def get_rule_set(name: str) -> ParameterSet:
    """Return the named rule set, or raise not_found."""
    try:
        return RULE_SETS[name]
    except KeyError:
        raise not_found("rule set", name) from None


def apply_overrides(rule_set: ParameterSet, overrides: Mapping[str, Any], *, version: str) -> ParameterSet:
    """Return a new version of the rule set with validated overrides; refuse unknown keys and wrong types."""
    stored, errors = checked_values(overrides)
    errors.update({key: ["unknown parameter"] for key in stored if key not in rule_set.values})
    if not errors:
        errors.update(inconsistent_values({**rule_set.values, **stored}))
    if not version or version == rule_set.version:
        errors["version"] = ["give a new version for the overridden rule set"]
    if errors:
        raise DomainError(
            INVALID,
            f"invalid overrides for {rule_set.name}",
            code="invalid_overrides",
            errors={key if key == "version" else f"overrides.{key}": messages for key, messages in errors.items()},
        )
    return rule_set.with_overrides(version, **stored)


def rule_set_from_description(description: Mapping[str, Any]) -> ParameterSet:
    """Rebuild a frozen rule set from ``ParameterSet.describe()`` output (e.g. as stored in JSON)."""
    try:
        name, version = description["name"], description["version"]
        cites, values = tuple(description["cites"]), description["values"]
    except (KeyError, TypeError):
        raise DomainError(INVALID, "not a rule-set description", code="invalid_rule_set") from None
    stored, errors = checked_values(values)
    base = RULE_SETS.get(name)
    missing = sorted(set(base.values) - set(values)) if base is not None else []
    errors.update({key: ["missing"] for key in missing})
    errors.update(inconsistent_values(stored))
    if "selector" not in values:
        errors["selector"] = ["missing"]
    if errors:
        raise DomainError(
            INVALID,
            f"rule-set description {name} is invalid",
            code="invalid_rule_set",
            errors={f"values.{key}": messages for key, messages in errors.items()},
        )
    note = base.note if base is not None else ""
    return ParameterSet(name, version, cites, MappingProxyType(stored), note)
