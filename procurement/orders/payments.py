"""Payments against second invoices, the payment clock of every receipt, overdue lists and on-time rates.

Each receipt starts a clock (rulebook 1.9.4): it carries the due date its tender's payment terms gave it. The
hospital pays the second invoices of a shipment, and those payments are applied to the shipment's receipts first
in, first out (earliest due date first): a receipt is covered once the payments on its shipment's second invoices
reach the sum of its own amount and of every receipt due before it. It is ``paid`` when covered by its due date,
``paid_late`` when covered after it, ``overdue`` while open after it and ``due`` while open before it. A receipt of
refused packs only (amount 0) owes nothing and is left out. Everything is computed as of ``today`` (a calendar day
in China, as due dates are): payments dated later are not counted, so a past day's list can be reproduced.

What is owed is the receipts' amount (order prices, tax included), or the total of the shipment's second invoices
when ``settlement.settled_by_invoices`` says they are the debt (they may round a few fen below the receipts, and no
payment may exceed an invoice).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.actor import Actor
from core.alerts import Alert, raise_alert_once
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, FORBIDDEN, INVALID, DomainError, invalid
from core.pagination import Page, paginate
from core.roles import OrgKind, Role
from procurement.orders.invoice_checks import FEN, money_or_none, stored
from procurement.orders.invoices import get_invoice
from procurement.orders.models import PurchaseOrder, Receipt, Shipment
from procurement.orders.money_models import Invoice, InvoiceKind, Payment
from procurement.orders.ordering import HOSPITAL_ROLES, READ_ALL_ROLES, key_hash
from procurement.orders.rules import ORDER_RULES, PAYMENT_OVERDUE
from procurement.orders.settlement import settled_by_invoices
from procurement.orders.supply import china_today

RATE_PLACES = Decimal("0.0001")


class PayableStatus(StrEnum):
    DUE = "due"
    OVERDUE = "overdue"
    PAID = "paid"
    PAID_LATE = "paid_late"


def record_payment(
    session: Session,
    *,
    invoice_id: int,
    amount: Decimal,
    paid_on: dt.date,
    actor: Actor,
    reference: str = "",
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[Payment, bool]:
    """Record the hospital's payment of a second invoice; return it and ``True`` when new (``False``: a retry)."""
    now = now or utcnow()
    invoice = get_invoice(session, invoice_id=invoice_id, actor=actor, lock=True)  # one payment of it at a time
    actor.require(*HOSPITAL_ROLES, org_id=invoice.hospital_id)
    hashed = key_hash(idempotency_key)
    reference = (reference or "").strip()[:64]
    if hashed is not None:
        earlier = _by_key(session, invoice.hospital_id, hashed)
        if earlier is not None:
            return _replay(earlier, invoice.id, amount, paid_on, reference), False
    if invoice.kind != InvoiceKind.SECOND.value:
        raise invalid("invoice_id", f"invoice {invoice.number} is a first invoice; hospitals pay second invoices")
    value = money_or_none(amount, FEN)
    if value is None or value <= 0:
        raise invalid("amount", "an amount above zero, in yuan to the fen")
    if paid_on > china_today(now):
        raise invalid("paid_on", f"{paid_on.isoformat()} is in the future")
    outstanding = invoice.total - paid_on_invoice(session, invoice.id)
    if value > outstanding:
        message = f"{value} is above the {outstanding} outstanding on invoice {invoice.number}"
        raise DomainError(INVALID, message, code="above_outstanding", errors={"amount": [message]})
    payment = Payment(
        invoice_id=invoice.id,
        hospital_id=invoice.hospital_id,
        payee_org_id=invoice.seller_org_id,
        amount=stored(value),
        paid_on=paid_on,
        reference=reference,
        idempotency_key=hashed,
        recorded_by_id=actor.user_id,
        created_at=now,
    )
    savepoint = session.begin_nested()
    try:
        session.add(payment)
        session.flush()
    except IntegrityError:
        # The same key was used at the same moment for another invoice (its lock is not ours): answer with that one.
        savepoint.rollback()
        earlier = _by_key(session, invoice.hospital_id, hashed) if hashed else None
        if earlier is None:
            raise
        return _replay(earlier, invoice.id, amount, paid_on, reference), False
    savepoint.commit()
    record_audit(
        session,
        actor=actor,
        action="payment.recorded",
        object_type="payment",
        object_id=payment.id,
        details={"invoice_id": invoice.id, "amount": str(value), "paid_on": paid_on.isoformat()},
    )
    return payment, True


