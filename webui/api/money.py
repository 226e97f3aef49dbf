"""Money: first and second invoices per shipment, payments and their due dates, insurance prepayments."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from core.db import utcnow
from core.errors import invalid
from core.pagination import MAX_PER_PAGE, Page
from core.roles import OrgKind
from procurement.orders import invoices, payments, prepayments
from procurement.orders.invoices import InvoiceLineIn
from procurement.orders.supply import china_today
from webui.api import money_schemas as s
from webui.api.common import actor, db, page_items

blp = Blueprint("money_api", __name__, description="Money: invoices, payments, due dates and insurance prepayments")


def _page(pagination_parameters) -> dict:
    return {"page": pagination_parameters.page, "per_page": pagination_parameters.page_size}


def _own_hospital(hospital_id: int | None) -> int:
    """Default a hospital filter to the caller's hospital; others must name one."""
    if hospital_id is not None:
        return hospital_id
    if actor().org_kind == OrgKind.HOSPITAL:
        return actor().org_id
    raise invalid("hospital_id", "name the hospital")


@blp.route("/invoices", methods=["GET"])
@blp.arguments(s.InvoiceQuery(), location="query")
@blp.response(200, s.InvoiceOut(many=True))
@blp.paginate()
def list_invoices(args: dict, pagination_parameters):
    """List invoices: a hospital those of its shipments, a supplier those it issued or received, overseers all."""
    page = invoices.list_invoices(db(), actor=actor(), **args, **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/invoices", methods=["POST"])
@blp.arguments(s.InvoiceIn())
@blp.response(201, s.InvoiceOut)
def upload_invoice(data: dict):
    """Upload a first or second invoice for a shipment; lines and totals must add up, goods must have shipped."""
    lines = [InvoiceLineIn(**line) for line in data.pop("lines")]
    invoice = invoices.upload_invoice(db(), actor=actor(), lines=lines, now=utcnow(), **data)
    return invoices.invoice_details(db(), [invoice])[0]


@blp.route("/invoices/<int:invoice_id>", methods=["GET"])
@blp.response(200, s.InvoiceOut)
def get_invoice(invoice_id: int):
    """Return an invoice with its lines."""
    invoice = invoices.get_invoice(db(), invoice_id=invoice_id, actor=actor())
    return invoices.invoice_details(db(), [invoice])[0]


@blp.route("/payments", methods=["GET"])
@blp.arguments(s.PaymentQuery(), location="query")
@blp.response(200, s.PaymentOut(many=True))
@blp.paginate()
def list_payments(args: dict, pagination_parameters):
    """List payments: a hospital its own, a supplier those made to it, overseers all."""
    page = payments.list_payments(db(), actor=actor(), **args, **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/payments", methods=["POST"])
@blp.arguments(s.PaymentIn())
@blp.response(201, s.PaymentOut)
@blp.alt_response(200, schema=s.PaymentOut, description="a retry with the same Idempotency-Key")
def record_payment(data: dict):
    """Record the hospital's payment of a second invoice, at most what is outstanding. Honours ``Idempotency-Key``."""
    payment, created = payments.record_payment(
        db(), actor=actor(), idempotency_key=request.headers.get("Idempotency-Key"), now=utcnow(), **data
    )
    return (payment, 201) if created else (payment, 200, {"Idempotent-Replayed": "true"})


@blp.route("/payments/due", methods=["GET"])
@blp.arguments(s.PayableQuery(), location="query")
@blp.response(200, s.PayableOut(many=True))
@blp.paginate()
def list_payables(args: dict, pagination_parameters):
    """List receipts with their due dates and what is paid; ``status=overdue`` gives the overdue list."""
    rows = payments.payables(
        db(),
        actor=actor(),
        today=args["as_of"] or china_today(utcnow()),
        hospital_id=args["hospital_id"],
        status=args["status"].value if args["status"] else None,
    )
    size = min(max(pagination_parameters.page_size, 1), MAX_PER_PAGE)
    start = (max(pagination_parameters.page, 1) - 1) * size
    return page_items(
        Page(rows[start : start + size], len(rows), pagination_parameters.page, size), pagination_parameters
    )


@blp.route("/payments/on-time-rate", methods=["GET"])
@blp.arguments(s.OnTimeQuery(), location="query")
@blp.response(200, s.OnTimeOut)
def on_time_rate(args: dict):
    """Share of a hospital's receipts due in a period that were paid by their due date, by count and by amount."""
    return payments.on_time_rate(
        db(),
        actor=actor(),
        hospital_id=_own_hospital(args["hospital_id"]),
        start=args["start"],
        end=args["end"],
        today=args["as_of"],
    )


@blp.route("/prepayments", methods=["GET"])
@blp.arguments(s.PrepaymentQuery(), location="query")
@blp.response(200, s.PrepaymentOut(many=True))
@blp.paginate()
def list_prepayments(args: dict, pagination_parameters):
    """List insurance prepayments: a hospital its own, overseers all."""
    page = prepayments.list_prepayments(db(), actor=actor(), **args, **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/prepayments", methods=["POST"])
@blp.arguments(s.PrepaymentIn())
@blp.response(201, s.PrepaymentOut)
def record_prepayment(data: dict):
    """Record the insurance fund's VBP prepayment to a hospital for a tender; below 30 % of the annual amount warns."""
    return prepayments.record_prepayment(db(), actor=actor(), now=utcnow(), **data)


@blp.route("/prepayments/balance", methods=["GET"])
@blp.arguments(s.BalanceQuery(), location="query")
@blp.response(200, s.BalanceOut)
def prepayment_balance(args: dict):
    """What the fund prepaid a hospital for a tender, the payments set against it, and the balance."""
    hospital_id = _own_hospital(args["hospital_id"])
    return prepayments.prepayment_balance(db(), actor=actor(), hospital_id=hospital_id, tender_id=args["tender_id"])
