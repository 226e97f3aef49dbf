"""Prescribing monitoring (rulebook 7, 5.6.7, 1.7.2): run every rule over a period's lines and raise alerts.

:func:`run_rules` is pure pandas over the frames of :mod:`procurement.audit.rx_frame`, so it runs the same over a
hospital's imports and over the benchmark's synthetic millions; :func:`run_period` loads a period from the database,
runs the rules and raises one alert per finding (re-running a period raises nothing twice); :func:`top_anomalies` and
:func:`top_anomalous` rank the physicians and products behind the findings for the auditors' dashboard.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alerts import Alert, AlertStatus, Severity, raise_alert_once
from core.audit import record_audit
from core.params import ParameterSet
from core.roles import Role
from procurement.audit import monitoring_findings as mf
from procurement.audit import monitoring_lines as ml
from procurement.audit import monitoring_peers as mp
from procurement.audit import monitoring_rules as mr
from procurement.audit.monitoring_groups import LineGroups, forget_positions
from procurement.audit.monitoring_rules import DEFAULTS, MonitoringParams, validate_params
from procurement.audit.parts import PartSummary, Progress
from procurement.audit.rx_frame import LINE_COLUMNS, NO_LABELS, RECEIVED_COLUMNS, Labels, conform

SOURCE = "monitoring"
KEY_CHUNK = 500  # dedupe keys per IN (...) query, within every backend's parameter limit
PART = "monitoring"
RUN_ROLES = (Role.AUDITOR, Role.ADMIN)
DASHBOARD_ROLES = (Role.AUDITOR, Role.ORGANISER, Role.ADMIN, Role.PHARMACY_MANAGER)
SEVERITY_WEIGHT = {Severity.LOW.value: 1, Severity.MEDIUM.value: 2, Severity.HIGH.value: 3, Severity.CRITICAL.value: 4}
# Findings measured over the period as a whole: the same subject in another period is another finding.
# The 7.2 findings belong to an assessment cycle instead: a physician is restricted (and loses rights) once a cycle.
CYCLE_RELATIVE = frozenset({mr.ABNORMAL_RESTRICT, mr.ABNORMAL_REVOKE})
PERIOD_RELATIVE = frozenset(
    {mr.PHYSICIAN_OUTLIER, mr.DEPARTMENT_OUTLIER, mr.NON_WINNING_CHOSEN,
     mr.DISPENSED_OVER_RECEIVED, mr.CONSUMABLE_OUTLIER}
)  # fmt: skip
LINE_RULES = (ml.quantity_rules, ml.drug_count_rule, ml.abnormal_rule, mp.key_drug_rules, mp.peer_rules,
              mp.consumable_rule, ml.trace_code_rule)  # fmt: skip
RECEIVED_RULES = (ml.non_winning_rule, ml.over_received_rule)
RULE_THREADS = 2  # threads a run uses at most (each rule runs on one; beyond two the shared group codes dominate)
# Relative cost of each rule at five million lines (milliseconds, scripts/bench/bench_prescribing --per-rule): the
# pool starts the costliest first. Only the schedule depends on it, never a result.
RULE_COST = {"peer_rules": 200, "key_drug_rules": 140, "non_winning_rule": 110, "quantity_rules": 105,
             "over_received_rule": 85, "consumable_rule": 70, "drug_count_rule": 55, "abnormal_rule": 50,
             "trace_code_rule": 45}  # fmt: skip
TITLES = {
    mr.QTY_OVER_LIMIT: "Prescription over the 7/3-day limit without a recorded reason",
    mr.LONG_OVER_MAX: "Long prescription beyond the maximum weeks",
    mr.LONG_NO_REASON: "Long prescription beyond the normal weeks without a recorded assessment",
    mr.LONG_EXCLUDED_CLASS: "Long prescription of an excluded drug class",
    mr.TOO_MANY_DRUGS: "More drugs on one prescription than allowed",
    mr.ABNORMAL_RESTRICT: "Physician reached the unjustified abnormal-prescription count: warn and restrict",
    mr.ABNORMAL_REVOKE: "Restricted physician wrote consecutive unjustified abnormal prescriptions: remove rights",
    mr.KEY_DRUG_TOP: "Key-monitored drug in the hospital's monthly top by amount",
    mr.KEY_DRUG_PERSISTENT: "Key-monitored drug in the monthly top for consecutive months",
    mr.KEY_DRUG_GROWTH: "Key-monitored drug growing month on month above the threshold",
    mr.PHYSICIAN_OUTLIER: "Physician far above peers",
    mr.DEPARTMENT_OUTLIER: "Department far above the same department elsewhere",
    mr.NON_WINNING_CHOSEN: "Non-winning product prescribed while the winning one was stocked",
    mr.DISPENSED_OVER_RECEIVED: "More packs dispensed than received",
    mr.TRACE_MULTI_PATIENT: "One trace code dispensed to several patients",
    mr.CONSUMABLE_OUTLIER: "High-value consumable use per case far above peers",
}


def _conformed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Return ``frame`` as the contract says, converting only when a dtype differs (conversion copies)."""
    if list(frame.columns[: len(columns)]) == list(columns) and all(
        str(frame[name].dtype) == dtype for name, dtype in columns.items()
    ):
        return frame
    return conform(frame, columns)


