"""Surplus retention (结余留用) as versioned parameter sets: pay ratios, assessment, tiers and caps (rulebook 0.4, 3).

Every number here is policy, and most of it is [U] (3.4 is one city's draft, 3.5 names indicators but no weights):
a parameter set names its version and the rules it encodes, and :func:`check_rules` refuses a set that cannot be
applied consistently — a tier table with gaps or overlaps, a ratio above the 50 % of 3.3, a passing score that
retains nothing, weights that do not add up to 100, a rule of 3.3 or 3.6 switched off — before it computes anything.
Policy numbers may be written as text, integers or floats; every one is read through :func:`decimal_of`, so a float
such as 80.3 means 80.3, not its binary neighbour.

Tier boundaries (3.4 says A ">80", B "70–80", C "60–70", D "<60"): "> 80" puts 80 itself in B and "< 60" puts 60 in
C; the source leaves 70 open, and we give it to B, so a score on a shared boundary gets the higher tier except where
the source's strict ">" says otherwise. Each tier is an interval with explicit closed/open ends, so another city's
table can be written exactly.
"""

from __future__ import annotations

import itertools
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from core.alerts import Severity
from core.errors import INVALID, DomainError, invalid
from core.params import ParameterSet, parameter_set

# 3.3: the retained amount is "不高于结余测算基数的50%": no parameter set may pay more.
LEGAL_RETENTION_CAP = Decimal("0.50")
SCORE_MIN, SCORE_MAX = Decimal(0), Decimal(100)

# The indicators of 3.5, in the order they are shown.
COMPLETION = "volume_completion"  # 约定量完成情况: received ÷ agreed volume
ON_TIME = "on_time_payment"  # 回款率: receipts due in the year paid by their due date, by amount (1.9.4)
COST_GROWTH = "cost_growth"  # 费用增长率: spending on the generic name against its pre-VBP spending
OFFLINE = "offline_share"  # 线下采购占比: off-platform share of the hospital's drug purchases (0.2)
INDICATORS = (COMPLETION, ON_TIME, COST_GROWTH, OFFLINE)

# Stable alert codes of the surplus computation.
NOT_COMPLETED = "SURPLUS-NOT-COMPLETED"
ASSESSMENT_FAILED = "SURPLUS-ASSESSMENT-FAILED"
BASE_ABOVE_HISTORY = "SURPLUS-BASE-ABOVE-HISTORY"
CODES = (NOT_COMPLETED, ASSESSMENT_FAILED, BASE_ABOVE_HISTORY)

REWEIGHT, ZERO = "reweight", "zero"

# Rules of 3.3 and 3.6 that a parameter set names but may not switch off: the rulebook states them as rules (with
# sources from several cities), not as one city's choice, so a set that turns one off is refused, not applied.
REQUIRED_FLAGS = {
    "completion_required": "3.3",  # paid only to hospitals that completed the agreed volume
    "exclude_above_agreed": "3.6",  # quantity above the agreed volume is outside the VBP spending
    "retain_once_per_generic_name": "3.6",  # a generic name retained over a completed cycle is not counted again
}


def _tier(name: str, lower: str, lower_closed: bool, upper: str, upper_closed: bool, ratio: str) -> dict[str, Any]:
    return {
        "tier": name,
        "lower": lower,
        "lower_closed": lower_closed,
        "upper": upper,
        "upper_closed": upper_closed,
        "ratio": ratio,
    }


