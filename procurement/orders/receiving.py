"""Receive a shipment by scanning codes: each pack accepted or refused with its reason; receive events written.

Refusal reasons, per pack: the code does not parse, the product is not on the order, the pack was not shipped to
this hospital or is not on this shipment, it was already received or refused, it is expired or recalled, or the
pharmacist refused it (damage, temperature …). A case is received or refused whole, as the trace record moves it:
scanning its code or every pack in it receives it; a case with a refused pack is refused whole. A code scanned
twice in one receipt, or a pack scanned together with its case, refuses the whole request (a double scan is a
mistake to fix, not a pack to count twice).
Accepted packs are received on the calendar day in China: expiry and the payment clock (rulebook 1.9.4) use it.
The shipment row is locked first, so two pharmacists receiving the same shipment at once are served in turn.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, INVALID, DomainError, not_found
from core.roles import Role
from procurement.orders.models import OrderStatus, PackStatus, PurchaseOrder, Receipt, Shipment, ShipmentPack
from procurement.orders.ordering import HOSPITAL_ROLES, key_hash, order_lines
from procurement.orders.packs import load_items, parse_scans, trade_items, update_by_ids
from procurement.orders.payment_terms import due_date, terms_for_order
from procurement.orders.supply import china_today
from trace import capture
from trace.canonical import canonical_bytes
from trace.capture import MAX_EVENTS
from trace.models import EventType, Item
from trace.transitions import EventIn


@dataclass(frozen=True)
class RefusalIn:
    code: str
    reason: str


@dataclass
class _Pack:
    id: int
    line_id: int
    item_id: int
    key: str
    case_key: str | None
    status: str
    recalled: bool
    expiry: dt.date | None
    refusal: tuple[str, str] | None = None  # (reason code, message)
    scanned_text: str | None = None


def get_shipment(session: Session, *, shipment_id: int, actor: Actor, lock: bool = False) -> Shipment:
    """Return a shipment its hospital, its supplier or an auditor may see."""
    stmt = sa.select(Shipment).where(Shipment.id == shipment_id)
    if lock:
        stmt = stmt.with_for_update()
    shipment = session.exec(stmt).scalars().first()
    allowed = actor.is_system or actor.has(Role.AUDITOR, Role.ADMIN)
    if shipment is None or not (allowed or actor.org_id in (shipment.hospital_id, shipment.supplier_id)):
        raise not_found("Shipment", shipment_id)
    return shipment


def receive_shipment(
    session: Session,
    *,
    shipment_id: int,
    codes: Sequence[str],
    actor: Actor,
    refusals: Sequence[RefusalIn] = (),
    now: dt.datetime | None = None,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
) -> tuple[Receipt, bool]:
    """Receive scanned packs of a shipment as its hospital; return the receipt and ``True`` when new."""
    with _gc_paused():
        return _receive(session, shipment_id, codes, actor, refusals, now or utcnow(), idempotency_key, request_sha256)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # A receipt of 10,000 packs allocates some 200,000 short-lived, acyclic objects: enough to set off several full
    # collections, each walking the whole heap of the process (a quarter of the receipt's time) to free nothing.
    # Reference counting frees them all the same; any cycle left is collected after, once the collector is back on.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _receive(session, shipment_id, codes, actor, refusals, now, idempotency_key, request_sha256):
    shipment = get_shipment(session, shipment_id=shipment_id, actor=actor, lock=True)
    actor.require(*HOSPITAL_ROLES, org_id=shipment.hospital_id)
    hashed = key_hash(idempotency_key)
    if hashed is not None:
        stmt = sa.select(Receipt).where(Receipt.hospital_id == shipment.hospital_id, Receipt.idempotency_key == hashed)
        earlier = session.exec(stmt).scalars().first()
        if earlier is not None:
            if earlier.shipment_id != shipment.id or (request_sha256 and earlier.request_sha256 != request_sha256):
                raise DomainError(CONFLICT, "this Idempotency-Key was used for another receipt", code="key_reused")
            return earlier, False
    texts = list(codes) + [r.code for r in refusals]
    if not texts:
        raise DomainError(INVALID, "scan at least one code", code="nothing_scanned", errors={"codes": ["empty"]})
    scans = parse_scans(texts)
    _refuse_double_scans(scans, len(codes))
    by_key, by_case = _shipment_packs(session, shipment.id)
    _refuse_packs_of_scanned_cases(scans, by_key, by_case, len(codes))
    order = session.get(PurchaseOrder, shipment.order_id)
    lines = {line.id: line for line in order_lines(session, order.id, lock=True)}
    today = china_today(now)
    outside: list[dict] = []  # scanned codes that are not packs of this shipment
    picked: dict[int, _Pack] = {}  # by pack id: a pack is counted once, however it was reached
    unknown = [s for s in scans if s.key and s.key not in by_key and s.key not in by_case]
    strangers = load_items(session, [s.key for s in unknown])
    products = {line.product_id for line in lines.values()}
    levels = trade_items(session, {item.trade_item_id for item in strangers.values()})
    for scan in scans:
        manual = scan.position >= len(codes)
        if scan.error:
            outside.append({"code": scan.text, "reason": "invalid_code", "message": scan.error})
            continue
        group = [by_key[scan.key]] if scan.key in by_key else by_case.get(scan.key)
        if group is None:
            item = strangers.get(scan.key)
            outside.append({"code": scan.key, **_stranger(item, levels, products, shipment.hospital_id)})
            continue
        for pack in group:
            pack.scanned_text = scan.text if scan.key == pack.key else None
            if pack.status != PackStatus.SHIPPED.value:
                pack.refusal = (f"already_{pack.status}", f"{pack.key} was already {pack.status}")
            elif manual:
                reason = refusals[scan.position - len(codes)].reason.strip() or "refused"
                pack.refusal = ("refused_by_pharmacist", reason[:300])
            elif pack.recalled:
                pack.refusal = ("recalled", f"{pack.key} is recalled")
            elif pack.expiry is not None and pack.expiry < today:
                pack.refusal = ("expired", f"{pack.key} expired on {pack.expiry.isoformat()}")
            picked.setdefault(pack.id, pack)
    chosen = list(picked.values())
    case_texts = _whole_cases(chosen, by_case, scans)
    accepted = [p for p in chosen if p.refusal is None]
    reported = [p for p in chosen if p.refusal is not None]
    # Packs whose state changes now; a partly scanned case stays on the shipment, to be scanned again in full.
    refused = [p for p in reported if p.status == PackStatus.SHIPPED.value and p.refusal[0] != "partial_case"]
    receipt = _record(session, shipment, order, lines, accepted, reported, outside, actor, now, hashed, request_sha256)
    _capture_receive(session, actor, receipt, accepted, case_texts, scans, len(codes), now)
    _write_packs(session, receipt.id, accepted, refused)
    _update_counts(shipment, order, lines, accepted, refused, session)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="shipment.received",
        object_type="receipt",
        object_id=receipt.id,
        details={"shipment_id": shipment.id, "accepted": len(accepted), "refused": receipt.refused_count},
    )
    return receipt, True


def _field(position: int, scanned: int) -> str:
    """Name the request field of a scan: ``codes.N`` or, for the pharmacist's refusals, ``refusals.N.code``."""
    return f"codes.{position}" if position < scanned else f"refusals.{position - scanned}.code"


