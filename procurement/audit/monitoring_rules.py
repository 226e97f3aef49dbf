"""The prescribing-monitoring rules as versioned parameter sets, one per rule, each citing the rulebook (section 7).

A region picks its bundle (:func:`monitoring_params`): the national norms, or Cangshan's long prescriptions of 4–8
weeks (0.12). Several thresholds come from practitioner tooling rather than regulation (7.10 [P], 7.11 [U]); they
are parameters so that a province or hospital can set its own, and a bundle is checked as a whole before any rule
runs (:func:`validate_params`), so an inconsistent one is refused with the offending value named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.alerts import Severity
from core.errors import invalid
from core.params import ParameterSet, parameter_set

# Stable finding / alert codes.
QTY_OVER_LIMIT = "RX-QTY-OVER-LIMIT"
LONG_OVER_MAX = "RX-LONG-OVER-MAX"
LONG_NO_REASON = "RX-LONG-NO-REASON"
LONG_EXCLUDED_CLASS = "RX-LONG-EXCLUDED-CLASS"
TOO_MANY_DRUGS = "RX-TOO-MANY-DRUGS"
ABNORMAL_RESTRICT = "RX-ABNORMAL-RESTRICT"
ABNORMAL_REVOKE = "RX-ABNORMAL-REVOKE"
KEY_DRUG_TOP = "RX-KEY-DRUG-TOP-N"
KEY_DRUG_PERSISTENT = "RX-KEY-DRUG-PERSISTENT-TOP"
KEY_DRUG_GROWTH = "RX-KEY-DRUG-GROWTH"
PHYSICIAN_OUTLIER = "RX-PHYSICIAN-OUTLIER"
DEPARTMENT_OUTLIER = "RX-DEPARTMENT-OUTLIER"
NON_WINNING_CHOSEN = "RX-NON-WINNING-CHOSEN"
DISPENSED_OVER_RECEIVED = "RX-DISPENSED-OVER-RECEIVED"
TRACE_MULTI_PATIENT = "RX-TRACE-CODE-MULTI-PATIENT"
CONSUMABLE_OUTLIER = "RX-CONSUMABLE-OUTLIER"

SETTINGS = ("outpatient", "emergency", "inpatient")
PEER_SCOPES = ("hospital_department", "department")  # same hospital and department, or same department anywhere
PHYSICIAN_MEASURES = ("monitored_share", "amount_per_prescription")

QUANTITY = parameter_set(
    "rx.quantity_limits",
    "2007-05",
    ("7.4", "7.7"),
    note="处方管理办法: outpatient ≤ 7 days, emergency ≤ 3 days; longer only with the reason recorded.",
    days_by_setting={"outpatient": 7, "emergency": 3},
    severity=Severity.MEDIUM.value,
)

_LONG_EXCLUDED = (
    "toxic",  # 医疗用毒性药品
    "radiopharmaceutical",
    "precursor",  # 药品类易制毒化学品
    "narcotic",
    "psychotropic_1",
    "psychotropic_2",
    "antimicrobial",
    "special_storage",
)

LONG_NATIONAL = parameter_set(
    "rx.long_prescription.national",
    "2021-08",
    ("7.5", "0.12"),
    note=(
        "长期处方管理规范（试行）: ≤ 4 weeks normally, ≤ 12 weeks for stable chronic patients with the assessment "
        "recorded; excluded classes never on a long prescription, antimicrobials allowed for chronic infections "
        "(e.g. TB) when the reason is recorded."
    ),
    normal_weeks=4,
    max_weeks=12,
    settings=("outpatient",),
    excluded_classes=_LONG_EXCLUDED,
    exempt_with_reason=("antimicrobial",),
    severities={LONG_OVER_MAX: Severity.HIGH.value, LONG_NO_REASON: Severity.MEDIUM.value},
    excluded_severity=Severity.HIGH.value,
)

LONG_CANGSHAN = parameter_set(
    "rx.long_prescription.cangshan",
    "2021-08",
    ("7.5", "0.12"),
    note="Cangshan (Fuzhou) integrated reform plan: 4–8 weeks per prescription for stable chronic patients.",
    **{**dict(LONG_NATIONAL.values), "max_weeks": 8},
)

DRUG_COUNT = parameter_set(
    "rx.drug_count",
    "2007-05",
    ("7.7",),
    note="不规范处方: more than 5 drugs on one outpatient (or emergency) prescription; consumable lines are not drugs.",
    max_drugs=5,
    settings=("outpatient", "emergency"),
    severity=Severity.LOW.value,
)

ABNORMAL = parameter_set(
    "rx.abnormal_prescriptions",
    "2007-05.2",
    ("7.2", "7.6", "7.7"),
    note=(
        "处方管理办法 Art. 45: ≥ 3 unjustified 超常处方 → warning and restricted rights; then ≥ 2 more consecutive "
        "unjustified ones → rights removed. Counted over each assessment cycle (cycle_months, cycles starting in "
        "January; 7.6 speaks of the assessment cycle, its length is local); consecutive means adjacent in the "
        "physician's own prescriptions ordered by date, then prescription id."
    ),
    restrict_after=3,
    revoke_consecutive=2,
    cycle_months=12,
    severities={ABNORMAL_RESTRICT: Severity.HIGH.value, ABNORMAL_REVOKE: Severity.CRITICAL.value},
)

KEY_DRUGS = parameter_set(
    "rx.key_monitored_drugs",
    "2019-07",
    ("7.9", "7.10"),
    note=(
        "The first national list (2019) has 20 drugs; only the three named in the rulebook are preset. Provinces and "
        "hospitals derive their own lists (7.9): override `drugs`. Top-N, months and growth are practitioner values "
        "(7.10 [P]); 30 % and 50 % are both used locally."
    ),
    drugs=("神经节苷脂", "脑苷肌肽", "奥拉西坦"),
    match="contains",  # a catalogue name containing a listed name (奥拉西坦注射液) matches; or "exact"
    top_n=10,
    persistent_months=3,
    growth_threshold=0.30,
    growth_min_amount=0.0,  # the previous month must reach this amount for growth to count
    severities={
        KEY_DRUG_TOP: Severity.LOW.value,
        KEY_DRUG_PERSISTENT: Severity.MEDIUM.value,
        KEY_DRUG_GROWTH: Severity.MEDIUM.value,
    },
)

PEERS = parameter_set(
    "rx.peer_outliers",
    "2025-01",
    ("7.10",),
    note=(
        "Per-physician and per-department outliers among peers [P]: flagged when the percentile rank (ties at the "
        "minimum) AND the sample z-score both pass their thresholds, among at least `min_peers` peers."
    ),
    physician_scope="hospital_department",
    measures=PHYSICIAN_MEASURES,
    percentile_threshold=95.0,
    z_threshold=2.0,
    min_peers=5,
    severities={PHYSICIAN_OUTLIER: Severity.MEDIUM.value, DEPARTMENT_OUTLIER: Severity.LOW.value},
)

WINNING = parameter_set(
    "rx.winning_product_preferred",
    "2019-01",
    ("1.7.2",),
    note="Hospitals must prefer the winning product: a non-winning one prescribed after the winner was received.",
    severity=Severity.MEDIUM.value,
)

RECEIVED = parameter_set(
    "rx.dispensed_within_received",
    "2025-07",
    ("0.7", "5.6.7"),
    note="Packs dispensed per hospital × product above the packs received signal stock of unknown origin (R6).",
    tolerance_packs=0.0,
    severity=Severity.HIGH.value,
)

TRACE = parameter_set(
    "rx.trace_code_patients",
    "2025-07",
    ("5.6.2", "5.6.7"),
    note="R7: one pack's trace code dispensed to two or more patients → 串换/回流 suspect (split packs to one patient "
    "are fine, R3).",
    min_patients=2,
    severity=Severity.HIGH.value,
)

CONSUMABLES = parameter_set(
    "rx.consumables_per_case",
    "2019-09",
    ("7.11", "0.9"),
    note="[U] No national numbers: a case's high-value consumable amount far above its peers' (z-score or a "
    "multiple of the peer median; either threshold may be switched off with None, not both).",
    peer_scope="department",
    z_threshold=3.0,
    median_multiple=3.0,
    min_peers=5,
    severity=Severity.MEDIUM.value,
)

GENERAL = parameter_set(
    "rx.monitoring",
    "2025-01",
    ("7.1", "0.9"),
    note="How much evidence each finding carries: the first `evidence_limit` line ids plus the full count.",
    evidence_limit=50,
)


@dataclass(frozen=True)
class MonitoringParams:
    """The parameter sets of every monitoring rule for one region."""

    region: str
    quantity: ParameterSet = QUANTITY
    long_rx: ParameterSet = LONG_NATIONAL
    drug_count: ParameterSet = DRUG_COUNT
    abnormal: ParameterSet = ABNORMAL
    key_drugs: ParameterSet = KEY_DRUGS
    peers: ParameterSet = PEERS
    winning: ParameterSet = WINNING
    received: ParameterSet = RECEIVED
    trace: ParameterSet = TRACE
    consumables: ParameterSet = CONSUMABLES
    general: ParameterSet = GENERAL

    def sets(self) -> Iterator[tuple[str, ParameterSet]]:
        for item in dataclasses.fields(self):
            if item.name != "region":
                yield item.name, getattr(self, item.name)

    def label(self) -> str:
        """Return a short name of the bundle, e.g. ``national:rx.long_prescription.national@2021-08``."""
        return f"{self.region}:{self.long_rx.name}@{self.long_rx.version}"

    def override(self, part: str, version: str, **values: Any) -> MonitoringParams:
        """Return a copy with some values of one set replaced (a new version of it); unknown keys are refused."""
        return dataclasses.replace(self, **{part: getattr(self, part).with_overrides(version, **values)})

    def describe(self) -> dict[str, Any]:
        return {"region": self.region, "sets": {name: ps.describe() for name, ps in self.sets()}}


PARAMS_BY_REGION: dict[str, MonitoringParams] = {
    "national": MonitoringParams("national"),
    "cangshan": MonitoringParams("cangshan", long_rx=LONG_CANGSHAN),
}
DEFAULTS = PARAMS_BY_REGION["national"]
# Which bundle a hospital's prescriptions follow, by the longest matching prefix of its region code (0.12: Cangshan
# district, Fuzhou, allows 4–8 weeks); every other hospital follows the national bundle.
REGION_PREFIXES: dict[str, str] = {"350104": "cangshan"}


def region_of(region_code: str | None) -> str:
    """Return the name of the bundle for a region code: the longest prefix listed, else "national"."""
    code = region_code or ""
    matches = [prefix for prefix in REGION_PREFIXES if code.startswith(prefix)]
    return REGION_PREFIXES[max(matches, key=len)] if matches else "national"


def monitoring_params(region: str = "national") -> MonitoringParams:
    """Return the bundle of a region; an unknown region is refused."""
    if region not in PARAMS_BY_REGION:
        raise invalid("region", f"unknown monitoring region {region!r}; known: {', '.join(PARAMS_BY_REGION)}")
    return PARAMS_BY_REGION[region]


# ---------------------------------------------------------------- validation


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN ≠ NaN


def _check(ps: ParameterSet, key: str, ok: bool, message: str) -> None:
    if not ok:
        raise invalid(f"{ps.name}.{key}", f"{ps.name} {key}={ps[key]!r}: {message}", code="inconsistent_parameters")


def _positive_int(ps: ParameterSet, key: str, minimum: int = 1) -> None:
    value = ps[key]
    _check(ps, key, isinstance(value, int) and not isinstance(value, bool) and value >= minimum, f"must be ≥ {minimum}")


def _positive(ps: ParameterSet, key: str, *, allow_none: bool = False, above: float = 0.0) -> None:
    value = ps[key]
    if value is None and allow_none:
        return
    _check(ps, key, _number(value) and value > above, f"must be a number above {above}")


def _severity(ps: ParameterSet, key: str) -> None:
    values = ps[key]
    values = values.values() if isinstance(values, dict) else [values]
    _check(ps, key, all(v in {s.value for s in Severity} for v in values), "unknown severity")


def _subset(ps: ParameterSet, key: str, allowed: tuple[str, ...], *, non_empty: bool = True) -> None:
    values = ps[key]
    ok = isinstance(values, tuple | list) and set(values) <= set(allowed) and (bool(values) or not non_empty)
    _check(ps, key, ok, f"must be a list drawn from {', '.join(allowed)}")


def validate_params(params: MonitoringParams) -> MonitoringParams:
    """Refuse an inconsistent bundle (negative limits, normal above max, thresholds out of range); return it."""
    q = params.quantity
    days = q["days_by_setting"]
    _check(q, "days_by_setting", isinstance(days, dict) and set(days) <= set(SETTINGS), "settings must be known")
    _check(q, "days_by_setting", all(_number(d) and d > 0 for d in days.values()), "day limits must be positive")
    _severity(q, "severity")

    lr = params.long_rx
    _positive_int(lr, "normal_weeks")
    _positive_int(lr, "max_weeks")
    _check(lr, "max_weeks", lr["normal_weeks"] <= lr["max_weeks"], "the normal limit cannot exceed the maximum")
    _subset(lr, "settings", SETTINGS)
    _check(lr, "excluded_classes", all(isinstance(c, str) and c for c in lr["excluded_classes"]), "need class names")
    _check(lr, "exempt_with_reason", set(lr["exempt_with_reason"]) <= set(lr["excluded_classes"]), "not excluded")
    _severity(lr, "severities")
    _severity(lr, "excluded_severity")

    dc = params.drug_count
    _positive_int(dc, "max_drugs")
    _subset(dc, "settings", SETTINGS)
    _severity(dc, "severity")

    ab = params.abnormal
    _positive_int(ab, "restrict_after")
    _positive_int(ab, "revoke_consecutive")
    _check(ab, "cycle_months", ab["cycle_months"] in (1, 2, 3, 4, 6, 12), "must divide the year: 1, 2, 3, 4, 6 or 12")
    _severity(ab, "severities")

    kd = params.key_drugs
    _check(kd, "drugs", isinstance(kd["drugs"], tuple | list) and all(isinstance(d, str) and d for d in kd["drugs"]),
           "must be a list of generic names")  # fmt: skip
    _check(kd, "match", kd["match"] in ("contains", "exact"), "must be contains or exact")
    _positive_int(kd, "top_n")
    _positive_int(kd, "persistent_months", minimum=2)
    _positive(kd, "growth_threshold")
    _check(kd, "growth_min_amount", _number(kd["growth_min_amount"]) and kd["growth_min_amount"] >= 0, "must be ≥ 0")
    _severity(kd, "severities")

    pe = params.peers
    _check(pe, "physician_scope", pe["physician_scope"] in PEER_SCOPES, f"must be one of {', '.join(PEER_SCOPES)}")
    _subset(pe, "measures", PHYSICIAN_MEASURES)
    pct = pe["percentile_threshold"]
    _check(pe, "percentile_threshold", _number(pct) and 0 <= pct <= 100, "must lie in 0..100")
    _positive(pe, "z_threshold")
    _positive_int(pe, "min_peers", minimum=2)
    _severity(pe, "severities")

    _severity(params.winning, "severity")
    rc = params.received
    _check(rc, "tolerance_packs", _number(rc["tolerance_packs"]) and rc["tolerance_packs"] >= 0, "must be ≥ 0")
    _severity(rc, "severity")
    _positive_int(params.trace, "min_patients", minimum=2)
    _severity(params.trace, "severity")

    cs = params.consumables
    _check(cs, "peer_scope", cs["peer_scope"] in PEER_SCOPES, f"must be one of {', '.join(PEER_SCOPES)}")
    _positive(cs, "z_threshold", allow_none=True)
    _positive(cs, "median_multiple", allow_none=True, above=1.0)
    _check(cs, "median_multiple", not (cs["z_threshold"] is None and cs["median_multiple"] is None),
           "z_threshold and median_multiple cannot both be off")  # fmt: skip
    _positive_int(cs, "min_peers", minimum=2)
    _severity(cs, "severity")
    _positive_int(params.general, "evidence_limit")
    return params
