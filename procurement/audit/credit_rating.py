"""Rate one misconduct case under a credit rule set: a pure function of the amounts, flags and category (6.3–6.6).

The level is the highest any rule reaches: an automatic top-level flag (6.6) first; else, for a category rated by
amount, the highest band the single or the cumulative amount falls in (6.4, 6.5); else the level the auditor
chose among the set's levels. The answer names the band that applied, so the rating can be explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.errors import invalid
from core.params import ParameterSet
from procurement.audit.credit_rules import CUMULATIVE, SINGLE


@dataclass(frozen=True)
class CaseRating:
    level: str
    basis: dict[str, Any]  # the rule, the band or flag, and the amount that decided the level


def _amount_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def rate_case(
    rules: ParameterSet,
    *,
    category: str,
    single_amount: Decimal | None,
    cumulative_amount: Decimal | None,
    flags: list[str] | tuple[str, ...] = (),
    level: str | None = None,
) -> CaseRating:
    """Return the level of a case under ``rules`` and the threshold, flag or choice that set it."""
    levels = list(rules["levels"])
    if category not in rules["categories"]:
        raise invalid("category", f"unknown in the {rules.version} rule set; one of {', '.join(rules['categories'])}")
    refused = [flag for flag in flags if flag not in rules["top_level_flags"]]
    if refused:
        raise invalid(
            "flags",
            f"{', '.join(refused)}: the {rules.version} rule set rates no flag at the top level (rule 6.6 is 2025)",
        )
    if flags:
        return CaseRating(levels[-1], {"rule": "6.6", "kind": "flag", "flags": list(flags), "level": levels[-1]})
    bands = rules["thresholds"].get(category)
    if bands is None:
        if level is None:
            raise invalid("level", f"{category} is rated by the auditor: choose one of {', '.join(levels)}")
        if level not in levels:
            raise invalid("level", f"not a level of the {rules.version} rule set; one of {', '.join(levels)}")
        return CaseRating(level, {"rule": "6.3", "kind": "auditor", "level": level})
    if level is not None:
        raise invalid("level", f"{category} is rated by amount (rules 6.4/6.5); leave the level out")
    if single_amount is None and cumulative_amount is None:
        raise invalid("cumulative_amount", f"{category} is rated by amount: give the single or cumulative amount")
    cumulative = cumulative_amount if cumulative_amount is not None else single_amount
    best: tuple[int, dict[str, Any]] | None = None
    for basis, amount in ((SINGLE, single_amount), (CUMULATIVE, cumulative)):
        if amount is None:
            continue
        for band in bands:
            if band["basis"] != basis or amount < band["min"] or (band["max"] is not None and amount >= band["max"]):
                continue
            rank = levels.index(band["level"])
            if best is None or rank > best[0]:
                best = (rank, {**_band_basis(band), "amount": str(amount)})
    if best is None:
        lowest = min(band["min"] for band in bands)
        raise invalid(
            "cumulative_amount",
            f"below the lowest {category} threshold of the {rules.version} rule set ({lowest}): not rated",
            code="below_threshold",
        )
    return CaseRating(levels[best[0]], best[1])


def _band_basis(band: dict[str, Any]) -> dict[str, Any]:
    return {
        "rule": band["rule"],
        "kind": "threshold",
        "basis": band["basis"],
        "min": str(band["min"]),
        "max": _amount_text(band["max"]),
        "level": band["level"],
    }
