"""Pseudonyms, trace codes and case numbers of prescriptions, each stored once and referenced by integer id.

An import interns the strings it brings (:func:`intern_patients`, :func:`intern_trace_codes`, :func:`intern_cases`):
values already known keep their id, new ones get one. Two imports interning the same value at once both end with the
one row (``INSERT … ON CONFLICT DO NOTHING``, then a read). Monitoring reads only the ids and asks for the strings of
the few lines a finding names (:class:`StoredLabels`).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from procurement.audit.prescription_models import RxCase, RxPatient, RxTraceCode

CHUNK = 500  # values per IN (...) query, within every backend's parameter limit


def _insert_missing(session: Session, table: sa.Table, key: list[str], rows: list[dict]) -> None:
    """Insert ``rows``, skipping those whose ``key`` another transaction stored meanwhile (and no other conflict)."""
    if not rows:
        return
    dialect = session.connection().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    session.execute(insert.on_conflict_do_nothing(index_elements=key), rows)


def _ids(session: Session, column: sa.Column, key: sa.Column, values: list[str], *where) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        found.update(session.execute(sa.select(key, column).where(key.in_(chunk), *where)).tuples().all())
    return found


def _intern(session: Session, table: sa.Table, key: str, values: Iterable[str | None], **fixed) -> dict[str, int]:
    wanted = sorted({v for v in values if v is not None})
    if not wanted:
        return {}
    where = [table.c[name] == value for name, value in fixed.items()]
    known = _ids(session, table.c.id, table.c[key], wanted, *where)
    _insert_missing(session, table, [*fixed, key], [{**fixed, key: v} for v in wanted if v not in known])
    if len(known) < len(wanted):
        known = _ids(session, table.c.id, table.c[key], wanted, *where)
    if len(known) < len(wanted):  # never silently drop a value: an insert that stored nothing is an error
        missing = [v for v in wanted if v not in known][:3]
        raise RuntimeError(f"{table.name}: could not store {len(wanted) - len(known)} values, e.g. {missing}")
    return known


def intern_patients(session: Session, keys: Iterable[str]) -> dict[str, int]:
    """Return the id of each pseudonym (``core.pseudonym`` hex), storing the ones not seen before."""
    return _intern(session, RxPatient.__table__, "patient_key", keys)


def intern_trace_codes(session: Session, codes: Iterable[str | None]) -> dict[str, int]:
    """Return the id of each canonical trace code (``<kind>:<key>``), storing the ones not seen before."""
    return _intern(session, RxTraceCode.__table__, "code", codes)


def intern_cases(session: Session, hospital_id: int, case_numbers: Iterable[str | None]) -> dict[str, int]:
    """Return the id of each of a hospital's case numbers, storing the ones not seen before."""
    return _intern(session, RxCase.__table__, "case_no", case_numbers, hospital_id=hospital_id)


def _by_id(session: Session, key: sa.Column, ident: sa.Column, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted({int(i) for i in ids})
    found: dict[int, str] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        found.update(session.execute(sa.select(ident, key).where(ident.in_(chunk))).tuples().all())
    return found


class StoredLabels:
    """The strings behind a line frame's ids, read from the database for the ids asked (``rx_frame.Labels``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def trace_codes(self, ids: Iterable[int]) -> dict[int, str]:
        table = RxTraceCode.__table__
        return _by_id(self.session, table.c.code, table.c.id, ids)

    def cases(self, ids: Iterable[int]) -> dict[int, str]:
        table = RxCase.__table__
        return _by_id(self.session, table.c.case_no, table.c.id, ids)

    def patients(self, ids: Iterable[int]) -> dict[int, str]:
        table = RxPatient.__table__
        return _by_id(self.session, table.c.patient_key, table.c.id, ids)
