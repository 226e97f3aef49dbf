"""The alerts workbench pages: one queue of flags from every source, each with its evidence, links and history.

Auditors filter the queue, open an alert, follow its evidence to the rows behind it, and assign, confirm, dismiss or
reopen it with a note. A hospital or supplier sees the alerts about itself and answers them.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from core.alert_review import (
    REVIEW_ROLES,
    TRANSITIONS,
    AlertFilter,
    ReviewAction,
    alert_history,
    alert_query,
    get_alert,
    list_alerts,
    review_alert,
)
from core.errors import DomainError
from core.models import Organisation, User, UserRole
from procurement.ocds_codes import CHINA_TIME
from procurement.spreadsheets import SheetOut, workbook_bytes
from webui.db import get_db
from webui.evidence import evidence_links
from webui.pages.alert_forms import SEVERITIES, SOURCES, STATUSES, AlertFilterForm, AnswerForm, ReviewForm
from webui.pages.catalogue_views import xlsx_download
from webui.pages.common import page_number, role_required
from webui.pages.order_views import status_of

bp = Blueprint("alert_pages", __name__, url_prefix="/alerts")
PER_PAGE = 50
EXPORT_LIMIT = 50_000


def _arg_int(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _arg_day(name: str) -> dt.datetime | None:
    """Read a day (YYYY-MM-DD) from the query string as the start of that day in China; ignore anything else."""
    try:
        day = dt.date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time.min, tzinfo=CHINA_TIME)


def _filter(form: AlertFilterForm) -> AlertFilter:
    """The queue's filters: the form's, plus the links the dashboard makes (code, period, physician, product)."""
    if not form.validate():
        return AlertFilter()
    return AlertFilter(
        status=form.status.data or None,
        severity=form.severity.data or None,
        source=form.source.data or None,
        subject_org_id=form.subject.data,
        code=request.args.get("code") or None,
        since=_arg_day("since"),
        until=_arg_day("until"),
        physician_id=_arg_int("physician"),
        product_id=_arg_int("product"),
    )


def _org_names(session, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = session.exec(Organisation.__table__.select().where(Organisation.id.in_(ids))).all()
    return {row.id: row.name for row in rows}


def _subjects(session, actor) -> list[tuple[object, str]]:
    if not actor.has(*REVIEW_ROLES):
        return [("", _("My organisation"))]
    orgs = session.exec(Organisation.__table__.select().order_by(Organisation.name)).all()
    return [("", _("Anyone")), *((org.id, org.name) for org in orgs)]


@bp.route("", methods=["GET"])
@login_required
def queue():
    """The queue: alerts the user may see, newest first, with filters and counts."""
    session, actor = get_db(), g.actor
    form = AlertFilterForm(formdata=request.args)
    form.subject.choices = _subjects(session, actor)
    flt = _filter(form)
    page = list_alerts(session, actor, flt, page=page_number(), per_page=PER_PAGE)
    names = _org_names(session, [alert.subject_org_id for alert in page.items])
    return render_template(
        "pages/alerts/queue.html",
        page=page,
        form=form,
        names=names,
        reviewer=actor.has(*REVIEW_ROLES),
        sources=SOURCES,
        statuses=STATUSES,
        severities=SEVERITIES,
    )


@bp.route("/export.xlsx", methods=["GET"])
@login_required
def export():
    """The filtered queue as an Excel workbook (every row, up to a limit)."""
    session, actor = get_db(), g.actor
    form = AlertFilterForm(formdata=request.args)
    form.subject.choices = _subjects(session, actor)
    alerts = session.exec(alert_query(actor, _filter(form)).limit(EXPORT_LIMIT)).scalars().all()
    names = _org_names(session, [alert.subject_org_id for alert in alerts])
    rows = [
        (a.id, a.created_at.strftime("%Y-%m-%d %H:%M"), str(SOURCES.get(a.source, a.source)), a.code,
         str(SEVERITIES.get(a.severity, a.severity)), str(STATUSES.get(a.status, a.status)), a.title,
         names.get(a.subject_org_id, ""), f"{a.object_type} {a.object_id}")
        for a in alerts
    ]  # fmt: skip
    header = [_("Alert"), _("Raised"), _("Source"), _("Code"), _("Severity"), _("Status"), _("Finding"), _("About"),
              _("Object")]  # fmt: skip
    data = workbook_bytes([SheetOut(_("Alerts"), header, rows, widths=(8, 17, 18, 30, 10, 12, 60, 30, 24))])
    return xlsx_download(data, "alerts.xlsx")


def _reviewers(session) -> list[tuple[int, str]]:
    stmt = (
        User.__table__.select()
        .join(UserRole.__table__, UserRole.user_id == User.id)
        .where(UserRole.role.in_([role.value for role in REVIEW_ROLES]), User.is_active.is_(True))
        .order_by(User.display_name)
    )
    return list(dict.fromkeys((row.id, row.display_name) for row in session.exec(stmt).all()))


def _render(alert, review_form=None, answer_form=None, status: int = 200):
    session, actor = get_db(), g.actor
    reviewer = actor.has(*REVIEW_ROLES)
    subject = bool(actor.org_id and alert.subject_org_id == actor.org_id)
    if reviewer and review_form is None:
        review_form = ReviewForm(formdata=None)
    if review_form is not None:
        allowed = [a for a, (froms, _to) in TRANSITIONS.items() if alert.status in froms and a != ReviewAction.ANSWER]
        review_form.action.choices = [(c, label) for c, label in review_form.action.choices if c in allowed]
        review_form.assignee.choices = [("", _("Myself")), *_reviewers(session)]
    if subject and answer_form is None:
        answer_form = AnswerForm(formdata=None)
    history = alert_history(session, alert.id, actor=actor)
    names = _org_names(session, [alert.subject_org_id, *(event.actor_org_id for event in history)])
    users = dict(_reviewers(session)) if reviewer else {}
    return render_template(
        "pages/alerts/detail.html",
        alert=alert,
        links=evidence_links(alert),
        history=history,
        names=names,
        users=users,
        review_form=review_form if reviewer else None,
        answer_form=answer_form if subject else None,
        sources=SOURCES,
        statuses=STATUSES,
        severities=SEVERITIES,
    ), status


@bp.route("/<int:alert_id>", methods=["GET"])
@login_required
def detail(alert_id: int):
    """An alert: its finding, evidence and links, the parameter set behind it, its history and the review forms."""
    try:
        alert = get_alert(get_db(), g.actor, alert_id)
    except DomainError:
        abort(404)
    return _render(alert)


@bp.route("/<int:alert_id>/review", methods=["POST"])
@role_required(*REVIEW_ROLES)
def review(alert_id: int):
    """Apply a review step; a refused step shows its reason next to the form."""
    session = get_db()
    form = ReviewForm()
    form.action.choices = [(a.value, a.value) for a in ReviewAction if a != ReviewAction.ANSWER]
    try:
        alert = get_alert(session, g.actor, alert_id)
    except DomainError:
        abort(404)
    if not form.validate_on_submit():
        return _render(alert, review_form=form, status=422)
    try:
        review_alert(session, g.actor, alert_id, action=form.action.data, note=form.note.data or "",
                     assignee_user_id=form.assignee.data, share_with_subject=form.share.data)  # fmt: skip
    except DomainError as exc:
        status = status_of(exc)
        form.note.errors = [*form.note.errors, exc.message]
        return _render(alert, review_form=form, status=status)
    flash(_("Alert %(num)s: %(status)s.", num=alert.id, status=STATUSES.get(alert.status, alert.status)), "success")
    return redirect(url_for(".detail", alert_id=alert_id))


@bp.route("/<int:alert_id>/answer", methods=["POST"])
@login_required
def answer(alert_id: int):
    """The organisation an alert is about answers it."""
    session = get_db()
    try:
        alert = get_alert(session, g.actor, alert_id)
    except DomainError:
        abort(404)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _render(alert, answer_form=form, status=422)
    try:
        review_alert(session, g.actor, alert_id, action=ReviewAction.ANSWER, note=form.note.data)
    except DomainError as exc:
        form.note.errors = [*form.note.errors, exc.message]
        return _render(alert, answer_form=form, status=status_of(exc))
    flash(_("Your answer was added to the alert's history."), "success")
    return redirect(url_for(".detail", alert_id=alert_id))
