"""Place purchase orders at awarded or listed prices only, idempotently; confirm, reject or cancel them.

The client never sets a price: each line takes the price the award (or the listing) fixes, and a price sent
with a line must equal it. An order goes to one supplier; a cart spanning suppliers is split by the caller.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, INVALID, DomainError, not_found
from core.pagination import Page, paginate
from core.roles import OrgKind, Role
from procurement.orders.buyable import buyable_products
from procurement.orders.models import OrderLine, OrderStatus, PurchaseOrder

HOSPITAL_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER)
READ_ALL_ROLES = (Role.AUDITOR, Role.ADMIN)
MAX_LINES = 200


@dataclass(frozen=True)
class OrderLineIn:
    product_id: int
    quantity: int
    unit_price: Decimal | None = None  # optional: if sent, it must be the awarded or listed price


def key_hash(idempotency_key: str | None) -> str | None:
    """Return the stored form of an ``Idempotency-Key`` header (its SHA-256)."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest() if idempotency_key else None


def place_order(
    session: Session,
    *,
    hospital_id: int,
    lines: Sequence[OrderLineIn],
    actor: Actor,
    now: dt.datetime | None = None,
    note: str = "",
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
) -> tuple[PurchaseOrder, bool]:
    """Place an order for the hospital; return it and ``True`` when new (``False``: a retried request)."""
    actor.require(*HOSPITAL_ROLES, org_id=hospital_id)
    now = now or utcnow()
    hashed = key_hash(idempotency_key)
    if hashed is not None:
        earlier = _by_key(session, hospital_id, hashed)
        if earlier is not None:
            return _replay(earlier, request_sha256), False
    order, built = _build(session, hospital_id=hospital_id, lines=lines, actor=actor, now=now, note=note)
    order.idempotency_key, order.request_sha256 = hashed, request_sha256
    savepoint = session.begin_nested()
    try:
        session.add(order)
        session.flush()
    except IntegrityError:
        # Another request with the same key committed first (it held the unique index): answer with its order.
        savepoint.rollback()
        earlier = _by_key(session, hospital_id, hashed) if hashed else None
        if earlier is None:
            raise
        return _replay(earlier, request_sha256), False
    order.number = f"PO{now:%Y%m%d}-{order.id:06d}"
    for line in built:
        line.order_id = order.id
        session.add(line)
    session.flush()
    savepoint.commit()
    record_audit(
        session,
        actor=actor,
        action="order.placed",
        object_type="purchase_order",
        object_id=order.id,
        details={"number": order.number, "supplier_id": order.supplier_id, "total": str(order.total_amount)},
    )
    return order, True


def _by_key(session: Session, hospital_id: int, hashed: str) -> PurchaseOrder | None:
    stmt = sa.select(PurchaseOrder).where(
        PurchaseOrder.hospital_id == hospital_id, PurchaseOrder.idempotency_key == hashed
    )
    return session.exec(stmt).scalars().first()


def _replay(earlier: PurchaseOrder, request_sha256: str | None) -> PurchaseOrder:
    if request_sha256 is not None and earlier.request_sha256 not in (None, request_sha256):
        raise DomainError(
            CONFLICT,
            f"this Idempotency-Key was used for a different order ({earlier.number})",
            code="idempotency_key_reused",
        )
    return earlier


def _build(session, *, hospital_id: int, lines: Sequence[OrderLineIn], actor: Actor, now, note: str):
    if not lines:
        raise DomainError(INVALID, "an order needs at least one line", code="no_lines", errors={"lines": ["empty"]})
    if len(lines) > MAX_LINES:
        raise DomainError(INVALID, f"an order holds at most {MAX_LINES} lines", code="too_many_lines")
    wanted = {line.product_id for line in lines}
    offer = buyable_products(session, hospital_id=hospital_id, on=now.date(), product_ids=wanted)
    errors: dict[str, list[str]] = {}
    built: list[OrderLine] = []
    supplier_id: int | None = None
    seen: dict[int, int] = {}
    for index, line in enumerate(lines):
        where = f"lines.{index}"
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or line.quantity <= 0:
            errors[f"{where}.quantity"] = [f"must be a whole number of packs above zero, not {line.quantity!r}"]
            continue
        item = offer.get(line.product_id)
        if item is None:
            errors[f"{where}.product_id"] = [
                f"product {line.product_id} is neither awarded to this hospital nor listed for its region"
            ]
            continue
        if line.product_id in seen:
            errors[f"{where}.product_id"] = [f"product {line.product_id} is already on line {seen[line.product_id]}"]
            continue
        seen[line.product_id] = index
        if line.unit_price is not None and Decimal(line.unit_price) != item.price:
            errors[f"{where}.unit_price"] = [
                f"the {item.price_basis.value} price is {item.price}; an order cannot set another"
            ]
            continue
        if supplier_id is None:
            supplier_id = item.supplier_id
        elif item.supplier_id != supplier_id:
            errors[f"{where}.product_id"] = [
                f"supplied by {item.supplier_name}, not by this order's supplier: place a separate order"
            ]
            continue
        built.append(
            OrderLine(
                line_no=index + 1,
                product_id=item.product_id,
                quantity=line.quantity,
                unit_price=item.price,
                amount=item.price * line.quantity,
                price_basis=item.price_basis.value,
                award_id=item.award_id,
                lot_id=item.lot_id,
                listing_id=item.listing_id,
                winning_product_id=item.winning_product_id,
            )
        )
    if errors:
        first = next(iter(errors.items()))
        raise DomainError(INVALID, f"{first[0]}: {first[1][0]}", code="bad_order_line", errors=errors)
    order = PurchaseOrder(
        number=f"tmp-{uuid.uuid4().hex[:24]}",  # replaced by the numbered form once the id is known
        hospital_id=hospital_id,
        supplier_id=supplier_id,
        total_amount=sum((line.amount for line in built), Decimal(0)),
        note=note[:500],
        placed_by_id=actor.user_id,
        placed_at=now,
    )
    return order, built


