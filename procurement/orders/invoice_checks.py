"""The arithmetic and shipment checks of an invoice's lines: each problem reported under its field name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from procurement.orders.models import OrderLine, PackStatus, ShipmentPack
from procurement.orders.money_models import INTERMEDIATE_KINDS, Invoice, InvoiceKind, InvoiceLine
from procurement.orders.rules import ORDER_RULES

MAX_LINES = 200
FEN = Decimal("0.01")
PRICE_PLACES = Decimal("0.0001")  # what a money column holds
MONEY_LIMIT = Decimal(10) ** 13


@dataclass(frozen=True)
class InvoiceLineIn:
    product_id: int
    batch: str
    quantity: int  # packs
    unit_price: Decimal  # per pack, tax excluded (不含税单价)
    tax_rate: Decimal
    amount: Decimal  # tax excluded
    tax: Decimal


def stored(value: Decimal) -> Decimal:
    """Return an amount at the scale money columns keep, so a new row reads the same as one loaded back."""
    return value.quantize(PRICE_PLACES)


def to_fen(value: Decimal) -> Decimal:
    """Round an amount to the fen, half up, as invoices do."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Shipped:
    quantity: int
    order_price: Decimal  # per pack, tax included


def shipped_packs(session: Session, shipment_id: int, kind: str) -> dict[tuple[int, str], Shipped]:
    """Return the packs a shipment carried per (product, batch); a second invoice counts only those not refused."""
    stmt = (
        sa.select(OrderLine.product_id, ShipmentPack.batch, OrderLine.unit_price, sa.func.count())
        .join(OrderLine, OrderLine.id == ShipmentPack.order_line_id)
        .where(ShipmentPack.shipment_id == shipment_id)
        .group_by(OrderLine.product_id, ShipmentPack.batch, OrderLine.unit_price)
    )
    if kind == InvoiceKind.SECOND:
        stmt = stmt.where(ShipmentPack.status != PackStatus.REFUSED.value)
    return {(product, batch or ""): Shipped(int(n), price) for product, batch, price, n in session.exec(stmt).all()}


def _invoiced(session: Session, shipment_id: int, kind: str, seller_org_id: int | None) -> dict[tuple[int, str], int]:
    stmt = (
        sa.select(InvoiceLine.product_id, InvoiceLine.batch, sa.func.sum(InvoiceLine.quantity))
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(Invoice.shipment_id == shipment_id, Invoice.kind == kind)
        .group_by(InvoiceLine.product_id, InvoiceLine.batch)
    )
    if kind in INTERMEDIATE_KINDS:
        # Each intermediate hop bills the same packs once more: count them per seller, so a chain of several hops
        # can be stored whole and judged by reconciliation (rulebook 4.3, 4.4).
        stmt = stmt.where(Invoice.seller_org_id == seller_org_id)
    return {(product, batch): int(n) for product, batch, n in session.exec(stmt).all()}


def money_or_none(value: Any, places: Decimal) -> Decimal | None:
    """Return ``value`` as a Decimal with at most ``places`` decimals, or None (floats are never money)."""
    if isinstance(value, (bool, float)) or value is None:
        return None
    try:
        amount = Decimal(value)
        # Money columns hold 18 digits with four decimals; anything larger is a typing slip, not an invoice.
        return amount if abs(amount) < MONEY_LIMIT and amount == amount.quantize(places) else None
    except (InvalidOperation, TypeError, ValueError):
        return None


