"""The insurance fund's VBP prepayment to a hospital per tender (rulebook 1.9.2), and its balance against payments.

The annual agreed amount of a hospital in a tender is, over its agreed volumes (comparable units a year: demand
is reported per year and the agreement is signed every year, rulebook 1.4, 1.6.1):

    packs  = agreed_volume ÷ (pack_quantity × spec_factor)          of the awarded product (差比价, 1.2.3)
    annual = packs × award unit_price                                (tax included, per pack)

summed over the hospital's lots and rounded to the fen. The prepayment is a separate ledger (1.9.2): payments on
second invoices are set against it in the share of each invoice's tax-included amount that bills this tender's
awarded lines.
Prepaying less than ``prepayment_min_share`` of the annual amount, counting every prepayment of the hospital in
the tender, is reported as a warning, not refused: the bureau may pay in instalments.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, FORBIDDEN, DomainError, invalid
from core.pagination import Page, paginate
from core.roles import Role
from procurement.catalogue import Product
from procurement.orders.invoice_checks import FEN, money_or_none, stored, to_fen
from procurement.orders.models import OrderLine
from procurement.orders.money_models import InsurancePrepayment, Invoice, InvoiceKind, InvoiceLine, Payment
from procurement.orders.ordering import HOSPITAL_ROLES, READ_ALL_ROLES
from procurement.orders.rules import ORDER_RULES
from procurement.orders.supply import china_today
from procurement.tenders.models import AgreedVolume, Award, LotProduct
from procurement.tenders.reads import PUBLISHED
from procurement.tenders.setup import get_tender


def annual_agreed_amount(session: Session, *, hospital_id: int, tender_id: int) -> Decimal | None:
    """Return the hospital's annual agreed procurement amount in the tender (formula above); None without volumes."""
    stmt = (
        sa.select(AgreedVolume.agreed_volume, Award, Product.pack_quantity, LotProduct.spec_factor)
        .join(Award, Award.id == AgreedVolume.award_id)
        .join(Product, Product.id == Award.product_id)
        .join(LotProduct, sa.and_(LotProduct.lot_id == Award.lot_id, LotProduct.product_id == Award.product_id))
        .where(AgreedVolume.tender_id == tender_id, AgreedVolume.hospital_id == hospital_id)
    )
    rows = session.exec(stmt).all()
    if not rows:
        return None
    total = Decimal(0)
    for volume, award, pack_quantity, spec_factor in rows:
        total += Decimal(volume) / (pack_quantity * spec_factor) * award.unit_price
    return stored(to_fen(total))


def record_prepayment(
    session: Session,
    *,
    hospital_id: int,
    tender_id: int,
    amount: Decimal,
    received_on: dt.date,
    actor: Actor,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record the fund's prepayment to a hospital for a tender (insurance bureau); warn when below the minimum."""
    actor.require(Role.AUDITOR)
    now = now or utcnow()
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    if tender.status not in PUBLISHED:
        raise DomainError(CONFLICT, "the tender has no published awards to prepay", code="not_awarded")
    annual = annual_agreed_amount(session, hospital_id=hospital_id, tender_id=tender.id)
    if annual is None:
        raise invalid("hospital_id", f"hospital {hospital_id} has no agreed volume in tender {tender.id}")
    value = money_or_none(amount, FEN)
    if value is None or value <= 0:
        raise invalid("amount", "an amount above zero, in yuan to the fen")
    if received_on > china_today(now):
        raise invalid("received_on", f"{received_on.isoformat()} is in the future")
    prepayment = InsurancePrepayment(
        hospital_id=hospital_id,
        tender_id=tender.id,
        amount=stored(value),
        received_on=received_on,
        annual_agreed_amount=stored(annual),
        recorded_by_id=actor.user_id,
        created_at=now,
    )
    session.add(prepayment)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="prepayment.recorded",
        object_type="insurance_prepayment",
        object_id=prepayment.id,
        details={"hospital_id": hospital_id, "tender_id": tender.id, "amount": str(value), "annual": str(annual)},
    )
    return _views(session, [prepayment])[0]


