"""Surplus-retention pages: results with their breakdown and a chart by hospital, the export, and the bureau's inputs.

Auditors see every hospital, compute a period and set the inputs; a hospital sees its own results and those of
its general hospital it has a share of (0.4). The pages call the same services as ``/api/v1/surplus``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.errors import DomainError
from core.roles import Role
from procurement.audit import surplus, surplus_export, surplus_inputs
from procurement.orders import ordering
from webui.db import get_db
from webui.pages.catalogue_views import xlsx_download
from webui.pages.common import page_number, role_required
from webui.pages.money_views import add_errors, hospital_choices, published_tenders
from webui.pages.order_views import status_of
from webui.pages.surplus_forms import (
    BaselinePriceForm,
    ComputeForm,
    InsuredShareForm,
    MemberSharesForm,
    SurplusFilter,
    parse_member_lines,
)

bp = Blueprint("surplus_pages", __name__, url_prefix="/surplus")

OVERSEERS = (Role.AUDITOR, Role.ADMIN)
READERS = (*ordering.HOSPITAL_ROLES, *OVERSEERS)
PER_PAGE = 25
STATUS_LABELS = {
    "retained": _l("Retained"),
    "no_surplus": _l("No surplus"),
    "not_completed": _l("Agreed volume not completed"),
    "not_passed": _l("Assessment not passed"),
    "already_retained": _l("Already retained in an earlier cycle"),
    "inputs_missing": _l("Inputs missing"),
}
INDICATOR_LABELS = {
    "volume_completion": _l("Completion of the agreed volume"),
    "on_time_payment": _l("On-time payment rate"),
    "cost_growth": _l("Drug cost growth"),
    "offline_share": _l("Off-platform purchase share"),
}


def _filters() -> tuple[SurplusFilter, dict[str, Any]]:
    session, actor = get_db(), g.actor
    overseer = actor.has(*OVERSEERS)
    form = SurplusFilter(formdata=request.args)
    form.tender.choices = [("", _("All tenders")), *published_tenders(session, actor)]
    form.hospital.choices = [("", _("All hospitals")), *(hospital_choices(session, actor) if overseer else [])]
    chosen: dict[str, Any] = {"tender_id": None, "hospital_id": None, "generic_name": None}
    if form.validate():
        chosen["tender_id"] = form.tender.data
        chosen["hospital_id"] = form.hospital.data if overseer else None
        chosen["generic_name"] = (form.generic_name.data or "").strip() or None
    return form, chosen


def retained_chart(totals: list[dict]) -> dict[str, Any]:
    """Return the chart of money retained by hospital, final and provisional apart, stacked on the surplus base it
    did not retain (not completed, not passed, or above the tier's ratio); each bar links to its rows."""
    return {
        "hospitals": [row["hospital_name"] for row in totals],
        # Chart coordinates only (the table shows the exact amounts): a float is what Plotly draws.
        "final": [float(row["final"]) for row in totals],
        "provisional": [float(row["provisional"]) for row in totals],
        "not_retained": [float(row["not_retained"]) for row in totals],
        "links": [url_for(".results", **{**request.args, "hospital": row["hospital_id"]}) for row in totals],
        "names": {
            "final": _("Retained (year ended)"),
            "provisional": _("Provisional (year not ended)"),
            "not_retained": _("Surplus base not retained"),
            "axis": _("Yuan"),
        },
    }


@bp.route("", methods=["GET"])
@role_required(*READERS)
def results():
    """Show results with an expandable breakdown, a chart of money retained by hospital, and the export link."""
    session, actor = get_db(), g.actor
    form, chosen = _filters()
    try:
        page = surplus.list_results(session, actor=actor, page=page_number(), per_page=PER_PAGE, **chosen)
        totals = surplus.retained_by_hospital(session, actor=actor, **chosen)
    except DomainError as exc:
        status_of(exc)
        raise
    overseer = actor.has(*OVERSEERS)
    return render_template(
        "pages/surplus/results.html",
        page=page,
        rows=surplus.result_rows(session, page.items),
        chart=retained_chart(totals),
        filters=form,
        overseer=overseer,
        compute_form=ComputeForm(formdata=None) if actor.has(Role.AUDITOR) else None,
        export_args={k: v for k, v in request.args.items() if k != "page" and v},
        status_labels=STATUS_LABELS,
        indicator_labels=INDICATOR_LABELS,
    )


@bp.route("/export.xlsx", methods=["GET"])
@role_required(*READERS)
def export():
    """Download the results the filters show, with every term of their breakdown."""
    _form, chosen = _filters()
    try:
        data = surplus_export.results_workbook(get_db(), actor=g.actor, **chosen)
    except DomainError as exc:
        status_of(exc)
        raise
    return xlsx_download(data, "surplus.xlsx")


@bp.route("/compute", methods=["POST"])
@role_required(Role.AUDITOR)
def compute():
    """Compute the agreement years overlapping a period and raise their findings once."""
    form = ComputeForm()
    if not form.validate_on_submit():
        for field_ in (form.start, form.end):
            for message in field_.errors:
                flash(f"{field_.label.text}: {message}", "error")
        return redirect(url_for(".results"))
    try:
        summary = surplus.run_period(get_db(), g.actor, start=form.start.data, end=form.end.data)
    except DomainError as exc:
        status_of(exc)
        flash(exc.message, "error")
        return redirect(url_for(".results"))
    if summary.no_data:
        flash(_("No agreed volume has an agreement year in this period: nothing to compute."), "warning")
    else:
        flash(
            _("%(rows)s results computed; %(alerts)s new alerts.", rows=summary.rows, alerts=summary.alerts_raised),
            "success",
        )
    return redirect(url_for(".results"))


# ---------------------------------------------------------------- inputs


def _input_forms(session, actor, forms: dict[str, Any] | None = None) -> dict[str, Any]:
    forms = dict(forms or {})
    tenders = published_tenders(session, actor)
    hospitals = hospital_choices(session, actor)
    price = forms.get("price") or BaselinePriceForm(formdata=None)
    share = forms.get("share") or InsuredShareForm(formdata=None)
    members = forms.get("members") or MemberSharesForm(formdata=None)
    price.tender.choices = share.tender.choices = tenders
    share.hospital.choices = members.general_hospital.choices = hospitals
    return {"price": price, "share": share, "members": members}


def _render_inputs(status: int = 200, forms: dict[str, Any] | None = None, errors: list[str] | None = None):
    session, actor = get_db(), g.actor
    saved = surplus_inputs.list_inputs(session, actor=actor)
    tenders = dict(published_tenders(session, actor))
    lots = surplus_inputs.lot_names(session, tender_ids=list(tenders))
    return render_template(
        "pages/surplus/inputs.html",
        forms=_input_forms(session, actor, forms),
        saved=saved,
        names=dict(hospital_choices(session, actor)),
        tenders=tenders,
        lot_names=sorted({name for name, _unit in lots}),
        lot_units=sorted({unit for _name, unit in lots}),
        form_errors=errors or [],
    ), status


@bp.route("/inputs", methods=["GET"])
@role_required(*OVERSEERS)
def inputs():
    """Show the pre-tender prices, insured shares and member-unit shares, with a form for each (auditors write)."""
    return _render_inputs()


def _save(kind: str, form, **batch):
    try:
        surplus_inputs.save_inputs(get_db(), actor=g.actor, **batch)
    except DomainError as exc:
        status = status_of(exc)
        general = [exc.message]
        for name, messages in exc.errors.items():
            field_name = name.rpartition(".")[2]
            target = {"general_hospital_id": "general_hospital", "hospital_id": "hospital", "tender_id": "tender"}
            field_ = getattr(form, target.get(field_name, field_name), None)
            if field_ is not None and hasattr(field_, "errors"):
                add_errors(field_, [str(m) for m in messages])
            else:
                general += [str(m) for m in messages]
        return _render_inputs(status, {kind: form}, general)
    flash(_("Saved."), "success")
    return redirect(url_for(".inputs"))


def _require_choice(field_, message: str) -> None:
    if field_.data is None and not field_.errors:
        add_errors(field_, [message])


@bp.route("/inputs/<kind>", methods=["POST"])
@role_required(Role.AUDITOR)
def save_input(kind: str):
    """Save one baseline price, one insured share, or one general hospital's member shares."""
    if kind == "price":
        form = BaselinePriceForm()
        valid = form.validate_on_submit()
        _require_choice(form.tender, _("Choose the tender."))
        if not valid or form.tender.errors:
            return _render_inputs(422, {kind: form})
        row = surplus_inputs.BaselinePriceIn(
            form.tender.data, form.generic_name.data.strip(), form.unit.data.strip(), form.price.data,
            form.region_code.data or "", form.source.data or "",
        )  # fmt: skip
        return _save(kind, form, baseline_prices=[row])
    if kind == "share":
        form = InsuredShareForm()
        valid = form.validate_on_submit()
        _require_choice(form.tender, _("Choose the tender."))
        _require_choice(form.hospital, _("Choose the hospital."))
        if not valid or form.tender.errors or form.hospital.errors:
            return _render_inputs(422, {kind: form})
        row = surplus_inputs.InsuredShareIn(form.tender.data, form.hospital.data, form.generic_name.data.strip(),
                                            form.share.data, form.source.data or "")  # fmt: skip
        return _save(kind, form, insured_shares=[row])
    if kind == "members":
        form = MemberSharesForm()
        valid = form.validate_on_submit()
        pairs, problems = parse_member_lines(form.members.data or "")
        add_errors(form.members, problems)
        _require_choice(form.general_hospital, _("Choose the general hospital."))
        if not valid or form.members.errors or form.general_hospital.errors:
            return _render_inputs(422, {kind: form})
        group = surplus_inputs.MemberSharesIn(form.general_hospital.data, tuple(pairs))
        return _save(kind, form, member_shares=[group])
    abort(404)
