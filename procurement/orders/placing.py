"""Place a purchase order: check its lines against what the hospital may buy, write it, its lines and its audit record.

Placing an order is the pharmacies' busiest write. Building ORM objects and letting the unit of work flush them
cost more than the database spent writing them (``scripts/bench/bench_order_placement.py``), so the order is
written with statements prepared once and sent straight to the driver (``driver_sql``), in two batches, and is
described from what was written instead of being read back. ``ordering.place_order`` returns the ORM object for
callers that want one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.actor import Actor
from core.db import utcnow
from core.errors import CONFLICT, INVALID, DomainError
from core.idempotency import key_hash
from core.models import AuditRecord
from core.roles import Role
from procurement.orders.buyable import buyable_products, connection_of, suspended_products
from procurement.orders.driver_sql import DriverQuery, DriverStatement, run_batch
from procurement.orders.models import OrderLine, OrderStatus, PurchaseOrder
from procurement.orders.supply import china_today

HOSPITAL_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER)
MAX_LINES = 200


@dataclass(frozen=True)
class OrderLineIn:
    product_id: int
    quantity: int
    unit_price: Decimal | None = None  # optional: if sent, it must be the awarded or listed price


@dataclass(frozen=True)
class PlacedOrder:
    """The outcome of placing an order: the new order as written, or the earlier order a retry is answered with."""

    id: int
    created: bool
    row: dict[str, Any] | None = None  # the new order's columns; None when answering with an earlier order
    lines: list[dict[str, Any]] = field(default_factory=list)  # columns, plus the product's names
    supplier_name: str | None = None


def submit_order(
    session: Session | sa.Connection,
    *,
    hospital_id: int,
    lines: Sequence[OrderLineIn],
    actor: Actor,
    now: dt.datetime | None = None,
    note: str = "",
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
) -> PlacedOrder:
    """Place an order for the hospital at awarded or listed prices; a retried request finds its earlier order.

    Everything runs on the connection, so a caller with no ORM work (the API) may pass its connection instead.
    """
    actor.require(*HOSPITAL_ROLES, org_id=hospital_id)
    now = now or utcnow()
    conn = connection_of(session)
    hashed = key_hash(idempotency_key)
    if hashed is not None:
        earlier = _earlier(conn, hospital_id, hashed, request_sha256)
        if earlier is not None:
            return earlier
    order, built, supplier_name = _build(conn, hospital_id=hospital_id, lines=lines, actor=actor, now=now, note=note)
    order["idempotency_key"], order["request_sha256"] = hashed, request_sha256
    # Two batches (one round trip each on PostgreSQL): the order under a savepoint of its own, so that a clash on
    # the key index does not abort the request's transaction; then its number, lines and audit record.
    try:
        order_id = run_batch(conn, [_SAVEPOINT.bound(conn), _INSERT_ORDER.bound(conn, [order])])[0]
    except IntegrityError:
        # Another request with the same key committed first (it held the unique index): answer with its order.
        run_batch(conn, [_ROLLBACK_TO_SAVEPOINT.bound(conn), _RELEASE_SAVEPOINT.bound(conn)])
        earlier = _earlier(conn, hospital_id, hashed, request_sha256) if hashed else None
        if earlier is None:
            raise
        return earlier
    order["id"], order["number"] = order_id, f"PO{now:%Y%m%d}-{order_id:06d}"
    for line in built:
        line["order_id"] = order_id
    details = {"number": order["number"], "supplier_id": order["supplier_id"], "total": str(order["total_amount"])}
    run_batch(
        conn,
        [
            _NUMBER_ORDER.bound(conn, [order]),
            _INSERT_LINES.bound(conn, built),
            _RELEASE_SAVEPOINT.bound(conn),
            _INSERT_AUDIT.bound(conn, [_audit_row(actor, order_id, details)]),
        ],
    )
    return PlacedOrder(order_id, True, order, built, supplier_name)


def _earlier(conn: sa.Connection, hospital_id: int, hashed: str, request_sha256: str | None) -> PlacedOrder | None:
    row = _BY_KEY.first(conn, (hospital_id, hashed))
    if row is None:
        return None
    order_id, number, earlier_sha256 = row
    if request_sha256 is not None and earlier_sha256 not in (None, request_sha256):
        raise DomainError(
            CONFLICT,
            f"this Idempotency-Key was used for a different order ({number})",
            code="idempotency_key_reused",
        )
    return PlacedOrder(order_id, False)


def _build(conn: sa.Connection, *, hospital_id: int, lines: Sequence[OrderLineIn], actor: Actor, now, note: str):
    if not lines:
        raise DomainError(INVALID, "an order needs at least one line", code="no_lines", errors={"lines": ["empty"]})
    if len(lines) > MAX_LINES:
        message = f"an order holds at most {MAX_LINES} lines"
        raise DomainError(INVALID, message, code="too_many_lines", errors={"lines": [message]})
    wanted = {line.product_id for line in lines}
    today = china_today(now)
    offer = buyable_products(conn, hospital_id=hospital_id, on=today, product_ids=wanted)
    missing = wanted - offer.keys()  # read why only when refusing: a suspension (6.7) is named as such
    suspended = suspended_products(conn, hospital_id=hospital_id, on=today, product_ids=missing) if missing else {}
    errors: dict[str, list[str]] = {}
    built: list[dict[str, Any]] = []
    supplier_id: int | None = None
    supplier_name: str | None = None
    seen: dict[int, int] = {}
    for index, line in enumerate(lines):
        where = f"lines.{index}"
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or line.quantity <= 0:
            errors[f"{where}.quantity"] = [f"must be a whole number of packs above zero, not {line.quantity!r}"]
            continue
        item = offer.get(line.product_id)
        if item is None and line.product_id in suspended:
            bar = suspended[line.product_id]
            until = bar.ends_on.isoformat() if bar.ends_on else "further notice"
            errors[f"{where}.product_id"] = [
                f"product {line.product_id} is suspended: organisation {bar.supplier_id} may not supply it until "
                f"{until} (rulebook {bar.rule}): {bar.reason}"
            ]
            continue
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
            supplier_id, supplier_name = item.supplier_id, item.supplier_name
        elif item.supplier_id != supplier_id:
            errors[f"{where}.product_id"] = [
                f"supplied by {item.supplier_name}, not by this order's supplier: place a separate order"
            ]
            continue
        built.append(
            {
                "order_id": None,
                "line_no": index + 1,
                "product_id": item.product_id,
                "generic_name": item.generic_name,
                "strength": item.strength,
                "package_spec": item.package_spec,
                "quantity": line.quantity,
                "unit_price": item.price,
                "amount": item.price * line.quantity,
                "price_basis": item.price_basis.value,
                "award_id": item.award_id,
                "lot_id": item.lot_id,
                "listing_id": item.listing_id,
                "winning_product_id": item.winning_product_id,
                "shipped_qty": 0,
                "received_qty": 0,
                "refused_qty": 0,
            }
        )
    if errors:
        first = next(iter(errors.items()))
        raise DomainError(INVALID, f"{first[0]}: {first[1][0]}", code="bad_order_line", errors=errors)
    order = {
        "number": f"tmp-{uuid.uuid4().hex[:24]}",  # replaced by the numbered form once the id is known
        "hospital_id": hospital_id,
        "supplier_id": supplier_id,
        "status": OrderStatus.SUBMITTED.value,
        "total_amount": sum((line["amount"] for line in built), Decimal(0)),
        "note": note[:500],
        "reason": None,
        "idempotency_key": None,
        "request_sha256": None,
        "placed_by_id": actor.user_id,
        "placed_at": now,
        "confirmed_at": None,
        "closed_at": None,
    }
    return order, built, supplier_name


def _audit_row(actor: Actor, order_id: int, details: dict[str, Any]) -> dict[str, Any]:
    # The columns core.audit.record_audit fills, written without an ORM object.
    return {
        "at": utcnow(),
        "actor_user_id": actor.user_id,
        "actor_name": actor.username,
        "actor_org_id": actor.org_id,
        "action": "order.placed",
        "object_type": "purchase_order",
        "object_id": str(order_id),
        "request_id": actor.request_id,
        "details": details,
    }


# Built once, sent straight to the driver (see driver_sql): these few writes are most of what placing costs.
_ORDERS, _LINES, _AUDIT = PurchaseOrder.__table__, OrderLine.__table__, AuditRecord.__table__
_BY_KEY = DriverQuery(
    "SELECT id, number, request_sha256 FROM purchase_orders WHERE hospital_id = ? AND idempotency_key = ?"
)
_SAVEPOINT = DriverQuery("SAVEPOINT placing_order")
_ROLLBACK_TO_SAVEPOINT = DriverQuery("ROLLBACK TO SAVEPOINT placing_order")
_RELEASE_SAVEPOINT = DriverQuery("RELEASE SAVEPOINT placing_order")
_INSERT_ORDER = DriverStatement(_ORDERS, [c.name for c in _ORDERS.c if c.name != "id"], returning="id")
_NUMBER_ORDER = DriverStatement(_ORDERS, ["number"], where=["id"])
_INSERT_LINES = DriverStatement(_LINES, [c.name for c in _LINES.c if c.name != "id"])
_INSERT_AUDIT = DriverStatement(_AUDIT, [c.name for c in _AUDIT.c if c.name != "id"])
