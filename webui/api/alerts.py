"""The alerts workbench and audit runs: one queue of flags from every source; runs of a period's computations."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from core.alert_review import AlertFilter, alert_counts, alert_history, get_alert, list_alerts, review_alert
from procurement.audit import runs
from procurement.audit.run_models import AuditRun
from webui.api import alert_schemas as s
from webui.api.common import actor, db, page_items
from webui.audit_jobs import can_run_in_background, stale_after, start_after_response
from webui.evidence import evidence_links

blp = Blueprint(
    "alerts_api",
    __name__,
    description="Alerts workbench (auditors: all; hospitals and suppliers: their own) and audit runs",
)


def _detail(alert) -> dict:
    return {
        **{column: getattr(alert, column) for column in s.WorkbenchAlertOut().fields},
        "links": evidence_links(alert),
        "history": alert_history(db(), alert.id, actor=actor()),
    }


@blp.route("/alerts", methods=["GET"])
@blp.arguments(s.AlertQuery(), location="query")
@blp.response(200, s.WorkbenchAlertOut(many=True))
@blp.paginate()
def alerts(args: dict, pagination_parameters):
    """List alerts, newest first: auditors and admins see every alert, others those about their organisation."""
    page = list_alerts(
        db(), actor(), AlertFilter(**args), page=pagination_parameters.page, per_page=pagination_parameters.page_size
    )
    return page_items(page, pagination_parameters)


@blp.route("/alerts/summary", methods=["GET"])
@blp.response(200, s.AlertCountOut(many=True))
def summary():
    """Count the visible alerts by source, code and status."""
    return alert_counts(db(), actor())


@blp.route("/alerts/<int:alert_id>", methods=["GET"])
@blp.response(200, s.AlertDetailOut)
def alert(alert_id: int):
    """An alert with its evidence, links to the rows behind it, and its review history."""
    return _detail(get_alert(db(), actor(), alert_id))


@blp.route("/alerts/<int:alert_id>", methods=["PATCH"])
@blp.arguments(s.AlertReviewIn())
@blp.response(200, s.AlertDetailOut)
def review(data: dict, alert_id: int):
    """Review an alert: assign, confirm, dismiss or reopen (auditors; a note is required to close or reopen), comment,
    or answer (the organisation the alert is about)."""
    return _detail(review_alert(db(), actor(), alert_id, **data))


def _run_out(run: AuditRun) -> dict:
    progress = runs.live_progress(run)
    summaries = [entry["summary"] for entry in progress.values() if entry.get("summary")]
    return {
        **{column: getattr(run, column) for column in ("id", "period_start", "period_end", "parts", "status")},
        **{column: getattr(run, column) for column in ("error", "requested_by_user_id", "created_at")},
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "progress": progress,
        "no_data": bool(summaries) and all(summary["no_data"] for summary in summaries),
        "alerts_raised": sum(summary["alerts_raised"] for summary in summaries),
    }


@blp.route("/audits/runs", methods=["POST"])
@blp.arguments(s.AuditRunIn())
@blp.response(201, s.AuditRunOut)
@blp.alt_response(202, schema=s.AuditRunOut, description="queued (Prefer: respond-async); poll its Location")
@blp.alt_response(200, schema=s.AuditRunOut, description="a retry with the same Idempotency-Key")
def start_run(data: dict):
    """Run monitoring, reconciliation, surplus, credit and order checks for [start, end). Honours Idempotency-Key.

    With ``Prefer: respond-async`` the run is queued and runs after the response (202); poll
    ``GET /api/v1/audits/runs/{id}`` for each part's progress. Otherwise it runs in the request (201).

    409 ``run_in_progress`` while another queued or running run covers an overlapping period with a part in common;
    runs whose process has stopped are marked ``interrupted`` first, so they never block a period."""
    run, created = runs.request_run(
        db(), actor=actor(), **data, idempotency_key=request.headers.get("Idempotency-Key"), stale_after=stale_after()
    )
    headers = {"Location": f"/api/v1/audits/runs/{run.id}"}
    if not created:
        return _run_out(run), 200, headers
    if "respond-async" in request.headers.get("Prefer", "") and can_run_in_background():
        start_after_response(run.id, actor())
        return _run_out(run), 202, headers
    runs.execute_run(db(), actor=actor(), run=run)
    return _run_out(run), 201, headers


@blp.route("/audits/runs", methods=["GET"])
@blp.response(200, s.AuditRunOut(many=True))
@blp.paginate()
def list_runs(pagination_parameters):
    """List audit runs, newest first (auditors and admins)."""
    page = runs.list_runs(
        db(), actor=actor(), page=pagination_parameters.page, per_page=pagination_parameters.page_size
    )
    pagination_parameters.item_count = page.total
    return [_run_out(run) for run in page.items]


@blp.route("/audits/runs/<int:run_id>", methods=["GET"])
@blp.response(200, s.AuditRunOut)
def get_run(run_id: int):
    """A run's status and each part's progress and findings."""
    return _run_out(runs.get_run(db(), actor=actor(), run_id=run_id))
