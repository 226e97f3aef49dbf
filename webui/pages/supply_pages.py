"""Supply pages: suppliers report and answer, overseers check supply risks, hospitals follow their problems.

Rulebook 1.8.2 and 8.3 (monthly production, inventory and reserve reports), 8.5 (production-stop notices) and 1.8.4
(hospitals' supply problems, whose number and duration score the supplier).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.errors import DomainError
from core.pagination import MAX_PER_PAGE
from core.roles import Role
from procurement.orders import supply, supply_problems, supply_risks
from procurement.orders.rules import ORDER_RULES
from procurement.orders.supply_problems import ProblemStatus
from webui.db import get_db
from webui.pages.common import page_number, role_required
from webui.pages.order_views import status_of
from webui.pages.supply_forms import ReportForm, ResolveForm, RiskCheckForm, StopForm
from webui.pages.supply_labels import ERROR_CODES
from webui.pages.supply_views import (
    WonProduct,
    alert_rows,
    all_items,
    china_today,
    months_shown,
    org_names,
    problem_rows,
    product_labels,
    report_grid,
    report_prefix,
    show_supply_errors,
    won_products,
)

bp = Blueprint("supply_pages", __name__, url_prefix="/supply")

OVERSEERS = supply.OVERSEERS
HOSPITAL_ROLES = supply.HOSPITAL_ROLES
ORDER_READERS = (*HOSPITAL_ROLES, Role.SUPPLIER_REP, Role.AUDITOR, Role.ADMIN)  # who may open an order's page
STOPS_SHOWN = 50
RESOLVED_SHOWN = 20
OPEN_PROBLEMS_SHOWN = 20
REPORTS_PER_PAGE = 50
PROBLEMS_PER_PAGE = 20
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _month(text: str | None) -> dt.date | None:
    match = _MONTH.match(text or "")
    return dt.date(int(match[1]), int(match[2]), 1) if match else None


def _stop_form(products: list[WonProduct], today: dt.date, *, bound: bool) -> StopForm:
    form = StopForm(prefix="stop") if bound else StopForm(formdata=None, prefix="stop")
    form.product_id.choices = [(p.id, p.name) for p in products if p.won_on_or_after(today)]
    return form


def _notice_rule() -> dict[str, int]:
    return {
        "planned": ORDER_RULES["stop_notice_days_planned"],
        "unplanned": ORDER_RULES["stop_notice_days_unplanned"],
        "due_day": ORDER_RULES["report_due_day"],
    }


# ---------------------------------------------------------------- the supplier's page


def _render_supplier(*, status: int = 200, errors: list[str] | None = None, forms: dict | None = None):
    session, actor, today = get_db(), g.actor, china_today()
    forms = forms or {}
    months = months_shown(today)
    products = won_products(session, supplier_id=actor.org_id, since=months[0])
    grid = report_grid(
        session,
        actor=actor,
        products=products,
        months=months,
        today=today,
        forms={k: v for k, v in forms.items() if isinstance(k, str)},
    )
    stops = supply.list_production_stops(session, actor=actor, per_page=STOPS_SHOWN)
    open_problems = all_items(
        lambda page: supply_problems.list_supply_problems(
            session, actor=actor, status=ProblemStatus.OPEN, page=page, per_page=MAX_PER_PAGE
        )
    )
    resolved = supply_problems.list_supply_problems(
        session, actor=actor, status=ProblemStatus.RESOLVED, per_page=RESOLVED_SHOWN
    )
    resolve_forms = {
        p.id: forms.get(("resolve", p.id)) or ResolveForm(formdata=None, prefix=f"p{p.id}") for p in open_problems
    }
    context: dict[str, Any] = {
        "today": today,
        "months": months,
        "grid": grid,
        "stop_form": forms.get("stop") or _stop_form(products, today, bound=False),
        "rule": _notice_rule(),
        "stops": stops,
        "stop_products": product_labels(session, {s.product_id for s in stops.items}),
        "late_notice": {s.id: supply.notice_is_late(s) for s in stops.items},
        "open_problems": problem_rows(session, open_problems),
        "resolved": problem_rows(session, resolved.items),
        "resolved_total": resolved.total,
        "resolve_forms": resolve_forms,
        "form_errors": errors or [],
    }
    return render_template("pages/supply/supplier.html", **context), status


@bp.route("", methods=["GET"])
@role_required(Role.SUPPLIER_REP)
def supplier():
    """Show the supplier's winning products with their monthly reports, its stop notices and problems to answer."""
    return _render_supplier()


