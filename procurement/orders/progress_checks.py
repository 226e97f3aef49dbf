"""The agreed-volume progress check: an alert for each hospital × lot behind time (rulebook 1.7.5).

The check may run any number of times (a nightly job, an auditor's button): each alert is keyed by month, hospital
and lot and raised once a month, so a hospital that stays behind is reminded monthly, not daily.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alerts import Alert, raise_alert
from core.audit import record_audit
from core.db import utcnow
from core.errors import invalid
from core.params import ParameterSet
from procurement.ocds_codes import CHINA_TIME
from procurement.orders.progress import OVERSEERS, ProgressRow, ProgressStatus, agreement_progress
from procurement.orders.rules import ORDER_RULES, PROGRESS_BEHIND

SOURCE = "orders"
OBJECT_TYPE = "agreement_progress"  # alert object ids: "YYYY-MM/hospital id/lot id"


def check_progress(
    session: Session,
    *,
    actor: Actor,
    on: dt.date,
    now: dt.datetime | None = None,
    rules: ParameterSet = ORDER_RULES,
) -> list[Alert]:
    """Raise a behind-time alert for each hospital × lot behind on ``on``, once per month; return the new ones."""
    actor.require(*OVERSEERS)
    today = (now or utcnow()).astimezone(CHINA_TIME).date()
    if on > today:
        raise invalid("on", "progress can be checked for today or a past day, not a future one")
    month = f"{on:%Y-%m}"
    seen = set(
        session.exec(
            sa.select(Alert.object_id).where(
                Alert.code == PROGRESS_BEHIND, Alert.object_type == OBJECT_TYPE, Alert.object_id.like(f"{month}/%")
            )
        ).scalars()
    )
    rule = {
        "name": rules.name,
        "version": rules.version,
        "cites": list(rules.cites),
        "values": {"progress_warning_share": str(rules["progress_warning_share"])},
    }
    alerts: list[Alert] = []
    for row in agreement_progress(session, actor=actor, on=on, rules=rules):
        key = f"{month}/{row.hospital_id}/{row.lot_id}"
        if row.status != ProgressStatus.BEHIND or key in seen:
            continue
        seen.add(key)
        alerts.append(
            raise_alert(
                session,
                actor=actor,
                code=PROGRESS_BEHIND,
                source=SOURCE,
                severity=rules["severities"][PROGRESS_BEHIND],
                title=(
                    f"{row.hospital_name}: {row.generic_name} at {row.completion:.2%} of the agreed volume "
                    f"with {row.time_progress:.2%} of the period elapsed"
                )[:300],
                object_type=OBJECT_TYPE,
                object_id=key,
                evidence=_evidence(row),
                rule=rule,
                subject_org_id=row.hospital_id,
            )
        )
    record_audit(
        session,
        actor=actor,
        action="agreements.progress_checked",
        object_type=OBJECT_TYPE,
        object_id=on.isoformat(),
        details={"alerts": [alert.id for alert in alerts]},
    )
    return alerts


def _evidence(row: ProgressRow) -> dict[str, Any]:
    fields = ("tender_id", "lot_id", "award_id", "product_id", "supplier_id", "agreed_volume", "annual_volume")
    evidence: dict[str, Any] = {name: getattr(row, name) for name in fields}
    for name in ("received_units", "ordered_units", "completion", "time_progress", "pace", "warning_share"):
        value = getattr(row, name)
        evidence[name] = None if value is None else str(value)
    for name in ("period_start", "period_end", "on"):
        evidence[name] = getattr(row, name).isoformat()
    return evidence