def paid_on_invoice(session: Session, invoice_id: int) -> Decimal:
    """Return the sum paid so far on an invoice."""
    stmt = sa.select(sa.func.coalesce(sa.func.sum(Payment.amount), 0)).where(Payment.invoice_id == invoice_id)
    return Decimal(session.exec(stmt).one()[0])


def _by_key(session: Session, hospital_id: int, hashed: str) -> Payment | None:
    stmt = sa.select(Payment).where(Payment.hospital_id == hospital_id, Payment.idempotency_key == hashed)
    return session.exec(stmt).scalars().first()


def _replay(earlier: Payment, invoice_id: int, amount, paid_on: dt.date, reference: str) -> Payment:
    # The stored payment is the whole request (invoice, amount, date, reference): a retry must repeat it exactly.
    same = (earlier.invoice_id, earlier.paid_on, earlier.reference) == (invoice_id, paid_on, reference)
    if not same or money_or_none(amount, FEN) != earlier.amount:
        raise DomainError(CONFLICT, "this Idempotency-Key was used for another payment", code="key_reused")
    return earlier


def list_payments(
    session: Session, *, actor: Actor, invoice_id: int | None = None, page: int = 1, per_page: int = 50
) -> Page[Payment]:
    """List payments, newest first: a hospital its own, a supplier those made to it, overseers all."""
    stmt = sa.select(Payment)
    if not (actor.is_system or actor.has(*READ_ALL_ROLES)):
        column = Payment.hospital_id if actor.org_kind == OrgKind.HOSPITAL else Payment.payee_org_id
        stmt = stmt.where(column == actor.org_id)
    if invoice_id is not None:
        stmt = stmt.where(Payment.invoice_id == invoice_id)
    return paginate(session, stmt.order_by(Payment.id.desc()), page=page, per_page=per_page)


