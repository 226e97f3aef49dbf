"""The trade-item registry (three codes in one) and reading packs: history, custody, status, alerts."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alerts import Alert
from core.audit import record_audit
from core.errors import CONFLICT, DomainError, invalid, not_found
from core.models import Organisation
from core.roles import Role
from trace.codes import InvalidCode, TraceCode, parse
from trace.models import Item, TraceEvent, TradeItem


def code_key(code: TraceCode) -> str:
    """Return the stored key of a pack: kind and key, so a GS1 key can never collide with a 20-digit code."""
    return f"{code.kind}:{code.key}"


def register_trade_item(
    session: Session,
    *,
    actor: Actor,
    name: str,
    holder_org_id: int,
    pack_size: int,
    unit: str,
    level: int = 1,
    product_id: str | None = None,
    gtin: str | None = None,
    insurance_code: str | None = None,
    commodity_barcode: str | None = None,
    catalogue_ref: int | None = None,
) -> TradeItem:
    """Register a product identifier or GTIN at a packaging level (administrators; the catalogue fills this)."""
    actor.require(Role.ADMIN)
    if not product_id and not gtin:
        raise invalid("product_id", "a trade item needs a 7-digit product identifier or a GTIN-14")
    if product_id and not (len(product_id) == 7 and product_id.isdigit()):
        raise invalid("product_id", "the product identifier of a 20-digit trace code is 7 digits")
    if gtin:
        from stdnum import ean

        if len(gtin) != 14 or not ean.is_valid(gtin):
            raise invalid("gtin", f"{gtin!r} is not a GTIN-14 with a valid check digit")
    if level not in (1, 2, 3):
        raise invalid("level", "packaging level is 1 (小码), 2 (中码) or 3 (大码)")
    if pack_size < 1:
        raise invalid("pack_size", "must be at least 1")
    clash = (
        sa.or_(TradeItem.product_id == product_id, TradeItem.gtin == gtin)
        if product_id and gtin
        else (TradeItem.product_id == product_id if product_id else TradeItem.gtin == gtin)
    )
    if session.exec(sa.select(TradeItem.id).where(clash)).first():
        raise DomainError(CONFLICT, "this product identifier or GTIN is registered", code="trade_item_exists")
    item = TradeItem(
        product_id=product_id,
        gtin=gtin,
        name=name,
        level=level,
        pack_size=pack_size,
        unit=unit,
        insurance_code=insurance_code,
        commodity_barcode=commodity_barcode,
        holder_org_id=holder_org_id,
        catalogue_ref=catalogue_ref,
    )
    session.add(item)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="trade_item.registered",
        object_type="trade_item",
        object_id=item.id,
        details={"product_id": product_id, "gtin": gtin, "level": level},
    )
    return item


def trade_item_for(session: Session, code: TraceCode) -> TradeItem | None:
    """Return the registered trade item a code belongs to, or None."""
    if code.kind == "cn20":
        return session.exec(sa.select(TradeItem).where(TradeItem.product_id == code.product_id)).scalars().first()
    return session.exec(sa.select(TradeItem).where(TradeItem.gtin == code.gtin)).scalars().first()


def parse_or_invalid(text: str, field: str = "code") -> TraceCode:
    """Parse a scanned code, turning a bad scan into a field error."""
    try:
        return parse(text)
    except InvalidCode as exc:
        raise invalid(field, str(exc), code="invalid_trace_code") from exc


@dataclass(frozen=True)
class ItemView:
    item: Item
    trade_item: TradeItem
    events: list[TraceEvent]
    alerts: list[Alert]
    custodian: Organisation
    parent_key: str | None
    children: list[str]


def may_read_item(session: Session, actor: Actor, item: Item) -> bool:
    """Return whether the actor's organisation held or was sent the pack, or the actor audits."""
    if actor.has(Role.AUDITOR, Role.ADMIN):
        return True
    if actor.org_id in (item.custodian_org_id, item.pending_org_id):
        return True
    touched = sa.select(TraceEvent.id).where(
        TraceEvent.item_id == item.id, sa.or_(TraceEvent.org_id == actor.org_id, TraceEvent.to_org_id == actor.org_id)
    )
    return session.exec(touched.limit(1)).first() is not None


def get_item(session: Session, *, code_text: str, actor: Actor) -> ItemView:
    """Return a pack's history, custodian, status and alerts, for the parties that held it and auditors."""
    code = parse_or_invalid(code_text)
    item = session.exec(sa.select(Item).where(Item.code_key == code_key(code))).scalars().first()
    if item is None or not may_read_item(session, actor, item):
        raise not_found("Item", code.key)
    events = session.exec(sa.select(TraceEvent).where(TraceEvent.item_id == item.id).order_by(TraceEvent.id)).scalars()
    alerts = session.exec(
        sa.select(Alert).where(Alert.object_type == "trace_item", Alert.object_id == item.code_key).order_by(Alert.id)
    ).scalars()
    parent_key = session.get(Item, item.parent_id).code_key if item.parent_id else None
    children = session.exec(sa.select(Item.code_key).where(Item.parent_id == item.id).order_by(Item.id)).scalars()
    return ItemView(
        item=item,
        trade_item=session.get(TradeItem, item.trade_item_id),
        events=list(events),
        alerts=list(alerts),
        custodian=session.get(Organisation, item.custodian_org_id),
        parent_key=parent_key,
        children=list(children),
    )
