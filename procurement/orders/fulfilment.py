"""Ship a confirmed order: trace codes per line (cases expand to their packs), written as ship events.

Every scanned code is checked before anything is written, and every problem is reported with its line and code
position; the trace capture then records the ship events atomically. Line counts are taken under row locks, so
two shipments at once cannot ship more than was ordered.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, INVALID, DomainError
from core.roles import Role
from procurement.orders.models import OrderLine, OrderStatus, Shipment, ShipmentPack
from procurement.orders.ordering import get_order, key_hash, order_lines
from procurement.orders.packs import expand_cases, load_items, parse_scans, trade_items
from procurement.orders.supply import china_today
from trace import capture
from trace.canonical import canonical_bytes
from trace.capture import MAX_EVENTS
from trace.models import EventType, ItemStatus
from trace.transitions import EventIn


@dataclass(frozen=True)
class ShipLineIn:
    line_no: int
    codes: Sequence[str]
    batch: str | None = None  # when given, every pack on the line must carry it
    expiry: dt.date | None = None


@dataclass
class _Planned:
    line: OrderLine
    where: str
    packs: list[tuple[object, object | None]] = field(default_factory=list)  # (pack item, case item)
    events: list[tuple[str, str]] = field(default_factory=list)  # (scanned text, field)


def ship_order(
    session: Session,
    *,
    order_id: int,
    delivery_note_number: str,
    lines: Sequence[ShipLineIn],
    actor: Actor,
    now: dt.datetime | None = None,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
) -> tuple[Shipment, bool]:
    """Ship packs against an order as its supplier; return the shipment and ``True`` when new."""
    now = now or utcnow()
    order = get_order(session, order_id=order_id, actor=actor, lock=True)
    actor.require(Role.SUPPLIER_REP, org_id=order.supplier_id)
    hashed = key_hash(idempotency_key)
    if hashed is not None:
        stmt = sa.select(Shipment).where(Shipment.order_id == order.id, Shipment.idempotency_key == hashed)
        earlier = session.exec(stmt).scalars().first()
        if earlier is not None:
            if request_sha256 is not None and earlier.request_sha256 not in (None, request_sha256):
                raise DomainError(CONFLICT, "this Idempotency-Key was used for another shipment", code="key_reused")
            return earlier, False
    _require_shippable(order)
    if not delivery_note_number or not delivery_note_number.strip():
        raise DomainError(
            INVALID,
            "the delivery note (随货同行单) number is required",
            code="delivery_note_required",
            errors={"delivery_note_number": ["required"]},
        )
    by_no = {line.line_no: line for line in order_lines(session, order.id, lock=True)}
    plans = _plan(session, order=order, lines=lines, by_no=by_no, today=china_today(now))
    shipment = Shipment(
        order_id=order.id,
        hospital_id=order.hospital_id,
        supplier_id=order.supplier_id,
        delivery_note_number=delivery_note_number.strip()[:64],
        pack_count=sum(len(plan.packs) for plan in plans),
        idempotency_key=hashed,
        request_sha256=request_sha256,
        trace_batch_id=f"shipment-{order.number}-{uuid.uuid4().hex[:12]}",
        shipped_by_id=actor.user_id,
        shipped_at=now,
    )
    _capture_ship(session, actor=actor, order=order, plans=plans, batch_id=shipment.trace_batch_id, now=now)
    session.add(shipment)
    session.flush()
    rows = []
    for plan in plans:
        plan.line.shipped_qty += len(plan.packs)
        for pack, case in plan.packs:
            rows.append(
                {
                    "shipment_id": shipment.id,
                    "order_line_id": plan.line.id,
                    "item_id": pack.id,
                    "code_key": pack.code_key,
                    "case_key": case.code_key if case is not None else None,
                    "batch": pack.batch,
                    "expiry": pack.expiry,
                    "status": "shipped",
                }
            )
    session.connection().execute(ShipmentPack.__table__.insert(), rows)
    if all(line.shipped_qty == line.quantity for line in by_no.values()):
        order.status = OrderStatus.SHIPPED.value
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="order.shipped",
        object_type="shipment",
        object_id=shipment.id,
        details={"order_id": order.id, "packs": shipment.pack_count, "delivery_note": shipment.delivery_note_number},
    )
    return shipment, True


def _require_shippable(order) -> None:
    if order.status == OrderStatus.CONFIRMED.value:
        return
    messages = {
        OrderStatus.SUBMITTED.value: ("order_not_confirmed", "confirm the order before shipping it"),
        OrderStatus.CANCELLED.value: ("order_cancelled", "the hospital cancelled this order: nothing may ship"),
        OrderStatus.REJECTED.value: ("order_rejected", "this order was rejected: nothing may ship"),
    }
    code, message = messages.get(order.status, ("order_fully_shipped", "every pack of this order has shipped"))
    raise DomainError(CONFLICT, message, code=code)


def _plan(session, *, order, lines: Sequence[ShipLineIn], by_no: dict[int, OrderLine], today) -> list[_Planned]:
    errors: dict[str, list[str]] = {}
    if not lines:
        errors["lines"] = ["a shipment lists at least one line with codes"]
    plans: list[_Planned] = []
    texts: list[tuple[str, str, _Planned]] = []
    for index, line_in in enumerate(lines):
        where = f"lines.{index}"
        line = by_no.get(line_in.line_no)
        if line is None:
            errors[f"{where}.line_no"] = [f"order {order.number} has no line {line_in.line_no}"]
            continue
        if any(plan.line is line for plan in plans):
            errors[f"{where}.line_no"] = [f"line {line_in.line_no} is listed twice"]
            continue
        if not line_in.codes:
            errors[f"{where}.codes"] = ["list the trace codes shipped on this line"]
            continue
        plan = _Planned(line, where)
        plans.append(plan)
        texts.extend((text, f"{where}.codes.{j}", plan) for j, text in enumerate(line_in.codes))
    scans = parse_scans([text for text, _, _ in texts])
    items = load_items(session, [scan.key for scan in scans if scan.key])
    levels = trade_items(session, {item.trade_item_id for item in items.values()})
    cases = [items[s.key] for s in scans if s.key in items and levels[items[s.key].trade_item_id].level > 1]
    contents = expand_cases(session, cases)
    levels.update(trade_items(session, {p.trade_item_id for packs in contents.values() for p in packs}))
    seen: dict[str, str] = {}
    for scan, (text, where, plan) in zip(scans, texts, strict=True):
        problem = _check_scan(scan, items, seen, where, order.supplier_id)
        if problem:
            errors[where] = [problem]
            continue
        item = items[scan.key]
        level = levels[item.trade_item_id].level
        packs = [(item, None)] if level == 1 else [(pack, item) for pack in contents[item.id]]
        if not packs:
            errors[where] = [f"case {scan.key} holds no packs"]
            continue
        line_in = lines[int(where.split(".")[1])]
        problem = _check_packs(packs, plan.line, levels, line_in, today)
        if problem:
            errors[where] = [problem]
            continue
        plan.packs.extend(packs)
        plan.events.append((text, where))
    for plan in plans:
        remaining = plan.line.quantity - plan.line.shipped_qty
        if f"{plan.where}.codes" not in errors and len(plan.packs) > remaining:
            errors[f"{plan.where}.codes"] = [
                f"ships {len(plan.packs)} packs but only {remaining} of line {plan.line.line_no} remain to ship"
            ]
    if errors:
        first = next(iter(errors.items()))
        raise DomainError(INVALID, f"{first[0]}: {first[1][0]}", code="bad_shipment", errors=errors)
    return plans


def _check_scan(scan, items, seen: dict[str, str], where: str, supplier_id: int) -> str | None:
    if scan.error:
        return scan.error
    if scan.key in seen:
        return f"{scan.key} is listed twice (also at {seen[scan.key]})"
    seen[scan.key] = where
    item = items.get(scan.key)
    if item is None:
        return f"{scan.key} has not been commissioned in the trace record"
    if item.custodian_org_id != supplier_id or item.status != ItemStatus.ACTIVE.value:
        return f"{scan.key} is not in your stock (it is {item.status})"
    if item.parent_id is not None:
        return f"{scan.key} is inside a case: ship the case, or unpack it first"
    return None


def _check_packs(packs, line: OrderLine, levels, line_in: ShipLineIn, today) -> str | None:
    for pack, _case in packs:
        product = levels[pack.trade_item_id].catalogue_ref
        if product != line.product_id:
            return f"{pack.code_key} is product {product}, but line {line.line_no} orders product {line.product_id}"
        if pack.recalled:
            return f"{pack.code_key} is recalled"
        if pack.expiry is not None and pack.expiry < today:
            return f"{pack.code_key} expired on {pack.expiry.isoformat()}"
        if line_in.batch is not None and pack.batch != line_in.batch:
            return f"{pack.code_key} is batch {pack.batch}, not {line_in.batch}"
        if line_in.expiry is not None and pack.expiry != line_in.expiry:
            return f"{pack.code_key} expires {pack.expiry}, not {line_in.expiry.isoformat()}"
    return None


def _capture_ship(session, *, actor: Actor, order, plans: list[_Planned], batch_id: str, now) -> None:
    events = [(text, where) for plan in plans for text, where in plan.events]
    for start in range(0, len(events), MAX_EVENTS):
        part = events[start : start + MAX_EVENTS]
        body = [EventIn(EventType.SHIP, text, to_org_id=order.hospital_id) for text, _ in part]
        batch = capture.BatchIn(
            client_batch_id=f"{batch_id}-{start // MAX_EVENTS}",
            events=body,
            request_sha256=capture.request_digest(canonical_bytes({"codes": [text for text, _ in part]})),
        )
        result = capture.capture(session, actor=actor, batch=batch, now=now)
        if not result.accepted:
            errors = {part[r["position"]][1]: [r["reason"]] for r in result.body["rejected"]}
            raise DomainError(INVALID, "the trace record refused the shipment", code="trace_refused", errors=errors)