def payables(
    session: Session,
    *,
    actor: Actor,
    today: dt.date,
    hospital_id: int | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Return every receipt the actor may see with what it owes, its due date, what was paid and its status."""
    stmt = (
        sa.select(Receipt, Shipment.delivery_note_number, PurchaseOrder.number)
        .join(Shipment, Shipment.id == Receipt.shipment_id)
        .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id)
        .where(Receipt.amount > 0)
    )
    if not (actor.is_system or actor.has(*READ_ALL_ROLES)):
        column = Receipt.hospital_id if actor.org_kind == OrgKind.HOSPITAL else Receipt.supplier_id
        stmt = stmt.where(column == actor.org_id)
    if hospital_id is not None:
        stmt = stmt.where(Receipt.hospital_id == hospital_id)
    found = session.exec(stmt).all()
    by_shipment: dict[int, list] = defaultdict(list)
    for row in found:
        by_shipment[row[0].shipment_id].append(row)
    invoices, payments = _second_invoices(session, set(by_shipment), today)
    settled = settled_by_invoices(session, by_shipment, invoices)
    rows: list[dict[str, Any]] = []
    for shipment_id, receipts in by_shipment.items():
        in_full = shipment_id in settled
        rows.extend(_apply(receipts, invoices[shipment_id], payments[shipment_id], in_full, today))
    if status is not None:
        rows = [row for row in rows if row["status"] == status]
    return sorted(rows, key=lambda row: (row["due_on"], row["receipt_id"]))


def _second_invoices(session: Session, shipment_ids: set[int], today: dt.date):
    invoices: dict[int, list[dict]] = defaultdict(list)
    payments: dict[int, list[tuple[dt.date, int, Decimal]]] = defaultdict(list)
    if not shipment_ids:
        return invoices, payments
    stmt = sa.select(Invoice).where(Invoice.shipment_id.in_(shipment_ids), Invoice.kind == InvoiceKind.SECOND.value)
    for invoice in session.exec(stmt.order_by(Invoice.id)).scalars():
        invoices[invoice.shipment_id].append({"id": invoice.id, "number": invoice.number, "total": invoice.total})
    stmt = (
        sa.select(Invoice.shipment_id, Payment.paid_on, Payment.id, Payment.amount)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(Invoice.shipment_id.in_(shipment_ids), Payment.paid_on <= today)
    )
    for shipment_id, paid_on, payment_id, amount in session.exec(stmt).all():
        payments[shipment_id].append((paid_on, payment_id, amount))
    return invoices, payments


def _apply(
    receipts, invoices: list[dict], payments: list, billed_in_full: bool, today: dt.date
) -> list[dict[str, Any]]:
    """Apply a shipment's payments to its receipts, earliest due first (see the module's docstring)."""
    payments = sorted(payments)
    total_paid = sum((amount for _, _, amount in payments), Decimal(0))
    invoiced = sum((invoice["total"] for invoice in invoices), Decimal(0))
    rows, covered_before = [], Decimal(0)
    for receipt, note, order_number in sorted(receipts, key=lambda r: (r[0].due_on, r[0].id)):
        covered_after = covered_before + receipt.amount
        if billed_in_full:
            covered_after = min(covered_after, invoiced)
        owed = covered_after - covered_before  # the receipt's amount, or what is left of the invoices' total
        running, completed_on, by_due = Decimal(0), None, Decimal(0)
        for paid_on, _, amount in payments:
            running += amount
            if paid_on <= receipt.due_on:
                by_due = running
            if completed_on is None and running >= covered_after:
                completed_on = paid_on
        paid = min(max(total_paid - covered_before, Decimal(0)), owed)
        if completed_on is not None:
            late = completed_on > receipt.due_on
            status = PayableStatus.PAID_LATE if late else PayableStatus.PAID
            days = (completed_on - receipt.due_on).days if late else 0
        else:
            late = today > receipt.due_on
            status = PayableStatus.OVERDUE if late else PayableStatus.DUE
            days = (today - receipt.due_on).days if late else 0
        rows.append(
            {
                "receipt_id": receipt.id,
                "shipment_id": receipt.shipment_id,
                "order_id": receipt.order_id,
                "order_number": order_number,
                "delivery_note_number": note,
                "hospital_id": receipt.hospital_id,
                "supplier_id": receipt.supplier_id,
                "received_on": china_today(receipt.received_at),
                "amount": receipt.amount,
                "due_on": receipt.due_on,
                "payment_rule": receipt.payment_rule,
                "invoices": invoices,
                "paid": paid,
                "paid_by_due_date": min(max(by_due - covered_before, Decimal(0)), receipt.amount),
                "outstanding": Decimal(0) if completed_on else owed - paid,
                "paid_in_full_on": completed_on,
                "status": status.value,
                "days_late": days,
            }
        )
        covered_before = covered_after
    return rows


def on_time_rate(
    session: Session,
    *,
    hospital_id: int,
    start: dt.date,
    end: dt.date,
    actor: Actor,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Return the share of a hospital's receipts due in ``start``..``end`` paid by their due date, by count and amount.

    Receipts not yet due and still open are ``pending``: they can still be paid on time, so they are not counted.
    By amount, what counts is the money paid by each receipt's due date (part payments count in part).
    """
    if actor.org_kind == OrgKind.HOSPITAL and actor.org_id != hospital_id and not actor.has(*READ_ALL_ROLES):
        raise DomainError(FORBIDDEN, "a hospital sees its own payment record only", code="foreign_organisation")
    if end < start:
        raise invalid("end", "the period ends before it starts")
    today = today or china_today(utcnow())
    rows = [
        row
        for row in payables(session, actor=actor, today=today, hospital_id=hospital_id)
        if start <= row["due_on"] <= end
    ]
    judged = [row for row in rows if row["status"] != PayableStatus.DUE.value]
    on_time = [row for row in judged if row["status"] == PayableStatus.PAID.value]
    due_amount = sum((row["amount"] for row in judged), Decimal(0))
    on_time_amount = sum((row["paid_by_due_date"] for row in judged), Decimal(0))
    return {
        "hospital_id": hospital_id,
        "start": start,
        "end": end,
        "as_of": today,
        "due_count": len(judged),
        "on_time_count": len(on_time),
        "pending_count": len(rows) - len(judged),
        "count_rate": _rate(Decimal(len(on_time)), Decimal(len(judged))),
        "due_amount": due_amount,
        "on_time_amount": on_time_amount,
        "amount_rate": _rate(on_time_amount, due_amount),
    }