def may_read_order(order: PurchaseOrder, actor: Actor) -> bool:
    """Return whether the actor may see the order: its hospital, its supplier, auditors and administrators."""
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return True
    return actor.org_id in (order.hospital_id, order.supplier_id)


def get_order(session: Session, *, order_id: int, actor: Actor, lock: bool = False) -> PurchaseOrder:
    """Return an order the actor may see (others' orders are reported as not found)."""
    stmt = sa.select(PurchaseOrder).where(PurchaseOrder.id == order_id)
    if lock:
        stmt = stmt.with_for_update()
    order = session.exec(stmt).scalars().first()
    if order is None or not may_read_order(order, actor):
        raise not_found("Order", order_id)
    return order


def order_lines(session: Session, order_id: int, *, lock: bool = False) -> list[OrderLine]:
    """Return an order's lines in order; ``lock`` takes row locks for counting shipped and received packs."""
    stmt = sa.select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
    if lock:
        stmt = stmt.with_for_update()
    return list(session.exec(stmt).scalars())


def list_orders(
    session: Session, *, actor: Actor, status: str | None = None, page: int = 1, per_page: int = 50
) -> Page[PurchaseOrder]:
    """List the orders the actor may see, newest first."""
    stmt = sa.select(PurchaseOrder)
    if not (actor.is_system or actor.has(*READ_ALL_ROLES)):
        if actor.org_kind == OrgKind.HOSPITAL:
            stmt = stmt.where(PurchaseOrder.hospital_id == actor.org_id)
        else:
            stmt = stmt.where(PurchaseOrder.supplier_id == actor.org_id)
    if status:
        stmt = stmt.where(PurchaseOrder.status == status)
    return paginate(session, stmt.order_by(PurchaseOrder.id.desc()), page=page, per_page=per_page)


def confirm_order(session: Session, *, order_id: int, actor: Actor, now: dt.datetime | None = None) -> PurchaseOrder:
    """Accept an order as its supplier."""
    order = get_order(session, order_id=order_id, actor=actor, lock=True)
    actor.require(Role.SUPPLIER_REP, org_id=order.supplier_id)
    if order.status == OrderStatus.CONFIRMED.value:
        return order  # confirming twice changes nothing
    _require_status(order, OrderStatus.SUBMITTED, "confirm")
    order.status, order.confirmed_at = OrderStatus.CONFIRMED.value, now or utcnow()
    record_audit(session, actor=actor, action="order.confirmed", object_type="purchase_order", object_id=order.id)
    return order


def reject_order(session: Session, *, order_id: int, reason: str, actor: Actor, now=None) -> PurchaseOrder:
    """Refuse an order as its supplier, with a reason the hospital sees."""
    order = get_order(session, order_id=order_id, actor=actor, lock=True)
    actor.require(Role.SUPPLIER_REP, org_id=order.supplier_id)
    _require_reason(reason)
    _require_status(order, OrderStatus.SUBMITTED, "reject")
    order.status, order.reason, order.closed_at = OrderStatus.REJECTED.value, reason.strip(), now or utcnow()
    record_audit(
        session,
        actor=actor,
        action="order.rejected",
        object_type="purchase_order",
        object_id=order.id,
        details={"reason": order.reason},
    )
    return order


def cancel_order(session: Session, *, order_id: int, reason: str, actor: Actor, now=None) -> PurchaseOrder:
    """Withdraw an order as its hospital, while nothing of it has shipped."""
    order = get_order(session, order_id=order_id, actor=actor, lock=True)
    actor.require(*HOSPITAL_ROLES, org_id=order.hospital_id)
    _require_reason(reason)
    if order.status not in (OrderStatus.SUBMITTED.value, OrderStatus.CONFIRMED.value):
        raise DomainError(CONFLICT, f"a {order.status} order cannot be cancelled", code="order_status")
    if any(line.shipped_qty for line in order_lines(session, order.id, lock=True)):
        raise DomainError(CONFLICT, "part of this order has shipped; it can no longer be cancelled", code="shipped")
    order.status, order.reason, order.closed_at = OrderStatus.CANCELLED.value, reason.strip(), now or utcnow()
    record_audit(
        session,
        actor=actor,
        action="order.cancelled",
        object_type="purchase_order",
        object_id=order.id,
        details={"reason": order.reason},
    )
    return order


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise DomainError(INVALID, "a reason is required", code="reason_required", errors={"reason": ["required"]})


def _require_status(order: PurchaseOrder, wanted: OrderStatus, action: str) -> None:
    if order.status != wanted.value:
        code = "order_cancelled" if order.status == OrderStatus.CANCELLED.value else "order_status"
        raise DomainError(CONFLICT, f"cannot {action} a {order.status} order", code=code)
