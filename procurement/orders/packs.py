"""Find the sales-unit packs behind scanned codes: parse, look up the trace items, expand cases to their packs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from trace.codes import InvalidCode, TraceCode, parse
from trace.items import code_key
from trace.models import Item, TradeItem

ITEMS = Item.__table__
CHUNK = 900  # below SQLite's bound-parameter limit


@dataclass
class Scan:
    """One scanned code: its text, parsed form (or the parse error) and the trace item it names."""

    position: int
    text: str
    code: TraceCode | None = None
    error: str | None = None
    key: str | None = None
    item: Item | None = None


def parse_scans(texts: Sequence[str]) -> list[Scan]:
    """Parse every scanned text, keeping the error of those that do not parse."""
    scans = []
    for position, text in enumerate(texts):
        scan = Scan(position, text)
        try:
            scan.code = parse(text)
            scan.key = code_key(scan.code)
        except InvalidCode as exc:
            scan.error = str(exc)
        scans.append(scan)
    return scans


def chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    """Yield ``values`` in slices small enough for one ``IN (...)`` clause."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def update_by_ids(conn: sa.Connection, table: sa.Table, ids: Sequence[int], **values) -> None:
    """Set ``values`` on the rows of ``table`` with these ids: on PostgreSQL one statement with the ids as one array
    parameter (``id = ANY(:ids)``), elsewhere one ``IN (...)`` statement per chunk."""
    if not ids:
        return
    if conn.dialect.name == "postgresql":
        wanted = sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger))
        conn.execute(table.update().where(table.c.id == sa.func.any(wanted)).values(**values), {"ids": list(ids)})
        return
    for part in chunks(ids):
        conn.execute(table.update().where(table.c.id.in_(part)).values(**values))


def load_items(session: Session, keys: Iterable[str]) -> dict[str, sa.Row]:
    """Return the trace items of the given code keys, as rows.

    Rows, not ORM objects: the trace capture updates items with bulk statements, so ORM copies held in the
    session would go stale.
    """
    wanted = sorted(set(keys))
    found: dict[str, sa.Row] = {}
    for part in chunks(wanted):
        for item in session.execute(sa.select(ITEMS).where(ITEMS.c.code_key.in_(part))):
            found[item.code_key] = item
    return found


def trade_items(session: Session, ids: Iterable[int]) -> dict[int, TradeItem]:
    """Return trade items by id."""
    wanted = sorted(set(ids))
    found: dict[int, TradeItem] = {}
    for part in chunks(wanted):
        for row in session.exec(sa.select(TradeItem).where(TradeItem.id.in_(part))).scalars():
            found[row.id] = row
    return found


def expand_cases(session: Session, cases: Sequence[sa.Row]) -> dict[int, list[sa.Row]]:
    """Return, for each case, the sales-unit packs inside it (through a middle level if there is one)."""
    result: dict[int, list[sa.Row]] = {case.id: [] for case in cases}
    owner = {case.id: case.id for case in cases}
    frontier = [case.id for case in cases]
    for _level in range(2):  # a case holds at most two levels below it (rulebook 5.4.1)
        if not frontier:
            break
        children: list[sa.Row] = []
        for part in chunks(frontier):
            children.extend(session.execute(sa.select(ITEMS).where(ITEMS.c.parent_id.in_(part))))
        levels = trade_items(session, {c.trade_item_id for c in children})
        frontier = []
        for child in children:
            top = owner[child.parent_id]
            if levels[child.trade_item_id].level == 1:
                result[top].append(child)
            else:
                owner[child.id] = top
                frontier.append(child.id)
    return result
