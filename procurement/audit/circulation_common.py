"""What every circulation check returns, and the small helpers they share: period instants, ids, frames."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from core.alerts import Alert
from core.models import Organisation
from procurement.ocds_codes import CHINA_TIME
from procurement.orders.progress import day_bounds

EVIDENCE_LIMIT = 200  # ids listed per finding; the counts always cover all of them


@dataclass
class Finding:
    """One anomaly, ready to become an alert: its check, subject, object and ``ids`` (or ``month``) make its key."""

    code: str
    kind: str  # the check within the code, e.g. "no_order", "recalled_in_stock"
    subject_org_id: int | None
    title: str
    object_type: str
    object_id: str
    ids: Sequence[int] = ()  # the rows behind the finding (event, item, receipt or report ids)
    evidence: dict[str, Any] = field(default_factory=dict)
    month: str | None = None  # "YYYY-MM" when the check judges whole calendar months: the month names the finding

    @property
    def dedupe_key(self) -> str:
        """Name the finding by its check, subject, object and the rows (or month) behind it: a re-run finds it."""
        head = f"{self.code}|{self.kind}|org:{self.subject_org_id}|{self.object_type}:{self.object_id}"
        if self.month is not None:
            # A month judged again after another receipt or dispensing, or from an overlapping period, is the
            # same finding: its rows change, its month does not.
            return f"{head}|month:{self.month}"[:200]
        digest = hashlib.sha256(",".join(str(i) for i in sorted(self.ids)).encode()).hexdigest()[:16]
        return f"{head}|{digest}"[:200]


def alerted_months(session: Session, findings: Sequence[Finding], *, source: str) -> set[str]:
    """Return the keys of monthly findings already raised under an older key, named by the rows behind them.

    Before monthly findings were named by their month, their key digested the rows; such an alert still covers its
    month. It is recognised by its code, subject, object and the ``kind`` and ``month`` of its evidence.
    """
    monthly = {f.dedupe_key: f for f in findings if f.month is not None}
    if not monthly:
        return set()
    wanted = {
        (f.code, f.kind, f.subject_org_id, f.object_type, f.object_id, f.month): key for key, f in monthly.items()
    }
    object_ids = sorted({f.object_id for f in monthly.values()})
    out: set[str] = set()
    for start in range(0, len(object_ids), 500):
        stmt = sa.select(
            Alert.code, Alert.subject_org_id, Alert.object_type, Alert.object_id, Alert.evidence, Alert.dedupe_key
        ).where(
            Alert.source == source,
            Alert.code.in_({f.code for f in monthly.values()}),
            Alert.object_id.in_(object_ids[start : start + 500]),
        )
        for code, org_id, object_type, object_id, evidence, key in session.connection().execute(stmt):
            if key in monthly or not isinstance(evidence, dict):
                continue
            found = (code, evidence.get("kind"), org_id, object_type, object_id, evidence.get("month"))
            if found in wanted:
                out.add(wanted[found])
    return out


def period_instants(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Return the instants that open ``start`` and ``end`` as calendar days in China: the period is [start, end)."""
    return day_bounds(start, end - dt.timedelta(days=1))


def frame(session: Session, stmt: sa.Select, columns: Sequence[str]) -> pd.DataFrame:
    """Run a Core select and return its rows as a frame with the given column names."""
    rows = session.connection().execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=list(columns))


def listed(values: Iterable[Any]) -> list[Any]:
    """Return the first ids of a finding for its evidence, as plain Python values."""
    out = []
    for value in values:
        if len(out) == EVIDENCE_LIMIT:
            break
        out.append(value.item() if hasattr(value, "item") else value)
    return out


def china_month(series: pd.Series) -> pd.Series:
    """Return each instant's month in China as "YYYY-MM"."""
    return pd.to_datetime(series, utc=True).dt.tz_convert(CHINA_TIME).dt.strftime("%Y-%m")


def communities(session: Session, org_ids: Iterable[int]) -> dict[int, int]:
    """Return each organisation's medical community: its general hospital (parent) or itself."""
    ids = sorted({int(i) for i in org_ids})
    out: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        stmt = sa.select(Organisation.id, Organisation.parent_id).where(Organisation.id.in_(ids[start : start + 500]))
        for org_id, parent_id in session.connection().execute(stmt):
            out[org_id] = parent_id or org_id
    return out
