"""The credit part of an audit run: re-evaluate every case as of the period's last day (rulebook 6.4, 6.7).

Cases still inside their window get their consequences (sanctions once, one alert per case, level and firm);
cases that left the window have their sanctions ended on their last counting day and the firm is told once.
Running a period twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.roles import Role
from procurement.audit import credit_disposal
from procurement.audit.credit_models import CreditCase, is_active
from procurement.audit.parts import PartSummary, Progress

PART = "credit"


def run_period(
    session: Session, actor: Actor, *, start: dt.date, end: dt.date, progress: Progress | None = None
) -> PartSummary:
    """Re-evaluate the cases whose window overlaps [start, end) as of ``end``'s eve; raise their alerts once."""
    actor.require(Role.AUDITOR, Role.ADMIN)
    summary = PartSummary(PART, start, end)
    on = end - dt.timedelta(days=1)
    cases = (
        session.exec(
            sa.select(CreditCase)
            .where(CreditCase.counts.is_(True), CreditCase.decision_date < end, CreditCase.window_ends_on > start)
            .order_by(CreditCase.id)
        )
        .scalars()
        .all()
    )
    summary.rows = len(cases)
    levels: Counter[str] = Counter()
    rated: set[int] = set()
    for index, case in enumerate(cases, start=1):
        if is_active(case, on):
            summary.findings += 1
            levels[f"{case.rule_set_version}:{case.level}"] += 1
            rated.update({case.supplier_id, case.controlling_org_id} - {None})
            summary.alerts_raised += credit_disposal.apply_consequences(session, case=case, actor=actor, today=on)
        elif case.repaired_on is None and on >= case.window_ends_on:
            summary.alerts_raised += credit_disposal.expire_case(session, case=case, actor=actor)
        if progress is not None:
            progress(index, len(cases))
    if not cases:
        summary.notes.append("no credit cases in the period")
    summary.figures = {"levels": dict(sorted(levels.items())), "suppliers_rated": len(rated), "as_of": on.isoformat()}
    return summary
