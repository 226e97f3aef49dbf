"""Load stored prescriptions and what hospitals received into the frames the monitoring rules read (``rx_frame``).

A period may hold millions of lines, so lines never become ORM objects: one Core select runs through the driver —
PostgreSQL streams it with ``COPY … TO STDOUT`` into ``pandas.read_csv``, SQLite hands back plain tuples — and the
small lookups (generic names, winning products) are joined in pandas on the distinct keys only.

Decisions: ``drug_class`` is the class the hospital imported with the line, since the catalogue has no drug-class
field (it knows consumable categories and the key-monitored flag only). ``winning_product_id`` is the hospital's
winning product of the line's generic name under an awarded tender whose cycle covers the prescription date
(as ``procurement.orders.buyable``): the line's own product when it is one of the winners, else the lowest-id
winner. Received packs come from the trace record — every receive event at a hospital on a sales-unit pack
(level 1) of a catalogue product, which includes every pack accepted on a platform receipt — counted once per
pack and up to the end of the period, since stock received earlier is dispensed later.
"""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from pandas.api.types import union_categoricals
from sqlmodel import Session

from core.models import Organisation
from core.roles import OrgKind
from procurement.audit import rx_frame
from procurement.audit.prescription_models import Prescription, PrescriptionLine
from procurement.catalogue_models import Product
from procurement.orders.buyable import IN_FORCE
from procurement.tenders.models import AgreedVolume, Award, Tender
from trace.models import EventType, Item, TraceEvent, TradeItem

CHINA = ZoneInfo("Asia/Shanghai")  # prescription dates are the hospital's local days
CHUNK_ROWS = 200_000  # rows fetched at a time from SQLite
MONEY_SCALE = 10_000  # SQLite keeps money as integer units of 0.0001 (core.db.Money)
_L, _P = PrescriptionLine.__table__.c, Prescription.__table__.c
_RAW = {  # column → dtype as the driver hands it over (money and dates are converted after)
    "line_id": "int64",
    "prescription_id": "int64",
    "hospital_id": "int64",
    "department": "string",
    "physician_id": "int64",
    "patient_id": "int64",
    "prescribed_on": "string",
    "setting": "string",
    "product_id": "int64",
    "drug_class": "string",
    "quantity": "float64",
    "days_supply": "float64",
    "amount": "float64",
    "chronic": "string",
    "reason_recorded": "string",
    "abnormal": "string",
    "abnormal_justified": "string",
    "trace_code_id": "Int64",
    "consumable": "string",
    "case_id": "Int64",
}
_BOOLS = ("chronic", "reason_recorded", "abnormal", "abnormal_justified", "consumable")
_NUMBERS = ("line_id", "prescription_id", "hospital_id", "physician_id", "patient_id", "product_id", "quantity",
            "days_supply", "amount", "trace_code_id", "case_id")  # fmt: skip
_FEW = ("department", "setting", "drug_class", "prescribed_on", *_BOOLS)  # read as categories: few distinct values


def _lines_select(start: dt.date, end: dt.date, hospital_id: int | None) -> sa.Select:
    stmt = (
        sa.select(
            _L.id.label("line_id"),
            _L.prescription_id,
            _P.hospital_id,
            _P.department,
            _P.physician_id,
            _P.patient_id,
            _P.prescribed_on,
            _P.setting,
            _L.product_id,
            _L.drug_class,
            _L.quantity,
            _L.days_supply,
            _L.amount,
            _P.chronic,
            _L.reason_recorded,
            _L.abnormal,
            _L.abnormal_justified,
            _L.trace_code_id,
            _L.consumable,
            _P.case_id,
        )
        .join_from(PrescriptionLine.__table__, Prescription.__table__, _L.prescription_id == _P.id)
        .where(_P.prescribed_on >= start, _P.prescribed_on < end)
        .order_by(_L.id)
    )
    return stmt if hospital_id is None else stmt.where(_P.hospital_id == hospital_id)


