"""Pieces of the catalogue pages: the import form, translated names of kinds and statuses, and import problems in
the reader's language (the report workbook downloaded from a page uses the same wording)."""

from __future__ import annotations

import io
from typing import Any

from flask import Response, send_file
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired

from procurement.catalogue import CatalogueImport, GqceStatus, ProductKind
from procurement.catalogue_io import report_workbook
from procurement.spreadsheets import XLSX_MIMETYPE
from webui.pages.labels import problem_wording

KINDS = {ProductKind.DRUG: _l("Drugs"), ProductKind.CONSUMABLE: _l("Consumables")}  # the page's tabs
KIND_NAMES = {ProductKind.DRUG: _l("Drug"), ProductKind.CONSUMABLE: _l("Consumable")}

GQCE = {
    GqceStatus.PASSED: _l("Passed consistency evaluation"),
    GqceStatus.REFERENCE: _l("Reference drug or originator"),
    GqceStatus.NOT_EVALUATED: _l("Not evaluated"),
    GqceStatus.NOT_APPLICABLE: _l("Not applicable"),
}

# What each import problem means, by its code; the particulars (other rows, limits) fill the {named} fields.
PROBLEMS = {
    "required": _l("Required."),
    "not_for_kind": _l("Leave empty: it does not apply to this kind of product."),
    "too_long": _l("Too long: at most %(limit)s characters."),
    "not_whole_number": _l("Enter a whole number."),
    "out_of_range": _l("Enter a whole number from 1 to %(maximum)s."),
    "fractional": _l("Enter a whole number, without decimals."),
    "negative": _l("Enter a positive whole number."),
    "too_small": _l("Enter a whole number of at least 1."),
    "not_a_number": _l("Enter a number."),
    "not_yes_or_no": _l("Enter 是 or 否 (yes or no)."),
    "invalid_kind": _l("Enter 药品 (drug) or 耗材 (consumable)."),
    "invalid_choice": _l("Enter 通过, 参比制剂/原研, 未通过/未评价 or 不适用."),
    "invalid_approval_number": _l("Not an approval number: 国药准字, a letter H, Z, S, J, B or F, then 8 digits."),
    "invalid_registration_number": _l("Not a device registration number such as 国械注准20153130456."),
    "invalid_insurance_code": _l("Not a national insurance code in the NHSA layout."),
    "invalid_gtin": _l("Not a valid GTIN: 8 to 14 digits whose last digit is the GS1 check digit."),
    "invalid_udi_di": _l("Not a valid UDI-DI: a GS1 GTIN-14 or an issuing agency's code."),
    "invalid_trace_product_id": _l("Not a trace product identifier: exactly 7 digits."),
    "unknown_organisation": _l("No registered organisation has this name or credit code."),
    "not_a_manufacturer": _l("This organisation is not registered as a manufacturer."),
    "duplicate_row": _l("Repeats row %(row)s."),
    "duplicate_in_file": _l("Same code as row %(row)s."),
    "exists": _l("Already in the catalogue (product %(product_id)s)."),
    "unknown_column": _l("Not a column of the template."),
    "duplicate_column": _l("Repeats the column “%(first)s”."),
    "missing_column": _l("This required column is missing."),
    "unnamed_column": _l("This column has values but no header."),
    "no_rows": _l("The file has no product rows below the header."),
    "too_many_rows": _l("%(rows)s rows: import at most %(limit)s at once."),
    "unreadable_file": _l("The file is not a readable Excel workbook (.xlsx) or CSV file."),
    "old_excel_format": _l("The old .xls format cannot be read; save the workbook as .xlsx."),
    "sheet_too_long": _l("The worksheet has more rows than any import takes; split the file."),
    "sheet_too_wide": _l("This row has cells beyond the 200th column; remove them."),
    "file_too_large": _l("The workbook unpacks to more than an import takes; split the file."),
    "unknown_encoding": _l("The CSV file is neither UTF-8 nor GB18030 text."),
    "extra_cells": _l("This row has more cells than the header has columns."),
    "missing_header": _l("Row 1 must hold the column headers."),
}


class ImportForm(FlaskForm):
    file = FileField(
        _l("Spreadsheet"),
        [
            FileRequired(_l("Choose a file to import.")),
            FileAllowed(["xlsx", "csv"], _l("Upload an Excel workbook (.xlsx) or a CSV file.")),
        ],
        description=_l("The first worksheet, headers in row 1 as in the template. Every row is saved, or none."),
    )


def kind_name(kind: str | None) -> str:
    """Return the translated name of a product kind."""
    return str(KIND_NAMES[kind]) if kind in KIND_NAMES else str(kind or "")


def gqce_name(status: str | None) -> str:
    """Return the translated name of a consistency-evaluation status."""
    return str(GQCE[status]) if status in GQCE else str(status or "")


def problem_text(error: dict[str, Any]) -> str:
    """Word an import problem in the reader's language; unknown codes keep the service's English message."""
    return problem_wording(PROBLEMS, error)


def report_download(record: CatalogueImport) -> Response:
    """Send an import's report workbook, worded in the reader's language."""
    headings = {
        "rows": _("Rows"),
        "problems": _("Problems"),
        "product": _("Product id"),
        "row": _("Row"),
        "column": _("Column"),
        "message": _("Problem"),
    }
    data = report_workbook(record, describe=problem_text, headings=headings)
    return xlsx_download(data, f"catalogue-import-{record.id}-report.xlsx")


def xlsx_download(data: bytes, name: str) -> Response:
    """Send an .xlsx workbook as a download."""
    return send_file(io.BytesIO(data), mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=name)
