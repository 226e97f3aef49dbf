"""Circulation pages: out-of-catalogue share (0.11) and revenue structure (0.16) per hospital-month, report filing.

Hospitals see and file their own figures; auditors see every hospital and file for any; administrators read.
The table and the charts come from the same service as ``GET /api/v1/circulation/indicators``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.fields import MonthField
from wtforms.validators import DataRequired, Length, Optional

from core.errors import DomainError, invalid
from core.roles import Role
from procurement.audit import circulation_finance
from procurement.audit.circulation_finance import IndicatorRow
from procurement.audit.circulation_models import AMOUNT_FIELDS
from procurement.orders.ordering import HOSPITAL_ROLES
from procurement.spreadsheets import SheetOut, workbook_bytes
from webui.db import get_db
from webui.pages.agreements_pages import china_today
from webui.pages.catalogue_views import xlsx_download
from webui.pages.common import role_required
from webui.pages.forms import optional_int
from webui.pages.money_forms import MoneyField
from webui.pages.money_views import hospital_choices, show_errors
from webui.pages.order_views import status_of

bp = Blueprint("circulation_pages", __name__, url_prefix="/circulation")

OVERSEERS = (Role.AUDITOR, Role.ADMIN)
READERS = (*HOSPITAL_ROLES, *OVERSEERS)
FILERS = (*HOSPITAL_ROLES, Role.AUDITOR)
AMOUNT_LABELS = {
    "service_income": _l("Medical-service income (yuan)"),
    "drug_income": _l("Drug income (yuan)"),
    "consumable_income": _l("Consumable income (yuan)"),
    "test_income": _l("Examination and test income (yuan)"),
    "insured_in_catalogue": _l("Insured spending in the catalogue (yuan)"),
    "insured_out_of_catalogue": _l("Insured spending outside the catalogue (yuan)"),
}


class IndicatorFilter(FlaskForm):
    class Meta:
        csrf = False

    hospital = SelectField(_l("Hospital"), coerce=optional_int, validate_choice=False)
    start = DateField(_l("From"), [Optional()])
    end = DateField(_l("Up to (not including)"), [Optional()])


class FinanceReportForm(FlaskForm):
    hospital = SelectField(_l("Hospital"), coerce=optional_int, validate_choice=False)
    month = MonthField(_l("Month"), [DataRequired(message=_l("Choose the month, e.g. 2026-03."))])
    service_income = MoneyField(AMOUNT_LABELS["service_income"], [DataRequired(message=_l("Enter the amount."))])
    drug_income = MoneyField(AMOUNT_LABELS["drug_income"], [DataRequired(message=_l("Enter the amount."))])
    consumable_income = MoneyField(AMOUNT_LABELS["consumable_income"], [DataRequired(message=_l("Enter the amount."))])
    test_income = MoneyField(AMOUNT_LABELS["test_income"], [DataRequired(message=_l("Enter the amount."))])
    insured_in_catalogue = MoneyField(
        AMOUNT_LABELS["insured_in_catalogue"], [DataRequired(message=_l("Enter the amount."))]
    )
    insured_out_of_catalogue = MoneyField(
        AMOUNT_LABELS["insured_out_of_catalogue"], [DataRequired(message=_l("Enter the amount."))]
    )
    note = StringField(_l("Note"), [Optional(), Length(max=500)])


def _percent(value: Decimal | None) -> float | None:
    # Chart coordinates only: the table shows the exact shares.
    return None if value is None else round(float(value) * 100, 2)


def _anchor(row: IndicatorRow) -> str:
    """The id of the table row a chart point stands for: clicking the point scrolls to it."""
    return f"indicator-{row.hospital_id}-{row.month:%Y-%m}"


def indicator_charts(rows: list[IndicatorRow]) -> dict[str, Any]:
    """Return the share chart (a line per hospital, the cap as a line) and the structure chart (5 : 3 : 2 bars)."""
    months = sorted({r.month for r in rows})
    hospitals = list(dict.fromkeys(r.hospital_name for r in rows))
    by_key = {(r.hospital_name, r.month): r for r in rows}
    share = [
        {
            "name": h,
            "y": [_percent(by_key[(h, m)].out_of_catalogue_share) if (h, m) in by_key else None for m in months],
            "rows": [_anchor(by_key[(h, m)]) if (h, m) in by_key else None for m in months],
        }
        for h in hospitals
    ]
    limits = sorted({_percent(r.out_of_catalogue_limit) for r in rows})
    judged = [r for r in rows if r.structure is not None]
    target = rows[0].structure_target if rows else {}
    structure: dict[str, list] = {"labels": [_("Target 5 : 3 : 2")] if judged else []}
    for part in ("service", "drugs_consumables", "tests"):
        structure[part] = ([_percent(target[part])] if judged else []) + [_percent(r.structure[part]) for r in judged]
    structure["labels"] += [f"{r.hospital_name} · {r.month:%Y-%m}" for r in judged]
    structure["off"] = [False] + [bool(r.off_target) for r in judged] if judged else []
    structure["rows"] = [None] + [_anchor(r) for r in judged] if judged else []
    return {
        "share": {"months": [f"{m:%Y-%m}" for m in months], "series": share, "limits": limits},
        "structure": structure,
        "names": {
            "limit": _("Cap"),
            "share_axis": _("Out-of-catalogue share of insured spending"),
            "service": _("Medical service"),
            "drugs_consumables": _("Drugs and consumables"),
            "tests": _("Examinations and tests"),
            "structure_axis": _("Share of the three incomes"),
        },
    }


def _period(filters: IndicatorFilter) -> tuple[dt.date, dt.date]:
    today = china_today()
    start = dt.date(today.year, 1, 1)
    end = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    if filters.validate():
        start, end = filters.start.data or start, filters.end.data or end
    return start, end


def _render(*, status: int = 200, form: FinanceReportForm | None = None, errors: list[str] | None = None):
    session, actor = get_db(), g.actor
    overseer = actor.has(*OVERSEERS)
    hospitals = hospital_choices(session, actor) if overseer else []
    filters = IndicatorFilter(formdata=request.args)
    filters.hospital.choices = [("", _("All hospitals")), *hospitals]
    start, end = _period(filters)
    hospital_id = filters.hospital.data if overseer and filters.hospital.data else None
    try:
        rows = circulation_finance.indicators(session, actor=actor, start=start, end=end, hospital_id=hospital_id)
    except DomainError as exc:
        status = status_of(exc)
        errors = [*(errors or []), *show_errors(filters, exc, ("start", "end"))]
        rows = []
    report_form = None
    if actor.has(*FILERS):
        report_form = form or FinanceReportForm(formdata=None, data={"month": china_today().replace(day=1)})
        report_form.hospital.choices = hospitals
    return render_template(
        "pages/circulation/indicators.html",
        rows=rows,
        charts=indicator_charts(rows),
        filters=filters,
        overseer=overseer,
        start=start,
        end=end,
        report_form=report_form,
        amount_fields=AMOUNT_FIELDS,
        form_errors=errors or [],
    ), status


@bp.route("", methods=["GET"])
@role_required(*READERS)
def indicators_page():
    """Show the out-of-catalogue share and the revenue structure per hospital-month, with charts and a report form."""
    return _render()


@bp.route("/reports", methods=["POST"])
@role_required(*FILERS)
def file_report():
    """File (or replace) a hospital's finance report for a month."""
    form = FinanceReportForm()
    form.hospital.choices = hospital_choices(get_db(), g.actor) if g.actor.has(Role.AUDITOR) else []
    if not form.validate_on_submit():
        return _render(status=422, form=form)
    hospital_id = form.hospital.data if g.actor.has(Role.AUDITOR) else g.actor.org_id
    try:
        if hospital_id is None:
            raise invalid("hospital", _("Choose the hospital."))
        _report, created = circulation_finance.submit_report(
            get_db(),
            actor=g.actor,
            hospital_id=hospital_id,
            month=form.month.data,
            amounts={name: form[name].data for name in AMOUNT_FIELDS},
            note=form.note.data or "",
        )
    except DomainError as exc:
        status = status_of(exc)
        names = ("hospital", "month", *AMOUNT_FIELDS, "note")
        exc.errors = {("hospital" if k == "hospital_id" else k): v for k, v in exc.errors.items()}
        return _render(status=status, form=form, errors=show_errors(form, exc, names))
    flash(_("Finance report filed.") if created else _("Finance report replaced."), "success")
    return redirect(url_for(".indicators_page"))


