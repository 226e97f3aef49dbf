"""Circulation monitoring rules as a versioned parameter set, and the alert codes they raise (rulebook 0.7, 0.11, 0.16).

Every number is a parameter citing its rule: the 12 % out-of-catalogue cap is Cangshan's (0.11; only local caps
exist, 7.12), kept per region; 5 : 3 : 2 is Sanming's revenue structure for grade-II-and-above hospitals (0.16); the
factors that make a purchase "far above" the agreed volume or past use are practitioner thresholds (1.7, 3.9, 7.10),
not regulation. :func:`circulation_rules` builds a new version and refuses an inconsistent one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.alerts import Severity
from core.errors import invalid
from core.params import ParameterSet, parameter_set
from core.roles import HospitalGrade, OrgKind

OFF_CHANNEL = "CIRC-OFF-CHANNEL"
PHANTOM_STOCK = "CIRC-PHANTOM-STOCK"
ABOVE_AGREED = "CIRC-ABOVE-AGREED"
ABOVE_HISTORY = "CIRC-ABOVE-HISTORY"
OUT_OF_CATALOGUE = "CIRC-OUT-OF-CATALOGUE-SHARE"
REVENUE_STRUCTURE = "CIRC-REVENUE-STRUCTURE"
CODES = (OFF_CHANNEL, PHANTOM_STOCK, ABOVE_AGREED, ABOVE_HISTORY, OUT_OF_CATALOGUE, REVENUE_STRUCTURE)
STRUCTURE_PARTS = ("service", "drugs_consumables", "tests")

CIRCULATION_RULES = parameter_set(
    "circulation.rules",
    "2026-01",
    ("0.7", "0.11", "0.16", "1.4.4", "1.7.1", "1.7.5", "3.9", "5.5.1", "7.10", "7.12"),
    note=(
        "The 12 % cap is Cangshan's (0.11) and applies wherever no regional cap is set; caps are per region prefix, "
        "the longest matching prefix wins. The 5 : 3 : 2 structure (0.16) applies to grade II and above; its "
        "tolerance, and the 1.5 × agreed-volume and 2 × past-use factors, are practitioner thresholds [U]. A share "
        "exactly at the cap, or a part exactly at the tolerance, is not flagged: only values beyond it are."
    ),
    # 0.11: region prefix ("" = everywhere) → highest out-of-catalogue share of insured spending.
    out_of_catalogue_limits={"": Decimal("0.12")},
    # 0.16: medical service : drugs and consumables : tests.
    revenue_target={"service": 5, "drugs_consumables": 3, "tests": 2},
    revenue_tolerance=Decimal("0.05"),  # absolute share points each part may stray from its target share
    revenue_grades=tuple(g.value for g in HospitalGrade if g.value[0] in "23"),
    # 1.7 / 3.9: purchases above this multiple of the agreed volume due so far in the agreement year.
    above_agreed_factor=Decimal("1.5"),
    # 3.9 / 7.10: a month's purchases above this multiple of the same month last year or of the trailing mean.
    above_history_factor=Decimal("2.0"),
    history_trailing_months=6,
    history_min_packs=10,  # below this a month is too small to judge
    # 0.7 channel rules: packs reach hospitals on platform orders (0.1); hospitals of one medical community
    # (总医院 and member units, Organisation.parent_id) may pass stock between them (0.4, 0.8).
    order_required_for_kinds=(OrgKind.HOSPITAL.value,),
    community_transfers_allowed=True,
    severities={
        OFF_CHANNEL: Severity.HIGH.value,
        PHANTOM_STOCK: Severity.HIGH.value,
        ABOVE_AGREED: Severity.MEDIUM.value,
        ABOVE_HISTORY: Severity.MEDIUM.value,
        OUT_OF_CATALOGUE: Severity.MEDIUM.value,
        REVENUE_STRUCTURE: Severity.LOW.value,
    },
)


def _refuse(key: str, message: str) -> None:
    raise invalid(f"rules.{key}", message, code="inconsistent_rules")


def _share(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return Decimal(-1)


def validate_rules(rules: ParameterSet) -> ParameterSet:
    """Return ``rules`` if consistent, else refuse naming the parameter that is wrong."""
    limits = rules["out_of_catalogue_limits"]
    if "" not in limits:
        _refuse("out_of_catalogue_limits", 'a default cap (region prefix "") is required')
    for prefix, limit in limits.items():
        if not (prefix == "" or (prefix.isdigit() and len(prefix) <= 6)):
            _refuse("out_of_catalogue_limits", f"{prefix!r} is not up to 6 digits of a region code")
        if not Decimal(0) < _share(limit) < Decimal(1):
            _refuse("out_of_catalogue_limits", f"the cap for {prefix or 'everywhere'!r} must lie between 0 and 1")
    target = rules["revenue_target"]
    if set(target) != set(STRUCTURE_PARTS):
        _refuse("revenue_target", f"the structure has exactly the parts {', '.join(STRUCTURE_PARTS)}")
    if any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in target.values()):
        _refuse("revenue_target", "each part of the structure is a whole number above zero")
    if not Decimal(0) <= _share(rules["revenue_tolerance"]) < Decimal(1):
        _refuse("revenue_tolerance", "the tolerance is a share from 0 up to (not including) 1")
    grades = set(rules["revenue_grades"])
    if not grades or not grades <= {g.value for g in HospitalGrade}:
        _refuse("revenue_grades", "name at least one hospital grade, and only known grades")
    for key in ("above_agreed_factor", "above_history_factor"):
        if _share(rules[key]) < 1:
            _refuse(key, "a factor below 1 would flag purchases below the reference")
    months = rules["history_trailing_months"]
    if not isinstance(months, int) or not 1 <= months <= 24:
        _refuse("history_trailing_months", "the trailing window is 1 to 24 months")
    if not isinstance(rules["history_min_packs"], int) or rules["history_min_packs"] < 0:
        _refuse("history_min_packs", "a number of packs, zero or more")
    if not set(rules["order_required_for_kinds"]) <= {k.value for k in OrgKind}:
        _refuse("order_required_for_kinds", "only organisation kinds")
    severities = rules["severities"]
    if set(severities) != set(CODES) or not set(severities.values()) <= {s.value for s in Severity}:
        _refuse("severities", f"give a known severity for each of {', '.join(CODES)}")
    return rules


def circulation_rules(version: str, **overrides: Any) -> ParameterSet:
    """Return a new version of the circulation rules with some values replaced, refusing an inconsistent set."""
    try:
        rules = CIRCULATION_RULES.with_overrides(version, **overrides)
    except KeyError as exc:
        raise invalid("rules", str(exc.args[0]), code="inconsistent_rules") from exc
    return validate_rules(rules)


def out_of_catalogue_limit(rules: ParameterSet, region_code: str) -> Decimal:
    """Return the cap for a hospital's region: the longest matching prefix's."""
    limits = rules["out_of_catalogue_limits"]
    prefix = max((p for p in limits if region_code.startswith(p)), key=len)
    return Decimal(str(limits[prefix]))


def describe(rules: ParameterSet) -> dict[str, Any]:
    """Return the rules as JSON-ready data (amounts as strings), to store with each alert they raise."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return str(value) if isinstance(value, Decimal) else value

    return plain(rules.describe())


validate_rules(CIRCULATION_RULES)
