"""Check every row of a prescription upload against the layout, each other, the registry and the catalogue.

Rows are read cell by cell (:mod:`procurement.audit.prescription_io`), then checked together: the rows of one
prescription must agree on who wrote it, for whom, when and where; a prescription number and line number may
appear once, and never again after an accepted import; physicians must be in the hospital's registry and products
in the catalogue. Every problem is reported with its row, column, value and a stable code, so a hospital fixes the
whole file in one pass. Patient identifiers are pseudonymised as they are read and masked in the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from procurement.audit import prescription_io as io
from procurement.audit.prescription_models import Physician, Prescription, Setting
from procurement.catalogue_models import Product, ProductKind

CHUNK = 500  # keeps IN (...) lists within every backend's parameter limits
_BAD = object()  # a cell that failed to parse: later checks skip it rather than report it twice
# Fields every line of one prescription must share (the prescription's header).
HEADER_FIELDS = (
    "physician_code",
    "patient_id",
    "prescribed_on",
    "setting",
    "department",
    "chronic",
    "diagnosis_code",
    "case_id",
)
TYPED = {
    "line_no": io.whole,
    "prescribed_on": io.date,
    "setting": io.setting,
    "quantity": io.quantity,
    "amount": io.amount,
    "chronic": io.flag,
    "reason_recorded": io.flag,
    "abnormal": io.flag,
    "abnormal_justified": io.flag,
    "trace_code": io.trace_code,
    "drug_class": io.drug_class,
    "product_id": io.product_id,
}
REQUIRED_CELLS = ("prescription_no", "line_no", "physician_code", "prescribed_on", "setting", "quantity", "amount")
FLAGS = ("chronic", "reason_recorded", "abnormal", "abnormal_justified", "drug_class")  # empty: no / none


@dataclass
class Checked:
    """The typed prescriptions and lines of an upload, or the problems that refuse it."""

    columns: list[str] = field(default_factory=list)  # the headers read, in file order
    ignored: list[str] = field(default_factory=list)  # headers not read (never stored)
    prescriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by prescription number
    lines: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cells: dict[int, list[str]] = field(default_factory=dict)  # row → cells of the read columns, patient masked


def problem(
    row: int | None,
    column: str | None,
    field_name: str | None,
    code: str,
    message: str,
    *,
    value: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Build one report entry (the patient identifier's value is always masked)."""
    if field_name == "patient_id" and value:
        value = io.MASK
    value, message = io.redact(value), io.redact(message) or ""
    return {
        "row": row,
        "column": column,
        "field": field_name,
        "code": code,
        "message": message,
        "value": value,
        "params": params,
    }


def check_upload(
    session: Session, *, hospital_id: int, header: list[str], rows: list[tuple[int, list[str]]], pseudonym_key: bytes
) -> Checked:
    """Check an upload's header and rows; ``errors`` is empty only when every row may be saved."""
    checked = Checked()
    try:
        found, checked.ignored = io.map_header(header)
    except io.CellProblem as exc:
        checked.errors.append(
            problem(1, header[exc.params["index"]], None, exc.code, exc.message, first=exc.params["first"])
        )
        return checked
    order = sorted(found.items(), key=lambda item: item[1])
    checked.columns = [header[index] for _, index in order]
    for column in io.missing_columns(found):
        message = f"the required column {column.zh} ({column.en}) is missing"
        checked.errors.append(problem(1, column.zh, column.field, "missing_column", message, name=column.zh))
    if checked.errors:
        return checked
    if not rows:
        checked.errors.append(problem(None, None, None, "no_rows", "the upload has no rows below the header"))
        return checked
    column_of = {name: header[index] for name, index in found.items()}
    parsed = [
        _parse_row(number, {name: cells[index] for name, index in found.items()}, column_of, checked, pseudonym_key)
        for number, cells in rows
    ]
    for number, cells in rows:  # what the report may show of each row: the read columns, patients masked
        checked.cells[number] = [
            io.MASK if name == "patient_id" and cells[index] else io.redact(cells[index]) for name, index in order
        ]
    _resolve(session, hospital_id, parsed, column_of, checked)
    _check_together(session, hospital_id, parsed, column_of, checked, numbered="line_no" in found)
    checked.errors.sort(key=lambda e: (e["row"] or 0, list(found).index(e["field"]) if e["field"] in found else -1))
    if not checked.errors:
        _build(hospital_id, parsed, checked)
    return checked


