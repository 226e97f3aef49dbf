"""Audit runs in the background: the request queues the run, a thread runs it after the response is sent.

The thread opens its own connection from the application's engine and commits after each part, so
``GET /api/v1/audits/runs/{id}`` shows parts finishing one by one (and, within a running part, the live figures kept
by :mod:`procurement.audit.runs`). When the application does not own its engine (tests hand in one connection),
there is nothing to run in the background with and the run happens in the request instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from flask import Flask, Response, after_this_request, current_app
from sqlmodel import Session

from core.actor import Actor
from core.db import utcnow
from procurement.audit.run_models import AuditRun
from procurement.audit.runs import ACTIVE, RunSwept, execute_run

_ENGINE = "yaolian.engine"
log = logging.getLogger(__name__)


def stale_after() -> dt.timedelta:
    """How long a run on another host may stay silent before it is presumed interrupted (configuration)."""
    return dt.timedelta(minutes=current_app.config.get("AUDIT_RUN_STALE_MINUTES", 120))


def can_run_in_background() -> bool:
    return current_app.extensions.get(_ENGINE) is not None


def start_after_response(run_id: int, actor: Actor) -> None:
    """Run the queued run in a thread once this request's transaction has committed (the response is closed)."""
    app = current_app._get_current_object()

    @after_this_request
    def _later(response: Response) -> Response:
        if response.status_code < 400:
            response.call_on_close(
                lambda: threading.Thread(target=_work, args=(app, run_id, actor), daemon=True).start()
            )
        return response


def _work(app: Flask, run_id: int, actor: Actor) -> None:
    engine = app.extensions[_ENGINE]
    with Session(engine, expire_on_commit=False) as session:
        run = session.get(AuditRun, run_id)
        if run is None or run.status != "queued":
            return
        try:
            execute_run(session, actor=actor, run=run, commit=session.commit)
        except RunSwept:  # another process marked it interrupted: that verdict stands
            log.warning("audit run %s was marked interrupted while it ran; stopped", run_id)
            session.rollback()
        except Exception as exc:  # a bug in a part: keep what finished, mark the run failed, log the trace
            log.exception("audit run %s failed", run_id)
            session.rollback()
            table = AuditRun.__table__
            failed = (
                table.update()
                .where(table.c.id == run_id, table.c.status.in_(ACTIVE))
                .values(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow())
            )
            session.connection().execute(failed)
            session.commit()