def run_rules(
    lines: pd.DataFrame,
    received: pd.DataFrame,
    params: MonitoringParams = DEFAULTS,
    labels: Labels = NO_LABELS,
    *,
    threads: int | None = None,
) -> pd.DataFrame:
    """Run every monitoring rule over ``lines`` and ``received``; return the findings (``FINDING_COLUMNS``).

    The bundle is validated first, so an inconsistent one is refused before any work. ``labels`` gives the trace
    codes and case numbers behind the frame's ids that findings name. Findings come ordered by rule, each rule's in
    the order the rule found them, however the rules were scheduled.

    The rules are independent readers of the same frames, so they run on ``threads`` threads (default: up to
    :data:`RULE_THREADS`, no more than the machine's processors): most of their time is spent in numpy, which
    leaves the interpreter lock while it works. Labels are asked for one rule at a time (a database session behind
    them serves one thread at a time).

    The rules make one small Python object after another (line-id lists, detail dicts) and none of them refers back:
    the cyclic garbage collector has nothing to find in them, so it is paused while they are made.
    """
    validate_params(params)
    lines = _conformed(lines, LINE_COLUMNS)
    received = _conformed(received, RECEIVED_COLUMNS)
    if lines.empty:
        return mf.empty_findings()
    with _collector_paused():
        try:
            groups = LineGroups(lines, _OneAtATime(labels))  # group codes shared by the rules
            calls = [partial(rule, lines, params, groups) for rule in LINE_RULES]
            calls += [partial(rule, lines, received, params, groups) for rule in RECEIVED_RULES]
            return mf.concat_ordered(_run_calls(calls, rule_threads(threads)))
        finally:
            forget_positions()  # the line positions the rules shared


def rule_threads(threads: int | None = None) -> int:
    """Return the threads a run uses: ``threads`` when given (at least one), else :data:`RULE_THREADS` capped by
    the machine's processors."""
    if threads is not None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        return threads
    return max(1, min(RULE_THREADS, os.cpu_count() or 1))


def _run_calls(calls: list[Callable[[], pd.DataFrame]], threads: int) -> list[pd.DataFrame]:
    """Return each call's result, in the order of ``calls``: on this thread, or on a pool of ``threads``, the
    costliest rules first so that the threads finish together (the order of the results does not change)."""
    if threads == 1:
        return [call() for call in calls]
    order = sorted(range(len(calls)), key=lambda i: RULE_COST.get(calls[i].func.__name__, 0), reverse=True)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rx-rule") as pool:
        futures = {i: pool.submit(calls[i]) for i in order}
        return [futures[i].result() for i in range(len(calls))]


class _OneAtATime:
    """Labels whose look-ups are serialised: rules on several threads may ask at once."""

    def __init__(self, labels: Labels) -> None:
        self._labels, self._lock = labels, threading.Lock()

    def trace_codes(self, ids) -> dict[int, str]:
        with self._lock:
            return self._labels.trace_codes(ids)

    def cases(self, ids) -> dict[int, str]:
        with self._lock:
            return self._labels.cases(ids)


@contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _months_before(day: dt.date, months: int) -> dt.date:
    first = day.replace(day=1)
    number = first.year * 12 + first.month - 1 - months
    return dt.date(number // 12, number % 12 + 1, 1)


def _with_key_drug_history(session, rx_loader, lines, findings, params, *, start: dt.date) -> tuple[pd.DataFrame, int]:
    """Judge the key-drug rules with the months before the period too (growth needs last month, persistence the
    months of the run), keeping only findings about months the period covers (7.10); return them and the number of
    earlier lines read."""
    kd = params.key_drugs
    back = max(1, int(kd["persistent_months"]) - 1)
    history = rx_loader.load_lines(session, start=_months_before(start, back), end=start)
    if history.empty:
        return findings, 0
    extended = _conformed(pd.concat([history, lines], ignore_index=True), LINE_COLUMNS)
    key_rules = {mr.KEY_DRUG_TOP, mr.KEY_DRUG_PERSISTENT, mr.KEY_DRUG_GROWTH}
    judged = mp.key_drug_rules(extended, params)
    first_month = start.replace(day=1).strftime("%Y-%m")
    in_period = judged[[details.get("month", "") >= first_month for details in judged["details"]]]
    kept = findings[~findings["rule"].isin(key_rules)]
    merged = mf.concat_ordered([kept, in_period])
    return merged, len(history)


def _with_abnormal_cycle(session, rx_loader, lines, findings, params, *, start: dt.date) -> tuple[pd.DataFrame, int]:
    """Judge 7.2 over the whole assessment cycle so far: a physician's count carries over from the cycle's earlier
    periods (two unjustified in March and one in April restrict in April). Every finding of the cycle up to the
    period's end is kept: one decided before the period (prescriptions imported late, or a month never audited) is
    raised now, and one already raised is not raised again (its alert is keyed by physician and cycle). Returns the
    findings and the earlier lines read."""
    first = ml.cycle_start(start, int(params.abnormal["cycle_months"]))
    if first >= start:
        return findings, 0
    history = rx_loader.load_lines(session, start=first, end=start)
    if history.empty:
        return findings, 0
    extended = _conformed(pd.concat([history, lines], ignore_index=True), LINE_COLUMNS)
    judged = ml.abnormal_rule(extended, params)
    kept = findings[~findings["rule"].isin(CYCLE_RELATIVE)]
    merged = mf.concat_ordered([kept, judged])
    return merged, len(history)


def _available(received: pd.DataFrame, earlier: pd.DataFrame) -> pd.DataFrame:
    """What each hospital could dispense in the period: packs received before its end less those dispensed before
    its start, so dispensing above receipts spread over several periods is still caught."""
    if earlier.empty or received.empty:
        return received
    merged = received.merge(earlier, on=["hospital_id", "product_id"], how="left")
    merged["received_packs"] = merged["received_packs"] - merged["dispensed_packs"].fillna(0.0)
    return merged.drop(columns="dispensed_packs")


QUANTITY_RULES = frozenset({mr.QTY_OVER_LIMIT, mr.LONG_OVER_MAX, mr.LONG_NO_REASON, mr.LONG_EXCLUDED_CLASS})


def _with_regional_limits(session, lines, findings, params) -> tuple[pd.DataFrame, dict[str, int]]:
    """Judge each hospital's quantity limits by its region's bundle (0.12, 7.5: Cangshan allows 4–8 weeks).

    Only when the run uses the national defaults: a bundle chosen by the caller applies to every hospital. Returns
    the findings and, per regional bundle used, how many hospitals it judged.
    """
    if params is not DEFAULTS:
        return findings, {}
    from core.models import Organisation

    hospitals = [int(h) for h in lines["hospital_id"].unique()]
    codes = dict(session.exec(sa.select(Organisation.id, Organisation.region_code).where(
        Organisation.id.in_(hospitals))).all())  # fmt: skip
    by_bundle: dict[str, list[int]] = {}
    for hospital in hospitals:
        bundle = mr.region_of(codes.get(hospital))
        if bundle != "national":
            by_bundle.setdefault(bundle, []).append(hospital)
    if not by_bundle:
        return findings, {}
    parts = [findings[~(findings["rule"].isin(QUANTITY_RULES) & findings["hospital_id"].isin(
        [h for group in by_bundle.values() for h in group]))]]  # fmt: skip
    for bundle, group in by_bundle.items():
        sub = lines[lines["hospital_id"].isin(group)].reset_index(drop=True)
        parts.append(ml.quantity_rules(sub, mr.PARAMS_BY_REGION[bundle]))
    merged = mf.concat_ordered(parts)
    return merged, {bundle: len(group) for bundle, group in by_bundle.items()}


# ---------------------------------------------------------------- alerts


def _dedupe_key(finding: dict[str, Any], start: dt.date, end: dt.date) -> str:
    key = f"{finding['rule']}|{finding['subject']}"
    if finding["rule"] in PERIOD_RELATIVE:
        key += f"|{start.isoformat()}..{end.isoformat()}"
    elif finding["rule"] in CYCLE_RELATIVE:
        key += f"|cycle:{finding['details']['cycle']}"
    if len(key) > 200:  # the column's width; a digest keeps long subjects (drug names) unique
        key = f"{finding['rule']}|sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def _object(subject: str) -> tuple[str, str]:
    kind, _, ident = subject.partition(":")
    if kind in ("prescription", "physician") and ident.isdigit():
        return kind, ident
    return "prescribing_finding", subject[:100]


def _none(value: Any) -> Any:
    return None if value is None or value is pd.NA or (isinstance(value, float) and value != value) else value


def _title(finding: dict[str, Any]) -> str:
    value, threshold = _none(finding["value"]), _none(finding["threshold"])
    figures = f"{finding['measure']} {value:.4g}" if value is not None else finding["measure"]
    if threshold is not None:
        figures += f", threshold {threshold:.4g}"
    return f"{TITLES[finding['rule']]} — {finding['subject']} ({figures})"[:300]


def _evidence(finding: dict[str, Any], start: dt.date, end: dt.date) -> dict[str, Any]:
    ids = [int(i) for i in finding["line_ids"]]
    return {
        "line_ids": ids,
        "line_count": int(finding["line_count"]),
        "line_ids_truncated": int(finding["line_count"]) > len(ids),
        "subject": finding["subject"],
        "measure": finding["measure"],
        "value": _none(finding["value"]),
        "threshold": _none(finding["threshold"]),
        "peers": finding["peers"],
        "details": finding["details"],
        "hospital_id": _none(finding["hospital_id"]),
        "physician_id": _none(finding["physician_id"]),
        "department": _none(finding["department"]),
        "product_id": _none(finding["product_id"]),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
    }


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    """Return which of ``keys`` name alerts raised already, in a few IN queries."""
    found: set[str] = set()
    for start in range(0, len(keys), KEY_CHUNK):
        chunk = keys[start : start + KEY_CHUNK]
        found.update(session.exec(sa.select(Alert.dedupe_key).where(Alert.dedupe_key.in_(chunk))).scalars())
    return found


def run_period(
    session: Session,
    actor: Actor,
    *,
    start: dt.date,
    end: dt.date,
    progress: Progress | None = None,
    params: MonitoringParams = DEFAULTS,
) -> PartSummary:
    """Run every monitoring rule over the prescription lines of [start, end) and raise one alert per finding."""
    actor.require(*RUN_ROLES)
    validate_params(params)
    from procurement.audit import rx_keys, rx_loader  # they read the database; imported late on purpose

    summary = PartSummary(PART, start, end)
    lines = rx_loader.load_lines(session, start=start, end=end)
    summary.rows = len(lines)
    if lines.empty:
        summary.notes.append("no prescription lines in the period")
        return summary
    if start.day != 1 or end.day != 1:
        summary.notes.append("the period cuts a calendar month: monthly key-drug figures of that month are partial")
    received = _available(rx_loader.load_received(session, start=start, end=end),
                          rx_loader.dispensed_before(session, start=start))  # fmt: skip
    findings = run_rules(lines, received, params, rx_keys.StoredLabels(session))
    findings, history_lines = _with_key_drug_history(session, rx_loader, lines, findings, params, start=start)
    findings, cycle_lines = _with_abnormal_cycle(session, rx_loader, lines, findings, params, start=start)
    findings, regional = _with_regional_limits(session, lines, findings, params)
    summary.findings = len(findings)
    summary.figures = {
        "lines": len(lines),
        "findings_by_rule": {str(k): int(v) for k, v in findings["rule"].value_counts().sort_index().items()},
        "params": params.label(),
        "key_drug_history_lines": history_lines,
        "abnormal_cycle_lines": cycle_lines,
        "regional_limits": regional,
    }
    bundles = [params, *(mr.PARAMS_BY_REGION[name] for name in regional)]  # regional limits cite their own sets
    sets: dict[str, ParameterSet] = {f"{ps.name}@{ps.version}": ps for b in bundles for _, ps in b.sets()}
    records = findings.to_dict("records")
    keys = [_dedupe_key(finding, start, end) for finding in records]
    raised_before = _existing_keys(session, keys)
    total = len(records)
    for done, (finding, key) in enumerate(zip(records, keys, strict=True), start=1):
        if progress is not None and (done % 100 == 0 or done == total):
            progress(done, total)
        if key in raised_before:  # a re-run: skip the per-alert lookup (raise_alert_once still guards races)
            continue
        object_type, object_id = _object(finding["subject"])
        _, new = raise_alert_once(
            session,
            dedupe_key=key,
            actor=actor,
            code=finding["rule"],
            source=SOURCE,
            severity=Severity(finding["severity"]),
            title=_title(finding),
            object_type=object_type,
            object_id=object_id,
            evidence=_evidence(finding, start, end),
            rule=sets[finding["params"]].describe(),
            subject_org_id=_none(finding["hospital_id"]),
        )
        summary.alerts_raised += int(new)
    record_audit(
        session,
        actor=actor,
        action="monitoring.period_checked",
        object_type="monitoring_period",
        object_id=f"{start.isoformat()}..{end.isoformat()}",
        details={"rows": summary.rows, "findings": summary.findings, "alerts_raised": summary.alerts_raised},
    )
    return summary


# ---------------------------------------------------------------- dashboard


def top_anomalies(findings: pd.DataFrame, n: int = 10) -> dict[str, pd.DataFrame]:
    """Rank physicians and products by their findings: count, severity-weighted score (low 1 … critical 4), rules."""
    weighted = findings.assign(score=findings["severity"].map(SEVERITY_WEIGHT).astype("int64"))
    out = {}
    for name, column in (("physicians", "physician_id"), ("products", "product_id")):
        rows = weighted[weighted[column].notna()]
        ranked = (
            rows.groupby([column, "hospital_id"])
            .agg(findings=("rule", "size"), score=("score", "sum"), rules=("rule", lambda r: sorted(set(r))))
            .reset_index()
            .sort_values(["score", "findings", column], ascending=[False, False, True], kind="stable")
            .head(n)
            .reset_index(drop=True)
        )
        out[name] = ranked
    return out


def top_anomalous(
    session: Session, actor: Actor, *, n: int = 10, hospital_id: int | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Return the top physicians and products behind open (not dismissed) monitoring alerts, for the dashboard.

    A hospital user sees only its own hospital's alerts.
    """
    actor.require(*DASHBOARD_ROLES)
    query = sa.select(Alert.code, Alert.severity, Alert.subject_org_id, Alert.evidence).where(
        Alert.source == SOURCE, Alert.status != AlertStatus.DISMISSED.value
    )
    if actor.has(Role.PHARMACY_MANAGER) and not actor.has(Role.AUDITOR, Role.ORGANISER, Role.ADMIN):
        hospital_id = actor.org_id
    if hospital_id is not None:
        query = query.where(Alert.subject_org_id == hospital_id)
    rows = session.exec(query).all()
    frame = pd.DataFrame(
        {
            "rule": [r.code for r in rows],
            "severity": [r.severity for r in rows],
            "hospital_id": pd.array([r.subject_org_id for r in rows], dtype="Int64"),
            "physician_id": pd.array([(r.evidence or {}).get("physician_id") for r in rows], dtype="Int64"),
            "product_id": pd.array([(r.evidence or {}).get("product_id") for r in rows], dtype="Int64"),
        }
    )
    return {name: table.to_dict("records") for name, table in top_anomalies(frame, n).items()}