def load_lines(session: Session, *, start: dt.date, end: dt.date, hospital_id: int | None = None) -> pd.DataFrame:
    """Return every prescription line dated in [start, end) (of one hospital, or all) as ``rx_frame.LINE_COLUMNS``."""
    conn = session.connection()
    stmt = _lines_select(start, end, hospital_id)
    raw = _copy_frame(conn, stmt) if conn.dialect.name == "postgresql" else _tuple_frame(conn, stmt)
    if raw.empty:
        return rx_frame.empty_lines()
    frame = raw.astype({k: v for k, v in _RAW.items() if k in _NUMBERS})
    days = raw["prescribed_on"].astype("category")  # a period has few distinct days: parse each once
    parsed = pd.to_datetime(days.cat.categories.astype(str), format="%Y-%m-%d")
    frame["prescribed_on"] = pd.Series(parsed[days.cat.codes], index=frame.index).astype("datetime64[ns]")
    for name in _BOOLS:
        frame[name] = frame[name].isin(("t", "1", 1, True))
    frame["drug_class"] = _strings(frame["drug_class"]).fillna("")
    if conn.dialect.name != "postgresql":
        frame["quantity"] = frame["quantity"] / MONEY_SCALE
        frame["amount"] = frame["amount"] / MONEY_SCALE
    names = _generic_names(session, frame["product_id"].unique().tolist())
    frame["generic_name"] = frame["product_id"].map(names)
    frame["winning_product_id"] = _winners_for(session, frame, start, end, hospital_id)
    return rx_frame.conform(frame, rx_frame.LINE_COLUMNS)


def _strings(column: pd.Series) -> pd.Series:
    """Return a column as the ``string`` dtype (missing values as NA): ``pd.array`` over its Python objects builds
    it several times faster than ``Series.astype`` does."""
    return pd.Series(pd.array(column.to_numpy(dtype=object), dtype="string"), index=column.index, name=column.name)


def _copy_frame(conn: sa.Connection, stmt: sa.Select) -> pd.DataFrame:
    """Stream the select through PostgreSQL's COPY into pandas (far cheaper than building a row per line).

    The CSV is parsed as it arrives, so the server produces rows while pandas parses the earlier ones.
    """
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    dtype = {k: "category" if k in _FEW else "str" if v == "string" else v for k, v in _RAW.items()}
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            stream = io.BufferedReader(_CopyStream(copy), buffer_size=1 << 20)
            blank = {key: [""] for key in ("days_supply", "trace_code_id", "case_id")}  # NULL numbers: empty fields
            frame = pd.read_csv(stream, dtype=dtype, keep_default_na=False, na_values=blank)
    finally:
        cursor.close()
    return frame


class _CopyStream(io.RawIOBase):
    """A file over a COPY's rows, handing ``read_csv`` buffers of many rows at a time."""

    def __init__(self, copy) -> None:
        self.copy, self.pending = copy, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        parts, have = [self.pending], len(self.pending)
        while have < len(buffer):
            data = self.copy.read()
            if not data:
                break
            parts.append(data)
            have += len(data)
        chunk = b"".join(parts)
        size = min(len(buffer), len(chunk))
        buffer[:size], self.pending = chunk[:size], chunk[size:]
        return size


def _tuple_frame(conn: sa.Connection, stmt: sa.Select) -> pd.DataFrame:
    """Run the select through the driver and build the frame from plain tuples, a chunk at a time.

    Each chunk's repetitive columns become categories at once, so the Python objects of only one chunk are alive.
    """
    compiled = stmt.compile(dialect=conn.dialect)
    params = [compiled.params[name] for name in compiled.positiontup] if compiled.positiontup else compiled.params
    params = [p.isoformat() if isinstance(p, dt.date) else p for p in params]
    few = [name for name in _FEW if name not in _BOOLS]
    parts: list[pd.DataFrame] = []
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            part = pd.DataFrame.from_records(rows, columns=list(_RAW))
            parts.append(part.astype(dict.fromkeys(few, "category") | dict.fromkeys(_BOOLS, "int8")))
    finally:
        cursor.close()
    if not parts:
        return pd.DataFrame(columns=list(_RAW))
    frame = pd.concat([part.drop(columns=few) for part in parts], ignore_index=True)
    for name in few:
        frame[name] = union_categoricals([part[name] for part in parts])
    return frame


