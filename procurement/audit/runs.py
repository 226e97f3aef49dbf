"""Audit runs: run every monitoring, reconciliation and surplus computation for a period, reporting progress.

A run covers the period [start, end) and the parts asked for (all by default). Each part runs in its own savepoint:
a part that fails is rolled back and reported as failed while the others keep their results. Parts raise their
findings as alerts once (``raise_alert_once``), so running a period again adds only what is new. Progress is kept
per part on the run row (``done``/``total``), and while a part runs in the background its live figures are kept in
this process (:data:`LIVE`) so a status request can report how far it has got.

One period is audited by one run at a time: a run is refused while another queued or running run covers an
overlapping period with a part in common (the parts write the same alerts, surplus results and verdicts). A run
records which process runs it (``runner``: host, pid and the process's start time) and a heartbeat at each part;
before a run is requested, runs whose process has gone (same host) or whose heartbeat is older than the stale window
(any host) are marked ``interrupted``, so a crashed worker never blocks the period for ever.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import serialize_writers, utcnow
from core.errors import CONFLICT, DomainError, invalid, not_found
from core.idempotency import key_hash
from core.pagination import Page, paginate
from core.roles import Role
from procurement.audit.parts import PartSummary, Progress
from procurement.audit.run_models import AuditRun
from procurement.orders.supply import china_today, first_of_month

RUN_ROLES = (Role.AUDITOR, Role.ADMIN)
ACTIVE = ("queued", "running")
DEFAULT_STALE_AFTER = dt.timedelta(hours=2)  # no heartbeat for this long: the run's process is presumed gone
RUN_LOCK = "yaolian.audit_runs"  # serializes requesting runs, so two requests cannot both pass the overlap check
LOCK_WAIT_SECONDS = 5.0
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
    stale_after: dt.timedelta = DEFAULT_STALE_AFTER,
) -> tuple[AuditRun, bool]:
    """Queue a run over [start, end); return it and whether it is new (a retried key returns the first run).

    Refused (409 ``run_in_progress``) while a queued or running run covers an overlapping period with a common part.
    """
    actor.require(*RUN_ROLES)
    # Requests take turns (a retried key then finds the first run committed); a request waiting longer than
    # LOCK_WAIT_SECONDS is behind a run executing in its own request, and is told so instead of queueing.
    if not serialize_writers(session, RUN_LOCK, wait_seconds=LOCK_WAIT_SECONDS):
        raise DomainError(
            CONFLICT,
            "another audit run is being started or is running in its request; try again in a moment, or start runs "
            "with Prefer: respond-async",
            code="run_in_progress",
            retry_after=max(1, round(LOCK_WAIT_SECONDS)),
        )
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
    now = now or utcnow()
    today = china_today(now)
    if end > today + dt.timedelta(days=1):
        raise invalid("end", f"a period cannot end after today ({today}); the end day is not included")
    sweep_interrupted(session, actor=actor, now=now, stale_after=stale_after)
    _refuse_overlap(session, start=start, end=end, parts=wanted)
    run = AuditRun(
        period_start=start,
        period_end=end,
        parts=wanted,
        progress={name: {"status": "pending", "done": 0, "total": 0} for name in wanted},
        requested_by_user_id=actor.user_id,
        requested_by_org_id=actor.org_id,
        key_hash=hashed,
        runner=current_runner(),
        heartbeat_at=now,
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
    run.status, run.started_at, run.runner = "running", utcnow(), current_runner()
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


class RunSwept(Exception):
    """The run was marked interrupted by another process meanwhile: stop, and leave that verdict standing."""


def _save(session: Session, run: AuditRun, commit: Callable[[], None] | None) -> None:
    now = utcnow()
    # A heartbeat only while the run is still ours: once swept as interrupted (its process presumed gone), a run that
    # was merely slow stops here instead of writing "done" over the sweep and racing the run that replaced it.
    table = AuditRun.__table__
    beat = table.update().where(table.c.id == run.id, table.c.status.in_(ACTIVE)).values(heartbeat_at=now)
    if session.connection().execute(beat).rowcount == 0:
        raise RunSwept(f"audit run {run.id} was marked interrupted meanwhile; it stops")
    run.heartbeat_at = now
    session.add(run)
    session.flush()
    if commit is not None:
        commit()


def _refuse_overlap(session: Session, *, start: dt.date, end: dt.date, parts: list[str]) -> None:
    stmt = (
        sa.select(AuditRun)
        .where(AuditRun.status.in_(ACTIVE), AuditRun.period_start < end, AuditRun.period_end > start)
        .order_by(AuditRun.id)
    )
    for other in session.exec(stmt).scalars():
        common = [name for name in parts if name in other.parts]
        if common:
            raise DomainError(
                CONFLICT,
                f"audit run {other.id} over {other.period_start} to {other.period_end} (end day not included) is "
                f"still {other.status} with the parts {', '.join(common)}; wait for it to finish",
                code="run_in_progress",
                errors={"period": [f"overlaps audit run {other.id}"]},
                keep_work=True,  # runs swept as interrupted just before stay swept
            )


def _process_started(pid: int) -> str | None:
    """Return the process's start time in clock ticks since boot (Linux ``/proc``), or None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


