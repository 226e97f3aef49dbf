"""Audit runs: run every monitoring, reconciliation and surplus computation for a period, reporting progress.

A run covers the period [start, end) and the parts asked for (all by default). Each part runs in its own savepoint:
a part that fails is rolled back and reported as failed while the others keep their results. Parts raise their
findings as alerts once (``raise_alert_once``), so running a period again adds only what is new. Progress is kept
per part on the run row (``done``/``total``), and while a part runs in the background its live figures are kept in
this process (:data:`LIVE`) so a status request can report how far it has got.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, DomainError, invalid, not_found
from core.idempotency import key_hash
from core.pagination import Page, paginate
from core.roles import Role
from procurement.audit.parts import PartSummary, Progress
from procurement.audit.run_models import AuditRun
from procurement.orders.supply import china_today, first_of_month

RUN_ROLES = (Role.AUDITOR, Role.ADMIN)
log = logging.getLogger(__name__)
PartFn = Callable[..., PartSummary]

# Part name → "module:function" with the signature (session, actor, *, start, end, progress) -> PartSummary.
PARTS: dict[str, str] = {
    "payments": "procurement.audit.order_parts:run_payments",
    "progress": "procurement.audit.order_parts:run_progress",
    "supply": "procurement.audit.order_parts:run_supply",
    "reconciliation": "procurement.audit.reconciliation:run_period",
    "monitoring": "procurement.audit.monitoring:run_period",
    "circulation": "procurement.audit.circulation:run_period",
    "surplus": "procurement.audit.surplus:run_period",
    "credit": "procurement.audit.credit:run_period",
}

_LIVE_LOCK = threading.Lock()
LIVE: dict[int, dict[str, dict[str, int]]] = {}  # run id → part → {"done", "total"} while a part runs


def part_function(name: str) -> PartFn:
    module, _, function = PARTS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def request_run(
    session: Session,
    *,
    actor: Actor,
    start: dt.date,
    end: dt.date,
    parts: list[str] | None = None,
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[AuditRun, bool]:
    """Queue a run over [start, end); return it and whether it is new (a retried key returns the first run)."""
    actor.require(*RUN_ROLES)
    hashed = key_hash(idempotency_key)
    wanted = list(dict.fromkeys(parts)) if parts else list(PARTS)
    if hashed:
        earlier = (
            session.exec(
                sa.select(AuditRun).where(AuditRun.requested_by_org_id == actor.org_id, AuditRun.key_hash == hashed)
            )
            .scalars()
            .first()
        )
        if earlier is not None:
            same = (earlier.period_start, earlier.period_end, earlier.parts) == (start, end, wanted)
            if not same:
                raise DomainError(
                    CONFLICT, "this Idempotency-Key was used for another run", code="idempotency_key_reused"
                )
            return earlier, False
    unknown = [name for name in wanted if name not in PARTS]
    if unknown:
        raise invalid("parts", f"unknown parts: {', '.join(unknown)}; known: {', '.join(PARTS)}")
    if end <= start:
        raise invalid("end", "the period's end must come after its start (the end day is not included)")
    today = china_today(now or utcnow())
    if end > today + dt.timedelta(days=1):
        raise invalid("end", f"a period cannot end after today ({today}); the end day is not included")
    run = AuditRun(
        period_start=start,
        period_end=end,
        parts=wanted,
        progress={name: {"status": "pending", "done": 0, "total": 0} for name in wanted},
        requested_by_user_id=actor.user_id,
        requested_by_org_id=actor.org_id,
        key_hash=hashed,
    )
    session.add(run)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="audit_run.requested",
        object_type="audit_run",
        object_id=run.id,
        details={"start": start.isoformat(), "end": run.period_end.isoformat(), "parts": wanted},
    )
    return run, True


def execute_run(session: Session, *, actor: Actor, run: AuditRun, commit: Callable[[], None] | None = None) -> AuditRun:
    """Run each part of a queued run in turn; ``commit`` (background runs) makes each part's result visible."""
    if run.status != "queued":
        raise DomainError(CONFLICT, f"run {run.id} is {run.status}, not queued", code="run_not_queued")
    run.status, run.started_at = "running", utcnow()
    _save(session, run, commit)
    failed = False
    for name in run.parts:
        failed |= not _execute_part(session, actor=actor, run=run, name=name, commit=commit)
    run.status = "failed" if failed else "done"
    run.finished_at = utcnow()
    summaries = [entry.get("summary") for entry in run.progress.values() if entry.get("summary")]
    no_data = bool(summaries) and all(summary["no_data"] for summary in summaries)
    run.error = run.error or ("no data in this period for any part" if no_data else None)
    record_audit(
        session,
        actor=actor,
        action="audit_run.finished",
        object_type="audit_run",
        object_id=run.id,
        details={"status": run.status, "alerts_raised": sum(s["alerts_raised"] for s in summaries)},
    )
    _save(session, run, commit)
    with _LIVE_LOCK:
        LIVE.pop(run.id, None)
    return run


