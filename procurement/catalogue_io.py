"""The catalogue in spreadsheets: the import template, all-or-nothing imports with a row-level report, and export.

An import reads the first worksheet of an .xlsx workbook or a CSV file (UTF-8 with or without BOM, or GB18030).
Row 1 holds the headers, in Chinese or English, in any order (:data:`COLUMNS`); every later non-blank row is one
product. Every row is checked — required cells, code layouts, whole positive pack quantities, the manufacturer and
holder by name or credit code, repeats within the file, clashes with the catalogue — and then either every row is
saved or none is. Either way the import is kept with its report, which downloads as .xlsx: the rows as uploaded
plus a column naming each row's problems.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

import sqlalchemy as sa
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import defer
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import INVALID, DomainError, invalid, not_found
from core.models import Organisation
from core.pagination import Page, paginate
from core.roles import Role
from procurement import spreadsheets as sheets
from procurement.catalogue import PRODUCT_FIELDS
from procurement.catalogue_checks import (
    NAMES,
    Problem,
    check_product,
    clashes_with_catalogue,
    duplicates_within,
    maker_problem,
    makers_by_reference,
)
from procurement.catalogue_models import CatalogueImport, ImportStatus, Product, ProductKind
from procurement.catalogue_template import ALWAYS_REQUIRED, BY_KEY, COLUMNS, GQCE_OF_WORD, GQCE_WORDS, KIND_WORDS

MAX_ROWS = 20_000
ERRORS_IN_RESPONSE = 200  # the rest are in the downloadable report


# The column each model field's problems are reported under.
COLUMN_OF_FIELD = {"manufacturer_id": "manufacturer", "mah_id": "mah"}


class ImportRejected(DomainError):
    """An import was refused: nothing was saved, but the import and its report were (``keep_work``)."""

    def __init__(self, record: CatalogueImport) -> None:
        errors = record.errors
        super().__init__(
            INVALID,
            f"{len(errors)} problems found in {record.filename}; nothing was imported",
            code="import_rejected",
            errors={"rows": errors[:ERRORS_IN_RESPONSE], "import_id": record.id},
            keep_work=True,
        )
        self.record = record


# ---------------------------------------------------------------- import


def import_products(session: Session, *, filename: str, data: bytes, actor: Actor) -> CatalogueImport:
    """Import a spreadsheet of products: every row saved, or none and :class:`ImportRejected` with the report."""
    actor.require(Role.ADMIN)
    if not data:
        raise invalid("file", "choose a non-empty .xlsx or .csv file to upload", code="file_missing")
    name = PurePath((filename or "upload").replace("\\", "/")).name[:255] or "upload"
    record = CatalogueImport(
        filename=name, sha256=hashlib.sha256(data).hexdigest(), status=ImportStatus.REJECTED.value, row_count=0,
        created_count=0, error_count=0, created_by_id=actor.user_id, created_by_name=actor.username[:100],
    )  # fmt: skip
    try:
        sheet = sheets.read_sheet(name, data)
    except sheets.SheetError as exc:
        return _reject(session, record, [], [], [_error(exc.row, None, None, exc.code, exc.message)], actor)
    rows = sheet.rows
    columns, errors = _map_header(sheet.header, rows)
    if not errors and not rows:
        errors.append(_error(None, None, None, "no_rows", "the file has no product rows below the header"))
    if len(rows) > MAX_ROWS:
        message = f"{len(rows)} rows; import at most {MAX_ROWS} at once"
        errors.append(_error(None, None, None, "too_many_rows", message, {"rows": len(rows), "limit": MAX_ROWS}))
    if errors:
        kept = rows if len(rows) <= MAX_ROWS else []  # past the limit the report would only repeat the file
        record.row_count = len(rows)
        return _reject(session, record, sheet.header, kept, errors, actor)
    values, errors = _check_rows(session, sheet.header, columns, rows)
    if errors:
        return _reject(session, record, sheet.header, rows, errors, actor)
    now = utcnow()
    inserted = session.exec(
        sa.insert(Product).returning(Product.id, sort_by_parameter_order=True),
        params=[{**row, "created_at": now} for row in values],
    )
    product_ids = list(inserted.scalars().all())
    record.status, record.row_count, record.created_count = ImportStatus.ACCEPTED.value, len(rows), len(product_ids)
    record.report = _report(sheet.header, rows, [], product_ids)
    session.add(record)
    session.flush()
    record_audit(
        session, actor=actor, action="catalogue.imported", object_type="catalogue_import", object_id=record.id,
        details={"filename": name, "sha256": record.sha256, "rows": len(rows), "product_ids": product_ids},
    )  # fmt: skip
    return record


def _error(
    row: int | None, column: str | None, field: str | None, code: str, message: str, params: dict | None = None
) -> dict[str, Any]:
    return {
        "row": row, "column": column, "field": field, "code": code, "message": message, "params": params or {},
        "value": None,
    }  # fmt: skip


def _map_header(header: list[str], rows: list[tuple[int, list[str]]]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Return the column index of each template column found, and the header's problems."""
    columns: dict[str, int] = {}
    errors = []
    for index, text in enumerate(header):
        if not text:
            if any(cells[index] for _, cells in rows):  # values nobody could tell the meaning of
                letter = get_column_letter(index + 1)
                message = f"column {letter} has values but no header"
                errors.append(_error(1, letter, None, "unnamed_column", message))
            continue
        column = BY_KEY.get(sheets.header_key(text))
        if column is None:
            errors.append(_error(1, text, None, "unknown_column", f"column {text!r} is not a template column"))
        elif column.field in columns:
            first = header[columns[column.field]]
            message = f"column {text!r} repeats {first!r}"
            errors.append(_error(1, text, column.field, "duplicate_column", message, {"first": first}))
        else:
            columns[column.field] = index
    for column in COLUMNS:
        if column.field in ALWAYS_REQUIRED and column.field not in columns:
            errors.append(
                _error(1, column.zh, column.field, "missing_column", f"the required column {column.zh} is missing")
            )
    return columns, errors