def check_lines(
    session: Session,
    shipment_id: int,
    kind: str,
    lines: Sequence,
    shipped: dict,
    errors: dict,
    *,
    seller_org_id: int | None = None,
) -> list[InvoiceLine]:
    """Check each line against the shipment and its own arithmetic; return the lines that pass, as rows."""
    if not lines:
        errors["lines"] = ["an invoice lists at least one line"]
        return []
    if len(lines) > MAX_LINES:
        errors["lines"] = [f"an invoice holds at most {MAX_LINES} lines"]
        return []
    rules = ORDER_RULES
    tolerance = rules["tax_tolerance"]
    used = defaultdict(int, _invoiced(session, shipment_id, kind, seller_org_id))
    built: list[InvoiceLine] = []
    for index, line in enumerate(lines):
        where = f"lines.{index}"
        problems: dict[str, str] = {}
        quantity, batch = line.quantity, (line.batch or "").strip()
        counted = isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0
        if not counted:
            problems["quantity"] = f"a whole number of packs above zero, not {quantity!r}"
        if not any(product == line.product_id for product, _ in shipped):
            problems["product_id"] = f"product {line.product_id} was not shipped in this shipment"
        elif (line.product_id, batch) not in shipped:
            batches = sorted(b for p, b in shipped if p == line.product_id)
            problems["batch"] = f"batch {batch!r} of product {line.product_id} was not shipped (shipped: {batches})"
        elif counted:
            key = (line.product_id, batch)
            used[key] += quantity
            if used[key] > shipped[key].quantity:
                what = "were accepted or are in transit" if kind == InvoiceKind.SECOND else "were shipped"
                problems["quantity"] = (
                    f"{used[key]} packs of batch {batch} invoiced in all, but {shipped[key].quantity} {what}"
                )
        price = money_or_none(line.unit_price, PRICE_PLACES)
        if price is None or price <= 0:
            problems["unit_price"] = "a price above zero with at most four decimals"
        rate = money_or_none(line.tax_rate, PRICE_PLACES)
        if rate not in rules["vat_rates"]:
            problems["tax_rate"] = f"one of the VAT rates {', '.join(str(r) for r in rules['vat_rates'])}"
        amount, tax = money_or_none(line.amount, FEN), money_or_none(line.tax, FEN)
        if amount is None:
            problems["amount"] = "an amount in yuan to the fen (two decimals)"
        elif counted and "unit_price" not in problems:
            expected = to_fen(price * quantity)
            if abs(amount - expected) > tolerance:
                problems["amount"] = f"{amount} is not quantity × unit price: {quantity} × {price} = {expected}"
        if tax is None:
            problems["tax"] = "a tax in yuan to the fen (two decimals)"
        elif amount is not None and "tax_rate" not in problems:
            expected = to_fen(amount * rate)
            if abs(tax - expected) > tolerance:
                problems["tax"] = f"{tax} is not amount × tax rate: {amount} × {rate} = {expected}"
        for name, message in problems.items():
            errors[f"{where}.{name}"] = [message]
        if not problems:
            money = {"unit_price": price, "tax_rate": rate, "amount": amount, "tax": tax}
            fields = {"product_id": line.product_id, "batch": batch, "quantity": quantity}
            built.append(InvoiceLine(line_no=index + 1, **fields, **{k: stored(v) for k, v in money.items()}))
    return built


def check_totals(built: list[InvoiceLine], amount: Any, tax: Any, total: Any, errors: dict) -> None:
    """Check the invoice's amount, tax and total against the sums of its lines."""
    values = {"amount": money_or_none(amount, FEN), "tax": money_or_none(tax, FEN), "total": money_or_none(total, FEN)}
    for name, value in values.items():
        if value is None:
            errors[name] = ["an amount in yuan to the fen (two decimals)"]
    if any(key.startswith("lines") for key in errors):
        return  # the sums of bad lines say nothing
    sums = {
        "amount": sum((line.amount for line in built), Decimal(0)),
        "tax": sum((line.tax for line in built), Decimal(0)),
    }
    for name, expected in sums.items():
        if values[name] is not None and values[name] != expected:
            errors[name] = [f"{values[name]} is not the sum of the lines' {name}: {expected}"]
    if values["total"] is not None and values["total"] != sums["amount"] + sums["tax"]:
        errors["total"] = [f"{values['total']} is not amount + tax: {sums['amount'] + sums['tax']}"]
