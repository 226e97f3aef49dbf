"""Agreement pages: agreed volumes against time (序时进度) and the online-purchase share (网采率) with declarations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import utcnow
from core.errors import DomainError
from core.roles import Role
from procurement.ocds_codes import CHINA_TIME
from procurement.orders import arrangements, online_share, ordering, progress, progress_checks
from procurement.orders.progress import ProgressRow, ProgressStatus
from webui.db import get_db
from webui.pages.common import role_required
from webui.pages.forms import ConfirmForm
from webui.pages.money_forms import OfflinePurchaseForm, ProgressFilter, ShareFilter
from webui.pages.money_labels import product_kind_label
from webui.pages.money_views import hospital_choices, org_names, published_tenders, show_errors
from webui.pages.order_views import status_of

bp = Blueprint("agreement_pages", __name__, url_prefix="/agreements")

HOSPITAL_ROLES = ordering.HOSPITAL_ROLES
OVERSEERS = (Role.AUDITOR, Role.ADMIN)
READERS = (*HOSPITAL_ROLES, *OVERSEERS)
MAX_DECLARATIONS_SHOWN = 100


def china_today() -> dt.date:
    """Return today's date in China: agreement years and declared months follow its calendar."""
    return utcnow().astimezone(CHINA_TIME).date()


def _percent(value: Any) -> float | None:
    # Chart coordinates only (the table shows the exact ratios): a float is what Plotly draws.
    return None if value is None else round(float(value) * 100, 2)


def progress_chart(rows: list[ProgressRow]) -> dict[str, Any]:
    """Return the chart of completion against time progress: a bar per hospital × lot, markers for time and warning."""
    return {
        "labels": [
            _("%(hospital)s · lot %(lot)s %(name)s", hospital=r.hospital_name, lot=r.lot_number, name=r.generic_name)
            for r in rows
        ],
        "completion": [_percent(r.completion) for r in rows],
        "time": [_percent(r.time_progress) for r in rows],
        "warning": [_percent(r.warning_share * r.time_progress) for r in rows],
        "behind": [r.status == ProgressStatus.BEHIND for r in rows],
        "names": {
            "completion": _("Completion"),
            "time": _("Time progress"),
            "warning": _("Warning threshold"),
            "axis": _("Per cent of the agreed volume"),
        },
    }


@bp.route("/progress", methods=["GET"])
@role_required(*READERS)
def progress_page():
    """Show agreed volume against purchases and time elapsed, per hospital × lot, as a table and a chart."""
    session, actor = get_db(), g.actor
    overseer = actor.has(*OVERSEERS)
    filters = ProgressFilter(formdata=request.args)
    filters.tender.choices = [("", _("All tenders")), *published_tenders(session, actor)]
    filters.hospital.choices = [("", _("All hospitals")), *(hospital_choices(session, actor) if overseer else [])]
    on, tender_id, hospital_id = china_today(), None, None
    if filters.validate():
        on, tender_id = filters.on.data or on, filters.tender.data
        hospital_id = filters.hospital.data if overseer else None
    rows = progress.agreement_progress(session, actor=actor, on=on, hospital_id=hospital_id, tender_id=tender_id)
    return render_template(
        "pages/agreements/progress.html",
        rows=rows,
        chart=progress_chart(rows),
        filters=filters,
        overseer=overseer,
        on=on,
        check_form=ConfirmForm(formdata=None) if overseer else None,
    )


@bp.route("/progress/check", methods=["POST"])
@role_required(*OVERSEERS)
def check_progress():
    """Run the progress check for today: an alert for each hospital × lot behind time, once a month."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        alerts = progress_checks.check_progress(get_db(), actor=g.actor, on=china_today())
    except DomainError as exc:
        status_of(exc)
        raise
    if alerts:
        flash(_("Progress checked: %(num)s new alerts for hospitals behind time.", num=len(alerts)), "warning")
    else:
        flash(_("Progress checked: no hospital is newly behind time."), "success")
    return redirect(url_for(".progress_page"))


# ---------------------------------------------------------------- online-purchase share


def share_chart(rows: list[online_share.OnlineShareRow]) -> dict[str, Any]:
    """Return the chart of each hospital's online share by kind, against the targets of rulebook 0.2."""
    hospitals = list(dict.fromkeys(r.hospital_name for r in rows))
    series = []
    for kind in online_share.KINDS:
        of_kind = {r.hospital_name: r for r in rows if r.kind == kind}
        target = next((r.target for r in of_kind.values()), None)
        series.append(
            {
                "name": product_kind_label(kind),
                "kind": kind,
                "share": [_percent(of_kind[h].share) if h in of_kind else None for h in hospitals],
                "target": _percent(target),
                "targetName": _("Target for %(kind)s", kind=product_kind_label(kind)),
            }
        )
    return {"hospitals": hospitals, "series": series, "axis": _("Online share by amount")}


def _render_share(*, status: int = 200, form: OfflinePurchaseForm | None = None, errors: list[str] | None = None):
    session, actor = get_db(), g.actor
    overseer, today = actor.has(*OVERSEERS), china_today()
    filters = ShareFilter(formdata=request.args)
    filters.hospital.choices = [("", _("All hospitals")), *(hospital_choices(session, actor) if overseer else [])]
    start, end, hospital_id = today.replace(month=1, day=1), today, None
    if filters.validate():
        start, end = filters.start.data or start, filters.end.data or end
        hospital_id = filters.hospital.data if overseer else None
    try:
        rows = online_share.online_share(session, actor=actor, start=start, end=end, hospital_id=hospital_id)
    except DomainError as exc:
        status_of(exc)
        show_errors(filters, exc, ("start", "end"))
        rows = []
    declared = arrangements.list_offline_purchases(session, actor=actor, hospital_id=hospital_id)
    declare_form = None
    if actor.has(*HOSPITAL_ROLES):
        declare_form = form or OfflinePurchaseForm(formdata=None, data={"month": today.replace(day=1)})
    return render_template(
        "pages/agreements/online_share.html",
        rows=rows,
        chart=share_chart(rows),
        filters=filters,
        overseer=overseer,
        start=start,
        end=end,
        declared=declared[:MAX_DECLARATIONS_SHOWN],
        declared_total=len(declared),
        names=org_names(session, actor) if overseer else {},
        declare_form=declare_form,
        form_errors=errors or [],
    ), status


@bp.route("/online-share", methods=["GET"])
@role_required(*READERS)
def online_share_page():
    """Show each hospital's platform share of purchases by amount, drugs and consumables apart, against the targets."""
    return _render_share()


@bp.route("/offline-purchases", methods=["POST"])
@role_required(*HOSPITAL_ROLES)
def declare_offline_purchase():
    """Declare a purchase the hospital made outside the platform, so its online share counts it."""
    form = OfflinePurchaseForm()
    if not form.validate_on_submit():
        return _render_share(status=422, form=form)
    try:
        arrangements.declare_offline_purchase(
            get_db(),
            hospital_id=g.actor.org_id,
            month=form.month.data,
            product_kind=form.product_kind.data,
            description=form.description.data,
            amount=form.amount.data,
            reason=form.reason.data,
            actor=g.actor,
            today=china_today(),
        )
    except DomainError as exc:
        status = status_of(exc)
        general = show_errors(form, exc, ("month", "product_kind", "description", "amount", "reason"))
        return _render_share(status=status, form=form, errors=general)
    flash(_("Off-platform purchase declared; it counts in your online share."), "success")
    return redirect(url_for(".online_share_page"))
