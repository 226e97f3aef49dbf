"""Prescription and dispensing records: hospitals import them (a file or API rows) and register their physicians.

An import is all or nothing: every row is checked (:mod:`procurement.audit.prescription_checks`) and either every
prescription is saved or none is, and the import is kept either way with its row-level report. A retried import
never duplicates: the same ``Idempotency-Key``, or without one the same content, answers with the import that was
accepted before. Patient identifiers are pseudonymised with the platform's key as they are read (rulebook 0.17);
the key comes from the caller (``YAOLIAN_PSEUDONYM_KEY`` through the application's configuration).
A hospital sees its own imports and physicians; auditors see every hospital's.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import driver_executemany
from core.errors import CONFLICT, INVALID, DomainError, invalid, not_found
from core.idempotency import key_hash
from core.pagination import Page, paginate
from core.roles import Role
from procurement import spreadsheets as sheets
from procurement.audit import prescription_io as io
from procurement.audit import rx_keys
from procurement.audit.prescription_checks import Checked, check_upload, problem
from procurement.audit.prescription_models import (
    Prescription,
    PrescriptionImport,
    PrescriptionLine,
    RxImportStatus,
)

HOSPITAL_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER)
READERS = (*HOSPITAL_ROLES, Role.AUDITOR)
MAX_ROWS = 200_000  # a month of a large hospital's outpatient lines; bigger exports go in several files
REPORTED = 5_000  # problems kept in the stored report (the count keeps the total)
ERRORS_IN_RESPONSE = 200


class RxImportRejected(DomainError):
    """An import was refused: no prescription was saved, but the import and its report were (``keep_work``)."""

    def __init__(self, record: PrescriptionImport) -> None:
        super().__init__(
            INVALID,
            f"{record.error_count} problems found; nothing was imported",
            code="import_rejected",
            errors={"rows": record.errors[:ERRORS_IN_RESPONSE], "import_id": record.id},
            keep_work=True,
        )
        self.record = record


def import_prescriptions(
    session: Session,
    *,
    actor: Actor,
    hospital_id: int,
    pseudonym_key: bytes,
    filename: str | None = None,
    data: bytes | None = None,
    rows: Sequence[Mapping[str, Any]] | None = None,
    idempotency_key: str | None = None,
) -> tuple[PrescriptionImport, bool]:
    """Import a file (``data``) or API ``rows``; return the import and ``True`` when new (``False``: a retry).

    Raises :class:`RxImportRejected` with the row-level report when any row is wrong; then nothing is stored.
    """
    actor.require(*HOSPITAL_ROLES, org_id=hospital_id)
    if (data is None) == (rows is None):
        raise invalid("file", "send a .csv or .xlsx file, or JSON rows", code="file_missing")
    if data is not None and not data:
        raise invalid("file", "choose a non-empty .xlsx or .csv file to upload", code="file_missing")
    # Keyed, not a bare SHA-256: the digest of a one-row upload could otherwise be brute-forced to its patient.
    sha = hmac.new(pseudonym_key, data if data is not None else _rows_bytes(rows or []), "sha256").hexdigest()
    hashed = key_hash(idempotency_key)
    earlier = _earlier(session, hospital_id, hashed, sha)
    if earlier is not None:
        return earlier, False
    name = PurePath((filename or "").replace("\\", "/")).name[:255] if data is not None else ""
    record = PrescriptionImport(
        hospital_id=hospital_id,
        source="file" if data is not None else "api",
        filename=name,
        sha256=sha,
        status=RxImportStatus.REJECTED.value,
        created_by_id=actor.user_id,
        created_by_name=actor.username[:100],
    )
    try:
        header, table = _table(name, data) if data is not None else _json_table(rows or [])
    except sheets.SheetError as exc:
        return _reject(session, record, Checked(errors=[problem(exc.row, None, None, exc.code, exc.message)]), actor)
    record.row_count = len(table)
    if len(table) > MAX_ROWS:
        message = f"{len(table)} rows; import at most {MAX_ROWS} at once"
        error = problem(None, None, None, "too_many_rows", message, rows=len(table), limit=MAX_ROWS)
        return _reject(session, record, Checked(errors=[error]), actor)
    checked = check_upload(session, hospital_id=hospital_id, header=header, rows=table, pseudonym_key=pseudonym_key)
    if checked.errors:
        return _reject(session, record, checked, actor)
    return _save(session, record, checked, actor, hashed)


def _earlier(session: Session, hospital_id: int, hashed: str | None, sha: str) -> PrescriptionImport | None:
    """Return the accepted import a retry repeats: by key (same content required), else by the same content."""
    accepted = sa.select(PrescriptionImport).where(
        PrescriptionImport.hospital_id == hospital_id, PrescriptionImport.status == RxImportStatus.ACCEPTED.value
    )
    if hashed is not None:
        earlier = session.exec(accepted.where(PrescriptionImport.idempotency_key == hashed)).scalars().first()
        if earlier is not None and earlier.sha256 != sha:
            raise DomainError(
                CONFLICT,
                f"this Idempotency-Key was used for a different import ({earlier.id})",
                code="idempotency_key_reused",
            )
        if earlier is not None:
            return earlier
    return session.exec(accepted.where(PrescriptionImport.sha256 == sha)).scalars().first()


def _rows_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Serialise API rows canonically (sorted keys, no spaces) so a retried body hashes the same."""
    return json.dumps(list(rows), sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _table(filename: str, data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    sheet = sheets.read_sheet(filename or "upload.csv", data)
    return sheet.header, sheet.rows


def _json_table(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Lay API rows out as a sheet: the keys in order of first use are the header; row n is the n-th object."""
    header: list[str] = []
    for row in rows:
        header += [key for key in row if key not in header]
    return header, [(n, [io.cell_text(row.get(key)) for key in header]) for n, row in enumerate(rows, start=1)]


def _report(checked: Checked) -> dict[str, Any]:
    bad = sorted({e["row"] for e in checked.errors if e["row"] and e["row"] in checked.cells})[:REPORTED]
    return {
        "columns": checked.columns,
        "ignored": checked.ignored,
        "rows": [[n, checked.cells[n]] for n in bad],
        "errors": checked.errors[:REPORTED],
        "omitted": max(len(checked.errors) - REPORTED, 0),
    }


def _reject(session: Session, record: PrescriptionImport, checked: Checked, actor: Actor) -> PrescriptionImport:
    record.error_count, record.report = len(checked.errors), _report(checked)
    session.add(record)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="prescriptions.import_rejected",
        object_type="prescription_import",
        object_id=record.id,
        org_id=record.hospital_id,
        details={
            "filename": record.filename,
            "sha256": record.sha256,
            "rows": record.row_count,
            "errors": record.error_count,
        },
    )
    raise RxImportRejected(record)


def _save(session, record: PrescriptionImport, checked: Checked, actor: Actor, hashed: str | None):
    record.status, record.idempotency_key = RxImportStatus.ACCEPTED.value, hashed
    record.prescription_count, record.line_count = len(checked.prescriptions), len(checked.lines)
    record.report = _report(checked)
    savepoint = session.begin_nested()
    try:
        session.add(record)
        session.flush()
        heads = _interned_heads(session, record, checked)
        inserted = session.execute(
            sa.insert(Prescription).returning(Prescription.id, sort_by_parameter_order=True), heads
        )
        ids = dict(zip(checked.prescriptions, inserted.scalars().all(), strict=True))
        codes = rx_keys.intern_trace_codes(session, (line["trace_code"] for line in checked.lines))
        lines = [
            {"prescription_id": ids[line["prescription_no"]], "trace_code_id": _id_of(codes, line["trace_code"])}
            | {name: value for name, value in line.items() if name not in ("prescription_no", "trace_code")}
            for line in checked.lines
        ]
        driver_executemany(session.connection(), PrescriptionLine.__table__, lines)
    except IntegrityError as exc:
        # A concurrent retry of the same upload committed first: answer with its import.
        savepoint.rollback()
        earlier = _earlier(session, record.hospital_id, hashed, record.sha256)
        if earlier is None:
            message = "prescriptions in this upload were imported meanwhile"
            raise DomainError(CONFLICT, message, code="conflict") from exc
        return earlier, False
    savepoint.commit()
    record_audit(
        session,
        actor=actor,
        action="prescriptions.imported",
        object_type="prescription_import",
        object_id=record.id,
        org_id=record.hospital_id,
        details={
            "filename": record.filename,
            "sha256": record.sha256,
            "source": record.source,
            "rows": record.row_count,
            "prescriptions": record.prescription_count,
            "lines": record.line_count,
        },
    )
    return record, True


def _id_of(ids: dict[str, int], value: str | None) -> int | None:
    return None if value is None else ids[value]


def _interned_heads(session: Session, record: PrescriptionImport, checked: Checked) -> list[dict[str, Any]]:
    """The prescriptions' rows, their pseudonyms and case numbers replaced by the ids they are stored under."""
    heads = list(checked.prescriptions.values())
    patients = rx_keys.intern_patients(session, (head["patient_key"] for head in heads))
    cases = rx_keys.intern_cases(session, record.hospital_id, (head["case_no"] for head in heads))
    return [
        {"import_id": record.id, "patient_id": patients[head["patient_key"]], "case_id": _id_of(cases, head["case_no"])}
        | {name: value for name, value in head.items() if name not in ("patient_key", "case_no")}
        for head in heads
    ]


# ---------------------------------------------------------------- imports kept


def get_import(session: Session, *, import_id: int, actor: Actor) -> PrescriptionImport:
    """Return one import with its report: its hospital's staff and auditors may read it."""
    actor.require(*READERS)
    record = session.get(PrescriptionImport, import_id)
    if record is None or (not actor.has(Role.AUDITOR) and record.hospital_id != actor.org_id):
        raise not_found("Prescription import", import_id)
    return record


def list_imports(
    session: Session, *, actor: Actor, hospital_id: int | None = None, page: int = 1, per_page: int = 20
) -> Page[PrescriptionImport]:
    """List imports newest first: a hospital its own, auditors every hospital's (or one's)."""
    actor.require(*READERS)
    stmt = sa.select(PrescriptionImport).options(defer(PrescriptionImport.report))
    if not actor.has(Role.AUDITOR):
        hospital_id = actor.org_id
    if hospital_id is not None:
        stmt = stmt.where(PrescriptionImport.hospital_id == hospital_id)
    return paginate(session, stmt.order_by(PrescriptionImport.id.desc()), page=page, per_page=per_page)


def report_workbook(
    record: PrescriptionImport,
    *,
    describe: Callable[[dict[str, Any]], str] | None = None,
    headings: Mapping[str, str] | None = None,
) -> bytes:
    """Return the import's report as .xlsx: the refused rows as uploaded with their problems, then every problem.

    Patient identifiers are masked in the rows. ``describe`` words a problem (default: its English message) and
    ``headings`` names the added columns and sheets (keys ``rows``, ``problems``, ``row``, ``column``, ``value``,
    ``message``, ``summary``), so pages can localise both.
    """
    words = {
        "rows": "Rows",
        "problems": "Problems",
        "row": "Row",
        "column": "Column",
        "value": "Value",
        "message": "Problem",
        "summary": "Summary",
    } | dict(headings or {})
    describe = describe or (lambda error: error["message"])
    report = record.report
    by_row: dict[int | None, list[str]] = {}
    for error in report.get("errors", []):
        where = f"[{error['column']}] " if error.get("column") else ""
        by_row.setdefault(error.get("row"), []).append(where + describe(error))
    rows = [[number, *cells, "\n".join(by_row.get(number, []))] for number, cells in report.get("rows", [])]
    listing = [
        [e.get("row") or "", e.get("column") or "", e.get("value") or "", describe(e)] for e in report.get("errors", [])
    ]
    summary = [
        ["status", record.status],
        ["rows", record.row_count],
        ["prescriptions", record.prescription_count],
        ["lines", record.line_count],
        ["problems", record.error_count],
        ["sha256", record.sha256],
        ["ignored columns", ", ".join(report.get("ignored", []))],
    ]
    return sheets.workbook_bytes(
        [
            sheets.SheetOut(words["summary"], ["", ""], summary, widths=(20, 70)),
            sheets.SheetOut(
                words["rows"],
                [words["row"], *report.get("columns", []), words["problems"]],
                rows,
                frozenset(range(len(rows))),
            ),
            sheets.SheetOut(
                words["problems"],
                [words["row"], words["column"], words["value"], words["message"]],
                listing,
                widths=(8, 20, 24, 80),
            ),
        ]
    )
