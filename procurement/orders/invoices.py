"""Invoices uploaded per shipment: the first (manufacturer → distributor) and the second (distributor → hospital).

Every line must add up (amount = quantity × unit price to the fen, tax = amount × a VAT rate to the fen) and the
totals must be the sums of the lines; every line names a product and batch this shipment carried, and no more
packs of it than shipped, counting the invoices of the same kind already uploaded for the shipment. A second
invoice bills only packs the hospital has not refused. All problems are reported at once, by field, and nothing
is stored unless everything passes.

Who uploads (rulebook 4.5): the shipment's supplier uploads both invoices (the first as the stamped copy of the
manufacturer's invoice); a manufacturer whose product is on the shipment may upload the first itself, billing only
the products it makes or holds the authorisation of (a shipment may carry other makers' products). The first
invoice's seller is not required to be the maker here: a chain through an unregistered seller is a reconciliation
finding (4.8 b) the auditor must be able to see, not an upload to refuse. Prices above the award are accepted too
(the auditor workbench flags them); a second invoice whose tax-included price per pack differs at the fen from
the order line's price raises one INVOICE_MISMATCH alert listing the lines.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.actor import Actor
from core.alerts import raise_alert
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, FORBIDDEN, INVALID, DomainError, not_found
from core.models import Organisation
from core.pagination import Page, paginate
from core.roles import OrgKind, Role
from procurement.catalogue import Product
from procurement.orders.invoice_checks import InvoiceLineIn, check_lines, check_totals, shipped_packs, stored, to_fen
from procurement.orders.models import OrderLine, PurchaseOrder, Shipment, ShipmentPack
from procurement.orders.money_models import Invoice, InvoiceKind, InvoiceLine
from procurement.orders.ordering import READ_ALL_ROLES
from procurement.orders.rules import INVOICE_MISMATCH, ORDER_RULES
from procurement.orders.supply import china_today

__all__ = ["InvoiceLineIn", "get_invoice", "invoice_details", "list_invoices", "upload_invoice"]


def upload_invoice(
    session: Session,
    *,
    shipment_id: int,
    kind: str,
    number: str,
    issued_on: dt.date,
    seller_org_id: int,
    buyer_org_id: int,
    lines: Sequence[InvoiceLineIn],
    amount: Decimal,
    tax: Decimal,
    total: Decimal,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Invoice:
    """Check and store an invoice for a shipment, with its lines; refuse it whole on any problem."""
    now = now or utcnow()
    # The lock serialises uploads for one shipment, so two invoices cannot both bill its last packs.
    shipment = session.exec(sa.select(Shipment).where(Shipment.id == shipment_id).with_for_update()).scalars().first()
    makers = _makers_on(session, shipment.id) if shipment is not None else set()
    if shipment is None or not _may_see(shipment, makers, actor):
        raise not_found("Shipment", shipment_id)
    if kind not in tuple(InvoiceKind):
        kinds = ", ".join(k.value for k in InvoiceKind)
        raise DomainError(INVALID, f"kind: one of {kinds}", code="bad_invoice", errors={"kind": [f"one of {kinds}"]})
    if _require_uploader(shipment, makers, kind, seller_org_id, actor):
        _require_own_products(session, lines, actor)
    errors: dict[str, list[str]] = {}
    _check_parties(session, shipment, kind, seller_org_id, buyer_org_id, errors)
    number = (number or "").strip()
    if not number or len(number) > 32:
        errors["number"] = ["the invoice number (发票号码) is required, at most 32 characters"]
    elif _number_taken(session, seller_org_id, number):
        raise _duplicate(number)  # before the lines: a re-sent invoice would otherwise read as over-billing
    if issued_on > china_today(now):  # "today" is the calendar day in China, where invoices are dated
        errors["issued_on"] = [f"{issued_on.isoformat()} is in the future"]
    shipped = shipped_packs(session, shipment.id, kind)
    built = check_lines(session, shipment.id, kind, lines, shipped, errors, seller_org_id=seller_org_id)
    check_totals(built, amount, tax, total, errors)
    if errors:
        first = next(iter(errors.items()))
        raise DomainError(INVALID, f"{first[0]}: {first[1][0]}", code="bad_invoice", errors=errors)
    invoice = Invoice(
        kind=kind,
        number=number,
        issued_on=issued_on,
        seller_org_id=seller_org_id,
        buyer_org_id=buyer_org_id,
        shipment_id=shipment.id,
        order_id=shipment.order_id,
        hospital_id=shipment.hospital_id,
        amount=stored(Decimal(amount)),
        tax=stored(Decimal(tax)),
        total=stored(Decimal(total)),
        uploaded_by_id=actor.user_id,
        created_at=now,
    )
    _store(session, invoice, built)
    if kind == InvoiceKind.SECOND:
        _flag_price_mismatch(session, invoice, built, shipped, actor)
    record_audit(
        session,
        actor=actor,
        action="invoice.uploaded",
        object_type="invoice",
        object_id=invoice.id,
        details={"kind": kind, "number": number, "shipment_id": shipment.id, "total": str(invoice.total)},
    )
    return invoice


def _makers_on(session: Session, shipment_id: int) -> set[int]:
    """Return the makers (and authorisation holders) of the products a shipment carries."""
    stmt = (
        sa.select(Product.manufacturer_id, Product.mah_id)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(ShipmentPack, ShipmentPack.order_line_id == OrderLine.id)
        .where(ShipmentPack.shipment_id == shipment_id)
        .distinct()
    )
    return {org for row in session.exec(stmt).all() for org in row if org is not None}


def _may_see(shipment: Shipment, makers: set[int], actor: Actor) -> bool:
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return True
    return actor.org_id in (shipment.hospital_id, shipment.supplier_id) or actor.org_id in makers


def _require_uploader(shipment: Shipment, makers: set[int], kind: str, seller_org_id: int, actor: Actor) -> bool:
    """Refuse an uploader who may not upload this invoice; return ``True`` when a manufacturer uploads its own."""
    actor.require(Role.SUPPLIER_REP)
    if actor.is_system or actor.org_id == shipment.supplier_id:
        return False
    if kind == InvoiceKind.FIRST and actor.org_id in makers:
        if seller_org_id != actor.org_id:
            raise DomainError(
                FORBIDDEN, "a manufacturer uploads only its own invoices", code="not_the_seller",
                errors={"seller_org_id": [f"must be your organisation ({actor.org_id})"]},
            )  # fmt: skip
        return True
    what = "the second invoice" if kind == InvoiceKind.SECOND else "invoices"
    raise DomainError(FORBIDDEN, f"only the shipment's supplier uploads {what}", code="not_the_supplier")


def _require_own_products(session: Session, lines: Sequence[InvoiceLineIn], actor: Actor) -> None:
    """Refuse a manufacturer's first invoice billing a product it neither makes nor holds the authorisation of."""
    # The same test as ``_makers_on``, line by line: that the maker has some product on the shipment is not enough.
    wanted = {line.product_id for line in lines if isinstance(line.product_id, int)}
    stmt = sa.select(Product.id).where(
        Product.id.in_(wanted), sa.or_(Product.manufacturer_id == actor.org_id, Product.mah_id == actor.org_id)
    )
    own = set(session.exec(stmt).scalars()) if wanted else set()
    errors = {
        f"lines.{index}.product_id": [f"product {line.product_id} is not made or held by your organisation"]
        for index, line in enumerate(lines)
        if line.product_id not in own
    }
    if errors:
        first = next(iter(errors.items()))
        raise DomainError(FORBIDDEN, f"{first[0]}: {first[1][0]}", code="not_your_product", errors=errors)


