"""Supply and circulation anomalies for an audit period (issue 6 item 4; rulebook 0.7, 0.11, 0.16, 1.7, 3.9).

``run_period`` reads the trace record, the orders and the hospitals' finance reports for [start, end), raises each
finding as an alert once (source ``circulation``), and reports what it read and found. The checks live beside it:
``circulation_channel`` (packs leaving the expected channel), ``circulation_stock`` (stock that should not exist),
``circulation_volume`` (purchases far above agreed volume or past use) and ``circulation_finance`` (the
out-of-catalogue share and the revenue structure). The trace rules R1–R7 of 5.6.7 are raised at capture and are not
repeated here.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from core.actor import Actor
from core.alerts import Severity, raise_alert_once
from core.errors import invalid
from core.params import ParameterSet
from core.roles import Role
from procurement.audit import circulation_channel, circulation_stock, circulation_volume
from procurement.audit.circulation_common import Finding, alerted_months
from procurement.audit.circulation_finance import IndicatorRow, indicators
from procurement.audit.circulation_rules import CIRCULATION_RULES, OUT_OF_CATALOGUE, REVENUE_STRUCTURE, describe
from procurement.audit.parts import PartSummary, Progress

SOURCE = "circulation"
RUN_ROLES = (Role.AUDITOR, Role.ADMIN)


def finance_findings(rows: list[IndicatorRow]) -> list[Finding]:
    """Return a finding for each hospital-month above its out-of-catalogue cap or off the revenue structure."""
    out = []
    for row in rows:
        month = row.month.strftime("%Y-%m")
        common = {"hospital_id": row.hospital_id, "month": month, "report_id": row.report_id}
        if row.above_limit:
            out.append(
                Finding(
                    code=OUT_OF_CATALOGUE,
                    kind="out_of_catalogue_share",
                    subject_org_id=row.hospital_id,
                    title="Out-of-catalogue spending above the cap",
                    object_type="hospital_finance_report",
                    object_id=str(row.report_id),
                    ids=[row.report_id],
                    evidence={
                        **common,
                        "rule": "0.11",
                        "share": str(row.out_of_catalogue_share),
                        "limit": str(row.out_of_catalogue_limit),
                        "region_code": row.region_code,
                    },
                )
            )
        if row.off_target:
            out.append(
                Finding(
                    code=REVENUE_STRUCTURE,
                    kind="revenue_structure",
                    subject_org_id=row.hospital_id,
                    title="Revenue structure off the 5 : 3 : 2 target",
                    object_type="hospital_finance_report",
                    object_id=str(row.report_id),
                    ids=[row.report_id],
                    evidence={
                        **common,
                        "rule": "0.16",
                        "grade": row.hospital_grade,
                        "structure": {k: str(v) for k, v in row.structure.items()},
                        "target": {k: str(v) for k, v in row.structure_target.items()},
                        "deviation": {k: str(v) for k, v in row.structure_deviation.items()},
                        "tolerance": str(row.structure_tolerance),
                    },
                )
            )
    return out


def run_period(
    session: Session,
    actor: Actor,
    *,
    start: dt.date,
    end: dt.date,
    progress: Progress | None = None,
    rules: ParameterSet = CIRCULATION_RULES,
) -> PartSummary:
    """Run every circulation check over [start, end), raise each finding once, and return the counts."""
    actor.require(*RUN_ROLES)
    if end <= start:
        raise invalid("end", "the period ends before it starts")
    summary = PartSummary("circulation", start, end)
    findings: list[Finding] = []
    counts: dict[str, int] = {}

    def read(name: str, rows: int, found: list[Finding]) -> None:
        counts[name] = rows
        summary.rows += rows
        findings.extend(found)

    steps = 6
    rows, found = circulation_channel.shipped_off_channel(session, start=start, end=end, rules=rules)
    read("ship_events", rows, found)
    _tick(progress, 1, steps)
    rows, found = circulation_channel.dispensed_off_channel(session, start=start, end=end, rules=rules)
    read("dispense_events", rows, found)
    findings.extend(circulation_stock.dispensed_unreceived(session, start=start, end=end))
    _tick(progress, 2, steps)
    # Current custody is not period data: it counts as read only when the period itself had trace activity.
    findings.extend(circulation_stock.stock_anomalies(session, start=start, end=end, rules=rules))
    _tick(progress, 3, steps)
    rows, found = circulation_volume.above_agreed(session, actor, end=end, rules=rules)
    read("agreed_volumes", 0, found)  # agreed volumes are standing data, not the period's
    _tick(progress, 4, steps)
    rows, found = circulation_volume.above_history(session, start=start, end=end, rules=rules)
    read("receipts", rows, found)
    _tick(progress, 5, steps)
    table = indicators(session, actor=actor, start=start, end=end, rules=rules)
    reports = sum(1 for row in table if not row.no_data)
    read("finance_reports", reports, finance_findings(table))
    _tick(progress, 6, steps)
    summary.findings = len(findings)
    severities = rules["severities"]
    by_code: dict[str, int] = {}
    covered = alerted_months(session, findings, source=SOURCE)
    for finding in findings:
        by_code[finding.code] = by_code.get(finding.code, 0) + 1
        if finding.dedupe_key in covered:
            continue  # raised before under the older key of its rows
        _alert, new = raise_alert_once(
            session,
            dedupe_key=finding.dedupe_key,
            actor=actor,
            code=finding.code,
            source=SOURCE,
            severity=Severity(severities[finding.code]),
            title=finding.title,
            object_type=finding.object_type,
            object_id=finding.object_id,
            evidence={"kind": finding.kind, "period": [start.isoformat(), end.isoformat()], **finding.evidence},
            rule=describe(rules),
            subject_org_id=finding.subject_org_id,
        )
        summary.alerts_raised += int(new)
    summary.figures = {"read": counts, "findings_by_code": by_code}
    if reports == 0:
        summary.notes.append(
            "no finance reports for the period: out-of-catalogue share and revenue structure not judged"
        )
    if summary.no_data:
        summary.notes.append("no trace events, receipts or finance reports in the period")
    return summary


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