def _generic_names(session: Session, product_ids: list[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for start in range(0, len(product_ids), 500):
        part = product_ids[start : start + 500]
        stmt = sa.select(Product.id, Product.generic_name).where(Product.id.in_(part))
        names.update(dict(session.execute(stmt).all()))
    return names


def _winners(session: Session, start: dt.date, end: dt.date, hospital_id: int | None) -> pd.DataFrame:
    """Return the awarded products of every hospital whose cycle overlaps [start, end)."""
    stmt = (
        sa.select(
            AgreedVolume.hospital_id,
            Product.generic_name,
            Award.product_id.label("winner"),
            Award.cycle_start,
            Award.cycle_end,
        )
        .join(Award, Award.id == AgreedVolume.award_id)
        .join(Tender, Tender.id == AgreedVolume.tender_id)
        .join(Product, Product.id == Award.product_id)
        .where(Tender.status.in_(IN_FORCE), Award.cycle_start < end, Award.cycle_end >= start)
    )
    if hospital_id is not None:
        stmt = stmt.where(AgreedVolume.hospital_id == hospital_id)
    rows = session.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=["hospital_id", "generic_name", "winner", "cycle_start", "cycle_end"])
    for name in ("cycle_start", "cycle_end"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    return frame


def _winners_for(session: Session, frame: pd.DataFrame, start, end, hospital_id) -> pd.Series:
    """Return each line's winning product: its own when it is a winner, else the lowest-id winner in force."""
    winners = _winners(session, start, end, hospital_id)
    if winners.empty:
        return pd.Series(pd.NA, index=frame.index, dtype="Int64")
    keys = ["hospital_id", "generic_name", "product_id", "prescribed_on"]
    distinct = frame[keys].drop_duplicates()
    pairs = distinct.merge(winners, on=["hospital_id", "generic_name"])
    pairs = pairs[(pairs["cycle_start"] <= pairs["prescribed_on"]) & (pairs["prescribed_on"] <= pairs["cycle_end"])]
    pairs = pairs.assign(own=pairs["winner"] == pairs["product_id"]).sort_values(
        ["own", "winner"], ascending=[False, True]
    )
    chosen = pairs.drop_duplicates(keys)[[*keys, "winner"]]
    merged = frame[keys].merge(chosen, on=keys, how="left")
    return pd.Series(merged["winner"].to_numpy(), index=frame.index).astype("Int64")


def load_received(session: Session, *, start: dt.date, end: dt.date, hospital_id: int | None = None) -> pd.DataFrame:
    """Return, per hospital and product, the packs received before ``end`` and the local day of the first one.

    ``start`` bounds nothing: packs received before the period are dispensed in it.
    """
    until = dt.datetime.combine(end, dt.time(), CHINA).astimezone(dt.UTC)
    stmt = (
        sa.select(
            TraceEvent.org_id.label("hospital_id"),
            TradeItem.catalogue_ref.label("product_id"),
            sa.func.count(sa.distinct(TraceEvent.item_id)).label("received_packs"),
            sa.func.min(TraceEvent.at).label("first_received_at"),
        )
        .join(Item, Item.id == TraceEvent.item_id)
        .join(TradeItem, TradeItem.id == Item.trade_item_id)
        .join(Organisation, Organisation.id == TraceEvent.org_id)
        .where(
            TraceEvent.type == EventType.RECEIVE.value,
            TraceEvent.at < until,
            TradeItem.level == 1,
            TradeItem.catalogue_ref.is_not(None),
            Organisation.kind == OrgKind.HOSPITAL.value,
        )
        .group_by(TraceEvent.org_id, TradeItem.catalogue_ref)
    )
    if hospital_id is not None:
        stmt = stmt.where(TraceEvent.org_id == hospital_id)
    rows = session.execute(stmt).all()
    if not rows:
        return rx_frame.empty_received()
    frame = pd.DataFrame(rows, columns=["hospital_id", "product_id", "received_packs", "first_received_at"])
    first = pd.to_datetime(frame["first_received_at"], utc=True).dt.tz_convert(CHINA).dt.normalize()
    frame["first_received_on"] = first.dt.tz_localize(None).astype("datetime64[ns]")
    return rx_frame.conform(frame, rx_frame.RECEIVED_COLUMNS)


def dispensed_before(session: Session, *, start: dt.date, hospital_id: int | None = None) -> pd.DataFrame:
    """Return, per hospital and product, the packs dispensed on prescriptions dated before ``start``.

    With ``load_received`` (everything received before the period's end) this gives what a hospital could dispense in
    the period: received − dispensed earlier. Consumable lines are left out, as they carry no trace receipts.
    """
    stmt = (
        sa.select(
            Prescription.hospital_id,
            PrescriptionLine.product_id,
            sa.func.sum(PrescriptionLine.quantity).label("dispensed_packs"),
        )
        .join(Prescription, Prescription.id == PrescriptionLine.prescription_id)
        .where(Prescription.prescribed_on < start, PrescriptionLine.consumable.is_(False))
        .group_by(Prescription.hospital_id, PrescriptionLine.product_id)
    )
    if hospital_id is not None:
        stmt = stmt.where(Prescription.hospital_id == hospital_id)
    rows = session.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=["hospital_id", "product_id", "dispensed_packs"])
    return frame.astype({"hospital_id": "int64", "product_id": "int64", "dispensed_packs": "float64"})