def _parse_row(number: int, raw: dict[str, str], column_of: dict[str, str], checked: Checked, key: bytes):
    values: dict[str, Any] = {"_row": number, "_raw": raw}
    for name, value in raw.items():
        try:
            if name == "patient_id":
                values[name] = io.patient_key(value, key)
            elif name in REQUIRED_CELLS and not value.strip():
                raise io.CellProblem("required", f"{column_of[name]} is required")
            elif name in TYPED:
                values[name] = TYPED[name](value) if value.strip() or name in FLAGS else None
            elif name == "days_supply":
                values[name] = io.whole(value) if value.strip() else None
            else:
                values[name] = io.text(value, name) or None
        except io.CellProblem as exc:
            values[name] = _BAD
            checked.errors.append(
                problem(number, column_of[name], name, exc.code, exc.message, value=value, **exc.params)
            )
    return values


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = sorted(set(values))
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _resolve(session: Session, hospital_id: int, parsed: list[dict], column_of: dict[str, str], checked: Checked):
    """Find each row's physician in the hospital's registry and its product in the catalogue."""
    codes = {v["physician_code"] for v in parsed if isinstance(v.get("physician_code"), str)}
    physicians: dict[str, Physician] = {}
    for part in _chunks(codes):
        stmt = sa.select(Physician).where(Physician.hospital_id == hospital_id, Physician.code.in_(part))
        physicians.update({p.code: p for p in session.exec(stmt).scalars()})
    products = _products(session, parsed)
    for values in parsed:
        code = values.get("physician_code")
        if isinstance(code, str):
            values["_physician"] = physicians.get(code)
            if values["_physician"] is None:
                message = f"no physician with code {code} is registered for this hospital"
                checked.errors.append(
                    problem(
                        values["_row"],
                        column_of["physician_code"],
                        "physician_code",
                        "unknown_physician",
                        message,
                        value=code,
                    )
                )
        name, reference = _product_reference(values)
        if name is None and _BAD not in (values.get("product_id"), values.get("product_code")):
            name = "product_code" if "product_code" in column_of else "product_id"
            message = "the product is required: its code (药品编码) or platform id (产品ID)"
            checked.errors.append(problem(values["_row"], column_of[name], name, "required", message, value=""))
        elif name is not None:
            values["_product"] = products.get((name, reference))
            if values["_product"] is None:
                message = f"no catalogue product has the code {reference}"
                checked.errors.append(
                    problem(
                        values["_row"], column_of[name], name, "unknown_product", message, value=values["_raw"][name]
                    )
                )


def _product_reference(values: dict) -> tuple[str | None, Any]:
    if isinstance(values.get("product_id"), int):
        return "product_id", values["product_id"]
    if isinstance(values.get("product_code"), str):
        return "product_code", values["product_code"]
    return None, None


def _products(session: Session, parsed: list[dict]) -> dict[tuple[str, Any], Product]:
    """Look products up by platform id, or by insurance code, UDI-DI or GTIN (in that order of preference)."""
    found: dict[tuple[str, Any], Product] = {}
    ids = {v["product_id"] for v in parsed if isinstance(v.get("product_id"), int)}
    for part in _chunks(ids):
        for product in session.exec(sa.select(Product).where(Product.id.in_(part))).scalars():
            found[("product_id", product.id)] = product
    codes = {v["product_code"] for v in parsed if isinstance(v.get("product_code"), str)}
    for column in (Product.gtin, Product.udi_di, Product.insurance_code):  # later ones win
        for part in _chunks(codes):
            for product in session.exec(sa.select(Product).where(column.in_(part))).scalars():
                found[("product_code", getattr(product, column.key))] = product
    return found


