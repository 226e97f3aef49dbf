"""Credit-rating pages: the public list of serious ratings, the auditor's cases and ratings, a supplier's repairs.

The public list is readable without signing in: NHSA publishes the 严重 and 特别严重 list (rulebook 6.7). Auditors
record cases and approve repairs; a supplier sees the cases about itself and reports the measures it took.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from core.db import utcnow
from core.errors import DomainError
from core.roles import OrgKind, Role
from procurement.audit import credit, credit_disposal
from procurement.orders.supply import china_today
from webui.db import get_db
from webui.pages.common import all_organisations, page_number, role_required, show_domain_error
from webui.pages.credit_forms import (
    CATEGORY_LABELS,
    FLAG_LABELS,
    LEVEL_LABELS,
    MEASURE_LABELS,
    SCOPE_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    ApprovalForm,
    CaseForm,
    RepairForm,
    split_ids,
    split_list,
)
from webui.pages.order_views import status_of

bp = Blueprint("credit_pages", __name__, url_prefix="/credit")

OVERSEERS = (Role.AUDITOR, Role.ADMIN)
READERS = (*OVERSEERS, Role.SUPPLIER_REP)
SUPPLIER_KINDS = (OrgKind.MANUFACTURER.value, OrgKind.DISTRIBUTOR.value)
LABELS = {
    "categories": CATEGORY_LABELS,
    "levels": LEVEL_LABELS,
    "sources": SOURCE_LABELS,
    "measures": MEASURE_LABELS,
    "flags": FLAG_LABELS,
    "statuses": STATUS_LABELS,
    "scopes": SCOPE_LABELS,
}


def _today():
    return china_today(utcnow())  # decisions and repairs are dated by the China calendar day, as the services judge


@bp.route("/public", methods=["GET"])
def public():
    """List the suppliers rated serious or above today, readable by anyone (rulebook 6.7 publication)."""
    rows = credit.public_ratings(get_db(), on=_today())
    return render_template("pages/credit/public.html", rows=rows, today=_today(), labels=LABELS)


def _suppliers(session, actor) -> list[tuple[int, str]]:
    return [(o.id, o.name) for o in all_organisations(session, actor=actor) if o.kind in SUPPLIER_KINDS]


def _case_form_choices(form: CaseForm, suppliers: list[tuple[int, str]]) -> None:
    makers = [(i, n) for i, n in suppliers]
    form.supplier_id.choices = [("", _("Choose a supplier")), *suppliers]
    form.controlling_org_id.choices = [("", _("None")), *makers]


def _render_index(*, form: CaseForm | None = None, errors: list[str] | None = None, status: int = 200):
    session, actor = get_db(), g.actor
    today = _today()
    overseer = actor.has(*OVERSEERS)
    cases = credit.list_cases(session, actor=actor, page=page_number(), per_page=50)
    views = [credit.case_view(session, case, on=today) for case in cases.items]
    names = {o.id: o.name for o in all_organisations(session, actor=actor)}
    context: dict[str, Any] = {
        "cases": cases,
        "views": views,
        "ratings": credit.ratings(session, actor=actor, on=today),
        "names": names,
        "labels": LABELS,
        "overseer": overseer,
        "form": None,
        "form_errors": errors or [],
        "today": today,
    }
    if actor.has(Role.AUDITOR, Role.ADMIN):
        context["form"] = form or CaseForm(formdata=None)
        _case_form_choices(context["form"], _suppliers(session, actor))
    return render_template("pages/credit/index.html", **context), status


@bp.route("/", methods=["GET"])
@role_required(*READERS)
def index():
    """Auditors: every case and rating, and the form to record a case. Suppliers: their own, with repair status."""
    return _render_index()


@bp.route("/cases", methods=["POST"])
@role_required(*OVERSEERS)
def record_case():
    """Record a misconduct case from the form; it is rated and its consequences applied at once."""
    session, actor = get_db(), g.actor
    form = CaseForm()
    _case_form_choices(form, _suppliers(session, actor))
    if not form.validate_on_submit():
        return _render_index(form=form, status=422)
    data = credit.CaseIn(
        supplier_id=form.supplier_id.data,
        controlling_org_id=form.controlling_org_id.data,
        category=form.category.data,
        rule_set_version=form.rule_set_version.data or None,
        conduct_date=form.conduct_date.data,
        decision_date=form.decision_date.data,
        evidence_source=form.evidence_source.data,
        decision_number=form.decision_number.data,
        single_amount=form.single_amount.data,
        cumulative_amount=form.cumulative_amount.data,
        level=form.level.data or None,
        flags=tuple(form.flags.data or ()),
        product_ids=split_ids(form.product_ids.data),
        documents=split_list(form.documents.data),
        summary=form.summary.data or "",
    )
    try:
        case, _created = credit.record_case(session, data=data, actor=actor, today=_today())
    except DomainError as exc:
        return _render_index(form=form, errors=show_domain_error(form, exc), status=status_of(exc))
    flash(_("Case %(number)s recorded.", number=case.decision_number), "success")
    return redirect(url_for(".case", case_id=case.id))


def _render_case(case_id: int, *, repair_form=None, errors: list[str] | None = None, status: int = 200):
    session, actor = get_db(), g.actor
    try:
        found = credit.get_case(session, case_id=case_id, actor=actor)
    except DomainError as exc:
        status_of(exc)
        raise
    view = credit.case_view(session, found, on=_today())
    names = {o.id: o.name for o in all_organisations(session, actor=actor)}
    open_case = view["status"] == "rated"
    return render_template(
        "pages/credit/case.html",
        case=view,
        names=names,
        labels=LABELS,
        repair_form=(repair_form or RepairForm(formdata=None)) if open_case else None,
        approval_form=ApprovalForm(formdata=None) if open_case and actor.has(*OVERSEERS) else None,
        form_errors=errors or [],
    ), status


@bp.route("/cases/<int:case_id>", methods=["GET"])
@role_required(*READERS)
def case(case_id: int):
    """Show a case: its basis, sanctions, the measures its level requires and those reported."""
    return _render_case(case_id)


@bp.route("/cases/<int:case_id>/repairs", methods=["POST"])
@role_required(*READERS)
def report_repair(case_id: int):
    """Report one corrective measure with its evidence."""
    session, actor = get_db(), g.actor
    form = RepairForm()
    if not form.validate_on_submit():
        return _render_case(case_id, repair_form=form, status=422)
    try:
        found = credit.get_case(session, case_id=case_id, actor=actor)
        measure = {
            "measure": form.measure.data,
            "evidence": form.evidence.data,
            "documents": split_list(form.documents.data),
        }
        credit_disposal.record_repair(session, case=found, measures=[measure], note="", actor=actor, on=_today())
    except DomainError as exc:
        status = status_of(exc)
        errors = [str(m) for messages in exc.errors.values() for m in messages] or [exc.message]
        return _render_case(case_id, repair_form=form, errors=errors, status=status)
    flash(_("Measure recorded."), "success")
    return redirect(url_for(".case", case_id=case_id))


@bp.route("/cases/<int:case_id>/approval", methods=["POST"])
@role_required(*OVERSEERS)
def approve(case_id: int):
    """Approve the case's repair: the level clears and its sanctions end today."""
    session, actor = get_db(), g.actor
    form = ApprovalForm()
    if not form.validate_on_submit():
        return _render_case(case_id, status=422)
    try:
        found = credit.get_case(session, case_id=case_id, actor=actor)
        credit_disposal.approve_repair(session, case=found, actor=actor, on=_today(), note=form.note.data or "")
    except DomainError as exc:
        return _render_case(case_id, errors=[exc.message], status=status_of(exc))
    flash(_("Repair approved: the level is cleared."), "success")
    return redirect(url_for(".case", case_id=case_id))