def _refuse_double_scans(scans, scanned: int) -> None:
    seen: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for scan in scans:
        ident = scan.key or scan.text
        field = _field(scan.position, scanned)
        if ident in seen:
            errors[field] = [f"{ident} was already scanned at position {seen[ident]} of this receipt"]
        else:
            seen[ident] = scan.position
    if errors:
        first = next(iter(errors.items()))
        raise DomainError(INVALID, f"{first[0]}: {first[1][0]}", code="scanned_twice", errors=errors)


def _refuse_packs_of_scanned_cases(scans, by_key: dict, by_case: dict, scanned: int) -> None:
    """Refuse the receipt when a pack is scanned together with the case it is in: it would be counted twice."""
    cases = {scan.key: scan for scan in scans if scan.key in by_case and scan.key not in by_key}
    errors: dict[str, list[str]] = {}
    for scan in scans:
        pack = by_key.get(scan.key) if scan.key else None
        if pack is None or pack.case_key not in cases:
            continue
        case = cases[pack.case_key]
        message = f"{scan.text} is inside case {case.text}, also scanned ({_field(case.position, scanned)})"
        errors[_field(scan.position, scanned)] = [message]
    if errors:
        first = next(iter(errors.items()))
        raise DomainError(INVALID, f"{first[0]}: {first[1][0]}", code="scanned_twice", errors=errors)


