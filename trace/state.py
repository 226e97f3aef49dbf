"""The packs, trade items and organisations one capture batch touches, loaded once and kept in memory."""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter

import sqlalchemy as sa
from sqlmodel import Session

from core.db import driver_executemany
from core.models import Organisation
from trace.codes import InvalidCode, TraceCode, parse
from trace.items import code_key
from trace.models import EventType, Item, ItemStatus, TraceEvent, TradeItem
from trace.transitions import Effect, EventIn, PastDispense, Refused

CHUNK = 500  # keeps IN (...) lists within every backend's parameter limits
ITEMS = Item.__table__
MUTABLE = ("parent_id", "custodian_org_id", "pending_org_id", "status", "dispensed_units", "recalled", "last_leaf_hash")
_mutable_values = attrgetter(*MUTABLE)


@dataclass(eq=False)
class Pack:
    """A pack's row, held as a plain record: a batch reads and writes packs in bulk, not one ORM object at a time."""

    id: int | None
    code_key: str
    code_text: str
    trade_item_id: int
    serial: str
    batch: str | None
    expiry: dt.date | None
    parent_id: int | None
    custodian_org_id: int
    pending_org_id: int | None
    status: str
    dispensed_units: int
    recalled: bool
    last_leaf_hash: bytes | None
    commissioned_at: dt.datetime
    loaded: tuple = ()

    def changed(self) -> bool:
        return self.loaded != _mutable_values(self)

    def mark_loaded(self) -> None:
        self.loaded = _mutable_values(self)

    def reset(self) -> None:
        """Forget in-memory changes: back to the state as loaded."""
        for name, value in zip(MUTABLE, self.loaded, strict=True):
            setattr(self, name, value)


def _chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# Built once: building SELECT objects per batch costs more than running them (verification runs per scan).
TRADES = TradeItem.__table__
TradeRow = namedtuple("TradeRow", [c.name for c in TRADES.c])  # read-only, attribute access like the model
_PACK_COLUMNS = [ITEMS.c[f.name] for f in fields(Pack) if f.name != "loaded"]
_TRADE_LABELS = [c.label(f"t_{c.name}") for c in TRADES.c]
_PACKS = sa.select(*_PACK_COLUMNS, *_TRADE_LABELS).select_from(ITEMS.join(TRADES, TRADES.c.id == ITEMS.c.trade_item_id))
_PACK_STATEMENTS = {
    (by, lock): (stmt.with_for_update(of=ITEMS) if lock else stmt)
    for by, column in (("key", ITEMS.c.code_key), ("case", ITEMS.c.parent_id))
    for stmt in [_PACKS.where(column.in_(sa.bindparam("values", expanding=True))).order_by(ITEMS.c.code_key)]
    for lock in (False, True)
}
_TRADE_STATEMENTS = {
    column: sa.select(TRADES).where(TRADES.c[column].in_(sa.bindparam("values", expanding=True)))
    for column in ("id", "product_id", "gtin")
}
_PACK_WIDTH = len(_PACK_COLUMNS)
EVENTS = TraceEvent.__table__
_DISPENSES = (
    sa.select(
        EVENTS.c.id,
        EVENTS.c.type,
        EVENTS.c.org_id,
        EVENTS.c.at,
        EVENTS.c.patient_ref,
        EVENTS.c.quantity,
        EVENTS.c.details,
    )
    .where(EVENTS.c.item_id == sa.bindparam("item_id"), EVENTS.c.type.in_(("dispense", "undo")))
    .order_by(EVENTS.c.id)
)


