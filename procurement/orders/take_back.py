"""Take refused packs back into the supplier's stock (拒收退回).

A pack the hospital refused at receipt is still with the carrier: in the trace record it is in transit to the
hospital and still in the supplier's custody, so nobody can ship, receive or dispense it. When the goods come back,
the supplier records it here: every refused pack of the shipment not yet taken back gets a receive event at the
supplier (the sender receiving back what it shipped; a case refused whole comes back as its case code) and its
``taken_back_at``. The packs are then in the supplier's stock again, to be shipped on another order or destroyed.

Decision: a refused pack is not replaced on the same order (the order counts it as refused and may complete); the
hospital orders again if it still needs the goods.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, INVALID, DomainError, not_found
from core.roles import Role
from procurement.orders.models import PackStatus, Shipment, ShipmentPack
from procurement.orders.ordering import get_order
from procurement.orders.packs import chunks, load_items
from trace import capture
from trace.canonical import canonical_bytes
from trace.capture import MAX_EVENTS
from trace.models import EventType
from trace.transitions import EventIn


@dataclass(frozen=True)
class TakeBack:
    shipment_id: int
    packs: int  # sales-unit packs back in the supplier's stock
    codes: list[str]  # the codes received back (case codes for cases refused whole)


def take_back_refused(
    session: Session, *, order_id: int, shipment_id: int, actor: Actor, now: dt.datetime | None = None
) -> TakeBack:
    """Take every refused pack of the shipment not yet taken back into the supplier's stock (its supplier only)."""
    now = now or utcnow()
    order = get_order(session, order_id=order_id, actor=actor)
    stmt = sa.select(Shipment).where(Shipment.id == shipment_id, Shipment.order_id == order.id).with_for_update()
    shipment = session.exec(stmt).scalars().first()
    if shipment is None:
        raise not_found("Shipment", shipment_id)
    actor.require(Role.SUPPLIER_REP, org_id=shipment.supplier_id)
    packs = session.execute(
        sa.select(ShipmentPack.id, ShipmentPack.code_key, ShipmentPack.case_key).where(
            ShipmentPack.shipment_id == shipment.id,
            ShipmentPack.status == PackStatus.REFUSED.value,
            ShipmentPack.taken_back_at.is_(None),
        )
    ).all()
    if not packs:
        raise DomainError(
            CONFLICT, f"shipment {shipment.id} has no refused packs waiting to be taken back", code="nothing_refused"
        )
    keys = sorted({p.case_key or p.code_key for p in packs})  # a case refused whole comes back whole
    items = load_items(session, keys)
    texts = [items[key].code_text for key in keys]
    for start in range(0, len(texts), MAX_EVENTS):
        part = texts[start : start + MAX_EVENTS]
        batch = capture.BatchIn(
            client_batch_id=f"take-back-{shipment.id}-{now:%Y%m%d%H%M%S%f}-{start // MAX_EVENTS}",
            events=[EventIn(EventType.RECEIVE, text, take_back=True) for text in part],
            request_sha256=capture.request_digest(canonical_bytes({"codes": part}, checked=False)),
        )
        result = capture.capture(session, actor=actor, batch=batch, now=now)
        if not result.accepted:
            errors = {f"codes ({part[r['position']]})": [r["reason"]] for r in result.body["rejected"]}
            raise DomainError(INVALID, "the trace record refused taking the packs back", code="trace_refused",
                              errors=errors)  # fmt: skip
    table = ShipmentPack.__table__
    for part in chunks([p.id for p in packs]):
        session.connection().execute(table.update().where(table.c.id.in_(part)).values(taken_back_at=now))
    record_audit(
        session,
        actor=actor,
        action="shipment.refused_taken_back",
        object_type="shipment",
        object_id=shipment.id,
        details={"order_id": order.id, "packs": len(packs), "codes": len(texts)},
    )
    return TakeBack(shipment.id, len(packs), texts)
