"""Read models of orders: an order with its lines, shipments and receipts, as the API and pages show it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.models import Organisation
from procurement.catalogue import Product
from procurement.orders.models import PackStatus, PurchaseOrder, Receipt, Shipment, ShipmentPack
from procurement.orders.ordering import get_order, order_lines
from procurement.orders.placing import PlacedOrder


def order_detail(session: Session, *, order_id: int, actor: Actor) -> dict[str, Any]:
    """Return an order the actor may see, with its lines, shipments and receipts."""
    order = get_order(session, order_id=order_id, actor=actor)
    return describe_orders(session, [order], full=True)[0]


def new_order_detail(
    session: Session | sa.Connection, placed: PlacedOrder, *, hospital_name: str | None = None
) -> dict[str, Any]:
    """Return a just-placed order as :func:`order_detail` would, from what was written (nothing is read back)."""
    order = placed.row
    if hospital_name is None:
        conn = session if isinstance(session, sa.Connection) else session.connection()
        hospital_name = conn.execute(_ORG_NAME, {"org": order["hospital_id"]}).scalar_one_or_none()
    return order | {
        "hospital_name": hospital_name,
        "supplier_name": placed.supplier_name,
        "lines": placed.lines,
        "shipments": [],
        "receipts": [],
    }


_ORG_NAME = sa.select(Organisation.name).where(Organisation.id == sa.bindparam("org"))


def describe_orders(session: Session, orders: list[PurchaseOrder], *, full: bool = False) -> list[dict[str, Any]]:
    """Return orders as dictionaries with the names of their parties (and, when ``full``, lines and deliveries)."""
    org_ids = {o.hospital_id for o in orders} | {o.supplier_id for o in orders}
    stmt = sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))
    names = dict(session.execute(stmt).all())
    result = []
    for order in orders:
        row = order.model_dump()
        row["hospital_name"], row["supplier_name"] = names.get(order.hospital_id), names.get(order.supplier_id)
        if full:
            row |= _deliveries(session, order)
        result.append(row)
    return result


def _deliveries(session: Session, order: PurchaseOrder) -> dict[str, Any]:
    lines = order_lines(session, order.id)
    products = {
        p.id: p
        for p in session.exec(sa.select(Product).where(Product.id.in_({line.product_id for line in lines}))).scalars()
    }
    line_rows = []
    for line in lines:
        product = products[line.product_id]
        line_rows.append(
            line.model_dump()
            | {"generic_name": product.generic_name, "strength": product.strength, "package_spec": product.package_spec}
        )
    shipments = session.exec(sa.select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.id)).scalars()
    receipts = session.exec(sa.select(Receipt).where(Receipt.order_id == order.id).order_by(Receipt.id)).scalars()
    waiting = dict(
        session.execute(
            sa.select(ShipmentPack.shipment_id, sa.func.count())
            .join(Shipment, Shipment.id == ShipmentPack.shipment_id)
            .where(
                Shipment.order_id == order.id,
                ShipmentPack.status == PackStatus.REFUSED.value,
                ShipmentPack.taken_back_at.is_(None),
            )
            .group_by(ShipmentPack.shipment_id)
        ).all()
    )
    return {
        "lines": line_rows,
        "shipments": [s.model_dump() | {"refused_not_taken_back": waiting.get(s.id, 0)} for s in shipments],
        "receipts": [r.model_dump() for r in receipts],
    }