def _check_rows(
    session: Session, header: list[str], columns: dict[str, int], rows: list[tuple[int, list[str]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse and check every row; return the product values, and every problem with its row and column."""
    errors: list[dict[str, Any]] = []
    cells_of = dict(rows)

    def report(row: int, problem: Problem) -> None:
        field = COLUMN_OF_FIELD.get(problem.field or "", problem.field)
        index = columns.get(field or "")
        column = header[index] if index is not None else _zh(field)
        error = _error(row, column, field, problem.code, problem.message, problem.params)
        errors.append(error | {"value": cells_of[row][index] if index is not None else None})

    cells = [{field: cells[index] for field, index in columns.items()} for _, cells in rows]
    makers = makers_by_reference(session, [ref for row in cells for ref in (row.get("manufacturer"), row.get("mah"))])
    values: list[dict[str, Any]] = []
    seen_rows: dict[tuple[str, ...], int] = {}
    for (number, raw), row in zip(rows, cells, strict=True):
        typed, problems = _typed(row, makers)
        checked, more = check_product(typed)
        values.append({field: checked.get(field) for field in PRODUCT_FIELDS})
        earlier = seen_rows.setdefault(tuple(raw), number)
        if earlier != number:
            more.insert(0, Problem(None, "duplicate_row", f"the row repeats row {earlier}", {"row": earlier}))
        for problem in problems + more:
            report(number, problem)
    numbers = [number for number, _ in rows]
    for index, repeats in duplicates_within(values).items():
        for field, earlier in repeats:
            if numbers[earlier] != seen_rows.get(tuple(rows[index][1])):  # a repeated row is reported once
                what = "approval number and package specification" if field == "approval_number" else NAMES[field]
                message = f"same {what} as row {numbers[earlier]}"
                report(numbers[index], Problem(field, "duplicate_in_file", message, {"row": numbers[earlier]}))
    for index, clashes in clashes_with_catalogue(session, values).items():
        for problem in clashes:
            report(numbers[index], problem)
    for row in values:
        row["mah_id"] = row["mah_id"] or row["manufacturer_id"]
    errors.sort(key=lambda e: (e["row"] or 0, _order(e["field"])))
    return values, errors


def _typed(row: Mapping[str, str], makers: Mapping[str, Organisation]) -> tuple[dict[str, Any], list[Problem]]:
    """Turn a row's text cells into typed product values (kind, counts, flags, organisations)."""
    typed: dict[str, Any] = {f: row.get(f) or None for f in PRODUCT_FIELDS if f in row}
    problems: list[Problem] = []
    kind = (row.get("kind") or "").strip()
    typed["kind"] = KIND_WORDS.get(kind.lower(), kind or ProductKind.DRUG)
    if typed["kind"] not in tuple(ProductKind):
        problems.append(Problem("kind", "invalid_kind", f"{kind!r} is not 药品 or 耗材 (drug / consumable)"))
        typed["kind"] = ProductKind.DRUG
    if row.get("pack_quantity"):
        try:
            typed["pack_quantity"] = sheets.whole_number(row["pack_quantity"])
        except sheets.CellError as exc:
            problems.append(Problem("pack_quantity", exc.code, f"pack quantity {exc.message}"))
            typed["pack_quantity"] = 1
    for field in ("essential", "key_monitored"):
        try:
            typed[field] = sheets.flag(row.get(field) or "")
        except sheets.CellError as exc:
            problems.append(Problem(field, exc.code, exc.message))
    if word := (row.get("gqce_status") or "").strip():
        status = GQCE_OF_WORD.get(word.lower())
        typed["gqce_status"] = status.value if status else None
        if status is None:
            choices = ", ".join(words[0] for words in GQCE_WORDS.values())
            problems.append(Problem("gqce_status", "invalid_choice", f"{word!r} is not one of {choices}"))
    for field, target in (("manufacturer", "manufacturer_id"), ("mah", "mah_id")):
        reference = (row.get(field) or "").strip()
        if reference:
            problem = maker_problem(makers.get(reference), field=field, reference=reference)
            typed[target] = makers[reference].id if problem is None else -1
            problems += [problem] if problem else []
    return typed, problems


def _zh(field: str | None) -> str | None:
    return next((column.zh for column in COLUMNS if column.field == field), field)


def _order(field: str | None) -> int:
    return next((n for n, column in enumerate(COLUMNS) if column.field == field), -1)


def _report(
    header: list[str], rows: list[tuple[int, list[str]]], errors: list[dict[str, Any]], product_ids: list[int]
) -> dict[str, Any]:
    return {"columns": header, "rows": [[n, cells] for n, cells in rows], "errors": errors, "product_ids": product_ids}


def _reject(
    session: Session,
    record: CatalogueImport,
    header: list[str],
    rows: list[tuple[int, list[str]]],
    errors: list[dict[str, Any]],
    actor: Actor,
) -> CatalogueImport:
    record.row_count, record.error_count = max(record.row_count, len(rows)), len(errors)
    record.report = _report(header, rows, errors, [])
    session.add(record)
    session.flush()
    record_audit(
        session, actor=actor, action="catalogue.import_rejected", object_type="catalogue_import",
        object_id=record.id, details={"filename": record.filename, "sha256": record.sha256, "rows": len(rows),
                                      "errors": len(errors)},
    )  # fmt: skip
    raise ImportRejected(record)


# ---------------------------------------------------------------- imports kept


def get_import(session: Session, *, import_id: int, actor: Actor) -> CatalogueImport:
    """Return one catalogue import with its report (administrators only)."""
    actor.require(Role.ADMIN)
    record = session.get(CatalogueImport, import_id)
    if record is None:
        raise not_found("Catalogue import", import_id)
    return record


def list_imports(session: Session, *, actor: Actor, page: int = 1, per_page: int = 20) -> Page[CatalogueImport]:
    """List catalogue imports, newest first (administrators only)."""
    actor.require(Role.ADMIN)
    stmt = sa.select(CatalogueImport).options(defer(CatalogueImport.report))  # reports can run to megabytes
    return paginate(session, stmt.order_by(CatalogueImport.id.desc()), page=page, per_page=per_page)


def report_workbook(
    record: CatalogueImport,
    *,
    describe: Callable[[dict[str, Any]], str] | None = None,
    headings: Mapping[str, str] | None = None,
) -> bytes:
    """Return the import's report as .xlsx: the rows as uploaded plus their problems, then every problem listed.

    ``describe`` words a problem (default: its English message) and ``headings`` names the added columns and
    sheets (keys ``problems``, ``product``, ``rows``, ``row``, ``column``, ``message``), so pages can localise both.
    """
    words = {"rows": "Rows", "problems": "Problems", "product": "Product id", "row": "Row", "column": "Column",
             "message": "Problem"} | dict(headings or {})  # fmt: skip
    describe = describe or (lambda error: error["message"])
    report = record.report
    by_row: dict[int | None, list[str]] = {}
    for error in report.get("errors", []):
        where = f"[{error['column']}] " if error.get("column") else ""
        by_row.setdefault(error.get("row"), []).append(where + describe(error))
    ids = report.get("product_ids") or []
    header = [*report.get("columns", []), words["problems"], *([words["product"]] if ids else [])]
    rows, marked = [], set()
    for index, (number, cells) in enumerate(report.get("rows", [])):
        problems = by_row.get(number, [])
        if problems:
            marked.add(index)
        rows.append([*cells, "\n".join(problems), *([ids[index]] if ids else [])])
    listing = [
        [error.get("row") or "", error.get("column") or "", describe(error)] for error in report.get("errors", [])
    ]
    return sheets.workbook_bytes(
        [
            sheets.SheetOut(words["rows"], header, rows, frozenset(marked)),
            sheets.SheetOut(
                words["problems"], [words["row"], words["column"], words["message"]], listing, widths=(8, 24, 90)
            ),
        ]
    )
