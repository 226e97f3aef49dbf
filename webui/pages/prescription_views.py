"""Pieces of the prescription pages: the upload form, the accepted columns, and import problems in the reader's
language (the downloaded report workbook uses the same wording)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired

from procurement.audit.prescription_io import COLUMNS
from procurement.audit.prescription_models import PrescribingStatus, PrescriptionImport, Setting
from procurement.audit.prescriptions import report_workbook
from webui.pages.catalogue_views import xlsx_download
from webui.pages.labels import problem_wording

# What each problem means, by its stable code; the particulars fill the %(named)s fields.
PROBLEMS = {
    "missing_column": _l("This required column is missing."),
    "duplicate_column": _l("Repeats the column “%(first)s”."),
    "no_rows": _l("The upload has no rows below the header."),
    "too_many_rows": _l("%(rows)s rows: import at most %(limit)s at once."),
    "required": _l("Required."),
    "too_long": _l("Too long: at most %(limit)s characters."),
    "invalid_date": _l("Not a date: write YYYY-MM-DD."),
    "not_a_number": _l("Enter a number."),
    "negative": _l("Must be above zero; this is negative."),
    "zero": _l("Must be above zero."),
    "fractional": _l("Enter a whole number, without decimals."),
    "too_many_decimals": _l("At most 4 decimal places."),
    "out_of_range": _l("Too large: at most %(maximum)s."),
    "not_yes_or_no": _l("Enter 是 or 否 (yes or no)."),
    "unknown_setting": _l("Enter 门诊, 急诊 or 住院."),
    "unknown_drug_class": _l("Not a known drug class."),
    "invalid_trace_code": _l("Not a valid trace code."),
    "unknown_product": _l("No catalogue product has this code."),
    "unknown_physician": _l("No physician with this code is registered for your hospital."),
    "duplicate_row": _l("Same prescription number and line as row %(earlier)s."),
    "already_imported": _l("This prescription was imported before."),
    "inconsistent_prescription": _l("Differs from the same prescription on row %(row_of_first)s."),
    "justified_not_abnormal": _l("A justification is recorded for a line not judged abnormal."),
    "unreadable_file": _l("The file is not a readable Excel workbook (.xlsx) or CSV file."),
    "old_excel_format": _l("The old .xls format cannot be read; save the workbook as .xlsx."),
    "sheet_too_long": _l("The worksheet has more rows than any import takes; split the file."),
    "sheet_too_wide": _l("This row has cells beyond the 200th column; remove them."),
    "file_too_large": _l("The workbook unpacks to more than an import takes; split the file."),
    "unknown_encoding": _l("The CSV file is neither UTF-8 nor GB18030 text."),
    "extra_cells": _l("This row has more cells than the header has columns."),
    "missing_header": _l("Row 1 must hold the column headers."),
}

SETTINGS = {
    Setting.OUTPATIENT: _l("Outpatient"),
    Setting.EMERGENCY: _l("Emergency"),
    Setting.INPATIENT: _l("Inpatient"),
}
RIGHTS = {
    PrescribingStatus.ACTIVE: _l("May prescribe"),
    PrescribingStatus.RESTRICTED: _l("Restricted"),
    PrescribingStatus.REMOVED: _l("Rights removed"),
}
STATUSES = {"accepted": _l("Accepted"), "rejected": _l("Refused")}


class UploadForm(FlaskForm):
    file = FileField(
        _l("Prescription file"),
        [
            FileRequired(_l("Choose a file to import.")),
            FileAllowed(["xlsx", "csv"], _l("Upload an Excel workbook (.xlsx) or a CSV file.")),
        ],
        description=_l("The first worksheet, headers in row 1. Every row is saved, or none."),
    )


class RosterForm(FlaskForm):
    file = FileField(
        _l("Roster file"),
        [
            FileRequired(_l("Choose a file to import.")),
            FileAllowed(["xlsx", "csv"], _l("Upload an Excel workbook (.xlsx) or a CSV file.")),
        ],
        description=_l(
            "Columns 医师编码, 姓名, 科室, 职称, 处方权 (有, 限制 or 取消). Physicians already registered are updated."
        ),
    )


def accepted_columns() -> list[dict[str, Any]]:
    """Return the columns a file may hold, for the page's guide: headers, alternatives, required, what it takes."""
    return [
        {"zh": c.zh, "en": c.en, "aliases": c.aliases, "required": c.required, "note": c.note, "field": c.field}
        for c in COLUMNS
    ]


def problem_text(error: dict[str, Any]) -> str:
    """Word an import problem in the reader's language; unknown codes keep the service's English message."""
    return problem_wording(PROBLEMS, error)


def report_download(record: PrescriptionImport) -> Response:
    """Send an import's report workbook, worded in the reader's language."""
    headings = {
        "rows": _("Rows"),
        "problems": _("Problems"),
        "row": _("Row"),
        "column": _("Column"),
        "value": _("Value"),
        "message": _("Problem"),
        "summary": _("Summary"),
    }
    data = report_workbook(record, describe=problem_text, headings=headings)
    return xlsx_download(data, f"prescription-import-{record.id}-report.xlsx")
