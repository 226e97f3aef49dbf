"""Audit runs pages: start a run of the period's computations, watch each part's progress, read what it found."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from core.errors import DomainError
from procurement.audit import runs
from webui.audit_jobs import can_run_in_background, stale_after, start_after_response
from webui.db import get_db, keep_work
from webui.pages.alert_forms import PARTS, RunForm
from webui.pages.common import page_number, role_required
from webui.pages.order_views import status_of

bp = Blueprint("audit_pages", __name__, url_prefix="/audits")
REVIEWERS = runs.RUN_ROLES


def _render_runs(form: RunForm | None = None, errors: list[str] | None = None, status: int = 200):
    session = get_db()
    form = form or RunForm(formdata=None)
    page = runs.list_runs(session, actor=g.actor, page=page_number(), per_page=20)
    return render_template(
        "pages/audits/runs.html", form=form, page=page, parts=PARTS, errors=errors or [], live=runs.live_progress
    ), status


@bp.route("/runs", methods=["GET"])
@role_required(*REVIEWERS)
def runs_page():
    """Past runs, newest first, and the form to start one."""
    return _render_runs()


@bp.route("/runs", methods=["POST"])
@role_required(*REVIEWERS)
def start_run():
    """Start a run: in the background when the server can, else in this request; then show its progress."""
    form = RunForm()
    if not form.validate_on_submit():
        return _render_runs(form, status=422)
    session = get_db()
    try:
        run, _created = runs.request_run(
            session,
            actor=g.actor,
            start=form.start.data,
            end=form.end.data,
            parts=form.parts.data or None,
            stale_after=stale_after(),
        )
        if can_run_in_background():
            start_after_response(run.id, g.actor)
        else:
            runs.execute_run(session, actor=g.actor, run=run)
    except DomainError as exc:
        status = status_of(exc)
        if exc.keep_work:  # runs swept as interrupted before the refusal stay swept
            keep_work()
        field = next(iter(exc.errors), None)
        target = getattr(form, field, None) if field else None
        if target is not None:
            target.errors = [*target.errors, exc.message]
            return _render_runs(form, status=status)
        return _render_runs(form, errors=[exc.message], status=status)
    flash(_("Audit run %(num)s started.", num=run.id), "success")
    return redirect(url_for(".run", run_id=run.id))


@bp.route("/runs/<int:run_id>", methods=["GET"])
@role_required(*REVIEWERS)
def run(run_id: int):
    """One run: each part's status, progress and findings; the page refreshes itself while the run is going."""
    try:
        found = runs.get_run(get_db(), actor=g.actor, run_id=run_id)
    except DomainError:
        abort(404)
    return render_template("pages/audits/run.html", run=found, progress=runs.live_progress(found), parts=PARTS)
