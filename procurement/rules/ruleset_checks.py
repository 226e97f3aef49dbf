"""What each rule-set parameter may hold: the validators that give every value its stored, JSON-friendly form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from procurement.rules.types import DosageClass, LotCategory

# The algorithms selection.py dispatches on (the ``selector`` value).
SELECTORS = ("vbp_4plus7", "vbp_spread", "vbp_revival", "vbp_anchor", "alliance_groups", "lowest_negotiated")
TIE_BREAK_FIELDS = ("sales_coverage", "reported_demand")  # larger wins; then earliest submitted_at, then bid_id
VOLUME_ROUNDINGS = ("half_up", "ceil", "floor")
SHARE_ROUNDINGS = ("floor_min_1", "half_up_min_1", "ceil")


class FrozenDict(dict):
    """A read-only dict that still serialises as a JSON object."""

    def _refuse(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("rule-set tables are read-only; use apply_overrides")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))

    def __reduce__(self) -> tuple:
        return FrozenDict, (dict(self),)  # copy and pickle without going through the refused __setitem__


# ---------------------------------------------------------------- validators: return the stored form or raise


def _decimal(value: Any, *, at_most_one: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, str | Decimal):
        raise ValueError('give a decimal as a string, e.g. "1.8"')
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite() or number < 0:
        raise ValueError("must be a finite number ≥ 0")
    if at_most_one and number > 1:
        raise ValueError("a ratio must be between 0 and 1")
    return str(number)


def _ratio(value: Any) -> str:
    return _decimal(value, at_most_one=True)


def _int(value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    if value < minimum:
        raise ValueError(f"must be ≥ {minimum}")
    return value


def _int_table(value: Any) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple) or not value:
        raise ValueError("must be a non-empty list of integers (the last entry applies to every larger count)")
    return tuple(_int(item) for item in value)


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _date(value: Any) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise ValueError('must be an ISO date, e.g. "2027-12-31"') from None


def _table(keys: tuple[str, ...] | None, check: Callable[[Any], Any]) -> Callable[[Any], FrozenDict]:
    def validate(value: Any) -> FrozenDict:
        if not isinstance(value, Mapping) or not value:
            raise ValueError("must be a non-empty object")
        if keys is not None and set(value) != set(keys):
            raise ValueError(f"must have exactly the keys {', '.join(keys)}")
        if keys is None and not all(isinstance(key, str) and key for key in value):
            raise ValueError("keys must be non-empty strings")
        return FrozenDict({key: check(item) for key, item in sorted(value.items())})

    return validate


def _ratio_row(value: Any) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple) or not value:
        raise ValueError("each row must be a non-empty list of ratios as strings, by number of winners")
    return tuple(_ratio(item) for item in value)


def _tie_break(value: Any) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise ValueError(f"must be a list drawn from {', '.join(TIE_BREAK_FIELDS)}")
    return tuple(_choice(TIE_BREAK_FIELDS)(item) for item in value)


CATEGORIES = tuple(c.value for c in LotCategory)
DOSAGES = tuple(d.value for d in DosageClass)

_SPECS: dict[str, Callable[[Any], Any]] = {
    "selector": _choice(SELECTORS),
    "winner_caps": _int_table,
    "max_winners": _optional(_int),
    "tie_break": _tie_break,
    "volume_ratios": _table(CATEGORIES, _ratio_row),
    "volume_rounding": _choice(VOLUME_ROUNDINGS),
    "volume_rounding_unit": _int,
    "cycle_years": _optional(_int_table),
    "cycle_end": _optional(_date),
    "payment_high_multiple": _decimal,
    "payment_reduced_factor": _ratio,
    "demand_min_share": _ratio,
    "demand_over_factor": _decimal,
    "backup_supply": _bool,
    "supply_reported_brand": _bool,
    "min_bidders_direct": _int,
    "max_direct_pre_winners": lambda value: _int(value, 0),
    "default_min_reduction": _ratio,
    "spread_multiple": _decimal,
    "low_price_threshold": _optional(_decimal),
    "min_reduction": _optional(_ratio),
    "exclude_highest": _bool,
    "low_price_thresholds": _table(DOSAGES, _optional(_decimal)),
    "anchor_mean_share": _ratio,
    "breaker_exempt": _table(DOSAGES, _optional(_decimal)),
    "revival_within_cap": _bool,
    "group_shares": _table(None, _ratio),
    "group_share_rounding": _choice(SHARE_ROUNDINGS),
    "group_revival": _bool,
}


def checked_values(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate values against the specs; return the stored forms and the errors by key."""
    stored, errors = {}, {}
    for key, value in values.items():
        spec = _SPECS.get(key)
        if spec is None:
            errors[key] = ["unknown parameter"]
            continue
        try:
            stored[key] = spec(value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    return stored, errors


def inconsistent_values(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return the errors of a whole set of values that no single validator can see."""
    if "cycle_years" in values and (values["cycle_years"] is None) == (values.get("cycle_end") is None):
        return {"cycle_years": ["give exactly one of cycle_years and cycle_end"]}
    return {}