@bp.route("/indicators.xlsx", methods=["GET"])
@role_required(*READERS)
def export_indicators():
    """Download the indicators of the filtered period as an Excel workbook."""
    session, actor = get_db(), g.actor
    filters = IndicatorFilter(formdata=request.args)
    filters.hospital.choices = []
    start, end = _period(filters)
    hospital_id = filters.hospital.data if actor.has(*OVERSEERS) else None
    rows = circulation_finance.indicators(session, actor=actor, start=start, end=end, hospital_id=hospital_id)
    header = [
        _("Hospital"), _("Grade"), _("Month"), _("Report"), _("Out-of-catalogue share"), _("Cap"),
        _("Above the cap"), _("Medical service"), _("Drugs and consumables"), _("Examinations and tests"),
        _("Off 5 : 3 : 2"),
    ]  # fmt: skip
    body = [
        [
            r.hospital_name, r.hospital_grade, f"{r.month:%Y-%m}", r.report_id if r.report_id else _("No data"),
            r.out_of_catalogue_share, r.out_of_catalogue_limit, r.above_limit,
            *((r.structure or {}).get(p) for p in ("service", "drugs_consumables", "tests")), r.off_target,
        ]
        for r in rows
    ]  # fmt: skip
    marked = frozenset(i for i, r in enumerate(rows) if r.above_limit or r.off_target)
    sheet = SheetOut(_("Indicators"), header, body, marked=marked, widths=(28, 8, 10, 10, 12, 8, 10, 12, 12, 12, 10))
    return xlsx_download(workbook_bytes([sheet]), f"circulation-{start:%Y%m}-{end:%Y%m}.xlsx")
