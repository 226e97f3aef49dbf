"""Agreed volumes (rulebook 1.4), procurement cycles (1.6) and insurance payment standards (1.10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from core.errors import invalid
from core.params import ParameterSet
from procurement.rules.types import LotCategory


def _winners(n_winners: int) -> int:
    if isinstance(n_winners, bool) or not isinstance(n_winners, int) or n_winners < 1:
        raise invalid("n_winners", "the number of winners must be a positive integer")
    return n_winners


def volume_ratio(rule_set: ParameterSet, *, category: LotCategory | str, n_winners: int) -> Decimal:
    """Return the agreed-volume ratio for a lot category and number of winners (rulebook 1.4.2, 1.4.3)."""
    row = rule_set["volume_ratios"][LotCategory(category).value]
    return Decimal(row[min(_winners(n_winners), len(row)) - 1])


def agreed_volumes(
    rule_set: ParameterSet, *, category: LotCategory | str, n_winners: int, reported_bases: Iterable[int]
) -> list[int]:
    """Return base × ratio for many reported bases, each rounded by the rule set (rulebook 1.4.4, per hospital)."""
    numerator, denominator = volume_ratio(rule_set, category=category, n_winners=n_winners).as_integer_ratio()
    unit, mode = rule_set["volume_rounding_unit"], rule_set["volume_rounding"]
    divisor = denominator * unit
    # Exact integer arithmetic, inlined per mode: this runs once per hospital and lot.
    if mode == "half_up":
        return [(2 * base * numerator + divisor) // (2 * divisor) * unit for base in reported_bases]
    if mode == "ceil":
        return [-(-base * numerator // divisor) * unit for base in reported_bases]
    return [base * numerator // divisor * unit for base in reported_bases]


def agreed_volume(rule_set: ParameterSet, *, category: LotCategory | str, n_winners: int, reported_base: int) -> int:
    """Return the agreed volume for one reported base: base × ratio, rounded by the rule set (rulebook 1.4.4)."""
    if isinstance(reported_base, bool) or not isinstance(reported_base, int) or reported_base < 0:
        raise invalid("reported_base", "the reported base must be a whole number ≥ 0")
    return agreed_volumes(rule_set, category=category, n_winners=n_winners, reported_bases=(reported_base,))[0]


def _anniversary(start: dt.date, years: int) -> dt.date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February in a common year: the cycle runs to 28 February
        return dt.date(start.year + years, 3, 1)


def cycle_dates(rule_set: ParameterSet, *, n_winners: int, start: dt.date) -> tuple[dt.date, dt.date]:
    """Return the first and last day (inclusive) of the procurement cycle (rulebook 1.6.1–1.6.3)."""
    if rule_set["cycle_end"] is not None:
        end = dt.date.fromisoformat(rule_set["cycle_end"])
        if end < start:
            raise invalid("start", f"the cycle of {rule_set.name} ends on {end.isoformat()}, before the start")
        return start, end
    table = rule_set["cycle_years"]
    years = table[min(_winners(n_winners), len(table)) - 1]
    return start, _anniversary(start, years) - dt.timedelta(days=1)


def payment_standard(
    rule_set: ParameterSet, *, winning_price: Decimal, product_price: Decimal, won: bool, gqce_passed: bool
) -> tuple[Decimal, str]:
    """Return the insurance payment standard of a product and the rule that sets it (rulebook 1.10)."""
    if winning_price <= 0 or product_price <= 0:
        raise invalid("price", "prices must be positive")
    if won:
        return winning_price, "1.10.1"
    if not gqce_passed:
        return min(product_price, winning_price), "1.10.3"
    if product_price >= Decimal(rule_set["payment_high_multiple"]) * winning_price:
        return product_price * Decimal(rule_set["payment_reduced_factor"]), "1.10.2"
    return winning_price, "1.10.2"