_RUNNERS: dict[int, str] = {}


def current_runner() -> str:
    """Name this process as a runner: host, pid and the process's start time (so a reused pid is not taken for it).

    Computed per process, not at import: gunicorn may import the application in its master and fork the workers.
    """
    pid = os.getpid()
    if pid not in _RUNNERS:
        _RUNNERS[pid] = f"{_host()}:{pid}:{_process_started(pid) or '?'}"
    return _RUNNERS[pid]


def _host() -> str:
    """This host as runners name it: the host name and, on Linux, the pid namespace, since containers sharing the
    host's network (and so its name) do not see each other's processes."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}#{namespace}"


def runner_alive(runner: str | None) -> bool | None:
    """Return whether the process named by ``runner`` still runs: True/False on this host, None on another."""
    if not runner:
        return None
    host, _, rest = runner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != _host() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return started == current_runner().rsplit(":", 1)[1]
    now_started = _process_started(pid)
    if now_started is not None:
        return started in ("?", now_started)  # another process now holds the pid: the runner is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not os.path.isdir("/proc")  # /proc exists yet lacks the pid: gone


def sweep_interrupted(
    session: Session, *, actor: Actor, now: dt.datetime | None = None, stale_after: dt.timedelta = DEFAULT_STALE_AFTER
) -> list[AuditRun]:
    """Mark queued or running runs whose process has gone, or that have been silent too long, as interrupted."""
    now = now or utcnow()
    swept = []
    for run in session.exec(sa.select(AuditRun).where(AuditRun.status.in_(ACTIVE))).scalars():
        was, heard = run.status, run.heartbeat_at  # the run as read: only that run is marked below
        last = heard or run.started_at or run.created_at
        alive = runner_alive(run.runner)
        if alive is False:
            reason = f"its process ({run.runner}) stopped before it finished"
        elif alive is None and last < now - stale_after:
            reason = f"no word from its process ({run.runner or 'unknown'}) since {last:%Y-%m-%d %H:%M} UTC"
        else:
            continue
        progress = {name: dict(entry) for name, entry in run.progress.items()}
        for entry in progress.values():
            entry["status"] = {"running": "interrupted", "pending": "not_run"}.get(entry["status"], entry["status"])
        message = f"interrupted: {reason}; parts marked done kept their results, request the period again"
        error = message if run.error is None else f"{run.error}; {message}"
        # Only as the run was read: a runner that saved progress or finished meanwhile is not overwritten.
        seen = AuditRun.heartbeat_at.is_(None) if heard is None else AuditRun.heartbeat_at == heard
        marked = session.execute(
            sa.update(AuditRun)
            .where(AuditRun.id == run.id, AuditRun.status == was, seen)
            .values(progress=progress, status="interrupted", finished_at=now, error=error)
            .execution_options(synchronize_session=False)
        )
        session.refresh(run)
        if marked.rowcount != 1:
            continue
        record_audit(
            session,
            actor=actor,
            action="audit_run.interrupted",
            object_type="audit_run",
            object_id=run.id,
            details={"from": was, "runner": run.runner, "last_heard": last.isoformat()},
        )
        swept.append(run)
    session.flush()
    return swept


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
