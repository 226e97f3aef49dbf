"""Read trace events from CSV or JSONL files and capture a whole file as one unit of work.

Files come from other systems, so the receiving organisation is named by its unified social credit code (USCC),
a case's children are codes separated by ``|`` and times are ISO 8601 with an offset. Every bad row is reported
with its line and column before anything is captured. A file is then captured whole or not at all, in batches of
at most ``MAX_EVENTS`` events whose ids derive from the file's SHA-256 and the chunk number: importing the same file
again replays the stored answers and writes nothing. Patient identifiers are pseudonymised as they are read.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.models import Organisation
from core.pseudonym import pseudonymise
from core.roles import OrgKind
from trace import capture
from trace.canonical import canonical_bytes
from trace.codes import InvalidCode, parse
from trace.models import EventType
from trace.transitions import EventIn

FIELDS = (
    "type", "code", "at", "to_org", "quantity", "children", "batch", "expiry", "patient_id", "insurance_code", "reason",
)  # fmt: skip
REQUIRED = ("type", "code")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# The same bounds as the capture API's schema.
MAX_LENGTH = {"code": 200, "batch": 20, "patient_id": 64, "insurance_code": 32, "reason": 200}
MAX_CHILDREN = 1000
NEEDS = {EventType.SHIP: "to_org", EventType.AGGREGATE: "children"}
CHILD_SEPARATOR = "|"
USCC_CHUNK = 500  # keeps IN (...) lists within every backend's parameter limits

Progress = Callable[[int], object] | None


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one row (line 1 of a CSV file is its header)."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class ParsedFile:
    sha256: str
    events: list[EventIn] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the file line of each event
    problems: list[RowProblem] = field(default_factory=list)


@dataclass
class ImportResult:
    sha256: str
    events: int
    accepted: bool
    problems: list[RowProblem] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)  # the stored answer of each captured chunk
    replayed: int = 0  # chunks answered from an earlier import of the same file

    @property
    def entries(self) -> int:
        return sum(b.get("entries", 0) for b in self.batches)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [a for b in self.batches for a in b.get("alerts", [])]

    def summary(self) -> str:
        """Describe the outcome in one line."""
        if not self.accepted:
            return f"import refused: {len(self.problems)} problems; nothing was recorded"
        again = " (already imported: stored answers returned, nothing written)"
        return (
            f"imported {self.events} events in {len(self.batches)} batches: {self.entries} ledger entries, "
            f"{len(self.alerts)} alerts{again if self.replayed == len(self.batches) else ''}"
        )


def format_of(path: str | Path, fmt: str | None = None) -> str:
    """Return the file format given, else the one its extension names."""
    if fmt:
        if fmt not in FORMATS.values():
            raise ValueError(f"unknown format {fmt!r}: use csv or jsonl")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot tell the format of {Path(path).name!r} from its extension: give --format csv|jsonl")
    return FORMATS[suffix]


def read_events(
    session: Session, *, data: bytes, fmt: str, pseudonym_key: bytes, progress: Progress = None
) -> ParsedFile:
    """Read a CSV or JSONL file into events, reporting every bad row with its line and column."""
    parsed = ParsedFile(sha256=hashlib.sha256(data).hexdigest())
    try:
        text = data.decode("utf-8-sig")  # spreadsheets save UTF-8 with a byte order mark
    except UnicodeDecodeError as exc:
        parsed.problems.append(RowProblem(data.count(b"\n", 0, exc.start) + 1, None, "the file is not UTF-8 text"))
        return parsed
    rows = _csv_rows(text, parsed.problems) if fmt == "csv" else _jsonl_rows(text, parsed.problems)
    pending: list[tuple[int, dict[str, Any] | None, str | None]] = []
    for line, row in rows:
        pending.append((line, *_convert(line, row, pseudonym_key, parsed.problems)))
        if progress:
            progress(1)
    org_ids = _org_ids(session, {uscc for _, _, uscc in pending if uscc})
    for line, values, uscc in pending:
        if uscc and uscc not in org_ids:
            parsed.problems.append(RowProblem(line, "to_org", f"no organisation has the USCC {uscc}"))
        elif values is not None:
            parsed.events.append(EventIn(**values, to_org_id=org_ids.get(uscc) if uscc else None))
        parsed.lines.append(line)
    parsed.problems.sort(key=lambda p: p.line)
    if parsed.problems:
        parsed.events, parsed.lines = [], []
    elif not parsed.events:
        parsed.problems.append(RowProblem(1, None, "the file holds no events"))
    return parsed


def _csv_rows(text: str, problems: list[RowProblem]) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    bad_header = False
    for name in header:
        if name not in FIELDS:
            problems.append(RowProblem(1, name, f"unknown column (expected {', '.join(FIELDS)})"))
            bad_header = True
    for name in REQUIRED:
        if name not in header:
            problems.append(RowProblem(1, name, "missing column"))
            bad_header = True
    if len(set(header)) != len(header):
        problems.append(RowProblem(1, None, "a column appears twice"))
        bad_header = True
    if bad_header:
        return
    try:
        for row in reader:
            if None in row:
                problems.append(RowProblem(reader.line_num, None, "more fields than the header has columns"))
                continue
            yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
    except csv.Error as exc:
        problems.append(RowProblem(reader.line_num, None, f"unreadable CSV: {exc}"))


def _jsonl_rows(text: str, problems: list[RowProblem]) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(RowProblem(line, None, f"not JSON: {exc.msg} at character {exc.colno}"))
            continue
        if not isinstance(row, dict):
            problems.append(RowProblem(line, None, "each line must be one JSON object"))
            continue
        unknown = sorted(set(row) - set(FIELDS))
        for name in unknown:
            problems.append(RowProblem(line, name, "unknown field"))
        if not unknown:
            yield line, {k: v for k, v in row.items() if v not in (None, "")}


def _convert(
    line: int, row: dict[str, Any], key: bytes, problems: list[RowProblem]
) -> tuple[dict[str, Any] | None, str | None]:
    """Check one row's fields; return its EventIn arguments (None when bad, after reporting) and receiver's USCC."""
    found: list[RowProblem] = []

    def bad(column: str, reason: str) -> None:
        found.append(RowProblem(line, column, reason))

    values: dict[str, Any] = {}
    for name in FIELDS:
        if name in row and name not in ("quantity", "children") and not isinstance(row[name], str):
            bad(name, "must be text")
        elif name in MAX_LENGTH and len(row.get(name, "")) > MAX_LENGTH[name]:
            bad(name, f"longer than {MAX_LENGTH[name]} characters")
    if found:
        problems.extend(found)
        return None, None
    for name in REQUIRED:
        if name not in row:
            bad(name, "required")
    event_type = None
    if "type" in row:
        try:
            event_type = EventType(row["type"].strip().lower())
        except ValueError:
            bad("type", f"unknown event type {row['type']!r} (expected {', '.join(t.value for t in EventType)})")
    if "code" in row:
        try:
            parse(row["code"])
            values["code"] = row["code"]
        except InvalidCode as exc:
            bad("code", str(exc))
    values["at"] = _at(row.get("at"), bad)
    values["quantity"] = _quantity(row.get("quantity"), bad)
    values["children"] = _children(row.get("children"), bad)
    values["expiry"] = _expiry(row.get("expiry"), bad)
    if "patient_id" in row:
        try:
            values["patient_ref"] = pseudonymise(key, row["patient_id"])
        except ValueError as exc:
            bad("patient_id", str(exc))
    for name in ("batch", "insurance_code", "reason"):
        values[name] = row[name].strip() if name in row else None
    uscc = row["to_org"].strip().upper() if "to_org" in row else None
    needed = NEEDS.get(event_type) if event_type else None
    if needed and not (uscc if needed == "to_org" else values["children"]):
        bad(needed, f"a {event_type.value} event needs {needed}")
    problems.extend(found)
    values["type"] = event_type
    return (None if found else values), uscc


def _at(text: str | None, bad: Callable[[str, str], None]) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        bad("at", f"{text!r} is not an ISO 8601 date and time")
        return None
    if moment.tzinfo is None:
        bad("at", f"{text!r} has no UTC offset (write e.g. 2025-07-01T09:30:00+08:00)")
        return None
    return moment


def _quantity(value: Any, bad: Callable[[str, str], None]) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        bad("quantity", f"{value!r} is not a whole number")
        return None
    if value < 1:
        bad("quantity", "must be at least 1")
        return None
    return value


def _children(value: Any, bad: Callable[[str, str], None]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(CHILD_SEPARATOR)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad("children", "must be codes separated by | (or, in JSONL, a list of codes)")
        return ()
    codes = tuple(v.strip() for v in value if v.strip())
    if len(codes) > MAX_CHILDREN:
        bad("children", f"more than {MAX_CHILDREN} codes")
    for position, code in enumerate(codes, start=1):
        try:
            parse(code)
        except InvalidCode as exc:
            bad("children", f"code {position}: {exc}")
    return codes


def _expiry(text: str | None, bad: Callable[[str, str], None]) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        bad("expiry", f"{text!r} is not an ISO 8601 date (YYYY-MM-DD)")
        return None


def _org_ids(session: Session, usccs: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    ordered = sorted(usccs)
    for start in range(0, len(ordered), USCC_CHUNK):
        chunk = ordered[start : start + USCC_CHUNK]
        stmt = sa.select(Organisation.uscc, Organisation.id).where(Organisation.uscc.in_(chunk), Organisation.is_active)
        found.update(session.exec(stmt).all())
    return found


# ---------------------------------------------------------------- capture


def batch_id(sha256: str, chunk: int) -> str:
    """Return the client batch id of one chunk of a file: the same file always gives the same ids."""
    return f"import-{sha256}-{chunk:04d}"


def import_events(
    session: Session, *, parsed: ParsedFile, actor: Actor, now: dt.datetime, progress: Progress = None
) -> ImportResult:
    """Capture a read file as one unit of work: every chunk accepted, or nothing written (never commits)."""
    result = ImportResult(sha256=parsed.sha256, events=len(parsed.events), accepted=False)
    result.problems = list(parsed.problems) or _kind_problems(parsed, actor)
    if result.problems:
        return result
    known = list(session.identity_map.values())  # held, so that only what the import loaded can be forgotten
    savepoint = session.begin_nested()
    try:
        for number, start in enumerate(range(0, len(parsed.events), capture.MAX_EVENTS)):
            chunk = parsed.events[start : start + capture.MAX_EVENTS]
            lines = parsed.lines[start : start + capture.MAX_EVENTS]
            body = {"file_sha256": parsed.sha256, "chunk": number, "lines": [lines[0], lines[-1]], "events": len(chunk)}
            batch = capture.BatchIn(
                client_batch_id=batch_id(parsed.sha256, number),
                events=chunk,
                request_sha256=capture.request_digest(canonical_bytes(body)),
            )
            captured = capture.capture(session, actor=actor, batch=batch, now=now)
            if not captured.accepted:
                result.problems = _refusals(captured.body, lines, number)
                _roll_back(session, savepoint, known)
                return result
            result.batches.append(captured.body)
            result.replayed += captured.replay
            if progress:
                progress(len(chunk))
    except BaseException:
        if savepoint.is_active:
            _roll_back(session, savepoint, known)
        raise
    if result.replayed < len(result.batches):
        record_audit(
            session,
            actor=actor,
            action="trace.file_imported",
            object_type="import_file",
            object_id=parsed.sha256,
            details={"events": result.events, "batches": len(result.batches), "entries": result.entries},
        )
    savepoint.commit()
    result.accepted = True
    return result


def _roll_back(session: Session, savepoint: SessionTransaction, known: list[object]) -> None:
    """Roll the import back and forget every object it loaded.

    The session tracks rows inserted in a savepoint only while their objects live; an object collected and loaded
    again in a later chunk would survive the rollback stale (a ledger head with the wrong size, a pack whose row is
    gone), so everything the import brought into the session is expunged and reloaded when next needed.
    """
    savepoint.rollback()
    kept = {id(obj) for obj in known}
    for obj in list(session.identity_map.values()):
        if id(obj) not in kept:
            session.expunge(obj)


def _kind_problems(parsed: ParsedFile, actor: Actor) -> list[RowProblem]:
    """Name the lines whose events the actor's kind of organisation may not report (capture refuses them too)."""
    problems = []
    for line, event in zip(parsed.lines, parsed.events, strict=True):
        if event.type in capture.HOSPITAL_ONLY and actor.org_kind != OrgKind.HOSPITAL:
            problems.append(RowProblem(line, "type", f"only hospitals report {event.type.value} events"))
        elif event.type in capture.MAKER_ONLY and actor.org_kind not in (OrgKind.MANUFACTURER, OrgKind.DISTRIBUTOR):
            problems.append(RowProblem(line, "type", f"only suppliers report {event.type.value} events"))
    return problems


def _refusals(body: dict[str, Any], lines: list[int], number: int) -> list[RowProblem]:
    """Map a refused chunk's positions back to file lines."""
    alerts = {a["position"]: a["code"] for a in body.get("alerts", [])}
    problems = []
    for refusal in body["rejected"]:
        position = refusal["position"]
        rule = f", rule {alerts[position]}" if position in alerts else ""
        reason = f"{refusal['code']}: {refusal['reason']} (chunk {number}, event {position}{rule})"
        problems.append(RowProblem(lines[position], None, reason))
    return problems