class BatchState:
    def __init__(self, session: Session, *, org_id: int, now: dt.datetime, lock: bool = False) -> None:
        self.session = session
        self.lock = lock  # capture locks the packs it reads (FOR UPDATE on PostgreSQL) so checks and writes agree
        self.org_id = org_id
        self.now = now
        self.items: dict[str, Pack] = {}
        self.by_id: dict[int, Pack] = {}
        self.trade_items: dict[int, TradeRow] = {}  # read-only trade item rows by id
        self.events: Sequence[EventIn] = ()
        self._usccs: dict[int, str] = {}
        self._new: list[Pack] = []
        self._parsed: dict[str, TraceCode | InvalidCode] = {}
        # Per pack key: its dispensings in force, read once from the database and then kept up to date as the
        # batch's own dispense and undo events are applied, so later events of the batch see the earlier ones.
        self._dispenses: dict[str, list[PastDispense]] = {}

    # ------------------------------------------------------------ loading

    def preload(self, events: Sequence[EventIn]) -> None:
        """Load every pack the batch names, their cases' contents, and the trade items involved."""
        self.events = events
        codes: dict[str, TraceCode] = {}
        for event in events:
            for text in (event.code, *event.children):
                try:
                    code = self.parse(text)
                except InvalidCode:
                    continue
                codes[code_key(code)] = code
        self._load("key", sorted(codes))
        self._load_missing_trade_items()
        # Only cases hold packs: look for contents below case-level items alone (most batches have none).
        frontier = [p.id for p in self.items.values() if self.trade_items[p.trade_item_id].level > 1]
        for _level in range(2):  # a case holds at most two levels below it (rulebook 5.4.1)
            if not frontier:
                break
            before = set(self.by_id)
            self._load("case", frontier)
            self._load_missing_trade_items()
            frontier = [
                i for i in self.by_id if i not in before and self.trade_items[self.by_id[i].trade_item_id].level > 1
            ]
        if not any(event.type == EventType.COMMISSION for event in events):
            return  # only commissioning needs trade items for codes that have no pack yet
        product_ids = sorted({c.product_id for c in codes.values() if c.kind == "cn20"})
        gtins = sorted({c.gtin for c in codes.values() if c.kind == "gs1"})
        self._load_trade_items("product_id", product_ids)
        self._load_trade_items("gtin", gtins)

    def remember_parsed(self, text: str, code: TraceCode) -> None:
        """Record a code the caller has already parsed, so the batch does not parse it again."""
        self._parsed[text] = code

    def parse(self, text: str) -> TraceCode:
        """Parse a scanned code once per batch (GS1 parsing is the costliest step of capture)."""
        found = self._parsed.get(text)
        if found is None:
            try:
                found = parse(text)
            except InvalidCode as exc:
                found = exc
            self._parsed[text] = found
        if isinstance(found, InvalidCode):
            raise found
        return found

    def _load_missing_trade_items(self) -> None:
        needed = sorted({p.trade_item_id for p in self.items.values()} - set(self.trade_items))
        self._load_trade_items("id", needed)

    def _load(self, by: str, values: Sequence) -> None:
        conn, stmt = self.session.connection(), _PACK_STATEMENTS[(by, self.lock)]
        for chunk in _chunks(values):
            for row in conn.execute(stmt, {"values": list(chunk)}).fetchall():
                pack = Pack(*row[:_PACK_WIDTH])  # the pack's columns come first, in the order of its fields
                if pack.trade_item_id not in self.trade_items:
                    self.trade_items[pack.trade_item_id] = TradeRow(*row[_PACK_WIDTH:])
                pack.mark_loaded()
                self.items[pack.code_key] = pack
                self.by_id[pack.id] = pack

    def _load_trade_items(self, column: str, values: Sequence) -> None:
        conn = self.session.connection()
        for chunk in _chunks(values):
            for row in conn.execute(_TRADE_STATEMENTS[column], {"values": list(chunk)}):
                self.trade_items[row.id] = TradeRow(*row)

    # ------------------------------------------------------------ look-ups

    def item(self, key: str) -> Pack | None:
        return self.items.get(key)

    def required_item(self, text: str) -> Pack:
        try:
            code = self.parse(text)
        except InvalidCode as exc:
            raise Refused(f"{text!r}: {exc}", "invalid_trace_code") from exc
        found = self.items.get(code_key(code))
        if found is None:
            raise Refused(f"{code.key} has not been commissioned", "unknown_code")
        return found

    def parent_key(self, item: Pack) -> str | None:
        if item.parent_id is None:
            return None
        parent = self.by_id.get(item.parent_id)
        if parent is not None:
            return parent.code_key
        return self.session.exec(sa.select(Item.code_key).where(Item.id == item.parent_id)).scalar_one()

    def children_of(self, item: Pack) -> list[Pack]:
        if item.id is None or self.trade_items[item.trade_item_id].level == 1:
            return []  # a sales unit holds nothing
        return [i for i in self.items.values() if i.parent_id == item.id]

    def dispenses_of(self, item: Pack) -> list[PastDispense]:
        """Return the pack's dispensings still in force (undone ones removed), oldest first, the batch's included."""
        if item.code_key not in self._dispenses:
            self._dispenses[item.code_key] = self._stored_dispenses(item)
        return list(self._dispenses[item.code_key])

    def _stored_dispenses(self, item: Pack) -> list[PastDispense]:
        if item.id is None:
            return []
        out: list[PastDispense] = []
        for event in self.session.connection().execute(_DISPENSES, {"item_id": item.id}):
            if event.type == "undo":
                out = [d for d in out if d.event_id != event.details.get("undone_event_id")]
            else:
                out.append(PastDispense(event.id, event.org_id, event.at, event.patient_ref, event.quantity))
        return out

    def applied(self, effect: Effect, event: EventIn) -> None:
        """Keep the batch's view of dispensings current after an accepted dispense or undo of a pack."""
        if effect.type == EventType.DISPENSE:
            self.dispenses_of(effect.item)  # loads the stored ones first
            past = PastDispense(None, self.org_id, effect.at, event.patient_ref, effect.quantity)
            self._dispenses[effect.item.code_key].append(past)
        elif effect.type == EventType.UNDO:
            undone = effect.details["undone_event_id"]
            kept = self.dispenses_of(effect.item)
            self._dispenses[effect.item.code_key] = [d for d in kept if d.event_id != undone]

    def uscc_of(self, org_id: int) -> str:
        if org_id not in self._usccs:
            self._usccs[org_id] = self.session.get(Organisation, org_id).uscc
        return self._usccs[org_id]

    # ------------------------------------------------------------ changes

    def commission(self, code: TraceCode, event: EventIn, when: dt.datetime) -> Effect:
        """Create a pack for a registered trade item of which the organisation is the holder."""
        key = code_key(code)
        if key in self.items:
            raise Refused(f"{code.key} is already commissioned: one item, one code", "code_exists")
        trade = self._trade_item_for(code)
        if trade is None:
            raise Refused(f"{code.gtin or code.product_id} is not a registered product", "unregistered_product")
        if trade.holder_org_id != self.org_id:
            raise Refused("only the product's marketing authorisation holder commissions its codes", "not_holder")
        if code.kind == "gs1" and event.batch and code.batch and event.batch != code.batch:
            raise Refused("the batch given differs from the batch in the code", "batch_mismatch")
        if code.kind == "gs1" and event.expiry and code.expiry and event.expiry != code.expiry:
            given, coded = event.expiry.isoformat(), code.expiry.isoformat()
            raise Refused(
                f"the expiry given ({given}) differs from the expiry in the code ({coded})", "expiry_mismatch"
            )
        item = Pack(
            id=None,
            code_key=key,
            code_text=code.human(),
            trade_item_id=trade.id,
            serial=code.serial,
            batch=code.batch or event.batch,
            expiry=code.expiry or event.expiry,
            parent_id=None,
            custodian_org_id=self.org_id,
            pending_org_id=None,
            status=ItemStatus.ACTIVE.value,
            dispensed_units=0,
            recalled=False,
            last_leaf_hash=None,
            commissioned_at=when,
        )
        self.items[key] = item
        self._new.append(item)
        return Effect(item, EventType.COMMISSION)

    def _trade_item_for(self, code: TraceCode) -> TradeRow | None:
        for trade in self.trade_items.values():
            if (code.kind == "cn20" and trade.product_id == code.product_id) or (
                code.kind == "gs1" and trade.gtin == code.gtin
            ):
                return trade
        return None

    def ensure_id(self, item: Pack) -> None:
        if item.id is None:
            self.flush_new_items()

    def flush_new_items(self) -> None:
        """Insert the packs commissioned so far in one statement and learn their ids."""
        if not self._new:
            return
        rows = [{f.name: getattr(p, f.name) for f in fields(Pack) if f.name not in ("id", "loaded")} for p in self._new]
        conn = self.session.connection()
        for chunk in _chunks(rows, 1000):
            stmt = sa.insert(ITEMS).returning(ITEMS.c.id, ITEMS.c.code_key, sort_by_parameter_order=True)
            for row in conn.execute(stmt, chunk):
                pack = self.items[row.code_key]
                pack.id = row.id
                self.by_id[pack.id] = pack
        for pack in self._new:
            pack.mark_loaded()
        self._new.clear()

    def write_changes(self) -> None:
        """Write every changed pack back in one executemany."""
        self.flush_new_items()
        changed = [p for p in self.items.values() if p.changed()]
        if not changed:
            return
        # Set only the columns that changed, one executemany per set of them (a batch has one or two): an unchanged
        # column left out spares the database its index and foreign-key upkeep, and the rows end up the same.
        groups: dict[tuple[str, ...], list[dict]] = {}
        for pack in changed:
            values = _mutable_values(pack)
            names = tuple(name for name, new, old in zip(MUTABLE, values, pack.loaded, strict=True) if new != old)
            row = {name: getattr(pack, name) for name in names}
            row["id"] = pack.id
            groups.setdefault(names, []).append(row)
        for rows in groups.values():
            driver_executemany(self.session.connection(), ITEMS, rows, where=("id",))
        for pack in changed:
            pack.mark_loaded()
