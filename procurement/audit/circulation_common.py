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

from core.models import Organisation
from procurement.ocds_codes import CHINA_TIME
from procurement.orders.progress import day_bounds

EVIDENCE_LIMIT = 200  # ids listed per finding; the counts always cover all of them


@dataclass
class Finding:
    """One anomaly, ready to become an alert: ``group`` and ``ids`` make its dedupe key."""

    code: str
    kind: str  # the check within the code, e.g. "no_order", "recalled_in_stock"
    subject_org_id: int | None
    title: str
    object_type: str
    object_id: str
    ids: Sequence[int] = ()  # the rows behind the finding (event, item, receipt or report ids)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """Name the finding by its check, subject, object and the rows behind it: a re-run finds the same key."""
        digest = hashlib.sha256(",".join(str(i) for i in sorted(self.ids)).encode()).hexdigest()[:16]
        return f"{self.code}|{self.kind}|org:{self.subject_org_id}|{self.object_type}:{self.object_id}|{digest}"[:200]


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