SHENZHEN_2024 = parameter_set(
    "audit.surplus",
    "2024-shenzhen",
    ("0.4", "1.4.2", "1.9.4", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.9"),
    note=(
        "Tiers: the Shenzhen 2024 draft (3.4); 80 falls in B (source: '>80'), 70 in B and 60 in C (our choice). "
        "Indicator weights and scoring curves are [U] (3.5 names the indicators only). The fund's actual pay "
        "ratio per region is [U]: 0.70 for Fujian (35) is illustrative and must be set from the bureau's figures. "
        "Applying the pay ratio and insured share to spending is an inference (3.2 [P])."
    ),
    # 3.1 统筹地区医保基金实际支付比例, by region-code prefix (the longest matching prefix applies).
    fund_pay_ratios={"35": "0.70"},
    tiers=(
        _tier("A", "80", False, "100", True, "0.50"),
        _tier("B", "70", True, "80", True, "0.40"),
        _tier("C", "60", True, "70", False, "0.30"),
        _tier("D", "0", True, "60", False, "0"),
    ),
    retention_cap="0.50",  # 3.3
    pass_score="60",  # 3.4 (Huainan: below 60 nothing is paid)
    completion_required=True,  # 3.3: paid only to hospitals that completed the agreed volume
    completion_threshold="1",  # received ÷ agreed volume needed to count as completed
    exclude_above_agreed=True,  # 3.6: quantity above the agreed volume is outside the VBP spending
    retain_once_per_generic_name=True,  # 3.6: a generic name retained over a completed cycle is not counted again
    weights={COMPLETION: "40", ON_TIME: "30", COST_GROWTH: "15", OFFLINE: "15"},  # [U]
    # Piecewise-linear scoring curves, (indicator value, score 0–100) points, flat beyond the ends. [U]
    curves={
        COMPLETION: (("0", "0"), ("1", "100")),  # proportional to completion, full marks at 100 %
        ON_TIME: (("0", "0"), ("1", "100")),  # proportional to the on-time rate by amount
        COST_GROWTH: (("0", "100"), ("0.10", "0")),  # no growth: full marks; 10 % growth or more: none
        OFFLINE: (("0.05", "100"), ("0.25", "0")),  # within the 95 % online target of 0.2: full marks
    },
    missing_indicator=REWEIGHT,  # an indicator without data drops out and the others' weights are rescaled
    score_places="0.01",  # the score is published to two places; the tier is read from the published score
    money_places="0.01",  # budget, spending, base and retained amounts to the fen
    base_above_history_factor="1.5",  # 3.9 [P]: a reported base ≥ 1.5 × historical use is flagged (as 1.1.7 tooling)
    severities={
        NOT_COMPLETED: Severity.MEDIUM.value,
        ASSESSMENT_FAILED: Severity.LOW.value,
        BASE_ABOVE_HISTORY: Severity.MEDIUM.value,
    },
)


def decimal_of(value: Any, field: str) -> Decimal:
    """Read a policy number given as text or a number (never a float's binary rounding)."""
    if isinstance(value, bool):
        raise invalid(field, f"{field} must be a number, not {value!r}")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise invalid(field, f"{field} must be a number, not {value!r}") from None
    if not number.is_finite():
        raise invalid(field, f"{field} must be a finite number")
    return number


def _problems_of_tiers(params: ParameterSet, cap: Decimal | None, pass_score: Decimal | None) -> list[str]:
    tiers = params["tiers"]
    if not tiers:
        return ["the tier table is empty"]
    out: list[str] = []
    rows = []
    for index, tier in enumerate(tiers):
        try:
            lower, upper = decimal_of(tier["lower"], "lower"), decimal_of(tier["upper"], "upper")
            ratio = decimal_of(tier["ratio"], "ratio")
        except (DomainError, KeyError) as exc:
            out.append(f"tier {index + 1}: {getattr(exc, 'message', exc)}")
            continue
        name = tier.get("tier") or f"#{index + 1}"
        if lower >= upper:
            out.append(f"tier {name}: its lower bound {lower} is not below its upper bound {upper}")
        if ratio < 0:
            out.append(f"tier {name}: ratio {ratio} is negative")
        if ratio > LEGAL_RETENTION_CAP:
            out.append(f"tier {name}: ratio {ratio} is above the 50 % of rule 3.3")
        elif cap is not None and ratio > cap:
            out.append(f"tier {name}: ratio {ratio} is above the set's retention cap {cap}")
        upper_closed = bool(tier["upper_closed"])
        if pass_score is not None:
            below_pass = upper < pass_score or (upper == pass_score and not upper_closed)
            if below_pass and ratio > 0:
                out.append(f"tier {name}: scores below the pass mark {pass_score} cannot retain anything")
            elif not below_pass and ratio <= 0:
                out.append(f"tier {name}: it holds passing scores (pass mark {pass_score}) but retains nothing")
        rows.append((lower, upper, bool(tier["lower_closed"]), upper_closed, ratio, name))
    if out:
        return out
    rows.sort(key=lambda row: (row[0], row[1]))
    first, last = rows[0], rows[-1]
    if first[0] != SCORE_MIN or not first[2]:
        out.append(f"the tiers must start at a score of 0 included; tier {first[5]} starts at {first[0]}")
    if last[1] != SCORE_MAX or not last[3]:
        out.append(f"the tiers must end at a score of 100 included; tier {last[5]} ends at {last[1]}")
    for below, above in itertools.pairwise(rows):
        edge = f"between tiers {below[5]} and {above[5]}"
        if below[1] < above[0] or (below[1] == above[0] and not (below[3] or above[2])):
            out.append(f"gap {edge}: scores from {below[1]} to {above[0]} have no tier")
        elif below[1] > above[0] or (below[3] and above[2]):
            out.append(f"overlap {edge}: a score of {above[0]} falls in both")
        if above[4] < below[4]:
            out.append(f"tier {above[5]} pays less than tier {below[5]} for a higher score")
    return out


def _problems_of_curves(params: ParameterSet) -> list[str]:
    out = []
    for name in INDICATORS:
        points = params["curves"].get(name)
        if not points or len(points) < 2:
            out.append(f"{name}: a scoring curve needs at least two points")
            continue
        try:
            xs = [decimal_of(x, "x") for x, _ in points]
            ys = [decimal_of(y, "score") for _, y in points]
        except (DomainError, ValueError, TypeError) as exc:
            out.append(f"{name}: {getattr(exc, 'message', exc)}")
            continue
        if any(b <= a for a, b in itertools.pairwise(xs)):
            out.append(f"{name}: the curve's indicator values must strictly increase")
        if any(not SCORE_MIN <= y <= SCORE_MAX for y in ys):
            out.append(f"{name}: scores must lie between 0 and 100")
    return out


def check_rules(params: ParameterSet) -> ParameterSet:
    """Refuse a parameter set that cannot be applied consistently; return it unchanged when it can."""
    errors: dict[str, list[str]] = {}

    def number(key: str, low: Decimal, high: Decimal, what: str) -> Decimal | None:
        try:
            value = decimal_of(params[key], key)
        except DomainError as exc:
            errors[key] = [exc.message]
            return None
        if not low <= value <= high:
            errors[key] = [f"{key} {value} must be {what}"]
            return None
        return value

    cap = number("retention_cap", Decimal(0), LEGAL_RETENTION_CAP, "between 0 and 0.50 (rule 3.3)")
    pass_score = number("pass_score", SCORE_MIN, SCORE_MAX, "a score between 0 and 100")
    number("completion_threshold", Decimal("0.01"), Decimal(10), "a positive share of the agreed volume")
    number("base_above_history_factor", Decimal(1), Decimal(100), "at least 1")
    for key, rule in REQUIRED_FLAGS.items():
        if params[key] is not True:
            errors[key] = [f"{key} must be true: it is rule {rule}, not a local choice (got {params[key]!r})"]
    if tier_problems := _problems_of_tiers(params, cap, pass_score):
        errors["tiers"] = tier_problems
    weights = params["weights"]
    if set(weights) != set(INDICATORS):
        errors["weights"] = [f"weights must name exactly the indicators {', '.join(INDICATORS)}"]
    else:
        try:
            values = {name: decimal_of(weights[name], f"weights.{name}") for name in INDICATORS}
        except DomainError as exc:
            errors["weights"] = [exc.message]
        else:
            if any(v < 0 for v in values.values()):
                errors["weights"] = ["weights cannot be negative"]
            elif sum(values.values()) != 100:
                errors["weights"] = [f"weights must sum to 100, not {sum(values.values())}"]
    if set(params["curves"]) != set(INDICATORS):
        errors["curves"] = [f"curves must name exactly the indicators {', '.join(INDICATORS)}"]
    elif curve_problems := _problems_of_curves(params):
        errors["curves"] = curve_problems
    ratios = params["fund_pay_ratios"]
    bad = [
        f"region {prefix!r}: {ratio}"
        for prefix, ratio in ratios.items()
        if not (str(prefix).isdigit() or prefix == "") or len(str(prefix)) > 6 or not _share(ratio, positive=True)
    ]
    if bad:
        errors["fund_pay_ratios"] = [f"each region prefix needs a pay ratio in (0, 1]: {', '.join(bad)}"]
    if params["missing_indicator"] not in (REWEIGHT, ZERO):
        errors["missing_indicator"] = [f"missing_indicator must be {REWEIGHT!r} or {ZERO!r}"]
    if errors:
        raise DomainError(
            INVALID,
            f"parameter set {params.name} {params.version} is inconsistent; nothing was computed",
            code="inconsistent_parameter_set",
            errors=errors,
        )
    return params


def _share(value: Any, *, positive: bool = False) -> bool:
    try:
        number = decimal_of(value, "share")
    except DomainError:
        return False
    return (number > 0 if positive else number >= 0) and number <= 1


RULE_SETS: dict[str, ParameterSet] = {SHENZHEN_2024.version: check_rules(SHENZHEN_2024)}
DEFAULT_VERSION = SHENZHEN_2024.version


def surplus_rules(version: str | None = None) -> ParameterSet:
    """Return a registered parameter set by version (the default when none is named)."""
    try:
        return RULE_SETS[version or DEFAULT_VERSION]
    except KeyError:
        raise invalid("rules", f"no surplus parameter set {version!r}; known: {', '.join(RULE_SETS)}") from None


def fund_pay_ratio(params: ParameterSet, region_code: str) -> tuple[Decimal, str] | None:
    """Return the fund's actual pay ratio for a region and the prefix that set it (longest match), or None."""
    matches = [prefix for prefix in params["fund_pay_ratios"] if region_code.startswith(prefix)]
    if not matches:
        return None
    prefix = max(matches, key=len)
    return decimal_of(params["fund_pay_ratios"][prefix], "fund_pay_ratio"), prefix


def curve_score(points: Any, x: Decimal) -> Decimal:
    """Score an indicator value on a piecewise-linear curve, flat beyond its first and last points."""
    pts = [(decimal_of(px, "x"), decimal_of(py, "score")) for px, py in points]
    if x <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return pts[-1][1]


def tier_for(params: ParameterSet, score: Decimal) -> tuple[str, Decimal]:
    """Return the tier a (published) score falls in and its retention ratio."""
    for tier in params["tiers"]:
        lower, upper = decimal_of(tier["lower"], "tiers.lower"), decimal_of(tier["upper"], "tiers.upper")
        above = score > lower or (tier["lower_closed"] and score == lower)
        below = score < upper or (tier["upper_closed"] and score == upper)
        if above and below:
            return tier["tier"], decimal_of(tier["ratio"], "tiers.ratio")
    raise invalid("score", f"score {score} is outside the tier table")  # check_rules makes this unreachable


def quantize(value: Decimal, places: Any, *, down: bool = False) -> Decimal:
    """Round half up (or down) to the set's places (money to the fen, the score to two places)."""
    return value.quantize(decimal_of(places, "places"), rounding=ROUND_DOWN if down else ROUND_HALF_UP)
