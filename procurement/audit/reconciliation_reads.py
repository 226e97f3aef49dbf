"""What reconciliation found, as each party may see it: violations, an invoice's verdict and its three flows.

Auditors and administrators see everything; a hospital the findings about its own receipts; a supplier those about
shipments it delivered or invoices it issued. The three-flow view of a second invoice links the order lines, the
shipment's packs by trace code, the receipts, the first and second invoices' lines and the payments (4.6–4.7).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.errors import FORBIDDEN, NOT_FOUND, DomainError, invalid
from core.pagination import Page, paginate
from core.roles import OrgKind, Role
from procurement.audit.reconciliation_models import ReconciliationVerdict, ReconciliationViolation
from procurement.orders import invoices
from procurement.orders.models import OrderLine, PurchaseOrder, Receipt, Shipment, ShipmentPack
from procurement.orders.money_models import Invoice, InvoiceKind, InvoiceLine, Payment

OVERSEERS = (Role.AUDITOR, Role.ADMIN)
READERS = (*OVERSEERS, Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.SUPPLIER_REP)
MAX_PACKS_SHOWN = 500
STATES = ("open", "resolved", "all")


def _scope(stmt: sa.Select, actor: Actor) -> sa.Select:
    if not actor.has(*READERS):
        wanted = ", ".join(sorted(role.value for role in READERS))
        raise DomainError(FORBIDDEN, f"this needs one of the roles: {wanted}", code="role_required")
    if actor.is_system or actor.has(*OVERSEERS):
        return stmt
    v = ReconciliationViolation
    if actor.org_kind == OrgKind.HOSPITAL:
        return stmt.where(v.hospital_id == actor.org_id)
    return stmt.where(sa.or_(v.supplier_id == actor.org_id, v.subject_org_id == actor.org_id))


def violation_query(
    actor: Actor,
    *,
    code: str | None = None,
    hospital_id: int | None = None,
    supplier_id: int | None = None,
    shipment_id: int | None = None,
    invoice_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    state: str = "open",
) -> sa.Select:
    """Return the select of the violations the actor may see, filtered, newest first.

    ``state``: ``open`` (found by the latest run over its shipment), ``resolved`` (no longer found) or ``all``.
    """
    v = ReconciliationViolation
    stmt = _scope(sa.select(v), actor)
    if state not in STATES:
        raise invalid("state", f"one of {', '.join(STATES)}")
    if state != "all":
        stmt = stmt.where(v.resolved_at.is_(None) if state == "open" else v.resolved_at.is_not(None))
    for column, value in (
        (v.code, code), (v.hospital_id, hospital_id), (v.supplier_id, supplier_id), (v.shipment_id, shipment_id),
        (v.invoice_id, invoice_id),
    ):  # fmt: skip
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None and until is not None and until < since:
        raise invalid("until", f"{until.isoformat()} is before {since.isoformat()}")
    if since is not None:
        stmt = stmt.where(v.period_end > since)
    if until is not None:
        stmt = stmt.where(v.period_start <= until)
    return stmt.order_by(v.last_seen_at.desc(), v.id.desc())


def list_violations(session: Session, *, actor: Actor, page: int = 1, per_page: int = 50, **filters: Any) -> Page:
    """List the violations the actor may see: auditors all, a hospital its own, a supplier its own."""
    return paginate(session, violation_query(actor, **filters), page=page, per_page=per_page)


def all_violations(session: Session, *, actor: Actor, **filters: Any) -> list[ReconciliationViolation]:
    """Return every violation the actor may see under the filters (for the Excel export)."""
    return list(session.exec(violation_query(actor, **filters)).scalars())


def _shipment_invoice(session: Session, *, invoice_id: int, actor: Actor) -> Invoice:
    """Return an invoice whose whole shipment (order prices, every invoice, payments) the actor may see.

    Auditors and administrators see every shipment; otherwise only the hospital and the supplier that delivered
    to it (the second invoice's seller). An upstream seller (a manufacturer on the first invoice, a group company on
    a transfer) sees its own invoice on the money pages, never the hospital's prices and payments.
    """
    invoice = invoices.get_invoice(session, invoice_id=invoice_id, actor=actor)
    if actor.is_system or actor.has(Role.AUDITOR, Role.ADMIN):
        return invoice
    shipment = session.get(Shipment, invoice.shipment_id)
    if actor.org_id not in {invoice.hospital_id, shipment.supplier_id if shipment else None}:
        raise DomainError(NOT_FOUND, f"invoice {invoice_id} not found", code="invoice_not_found")
    return invoice


def get_verdict(session: Session, *, invoice_id: int, actor: Actor) -> dict[str, Any]:
    """Return a second invoice's verdict with its line-by-line explanation and the violations on its shipment."""
    invoice = _shipment_invoice(session, invoice_id=invoice_id, actor=actor)  # scope: hospital, its supplier
    verdict = session.exec(
        sa.select(ReconciliationVerdict).where(ReconciliationVerdict.invoice_id == invoice.id)
    ).scalars().first()  # fmt: skip
    if verdict is None:
        kind = "a second invoice not yet reconciled" if invoice.kind == InvoiceKind.SECOND else "not a second invoice"
        raise DomainError(NOT_FOUND, f"invoice {invoice.id} has no verdict: {kind}", code="verdict_not_found")
    found = session.exec(
        sa.select(ReconciliationViolation)
        .where(ReconciliationViolation.shipment_id == invoice.shipment_id)
        .order_by(ReconciliationViolation.id)
    ).scalars()  # fmt: skip
    return {
        **{column.name: getattr(verdict, column.name) for column in ReconciliationVerdict.__table__.columns},
        "number": invoice.number,
        "total": invoice.total,
        "violations": list(found),
    }


