"""Each hospital's registry of physicians (医师): who may appear on its prescriptions, and their prescribing rights.

Prescriptions name physicians by the code the hospital's own system uses, so an import can only name physicians
registered here first (rulebook 7.1–7.3). Registering is an upsert by code, so a hospital can send its whole
roster again after any change; every creation and change is audited, a change of prescribing rights included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import INVALID, DomainError
from core.pagination import Page, paginate
from core.roles import Role
from procurement import spreadsheets as sheets
from procurement.audit.prescription_models import Physician, PrescribingStatus
from procurement.audit.prescriptions import HOSPITAL_ROLES, READERS

FIELDS = ("code", "name", "department", "title", "prescribing_status")
LIMITS = {"code": 32, "name": 100, "department": 64, "title": 64}
MAX_BATCH = 5_000


def register_physicians(
    session: Session, *, actor: Actor, hospital_id: int, physicians: Sequence[Mapping[str, Any]]
) -> tuple[list[Physician], int]:
    """Create or update the hospital's physicians by code; return them in the order given and how many are new."""
    actor.require(*HOSPITAL_ROLES, org_id=hospital_id)
    rows = _checked(physicians)
    codes = [row["code"] for row in rows]
    stmt = sa.select(Physician).where(Physician.hospital_id == hospital_id, Physician.code.in_(codes))
    existing = {p.code: p for p in session.exec(stmt).scalars()}
    now, result, created, changes = utcnow(), [], 0, []
    for row in rows:
        physician = existing.get(row["code"])
        if physician is None:
            physician = Physician(hospital_id=hospital_id, created_at=now, updated_at=now, **row)
            session.add(physician)
            created += 1
            changes.append({"code": row["code"], "created": True})
        else:
            changed = {k: [getattr(physician, k), v] for k, v in row.items() if getattr(physician, k) != v}
            if changed:
                for key, (_, value) in changed.items():
                    setattr(physician, key, value)
                physician.updated_at = now
                changes.append({"code": row["code"], "changed": changed})
        result.append(physician)
    session.flush()
    if changes:
        record_audit(
            session,
            actor=actor,
            action="physicians.registered",
            object_type="organisation",
            object_id=hospital_id,
            org_id=hospital_id,
            details={"created": created, "updated": len(changes) - created, "changes": changes},
        )
    return result, created


