"""Checks on a hospital's reported demand (报量): the 80 % floor of rulebook 1.1.7 and the over-report flag of 3.9."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from core.params import ParameterSet

OVER_REPORTED = "over_reported"  # 3.9: well above historical use
BELOW_HISTORY_EXCUSED = "below_history_excused"  # 1.1.7: below the floor with a stated exception
NO_HISTORY = "no_history"  # nothing to compare against


@dataclass(frozen=True)
class DemandCheck:
    """Whether a reported quantity is accepted, what to flag, and the refusals by field."""

    accepted: bool
    flags: tuple[str, ...] = ()
    errors: dict[str, list[str]] = field(default_factory=dict)
    minimum: int | None = None  # the 1.1.7 floor, when there is a history


def check_demand(
    rule_set: ParameterSet, *, quantity: int, historical_use: int | None, exception_reason: str | None
) -> DemandCheck:
    """Check a reported annual quantity against the hospital's historical use (rulebook 1.1.7, 3.9)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        return DemandCheck(False, errors={"quantity": ["the reported quantity must be a positive whole number"]})
    if historical_use is None:
        return DemandCheck(True, (NO_HISTORY,))
    if isinstance(historical_use, bool) or not isinstance(historical_use, int) or historical_use < 0:
        return DemandCheck(False, errors={"historical_use": ["historical use must be a whole number ≥ 0"]})
    share = Decimal(rule_set["demand_min_share"])
    minimum = math.ceil(share * historical_use)
    flags: list[str] = []
    if quantity < minimum:
        if not (exception_reason and exception_reason.strip()):
            message = (
                f"rule 1.1.7: report at least {minimum} ({share * 100:.0f}% of historical use {historical_use}) "
                "or give the reason for the exception"
            )
            return DemandCheck(False, errors={"quantity": [message]}, minimum=minimum)
        flags.append(BELOW_HISTORY_EXCUSED)
    if quantity >= Decimal(rule_set["demand_over_factor"]) * historical_use:
        flags.append(OVER_REPORTED)
    return DemandCheck(True, tuple(flags), minimum=minimum)
