"""Place purchase orders at awarded or listed prices only, idempotently; confirm, reject or cancel them.

The client never sets a price: each line takes the price the award (or the listing) fixes, and a price sent
with a line must equal it. An order goes to one supplier; a cart spanning suppliers is split by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, INVALID, DomainError, not_found
from core.pagination import Page, paginate
from core.roles import OrgKind, Role
from procurement.orders.models import OrderLine, OrderStatus, PurchaseOrder
from procurement.orders.placing import HOSPITAL_ROLES, OrderLineIn, submit_order
from procurement.orders.placing import MAX_LINES as MAX_LINES  # re-exported: callers know them from here
from procurement.orders.placing import PlacedOrder as PlacedOrder
from procurement.orders.placing import key_hash as key_hash

READ_ALL_ROLES = (Role.AUDITOR, Role.ADMIN)


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
    placed = submit_order(
        session, hospital_id=hospital_id, lines=lines, actor=actor, now=now, note=note,
        idempotency_key=idempotency_key, request_sha256=request_sha256,
    )  # fmt: skip
    return session.get(PurchaseOrder, placed.id), placed.created


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
