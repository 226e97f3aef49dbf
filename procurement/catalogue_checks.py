"""The rules a catalogue product obeys, shared by the one-product form and the spreadsheet import."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.models import Organisation
from core.roles import OrgKind
from procurement import catalogue_codes as codes
from procurement.catalogue_models import GqceStatus, Product, ProductKind

MAX_PACK_QUANTITY = 100_000
TEXT_LIMITS = {
    "generic_name": 200,
    "generic_name_en": 200,
    "dosage_form": 50,
    "strength": 100,
    "unit": 16,
    "package_spec": 100,
    "category": 100,
}
REQUIRED = {
    ProductKind.DRUG: ("generic_name", "dosage_form", "strength", "pack_quantity", "unit", "package_spec",
                       "manufacturer_id", "approval_number"),
    ProductKind.CONSUMABLE: ("generic_name", "strength", "pack_quantity", "unit", "package_spec", "manufacturer_id",
                             "udi_di"),
}  # fmt: skip
DRUG_ONLY = ("approval_number", "dosage_form")
NAMES = {
    "generic_name": "generic name", "generic_name_en": "English name", "dosage_form": "dosage form",
    "pack_quantity": "pack quantity", "package_spec": "package specification", "manufacturer_id": "manufacturer",
    "mah_id": "marketing authorisation holder", "approval_number": "approval number",
    "insurance_code": "insurance code", "trace_product_id": "trace product identifier", "gtin": "GTIN",
    "gqce_status": "consistency evaluation status", "essential": "essential-medicine flag",
    "key_monitored": "key-monitored flag", "udi_di": "UDI-DI", "registration_number": "registration number",
}  # fmt: skip
CONSUMABLE_ONLY = ("udi_di", "registration_number", "category")
# Columns no two products share; the approval number is unique together with the package specification.
UNIQUE_FIELDS = ("insurance_code", "gtin", "trace_product_id", "udi_di")
_CHUNK = 500


@dataclass(frozen=True)
class Problem:
    """One broken rule: the field it concerns, a stable code and an English message."""

    field: str | None
    code: str
    message: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # the particulars, for translated wording


def check_product(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Return the product's values normalised, and every rule its fields break (empty when it is valid)."""
    problems: list[Problem] = []
    values = {key: (value.strip() if isinstance(value, str) else value) for key, value in data.items()}
    values = {key: (None if value == "" else value) for key, value in values.items()}
    try:
        kind = ProductKind(values.get("kind") or ProductKind.DRUG)
    except ValueError:
        return values, [Problem("kind", "invalid_kind", f"kind {values.get('kind')!r} must be drug or consumable")]
    values["kind"] = kind.value
    for field in REQUIRED[kind]:
        if values.get(field) is None:
            problems.append(Problem(field, "required", f"a {kind.value} needs a {_name(field)}", {"kind": kind.value}))
    for field in DRUG_ONLY if kind == ProductKind.CONSUMABLE else CONSUMABLE_ONLY:
        if values.get(field) is not None:
            message = f"a {kind.value} has no {_name(field)}"
            problems.append(Problem(field, "not_for_kind", message, {"kind": kind.value}))
    for field, limit in TEXT_LIMITS.items():
        if isinstance(values.get(field), str) and len(values[field]) > limit:
            message = f"the {_name(field)} is longer than {limit} characters"
            problems.append(Problem(field, "too_long", message, {"limit": limit}))
    quantity = values.get("pack_quantity")
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)):
        problems.append(Problem("pack_quantity", "not_whole_number", "the pack quantity must be a whole number"))
    elif quantity is not None and not 0 < quantity <= MAX_PACK_QUANTITY:
        problems.append(
            Problem(
                "pack_quantity",
                "out_of_range",
                f"the pack quantity must be between 1 and {MAX_PACK_QUANTITY}",
                {"maximum": MAX_PACK_QUANTITY},
            )
        )
    problems += _check_codes(values, kind)
    problems += _check_gqce(values, kind)
    return values, problems


def _check_codes(values: dict[str, Any], kind: ProductKind) -> list[Problem]:
    checkers = {
        "approval_number": codes.approval_number,
        "registration_number": codes.registration_number,
        "insurance_code": lambda v: codes.insurance_code(v, consumable=kind == ProductKind.CONSUMABLE),
        "gtin": codes.gtin,
        "udi_di": codes.udi_di,
        "trace_product_id": codes.trace_product_id,
    }
    problems = []
    for field, check in checkers.items():
        if values.get(field) is None:
            continue
        try:
            values[field] = check(str(values[field]))
        except codes.CodeError as exc:
            problems.append(Problem(field, exc.code, exc.message))
    return problems


