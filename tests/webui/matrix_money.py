"""Rows of the authorization matrix for the money endpoints: invoices, payments, due lists, rates, prepayments.

"own" is a shipment (and its second invoice) of an order the caller's hospital placed or its firm supplied, as in
``matrix_orders``; "foreign" is one between two other organisations. Prepayments act on a bare award with one
hospital's agreed volume; the on-time rate and the prepayment balance are asked for the caller's organisation
(own) or another one (foreign).
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from core.db import utcnow
from core.roles import Role
from procurement.orders.invoices import InvoiceLineIn, upload_invoice
from procurement.tenders.models import LotProduct
from tests.webui.matrix_orders import HOSPITAL_ROLES, _actor, staged_award, staged_order

# One pack at 12.5 a pack, tax included: 11.0619 before 13 % VAT, amount 11.06, tax 1.44, total 12.50.
LINE = {"batch": "M1", "quantity": 1, "unit_price": "11.0619", "tax_rate": "0.13", "amount": "11.06", "tax": "1.44"}


def _second_invoice_body(w, scope: str, number: str) -> dict:
    _order, shipment, _code = staged_order(w, scope, "shipped")
    return {
        "shipment_id": shipment.id, "kind": "second", "number": number, "issued_on": utcnow().date().isoformat(),
        "seller_org_id": shipment.supplier_id, "buyer_org_id": shipment.hospital_id,
        "lines": [{"product_id": w.product.id, **LINE}], "amount": "11.06", "tax": "1.44", "total": "12.50",
    }  # fmt: skip


def staged_invoice(w, scope: str):
    """Return (once) the second invoice of the scope's shipment, uploaded by its supplier."""
    cache = w.__dict__.setdefault("_invoices", {})
    if scope not in cache:
        body = _second_invoice_body(w, scope, f"M-{scope}")
        line = {**LINE, **{k: Decimal(LINE[k]) for k in ("unit_price", "tax_rate", "amount", "tax")}}
        supplier = w.factory.db.get(type(w.own_org), body["seller_org_id"])
        cache[scope] = upload_invoice(
            w.factory.db,
            actor=_actor(w, supplier, Role.SUPPLIER_REP),
            lines=[InvoiceLineIn(product_id=w.product.id, **line)],
            **{k: body[k] for k in ("shipment_id", "kind", "number", "seller_org_id", "buyer_org_id")},
            issued_on=utcnow().date(),
            **{k: Decimal(body[k]) for k in ("amount", "tax", "total")},
        )
    return cache[scope]


def _prepayment_body(w, scope: str) -> dict:
    award, hospital = staged_award(w, scope)
    db = w.factory.db
    stmt = sa.select(LotProduct.id).where(LotProduct.lot_id == award.lot_id, LotProduct.product_id == award.product_id)
    if db.exec(stmt).first() is None:  # the bare award has no product table; a real lot always has one
        db.add(LotProduct(lot_id=award.lot_id, product_id=award.product_id, spec_factor=Decimal(1)))
        db.flush()
    return {
        "hospital_id": hospital.id,
        "tender_id": award.tender_id,
        "amount": "100.00",
        "received_on": utcnow().date().isoformat(),
    }


def _org_query(path: str, extra=lambda w, s: ""):
    def build(w, scope: str):
        return "GET", f"{path}?hospital_id={w.org(scope).id}{extra(w, scope)}", None

    return build


def _by_role(values: dict[Role, tuple[int, int]], default: tuple[int, int]) -> dict[Role, tuple[int, int]]:
    return {role: values.get(role, default) for role in Role}


def money_rows(Row):
    """Return the matrix rows of the money endpoints."""
    everyone = dict.fromkeys(Role, (200, 200))
    overseers = {Role.AUDITOR: (200, 200), Role.ADMIN: (200, 200)}
    seen_not_theirs = {**dict.fromkeys(HOSPITAL_ROLES, (403, 404)), Role.AUDITOR: (403, 403), Role.ADMIN: (403, 403)}
    uploading = _by_role({**seen_not_theirs, Role.SUPPLIER_REP: (201, 404)}, (404, 404))
    reading = _by_role({**dict.fromkeys((*HOSPITAL_ROLES, Role.SUPPLIER_REP), (200, 404)), **overseers}, (404, 404))
    paying = _by_role(
        {**dict.fromkeys(HOSPITAL_ROLES, (201, 404)), Role.SUPPLIER_REP: (403, 404), Role.AUDITOR: (403, 403),
         Role.ADMIN: (403, 403)}, (404, 404),
    )  # fmt: skip
    own_hospital_only = _by_role(dict.fromkeys(HOSPITAL_ROLES, (200, 403)), (200, 200))
    prepaying = _by_role({Role.AUDITOR: (201, 201)}, (403, 403))
    balance = _by_role({**dict.fromkeys(HOSPITAL_ROLES, (200, 403)), **overseers}, (403, 403))

    def invoice(w, scope):
        return "GET", f"/api/v1/invoices/{staged_invoice(w, scope).id}", None

    def payment(w, scope):
        paid_on = utcnow().date().isoformat()
        return (
            "POST",
            "/api/v1/payments",
            {"invoice_id": staged_invoice(w, scope).id, "amount": "1.00", "paid_on": paid_on},
        )

    def tender_of(w, scope):
        return f"&tender_id={staged_award(w, scope)[0].tender_id}"

    return [
        Row("GET", "/api/v1/invoices", lambda w, s: ("GET", "/api/v1/invoices", None), everyone),
        Row(
            "POST",
            "/api/v1/invoices",
            lambda w, s: ("POST", "/api/v1/invoices", _second_invoice_body(w, s, f"N-{s}")),
            uploading,
        ),
        Row("GET", "/api/v1/invoices/<int:invoice_id>", invoice, reading),
        Row("GET", "/api/v1/payments", lambda w, s: ("GET", "/api/v1/payments", None), everyone),
        Row("POST", "/api/v1/payments", payment, paying),
        Row("GET", "/api/v1/payments/due", lambda w, s: ("GET", "/api/v1/payments/due", None), everyone),
        Row(
            "GET",
            "/api/v1/payments/on-time-rate",
            _org_query("/api/v1/payments/on-time-rate", lambda w, s: "&start=2026-01-01&end=2026-12-31"),
            own_hospital_only,
        ),
        Row("GET", "/api/v1/prepayments", lambda w, s: ("GET", "/api/v1/prepayments", None), everyone),
        Row(
            "POST",
            "/api/v1/prepayments",
            lambda w, s: ("POST", "/api/v1/prepayments", _prepayment_body(w, s)),
            prepaying,
        ),
        Row("GET", "/api/v1/prepayments/balance", _org_query("/api/v1/prepayments/balance", tender_of), balance),
    ]