def _check_parties(session, shipment: Shipment, kind: str, seller: int, buyer: int, errors) -> None:
    supplier = session.get(Organisation, shipment.supplier_id)
    if kind == InvoiceKind.SECOND:
        if seller != shipment.supplier_id:
            errors["seller_org_id"] = [f"the second invoice is issued by the shipment's supplier ({supplier.name})"]
        if buyer != shipment.hospital_id:
            errors["buyer_org_id"] = [f"the second invoice is issued to the hospital ({shipment.hospital_id})"]
        return
    if supplier.kind == OrgKind.MANUFACTURER.value:
        errors["kind"] = ["a manufacturer delivering itself issues only the second invoice (rulebook 4.1)"]
    # A chain with a hop between the first and the second invoice (rulebook 4.3, 4.4) ends at another distributor;
    # whether such a chain is allowed is for reconciliation to judge, so the upload only keeps it a chain of traders.
    buyer_org = session.get(Organisation, buyer) if buyer != shipment.supplier_id else supplier
    if buyer_org is None or buyer_org.kind != OrgKind.DISTRIBUTOR.value:
        errors["buyer_org_id"] = [f"the {kind} invoice is issued to the distributor ({supplier.name})"]
    if seller == buyer or session.get(Organisation, seller) is None:
        what = "the manufacturer" if kind == InvoiceKind.FIRST else "a distributor"
        errors["seller_org_id"] = [f"the {kind} invoice's seller is {what}, another organisation"]


def _duplicate(number: str) -> DomainError:
    message = f"invoice {number} of this seller is already uploaded"
    return DomainError(CONFLICT, message, code="duplicate_invoice", errors={"number": [message]})