def _views(session: Session, prepayments: list[InsurancePrepayment]) -> list[dict[str, Any]]:
    """Return prepayments with the running total of their hospital × tender and the warning it calls for."""
    pairs = {(p.hospital_id, p.tender_id) for p in prepayments}
    history: dict[tuple[int, int], list[InsurancePrepayment]] = defaultdict(list)
    if pairs:
        stmt = sa.select(InsurancePrepayment).where(
            sa.tuple_(InsurancePrepayment.hospital_id, InsurancePrepayment.tender_id).in_(list(pairs))
        )
        for earlier in session.exec(stmt.order_by(InsurancePrepayment.id)).scalars():
            history[(earlier.hospital_id, earlier.tender_id)].append(earlier)
    share = ORDER_RULES["prepayment_min_share"]
    views = []
    for prepayment in prepayments:
        so_far = history[(prepayment.hospital_id, prepayment.tender_id)]
        prepaid = sum((p.amount for p in so_far if p.id <= prepayment.id), Decimal(0))
        minimum = stored(to_fen(prepayment.annual_agreed_amount * share))
        warning = None
        if prepaid < minimum:
            warning = (
                f"prepaid {prepaid} in all is below {share:.0%} of the annual agreed amount "
                f"{prepayment.annual_agreed_amount} (at least {minimum}, rulebook 1.9.2)"
            )
        row = {column.name: getattr(prepayment, column.name) for column in InsurancePrepayment.__table__.columns}
        views.append({**row, "prepaid_total": prepaid, "minimum_amount": minimum, "warning": warning})
    return views


def list_prepayments(
    session: Session,
    *,
    actor: Actor,
    hospital_id: int | None = None,
    tender_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[dict[str, Any]]:
    """List prepayments, newest first: a hospital its own, overseers all, others none."""
    stmt = sa.select(InsurancePrepayment)
    if not (actor.is_system or actor.has(*READ_ALL_ROLES)):
        stmt = stmt.where(InsurancePrepayment.hospital_id == actor.org_id)
    if hospital_id is not None:
        stmt = stmt.where(InsurancePrepayment.hospital_id == hospital_id)
    if tender_id is not None:
        stmt = stmt.where(InsurancePrepayment.tender_id == tender_id)
    found = paginate(session, stmt.order_by(InsurancePrepayment.id.desc()), page=page, per_page=per_page)
    return Page(_views(session, found.items), found.total, found.page, found.per_page)


def prepayment_balance(session: Session, *, hospital_id: int, tender_id: int, actor: Actor) -> dict[str, Any]:
    """Return what the fund prepaid a hospital for a tender, the payments set against it and what remains."""
    own = actor.has(*HOSPITAL_ROLES) and actor.org_id == hospital_id
    if not (own or actor.is_system or actor.has(*READ_ALL_ROLES)):
        raise DomainError(FORBIDDEN, "a hospital sees its own prepayments only", code="foreign_organisation")
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    stmt = sa.select(InsurancePrepayment.amount).where(
        InsurancePrepayment.hospital_id == hospital_id, InsurancePrepayment.tender_id == tender.id
    )
    prepaid = sum(session.exec(stmt).scalars(), Decimal(0))
    paid = _payments_in_tender(session, hospital_id=hospital_id, tender_id=tender.id)
    set_against = min(prepaid, paid)
    annual = annual_agreed_amount(session, hospital_id=hospital_id, tender_id=tender.id)
    return {
        "hospital_id": hospital_id,
        "tender_id": tender.id,
        "annual_agreed_amount": annual,
        "minimum_amount": stored(to_fen(annual * ORDER_RULES["prepayment_min_share"])) if annual is not None else None,
        "prepaid": prepaid,
        "payments": paid,
        "set_against": set_against,
        "balance": prepaid - set_against,
        "paid_beyond_prepayment": paid - set_against,
    }


def _payments_in_tender(session: Session, *, hospital_id: int, tender_id: int) -> Decimal:
    """Sum the hospital's payments on second invoices, each in the share of its invoice that bills the tender."""
    stmt = (
        sa.select(InvoiceLine.invoice_id, InvoiceLine.amount, InvoiceLine.tax, Award.tender_id)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(
            OrderLine,
            sa.and_(OrderLine.order_id == Invoice.order_id, OrderLine.product_id == InvoiceLine.product_id),
        )
        .outerjoin(Award, Award.id == OrderLine.award_id)
        .where(Invoice.hospital_id == hospital_id, Invoice.kind == InvoiceKind.SECOND.value)
    )
    billed: dict[int, Decimal] = defaultdict(Decimal)
    in_tender: dict[int, Decimal] = defaultdict(Decimal)
    for invoice_id, amount, tax, line_tender in session.exec(stmt).all():
        billed[invoice_id] += amount + tax
        if line_tender == tender_id:
            in_tender[invoice_id] += amount + tax
    if not in_tender:
        return Decimal(0)
    stmt = sa.select(Payment.invoice_id, Payment.amount).where(Payment.invoice_id.in_(list(in_tender)))
    paid = defaultdict(Decimal)
    for invoice_id, amount in session.exec(stmt).all():
        paid[invoice_id] += amount
    return stored(to_fen(sum((paid[i] * in_tender[i] / billed[i] for i in paid), Decimal(0))))