def _shipment_packs(session: Session, shipment_id: int):
    stmt = (
        sa.select(
            ShipmentPack.id,
            ShipmentPack.order_line_id,
            ShipmentPack.item_id,
            ShipmentPack.code_key,
            ShipmentPack.case_key,
            ShipmentPack.status,
            Item.recalled,
            Item.expiry,
        )
        .join(Item, Item.id == ShipmentPack.item_id)
        .where(ShipmentPack.shipment_id == shipment_id)
    )
    packs = [_Pack(*row) for row in session.execute(stmt)]
    by_key = {pack.key: pack for pack in packs}
    by_case: dict[str, list[_Pack]] = defaultdict(list)
    for pack in packs:
        if pack.case_key:
            by_case[pack.case_key].append(pack)
    return by_key, dict(by_case)


def _stranger(item, levels, products: set[int], hospital_id: int) -> dict[str, str]:
    if item is None:
        return {"reason": "unknown_code", "message": "this code is not in the trace record"}
    if levels[item.trade_item_id].catalogue_ref not in products:
        return {"reason": "wrong_product", "message": "this product is not on the order"}
    if item.pending_org_id != hospital_id:
        return {"reason": "not_shipped_here", "message": "this pack was not shipped to this hospital"}
    return {"reason": "not_on_shipment", "message": "this pack is not on this shipment"}


def _whole_cases(chosen: list[_Pack], by_case: dict[str, list[_Pack]], scans) -> dict[str, str | None]:
    """Refuse cases not taken whole; return the cases to receive, with their scanned text if scanned."""
    scanned_text = {scan.key: scan.text for scan in scans if scan.key}
    picked: dict[str, list[_Pack]] = defaultdict(list)
    for pack in chosen:
        if pack.case_key:
            picked[pack.case_key].append(pack)
    cases: dict[str, str | None] = {}
    for case_key, mine in picked.items():
        everything = [p for p in by_case[case_key] if p.status == PackStatus.SHIPPED.value]
        bad = [p for p in mine if p.refusal is not None]
        if len(mine) < len(everything):
            message = f"case {case_key}: {len(mine)} of its {len(everything)} packs scanned; a case is received whole"
            for pack in mine:
                pack.refusal = pack.refusal or ("partial_case", message)
        elif bad:
            message = f"case {case_key} holds a refused pack ({bad[0].refusal[0]}); the case is refused whole"
            for pack in mine:
                pack.refusal = pack.refusal or ("case_refused", message)
        else:
            cases[case_key] = scanned_text.get(case_key)
    return cases


def _record(session, shipment, order, lines, accepted, reported, outside, actor, now, hashed, request_sha256):
    amount = sum((lines[p.line_id].unit_price for p in accepted), Decimal(0))
    terms = terms_for_order(session, order.id)
    refusals = [{"code": p.key, "reason": p.refusal[0], "message": p.refusal[1]} for p in reported]
    refusals += outside
    receipt = Receipt(
        shipment_id=shipment.id,
        order_id=order.id,
        hospital_id=shipment.hospital_id,
        supplier_id=shipment.supplier_id,
        accepted_count=len(accepted),
        refused_count=len(refusals),
        amount=amount,
        due_on=due_date(china_today(now), terms),
        payment_rule=terms,
        refusals=refusals,
        idempotency_key=hashed,
        request_sha256=request_sha256,
        received_by_id=actor.user_id,
        received_at=now,
    )
    session.add(receipt)
    session.flush()
    return receipt