def three_flows(session: Session, *, invoice_id: int, actor: Actor) -> dict[str, Any]:
    """Return the goods, invoice and money flows behind a second invoice: order → packs → receipt → invoices → pay."""
    invoice = _shipment_invoice(session, invoice_id=invoice_id, actor=actor)
    try:
        verdict = get_verdict(session, invoice_id=invoice_id, actor=actor)
    except DomainError:
        verdict = None
    order = session.get(PurchaseOrder, invoice.order_id)
    order_lines = session.exec(
        sa.select(OrderLine).where(OrderLine.order_id == invoice.order_id).order_by(OrderLine.line_no)
    ).scalars().all()  # fmt: skip
    packs = session.exec(
        sa.select(ShipmentPack)
        .where(ShipmentPack.shipment_id == invoice.shipment_id)
        .order_by(ShipmentPack.id)
        .limit(MAX_PACKS_SHOWN)
    ).scalars().all()  # fmt: skip
    receipts = session.exec(
        sa.select(Receipt).where(Receipt.shipment_id == invoice.shipment_id).order_by(Receipt.id)
    ).scalars().all()  # fmt: skip
    chain = session.exec(
        sa.select(Invoice).where(Invoice.shipment_id == invoice.shipment_id).order_by(Invoice.issued_on, Invoice.id)
    ).scalars().all()  # fmt: skip
    lines: dict[int, list[InvoiceLine]] = {i.id: [] for i in chain}
    stmt = sa.select(InvoiceLine).where(InvoiceLine.invoice_id.in_(list(lines))).order_by(InvoiceLine.line_no)
    for line in session.exec(stmt).scalars():
        lines[line.invoice_id].append(line)
    paid = session.exec(
        sa.select(Payment).where(Payment.invoice_id.in_(list(lines))).order_by(Payment.paid_on, Payment.id)
    ).scalars().all()  # fmt: skip
    order_of = {"first": 0, "transfer": 1, "extra": 1, "second": 2}
    return {
        "invoice": invoice,
        "verdict": verdict,
        "order": order,
        "order_lines": order_lines,
        "packs": packs,
        "pack_count": session.exec(
            sa.select(sa.func.count()).where(ShipmentPack.shipment_id == invoice.shipment_id)
        ).one()[0],
        "receipts": receipts,
        "chain": sorted(chain, key=lambda i: (order_of.get(i.kind, 1), i.issued_on, i.id)),
        "lines": lines,
        "payments": paid,
    }
