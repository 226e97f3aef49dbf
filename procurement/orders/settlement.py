"""When a shipment's second invoices, not its receipts, say what the hospital owes (rulebook 1.9.4, 4.5).

Receipts value accepted packs at the order's prices, tax included. Second invoices price each pack excluding tax
to a ten-thousandth of a yuan and add tax per line to the fen, so they may total a few fen below the receipts
(award 14.0000 × 20 packs invoiced at 12.3850 + 13 % = 279.90 against 280.00), and no payment may exceed an
invoice. Were the receipts the debt, such a receipt could never be paid and would stay overdue for ever. So, per
shipment:

- when its second invoices bill every pack not refused (per product and batch), their total is the debt: paying it
  settles the receipts, however far it is from their amount. A price off the order is the INVOICE_MISMATCH alert's
  business, not a debt the hospital could never pay;
- when they bill only part of it (packs still in transit, an invoice still to come), their total settles the
  receipts if it is within ``settlement_rounding`` plus ``settlement_rounding_per_pack`` (half a fen, as much as the
  invoice's price check allows per pack) for every pack billed of the receipts' amount: rounding, not a missing
  invoice.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from procurement.orders.models import OrderLine, PackStatus, ShipmentPack
from procurement.orders.money_models import Invoice, InvoiceKind, InvoiceLine
from procurement.orders.rules import ORDER_RULES


def settled_by_invoices(session: Session, by_shipment: dict[int, list], invoices: dict[int, list[dict]]) -> set[int]:
    """Return the shipments (of ``by_shipment``: id → receipt rows) whose second invoices' total is what is owed."""
    billed = _invoiced_packs(session, {shipment_id for shipment_id in by_shipment if invoices.get(shipment_id)})
    settled, unsure = set(), set()
    per_pack, rounding = ORDER_RULES["settlement_rounding_per_pack"], ORDER_RULES["settlement_rounding"]
    for shipment_id, packs in billed.items():
        received = sum((row[0].amount for row in by_shipment[shipment_id]), Decimal(0))
        invoiced = sum((invoice["total"] for invoice in invoices[shipment_id]), Decimal(0))
        if abs(received - invoiced) <= rounding + per_pack * sum(packs.values()):
            settled.add(shipment_id)
        else:
            unsure.add(shipment_id)
    # Counting a shipment's packs costs a pass over them: only for the few the rounding rule does not settle.
    return settled | _billing_every_pack(session, {shipment_id: billed[shipment_id] for shipment_id in unsure})


def _invoiced_packs(session: Session, shipment_ids: set[int]) -> dict[int, dict[tuple[int, str], int]]:
    """Return the packs the second invoices of each shipment bill, per product and batch."""
    billed: dict[int, dict[tuple[int, str], int]] = defaultdict(dict)
    if not shipment_ids:
        return billed
    stmt = (
        sa.select(Invoice.shipment_id, InvoiceLine.product_id, InvoiceLine.batch, sa.func.sum(InvoiceLine.quantity))
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(Invoice.shipment_id.in_(shipment_ids), Invoice.kind == InvoiceKind.SECOND.value)
        .group_by(Invoice.shipment_id, InvoiceLine.product_id, InvoiceLine.batch)
    )
    for shipment_id, product_id, batch, packs in session.exec(stmt).all():
        billed[shipment_id][(product_id, batch or "")] = int(packs)
    return billed


def _billing_every_pack(session: Session, billed: dict[int, dict[tuple[int, str], int]]) -> set[int]:
    """Return the shipments whose invoices bill exactly their packs not refused, per product and batch."""
    if not billed:
        return set()
    stmt = (
        sa.select(ShipmentPack.shipment_id, OrderLine.product_id, ShipmentPack.batch, sa.func.count())
        .join(OrderLine, OrderLine.id == ShipmentPack.order_line_id)
        .where(ShipmentPack.shipment_id.in_(list(billed)), ShipmentPack.status != PackStatus.REFUSED.value)
        .group_by(ShipmentPack.shipment_id, OrderLine.product_id, ShipmentPack.batch)
    )
    kept: dict[int, dict[tuple[int, str], int]] = defaultdict(lambda: defaultdict(int))
    for shipment_id, product_id, batch, packs in session.exec(stmt).all():
        kept[shipment_id][(product_id, batch or "")] += int(packs)
    return {shipment_id for shipment_id, packs in billed.items() if packs == dict(kept[shipment_id])}