def _check_together(session, hospital_id, parsed, column_of, checked: Checked, *, numbered: bool) -> None:
    """Check what no single cell shows: one header per prescription, unique lines, numbers not imported before."""
    first_of: dict[str, dict] = {}
    seen_lines: dict[tuple[str, int], int] = {}
    counters: dict[str, int] = {}
    for values in parsed:
        number, row = values.get("prescription_no"), values["_row"]
        if not isinstance(number, str):
            continue
        first = first_of.setdefault(number, values)
        for name in HEADER_FIELDS:
            mine, theirs = values.get(name), first.get(name)
            if first is not values and name in column_of and _BAD not in (mine, theirs) and mine != theirs:
                message = f"prescription {number} has a different {column_of[name]} on row {first['_row']}"
                checked.errors.append(
                    problem(
                        row,
                        column_of[name],
                        name,
                        "inconsistent_prescription",
                        message,
                        value=values["_raw"].get(name),
                        row_of_first=first["_row"],
                    )
                )
        if not numbered:
            counters[number] = values["line_no"] = counters.get(number, 0) + 1
        line = values.get("line_no")
        if isinstance(line, int):
            earlier = seen_lines.setdefault((number, line), row)
            if earlier != row:
                message = f"prescription {number} line {line} repeats row {earlier}"
                checked.errors.append(
                    problem(
                        row,
                        column_of["prescription_no"],
                        "prescription_no",
                        "duplicate_row",
                        message,
                        value=number,
                        earlier=earlier,
                    )
                )
        _check_line(values, column_of, checked)
    existing: set[str] = set()
    for part in _chunks(first_of):
        stmt = sa.select(Prescription.external_no).where(
            Prescription.hospital_id == hospital_id, Prescription.external_no.in_(part)
        )
        existing.update(session.exec(stmt).scalars())
    for values in parsed:
        if values.get("prescription_no") in existing:
            number = values["prescription_no"]
            message = f"prescription {number} was imported before"
            checked.errors.append(
                problem(
                    values["_row"],
                    column_of["prescription_no"],
                    "prescription_no",
                    "already_imported",
                    message,
                    value=number,
                )
            )


def _check_line(values: dict, column_of: dict[str, str], checked: Checked) -> None:
    row, product = values["_row"], values.get("_product")
    consumable = product is not None and product.kind == ProductKind.CONSUMABLE.value
    limited = values.get("setting") in (Setting.OUTPATIENT.value, Setting.EMERGENCY.value)
    if "days_supply" in column_of and values.get("days_supply") is None and limited and not consumable:
        message = "outpatient and emergency drug lines need the days of supply (rulebook 7.4)"
        checked.errors.append(problem(row, column_of["days_supply"], "days_supply", "required", message, value=""))
    if values.get("abnormal_justified") is True and values.get("abnormal") is False:
        message = "a justification is recorded for a line not judged abnormal"
        checked.errors.append(
            problem(
                row,
                column_of["abnormal_justified"],
                "abnormal_justified",
                "justified_not_abnormal",
                message,
                value=values["_raw"]["abnormal_justified"],
            )
        )


def _build(hospital_id: int, parsed: list[dict], checked: Checked) -> None:
    for values in parsed:
        number, physician, product = values["prescription_no"], values["_physician"], values["_product"]
        checked.prescriptions.setdefault(
            number,
            {
                "hospital_id": hospital_id,
                "external_no": number,
                "physician_id": physician.id,
                "department": values.get("department") or physician.department,
                "setting": values["setting"],
                "prescribed_on": values["prescribed_on"],
                "patient_key": values["patient_id"],
                "chronic": bool(values.get("chronic")),
                "diagnosis_code": values.get("diagnosis_code"),
                "case_no": values.get("case_id"),
            },
        )
        checked.lines.append(
            {
                "prescription_no": number,
                "line_no": values["line_no"],
                "product_id": product.id,
                "quantity": values["quantity"],
                "days_supply": values.get("days_supply"),
                "amount": values["amount"],
                "drug_class": values.get("drug_class") or "",
                "reason_recorded": bool(values.get("reason_recorded")) or bool(values.get("reason")),
                "abnormal": bool(values.get("abnormal")),
                "abnormal_justified": bool(values.get("abnormal_justified")),
                "trace_code": values.get("trace_code"),
                "consumable": product.kind == ProductKind.CONSUMABLE.value,
            }
        )