def _execute_part(
    session: Session, *, actor: Actor, run: AuditRun, name: str, commit: Callable[[], None] | None
) -> bool:
    _set_part(session, run, name, status="running")
    _save(session, run, commit)
    began = time.perf_counter()

    def progress(done: int, total: int) -> None:
        with _LIVE_LOCK:
            LIVE.setdefault(run.id, {})[name] = {"done": int(done), "total": int(total)}

    try:
        with session.begin_nested():
            summary = part_function(name)(session, actor, start=run.period_start, end=run.period_end, progress=progress)
    except Exception as exc:  # the part's savepoint is rolled back; the other parts still run
        message = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"[:500]
        if not isinstance(exc, DomainError):
            log.exception("audit run %s: part %s failed", run.id, name)
        _set_part(session, run, name, status="failed", error=message, seconds=time.perf_counter() - began)
        run.error = f"{name}: {message}" if run.error is None else f"{run.error}; {name}: {message}"
        _save(session, run, commit)
        return False
    done = {"done": summary.rows, "total": summary.rows}
    with _LIVE_LOCK:
        done = LIVE.get(run.id, {}).get(name, done)
    _set_part(session, run, name, status="done", summary=summary.as_dict(), seconds=time.perf_counter() - began, **done)
    _save(session, run, commit)
    return True


def _set_part(session: Session, run: AuditRun, name: str, **changes: Any) -> None:
    progress = {key: dict(value) for key, value in run.progress.items()}
    entry = progress.setdefault(name, {})
    entry.update({key: (round(value, 3) if key == "seconds" else value) for key, value in changes.items()})
    run.progress = progress  # a new dict, so the JSON column is seen as changed
    session.add(run)


def _save(session: Session, run: AuditRun, commit: Callable[[], None] | None) -> None:
    session.flush()
    if commit is not None:
        commit()


def live_progress(run: AuditRun) -> dict[str, Any]:
    """Return the run's per-part progress, with the live figures of a part still running in this process."""
    with _LIVE_LOCK:
        live = {name: dict(value) for name, value in LIVE.get(run.id, {}).items()}
    merged = {name: dict(entry) for name, entry in run.progress.items()}
    for name, figures in live.items():
        if merged.get(name, {}).get("status") == "running":
            merged[name].update(figures)
    return merged


def get_run(session: Session, *, actor: Actor, run_id: int) -> AuditRun:
    actor.require(*RUN_ROLES)
    run = session.get(AuditRun, run_id)
    if run is None:
        raise not_found("audit run", run_id)
    return run


def list_runs(session: Session, *, actor: Actor, page: int = 1, per_page: int = 20) -> Page[AuditRun]:
    actor.require(*RUN_ROLES)
    stmt = sa.select(AuditRun).order_by(AuditRun.created_at.desc(), AuditRun.id.desc())
    return paginate(session, stmt, page=page, per_page=per_page)


def months_in(start: dt.date, end: dt.date) -> list[dt.date]:
    """Return the first day of every month that overlaps [start, end)."""
    months, month = [], first_of_month(start)
    while month < end:
        months.append(month)
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months


def report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