@bp.route("/reports/<int:product_id>/<month_text>", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def file_report(product_id: int, month_text: str):
    """File one winning product's figures for a month, or amend the month's report."""
    month = _month(month_text)
    if month is None:
        abort(404)
    prefix = report_prefix(product_id, month)
    form = ReportForm(prefix=prefix)
    forms = {prefix: form}
    if not form.validate_on_submit():
        return _render_supplier(status=422, forms=forms, errors=[str(ERROR_CODES["supply_report_invalid"])])
    session = get_db()
    before = supply.list_supply_reports(session, actor=g.actor, month=month, product_id=product_id, per_page=1).items
    figures = {name: getattr(form, name).data for name in supply.FIGURES}
    try:
        report, created = supply.submit_supply_report(
            session, product_id=product_id, month=month, actor=g.actor, **figures
        )
    except DomainError as exc:
        return _render_supplier(status=status_of(exc), forms=forms, errors=show_supply_errors(form, exc))
    names = {"product": product_labels(session, {product_id}).get(product_id, ""), "month": f"{month:%Y-%m}"}
    if created and report.late:
        message = _(
            "Report for %(product)s, %(month)s filed after its due date %(date)s: it is marked late.",
            date=report.due_on.isoformat(),
            **names,
        )
        flash(message, "warning")
    elif created:
        flash(_("Report for %(product)s, %(month)s filed.", **names), "success")
    elif before and all(getattr(before[0], name) == value for name, value in figures.items()):
        flash(_("Report for %(product)s, %(month)s unchanged: these are the figures already filed.", **names), "info")
    else:
        flash(_("Report for %(product)s, %(month)s amended; it keeps its first filing time.", **names), "success")
    return redirect(url_for(".supplier", _anchor=f"product-{product_id}"))


@bp.route("/stops", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def report_stop():
    """Give notice of a planned or unplanned production stop of a winning product."""
    session, today = get_db(), china_today()
    products = won_products(session, supplier_id=g.actor.org_id, since=months_shown(today)[0])
    form = _stop_form(products, today, bound=True)
    forms = {"stop": form}
    if not form.validate_on_submit():
        return _render_supplier(status=422, forms=forms, errors=[str(ERROR_CODES["stop_invalid"])])
    try:
        stop = supply.report_production_stop(
            session,
            product_id=form.product_id.data,
            stops_on=form.stops_on.data,
            resumes_on=form.resumes_on.data,
            planned=form.planned.data == "planned",
            reason=form.reason.data,
            actor=g.actor,
        )
    except DomainError as exc:
        return _render_supplier(status=status_of(exc), forms=forms, errors=show_supply_errors(form, exc))
    rule = _notice_rule()
    if supply.notice_is_late(stop) and stop.planned:
        message = _(
            "Stop notice recorded, but late: a planned stop needs %(required)s days' notice and this one gave "
            "%(days)s. The auditors have been alerted.",
            required=rule["planned"],
            days=stop.notice_days,
        )
        flash(message, "warning")
    elif supply.notice_is_late(stop):
        message = _(
            "Stop notice recorded, but late: an unplanned stop must be reported within %(allowed)s days and this "
            "one came %(days)s days after it. The auditors have been alerted.",
            allowed=rule["unplanned"],
            days=-stop.notice_days,
        )
        flash(message, "warning")
    else:
        flash(_("Stop notice recorded."), "success")
    return redirect(url_for(".supplier", _anchor="stops"))


@bp.route("/problems/<int:problem_id>/resolve", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def resolve_problem(problem_id: int):
    """Answer a supply problem a hospital reported against the supplier; the problem is then closed."""
    form = ResolveForm(prefix=f"p{problem_id}")
    forms = {("resolve", problem_id): form}
    if not form.validate_on_submit():
        return _render_supplier(status=422, forms=forms, errors=[str(ERROR_CODES["resolution_invalid"])])
    try:
        supply_problems.resolve_supply_problem(
            get_db(), problem_id=problem_id, resolution=form.resolution.data, actor=g.actor
        )
    except DomainError as exc:
        return _render_supplier(status=status_of(exc), forms=forms, errors=show_supply_errors(form, exc))
    flash(_("Answer recorded; the problem is closed and the hospital can read your answer."), "success")
    return redirect(url_for(".supplier", _anchor="problems"))


# ---------------------------------------------------------------- the overseers' page


def _render_overview(
    *,
    status: int = 200,
    risk_form: RiskCheckForm | None = None,
    checked: dict | None = None,
    errors: list[str] | None = None,
):
    session, actor, today = get_db(), g.actor, china_today()
    previous = months_shown(today)[0]
    month = _month(request.args.get("month")) or previous
    late_only = request.args.get("late") == "1"
    reports = supply.list_supply_reports(
        session,
        actor=actor,
        month=month,
        late=True if late_only else None,
        page=page_number(),
        per_page=REPORTS_PER_PAGE,
    )
    stops = supply.list_production_stops(session, actor=actor, in_force_on=today, per_page=MAX_PER_PAGE)
    problems = supply_problems.list_supply_problems(
        session, actor=actor, status=ProblemStatus.OPEN, per_page=OPEN_PROBLEMS_SHOWN
    )
    items = [*reports.items, *stops.items]
    context: dict[str, Any] = {
        "today": today,
        "month": month,
        "late_only": late_only,
        "reports": reports,
        "stops": stops,
        "late_notice": {s.id: supply.notice_is_late(s) for s in stops.items},
        "problems": problems,
        "problem_rows": problem_rows(session, problems.items),
        "names": org_names(session, {x.supplier_id for x in items}),
        "products": product_labels(session, {x.product_id for x in items}),
        "risk_form": risk_form or RiskCheckForm(formdata=None, data={"month": previous}),
        "checked": checked,
        "rule": _notice_rule(),
        "form_errors": errors or [],
    }
    return render_template("pages/supply/overview.html", **context), status


@bp.route("/overview", methods=["GET"])
@role_required(*OVERSEERS)
def overview():
    """Show a month's supply reports (optionally only late ones), the stops in force and the open problems."""
    return _render_overview()


@bp.route("/overview/risk-check", methods=["POST"])
@role_required(*OVERSEERS)
def run_risk_check():
    """Run the monthly supply-risk check for a month and show the alerts this run raised."""
    form = RiskCheckForm()
    if not form.validate_on_submit():
        return _render_overview(status=422, risk_form=form)
    session = get_db()
    try:
        alerts = supply_risks.check_supply_risks(session, month=form.month.data, actor=g.actor)
    except DomainError as exc:
        return _render_overview(status=status_of(exc), risk_form=form, errors=show_supply_errors(form, exc))
    checked = {"month": form.month.data, "alerts": alert_rows(session, alerts)}
    return _render_overview(risk_form=form, checked=checked)


# ---------------------------------------------------------------- supply problems


@bp.route("/problems", methods=["GET"])
@role_required(*HOSPITAL_ROLES, *OVERSEERS)
def problems():
    """List supply problems: a hospital those it reported, overseers all; open or answered."""
    wanted = request.args.get("status") or None
    status = wanted if wanted in {s.value for s in ProblemStatus} else None
    session = get_db()
    page = supply_problems.list_supply_problems(
        session, actor=g.actor, status=status, page=page_number(), per_page=PROBLEMS_PER_PAGE
    )
    return render_template(
        "pages/supply/problems.html",
        problems=page,
        rows=problem_rows(session, page.items),
        status=status,
        order_links=g.actor.has(*ORDER_READERS),
    )