def _rate(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part / whole).quantize(RATE_PLACES) if whole else None


def check_overdue(session: Session, *, actor: Actor, today: dt.date) -> list[Alert]:
    """Raise a PAYMENT_OVERDUE alert per shipment for its overdue receipts not yet alerted: once per receipt."""
    actor.require(Role.AUDITOR, Role.ADMIN)
    overdue: dict[int, list[dict]] = defaultdict(list)
    for row in payables(session, actor=actor, today=today, status=PayableStatus.OVERDUE.value):
        overdue[row["shipment_id"]].append(row)
    if not overdue:
        return []
    alerted = _alerted_receipts(session, set(overdue))
    alerts = []
    for shipment_id, every in sorted(overdue.items()):
        # A receipt overdue later than its shipment's first alert is a new finding: it gets an alert of its own.
        rows = [row for row in every if row["receipt_id"] not in alerted]
        if not rows:
            continue
        outstanding = sum((row["outstanding"] for row in rows), Decimal(0))
        first = rows[0]
        alert, created = raise_alert_once(
            session,
            dedupe_key=f"{PAYMENT_OVERDUE}|receipt:{first['receipt_id']}",
            actor=actor,
            code=PAYMENT_OVERDUE,
            source="orders",
            severity=ORDER_RULES["severities"][PAYMENT_OVERDUE],
            title=f"{outstanding} overdue on delivery {first['delivery_note_number']} ({first['order_number']})",
            object_type="shipment",
            object_id=shipment_id,
            evidence={
                "order_id": first["order_id"],
                "supplier_id": first["supplier_id"],
                "outstanding": str(outstanding),
                "as_of": today.isoformat(),
                "receipts": [
                    {
                        "receipt_id": row["receipt_id"],
                        "amount": str(row["amount"]),
                        "due_on": row["due_on"].isoformat(),
                        "outstanding": str(row["outstanding"]),
                        "days_late": row["days_late"],
                        "payment_rule": row["payment_rule"],
                    }
                    for row in rows
                ],
            },
            rule={"name": ORDER_RULES.name, "version": ORDER_RULES.version, "cites": ["1.9.1", "1.9.4"]},
            subject_org_id=first["hospital_id"],
        )
        if created:  # else a check running at the same moment raised it
            alerts.append(alert)
    return alerts


def _alerted_receipts(session: Session, shipment_ids: set[int]) -> set[int]:
    """Return the receipts of these shipments that a PAYMENT_OVERDUE alert already names in its evidence."""
    stmt = sa.select(Alert.evidence).where(
        Alert.code == PAYMENT_OVERDUE,
        Alert.object_type == "shipment",
        Alert.object_id.in_([str(shipment_id) for shipment_id in shipment_ids]),
    )
    return {
        receipt["receipt_id"] for evidence in session.exec(stmt).scalars() for receipt in evidence.get("receipts", ())
    }