def _checked(physicians: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate a roster: codes and names present and unique, lengths within bounds, a known rights status."""
    if not physicians or len(physicians) > MAX_BATCH:
        raise DomainError(INVALID, f"send 1 to {MAX_BATCH} physicians", code="bad_batch_size")
    errors: dict[str, list[str]] = {}
    rows, seen = [], {}
    for index, given in enumerate(physicians):
        row = {k: str(given.get(k) or "").strip() for k in FIELDS}
        row["prescribing_status"] = row["prescribing_status"] or PrescribingStatus.ACTIVE.value
        where = f"physicians[{index}]"
        for key in ("code", "name"):
            if not row[key]:
                errors.setdefault(f"{where}.{key}", []).append("required")
        for key, limit in LIMITS.items():
            if len(row[key]) > limit:
                errors.setdefault(f"{where}.{key}", []).append(f"at most {limit} characters")
        if row["prescribing_status"] not in tuple(PrescribingStatus):
            allowed = ", ".join(s.value for s in PrescribingStatus)
            errors.setdefault(f"{where}.prescribing_status", []).append(f"one of {allowed}")
        if row["code"] and seen.setdefault(row["code"], index) != index:
            errors.setdefault(f"{where}.code", []).append(f"repeats physicians[{seen[row['code']]}]")
        rows.append(row)
    if errors:
        raise DomainError(
            INVALID, "the roster has invalid physicians; see errors", code="invalid_physicians", errors=errors
        )
    return rows


def list_physicians(
    session: Session, *, actor: Actor, hospital_id: int | None = None, page: int = 1, per_page: int = 50
) -> Page[Physician]:
    """List physicians by code: a hospital its own registry, auditors every hospital's (or one's)."""
    actor.require(*READERS)
    if not actor.has(Role.AUDITOR):
        hospital_id = actor.org_id
    stmt = sa.select(Physician).order_by(Physician.hospital_id, Physician.code)
    if hospital_id is not None:
        stmt = stmt.where(Physician.hospital_id == hospital_id)
    return paginate(session, stmt, page=page, per_page=per_page)


# The roster file's columns: field → accepted headers (Chinese and English), and the words for prescribing rights.
ROSTER_COLUMNS = {
    "code": ("医师编码", "医生编码", "医师工号", "code", "physician_code"),
    "name": ("姓名", "医师姓名", "name"),
    "department": ("科室", "department"),
    "title": ("职称", "title"),
    "prescribing_status": ("处方权", "处方权状态", "prescribing_status"),
}
RIGHTS_WORDS = {
    PrescribingStatus.ACTIVE: ("有", "正常", "active"),
    PrescribingStatus.RESTRICTED: ("限制", "受限", "restricted"),
    PrescribingStatus.REMOVED: ("取消", "无", "removed"),
}


def register_roster(
    session: Session, *, actor: Actor, hospital_id: int, filename: str, data: bytes
) -> tuple[list[Physician], int]:
    """Register the physicians of a roster spreadsheet: every row or none, problems named by the file's row."""
    roster, numbers, errors = read_roster(filename, data)
    try:
        if errors:
            _checked(roster)  # report the other problems of the file along with the unreadable rights
        else:
            return register_physicians(session, actor=actor, hospital_id=hospital_id, physicians=roster)
    except DomainError as exc:
        if exc.kind != INVALID:
            raise
        for key, messages in exc.errors.items():
            index, _, field_name = key.removeprefix("physicians[").partition("].")
            where = f"row {numbers[int(index)]} {field_name}" if index.isdigit() else key
            errors.setdefault(where, []).extend(_by_row(str(message), numbers) for message in messages)
    raise DomainError(INVALID, "the roster has invalid rows; see errors", code="invalid_physicians", errors=errors)


def _by_row(message: str, numbers: list[int]) -> str:
    """Name the roster's rows in a message about positions ("repeats physicians[0]" → "repeats row 2")."""
    return re.sub(r"physicians\[(\d+)\]", lambda m: f"row {numbers[int(m.group(1))]}", message)


def read_roster(filename: str, data: bytes) -> tuple[list[dict[str, Any]], list[int], dict[str, list[str]]]:
    """Read a roster spreadsheet (.csv/.xlsx) into physicians, their row numbers (header = 1) and bad rights cells."""
    try:
        sheet = sheets.read_sheet(filename, data)
    except sheets.SheetError as exc:
        raise DomainError(INVALID, exc.message, code=exc.code, errors={"file": [exc.message]}) from exc
    keys = {sheets.header_key(h): f for f, headers in ROSTER_COLUMNS.items() for h in headers}
    found = {keys[sheets.header_key(h)]: i for i, h in enumerate(sheet.header) if sheets.header_key(h) in keys}
    missing = [ROSTER_COLUMNS[f][0] for f in ("code", "name") if f not in found]
    if missing:
        message = f"the roster lacks the columns {', '.join(missing)}"
        raise DomainError(INVALID, message, code="missing_column", errors={"file": [message]})
    words = {w.lower(): s.value for s, ws in RIGHTS_WORDS.items() for w in ws}
    roster, numbers, errors = [], [], {}
    for number, cells in sheet.rows:
        numbers.append(number)
        row = {field: cells[index] for field, index in found.items()}
        status = row.get("prescribing_status", "").strip().lower()
        if status and status not in words:
            errors[f"row {number} prescribing_status"] = [f"{row['prescribing_status']!r} is not 有, 限制 or 取消"]
        row["prescribing_status"] = words.get(status, PrescribingStatus.ACTIVE.value)
        roster.append(row)
    return roster, numbers, errors