def _capture_receive(session, actor, receipt, accepted: list[_Pack], cases, scans, scanned: int, now) -> None:
    texts: list[str] = []
    case_items = load_items(session, [key for key, text in cases.items() if text is None])
    for case_key, text in cases.items():
        texts.append(text if text is not None else case_items[case_key].code_text)
    texts.extend(p.scanned_text for p in accepted if not p.case_key)
    parsed = {scan.text: scan.code for scan in scans if scan.code is not None}
    for start in range(0, len(texts), MAX_EVENTS):
        part = texts[start : start + MAX_EVENTS]
        batch = capture.BatchIn(
            client_batch_id=f"receipt-{receipt.id}-{start // MAX_EVENTS}",
            events=[EventIn(EventType.RECEIVE, text) for text in part],
            request_sha256=capture.request_digest(canonical_bytes({"codes": part}, checked=False)),  # parsed texts
            parsed={text: parsed[text] for text in part if text in parsed},
        )
        result = capture.capture(session, actor=actor, batch=batch, now=now)
        if not result.accepted:
            at = _scan_positions(accepted, cases, case_items, scans)
            errors: dict[str, list[str]] = {}
            for rejected in result.body["rejected"]:
                text = part[rejected["position"]]
                position = at[text]
                # A case received by scanning its packs is named at its first pack: say it is the case that failed.
                why = rejected["reason"] if scans[position].text == text else f"case {text}: {rejected['reason']}"
                errors.setdefault(_field(position, scanned), []).append(why)
            raise DomainError(INVALID, "the trace record refused the receipt", code="trace_refused", errors=errors)


def _scan_positions(accepted: list[_Pack], cases, case_items, scans) -> dict[str, int]:
    """Return where each receive event's code was scanned: its own scan, or a case's first scanned pack."""
    at = {scan.text: scan.position for scan in reversed(scans)}
    implicit = {key: case_items[key].code_text for key, text in cases.items() if text is None}
    for pack in accepted:
        if pack.case_key in implicit and pack.scanned_text is not None:
            text = implicit[pack.case_key]
            at[text] = min(at.get(text, at[pack.scanned_text]), at[pack.scanned_text])
    return at


def _write_packs(session, receipt_id: int, accepted: list[_Pack], refused: list[_Pack]) -> None:
    table = ShipmentPack.__table__
    conn = session.connection()
    # Accepted packs all take the same values: one UPDATE for all of them (per chunk on SQLite), not one per pack.
    update_by_ids(conn, table, [p.id for p in accepted], status=PackStatus.RECEIVED.value, receipt_id=receipt_id,
                  reason=None)  # fmt: skip
    stmt = (
        table.update()
        .where(table.c.id == sa.bindparam("pack_id"))
        .values(status=PackStatus.REFUSED.value, receipt_id=receipt_id, reason=sa.bindparam("why"))
    )
    rows = [{"pack_id": p.id, "why": p.refusal[1][:300]} for p in refused]
    if rows:
        conn.execute(stmt, rows)


def _update_counts(shipment, order, lines, accepted, refused, session) -> None:
    for line_id, count in Counter(p.line_id for p in accepted).items():
        lines[line_id].received_qty += count
    for line_id, count in Counter(p.line_id for p in refused).items():
        lines[line_id].refused_qty += count
    session.flush()
    stmt = sa.select(sa.func.count()).where(
        ShipmentPack.shipment_id == shipment.id, ShipmentPack.status == PackStatus.SHIPPED.value
    )
    left = session.execute(stmt).scalar_one()
    if left == 0:
        shipment.status = "received"
    elif accepted or refused:
        shipment.status = "partially_received"
    done = all(
        line.shipped_qty == line.quantity and line.received_qty + line.refused_qty == line.quantity
        for line in lines.values()
    )
    if done and order.status == OrderStatus.SHIPPED.value:
        order.status = OrderStatus.COMPLETED.value
        order.closed_at = utcnow()