def _number_taken(session: Session, seller_org_id: int, number: str) -> bool:
    stmt = sa.select(Invoice.id).where(Invoice.seller_org_id == seller_org_id, Invoice.number == number)
    return session.exec(stmt).first() is not None


def _store(session: Session, invoice: Invoice, built: list[InvoiceLine]) -> None:
    savepoint = session.begin_nested()
    try:
        session.add(invoice)
        session.flush()
    except IntegrityError:
        # Another upload of the same number committed first; the unique index is the last word.
        savepoint.rollback()
        raise _duplicate(invoice.number) from None
    savepoint.commit()
    for line in built:
        line.invoice_id = invoice.id
        session.add(line)
    session.flush()


def _flag_price_mismatch(session, invoice: Invoice, built, shipped, actor: Actor) -> None:
    mismatched = []
    for line in built:
        order_price = shipped[(line.product_id, line.batch)].order_price
        invoiced = to_fen(line.unit_price * (1 + line.tax_rate))
        if invoiced != to_fen(order_price):
            mismatched.append(
                {"line_no": line.line_no, "product_id": line.product_id, "batch": line.batch,
                 "invoiced_price": str(invoiced), "order_price": str(order_price)}
            )  # fmt: skip
    if not mismatched:
        return
    raise_alert(
        session,
        actor=actor,
        code=INVOICE_MISMATCH,
        source="orders",
        severity=ORDER_RULES["severities"][INVOICE_MISMATCH],
        title=f"invoice {invoice.number}: price per pack differs from the order on {len(mismatched)} line(s)",
        object_type="invoice",
        object_id=invoice.id,
        evidence={"invoice": invoice.number, "shipment_id": invoice.shipment_id, "lines": mismatched},
        rule={"name": ORDER_RULES.name, "version": ORDER_RULES.version, "cites": ["4.5", "4.6"]},
        subject_org_id=invoice.seller_org_id,
    )


def _scope(stmt: sa.Select, actor: Actor) -> sa.Select:
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return stmt
    if actor.org_kind == OrgKind.HOSPITAL:
        return stmt.where(Invoice.hospital_id == actor.org_id)
    return stmt.where(sa.or_(Invoice.seller_org_id == actor.org_id, Invoice.buyer_org_id == actor.org_id))


def get_invoice(session: Session, *, invoice_id: int, actor: Actor, lock: bool = False) -> Invoice:
    """Return an invoice the actor may see: its hospital, its seller or buyer, auditors and administrators."""
    stmt = _scope(sa.select(Invoice).where(Invoice.id == invoice_id), actor)
    if lock:
        stmt = stmt.with_for_update()
    invoice = session.exec(stmt).scalars().first()
    if invoice is None:
        raise not_found("Invoice", invoice_id)
    return invoice


def list_invoices(
    session: Session,
    *,
    actor: Actor,
    kind: str | None = None,
    shipment_id: int | None = None,
    order_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[dict[str, Any]]:
    """List the invoices the actor may see, newest first, each with its lines."""
    stmt = _scope(sa.select(Invoice), actor)
    for column, value in ((Invoice.kind, kind), (Invoice.shipment_id, shipment_id), (Invoice.order_id, order_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    found = paginate(session, stmt.order_by(Invoice.id.desc()), page=page, per_page=per_page)
    return Page(invoice_details(session, found.items), found.total, found.page, found.per_page)


def invoice_details(session: Session, invoices: Sequence[Invoice]) -> list[dict[str, Any]]:
    """Return invoices as dictionaries with their lines and the shipment's delivery note (随货同行单) number."""
    ids = [invoice.id for invoice in invoices]
    lines: dict[int, list[InvoiceLine]] = defaultdict(list)
    stmt = sa.select(InvoiceLine).where(InvoiceLine.invoice_id.in_(ids)).order_by(InvoiceLine.line_no)
    for line in session.exec(stmt).scalars():
        lines[line.invoice_id].append(line)
    notes = dict(
        session.exec(
            sa.select(Shipment.id, Shipment.delivery_note_number).where(
                Shipment.id.in_({invoice.shipment_id for invoice in invoices})
            )
        ).all()
    )
    numbers = dict(
        session.exec(
            sa.select(PurchaseOrder.id, PurchaseOrder.number).where(
                PurchaseOrder.id.in_({invoice.order_id for invoice in invoices})
            )
        ).all()
    )
    return [
        {
            **{column.name: getattr(invoice, column.name) for column in Invoice.__table__.columns},
            "lines": lines[invoice.id],
            "delivery_note_number": notes.get(invoice.shipment_id),
            "order_number": numbers.get(invoice.order_id),
        }
        for invoice in invoices
    ]