def _check_gqce(values: dict[str, Any], kind: ProductKind) -> list[Problem]:
    status = values.get("gqce_status")
    default = GqceStatus.NOT_APPLICABLE if kind == ProductKind.CONSUMABLE else GqceStatus.NOT_EVALUATED
    try:
        values["gqce_status"] = GqceStatus(status or default).value
    except ValueError:
        choices = ", ".join(s.value for s in GqceStatus)
        message = f"consistency evaluation status {status!r} must be one of {choices}"
        return [Problem("gqce_status", "invalid_choice", message)]
    values["essential"] = bool(values.get("essential"))
    values["key_monitored"] = bool(values.get("key_monitored"))
    if kind == ProductKind.DRUG:
        return []
    problems = []
    if values["gqce_status"] != GqceStatus.NOT_APPLICABLE:
        message = "the consistency evaluation does not apply to consumables"
        problems.append(Problem("gqce_status", "not_for_kind", message, {"kind": kind.value}))
    for flag in ("essential", "key_monitored"):
        if values[flag]:
            message = f"the {_name(flag)} applies to drugs only"
            problems.append(Problem(flag, "not_for_kind", message, {"kind": kind.value}))
    return problems


def makers_by_reference(session: Session, references: Iterable[str]) -> dict[str, Organisation]:
    """Look organisations up by unified social credit code or exact name; return them keyed by the reference."""
    wanted = sorted({ref for ref in references if ref})
    by_uscc: dict[str, Organisation] = {}
    by_name: dict[str, Organisation] = {}
    for chunk in _chunks(wanted):
        stmt = sa.select(Organisation).where(
            sa.or_(Organisation.uscc.in_([ref.upper() for ref in chunk]), Organisation.name.in_(chunk))
        )
        for org in session.exec(stmt).scalars():
            by_uscc[org.uscc], by_name[org.name] = org, org
    found = {ref: by_uscc.get(ref.upper()) or by_name.get(ref) for ref in wanted}
    return {ref: org for ref, org in found.items() if org is not None}


def maker_problem(org: Organisation | None, *, field: str, reference: object) -> Problem | None:
    """Return why an organisation cannot make or hold a product (unknown, or not a manufacturer), else None."""
    if org is None:
        return Problem(field, "unknown_organisation", f"no organisation has the name or credit code {reference!r}")
    if org.kind != OrgKind.MANUFACTURER:
        return Problem(field, "not_a_manufacturer", f"{org.name} is registered as a {org.kind}, not a manufacturer")
    return None


def duplicates_within(rows: Sequence[Mapping[str, Any]]) -> dict[int, list[tuple[str, int]]]:
    """Return, by row index, the fields in which a row repeats an earlier row's unique code, with that row's index."""
    repeats: dict[int, list[tuple[str, int]]] = {}
    first_seen: dict[tuple, int] = {}
    for index, row in enumerate(rows):
        for field, key in _unique_keys(row):
            earlier = first_seen.setdefault(key, index)
            if earlier != index:
                repeats.setdefault(index, []).append((field, earlier))
    return repeats


def clashes_with_catalogue(session: Session, rows: Sequence[Mapping[str, Any]]) -> dict[int, list[Problem]]:
    """Return, by row index, the rows whose unique codes another product in the catalogue already has."""
    taken: dict[tuple, int] = {}
    for field in UNIQUE_FIELDS:
        values = sorted({row[field] for row in rows if row.get(field)})
        column = getattr(Product, field)
        for chunk in _chunks(values):
            for product_id, value in session.exec(sa.select(Product.id, column).where(column.in_(chunk))).all():
                taken[(field, value)] = product_id
    approvals = sorted({row["approval_number"] for row in rows if row.get("approval_number")})
    for chunk in _chunks(approvals):
        stmt = sa.select(Product.id, Product.approval_number, Product.package_spec)
        for product_id, number, spec in session.exec(stmt.where(Product.approval_number.in_(chunk))).all():
            taken[("approval_number", (number, spec))] = product_id
    problems: dict[int, list[Problem]] = {}
    for index, row in enumerate(rows):
        for field, key in _unique_keys(row):
            if key in taken:
                what = "approval number with this package specification" if field == "approval_number" else _name(field)
                problems.setdefault(index, []).append(
                    Problem(
                        field,
                        "exists",
                        f"{what} is already in the catalogue (product {taken[key]})",
                        {"product_id": taken[key]},
                    )
                )
    return problems


def _name(field: str) -> str:
    return NAMES.get(field, field.replace("_", " "))


def _unique_keys(row: Mapping[str, Any]) -> list[tuple[str, tuple]]:
    keys = [(field, (field, row[field])) for field in UNIQUE_FIELDS if row.get(field)]
    if row.get("approval_number"):
        keys.append(("approval_number", ("approval_number", (row["approval_number"], row.get("package_spec")))))
    return keys


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
