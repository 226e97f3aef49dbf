"""Request and response schemas of the money API: invoices, payments, payables, on-time rates, prepayments."""

from __future__ import annotations

import marshmallow as ma

from procurement.orders.money_models import InvoiceKind
from procurement.orders.payments import PayableStatus
from webui.api.tender_schemas import money


def money_out(**kwargs) -> ma.fields.Decimal:
    """An amount in answers, always with the four decimals money is kept at ("70.0000")."""
    return money(places=4, **kwargs)


def _id(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1), **kwargs)


class InvoiceLineIn(ma.Schema):
    product_id = _id(required=True)
    batch = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=20), metadata={"description": "批号"}
    )
    quantity = ma.fields.Integer(strict=True, required=True, validate=ma.validate.Range(min=1))
    unit_price = money(required=True, metadata={"description": "per pack, tax excluded (不含税单价), ≤ 4 decimals"})
    tax_rate = money(required=True, metadata={"description": "VAT rate, e.g. 0.13"})
    amount = money(required=True, metadata={"description": "quantity × unit price, tax excluded, to the fen"})
    tax = money(required=True, metadata={"description": "amount × tax rate, to the fen"})


class InvoiceIn(ma.Schema):
    shipment_id = _id(required=True, metadata={"description": "the shipment (with its 随货同行单) invoiced"})
    kind = ma.fields.Enum(
        InvoiceKind,
        by_value=True,
        required=True,
        metadata={
            "description": (
                "first: manufacturer → distributor; second: distributor → hospital; transfer: between distributors of "
                "one group (rulebook 4.3); extra: any other hop between them (allowed once in remote areas, 4.4)"
            )
        },
    )
    number = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=32), metadata={"description": "发票号码"}
    )
    issued_on = ma.fields.Date(required=True)
    seller_org_id = _id(required=True)
    buyer_org_id = _id(required=True)
    lines = ma.fields.List(ma.fields.Nested(InvoiceLineIn), required=True, validate=ma.validate.Length(min=1, max=200))
    amount = money(required=True, metadata={"description": "sum of the lines' amounts (金额)"})
    tax = money(required=True, metadata={"description": "sum of the lines' tax (税额)"})
    total = money(required=True, metadata={"description": "amount + tax (价税合计)"})


class InvoiceLineOut(ma.Schema):
    line_no = ma.fields.Integer()
    product_id = ma.fields.Integer()
    batch = ma.fields.String()
    quantity = ma.fields.Integer()
    unit_price = money_out()
    tax_rate = money_out()
    amount = money_out()
    tax = money_out()


class InvoiceOut(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": [k.value for k in InvoiceKind]})
    number = ma.fields.String()
    issued_on = ma.fields.Date()
    seller_org_id = ma.fields.Integer()
    buyer_org_id = ma.fields.Integer()
    shipment_id = ma.fields.Integer()
    delivery_note_number = ma.fields.String(metadata={"description": "the shipment's 随货同行单 number"})
    order_id = ma.fields.Integer()
    order_number = ma.fields.String()
    hospital_id = ma.fields.Integer()
    amount = money_out()
    tax = money_out()
    total = money_out()
    lines = ma.fields.List(ma.fields.Nested(InvoiceLineOut))
    uploaded_by_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class InvoiceQuery(ma.Schema):
    kind = ma.fields.Enum(InvoiceKind, by_value=True, load_default=None)
    shipment_id = ma.fields.Integer(load_default=None)
    order_id = ma.fields.Integer(load_default=None)


class PaymentIn(ma.Schema):
    invoice_id = _id(required=True, metadata={"description": "a second invoice issued to your hospital"})
    amount = money(required=True, metadata={"description": "yuan, to the fen; at most what is outstanding"})
    paid_on = ma.fields.Date(required=True)
    reference = ma.fields.String(
        load_default="", validate=ma.validate.Length(max=64), metadata={"description": "bank reference"}
    )


class PaymentOut(ma.Schema):
    id = ma.fields.Integer()
    invoice_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    payee_org_id = ma.fields.Integer()
    amount = money_out()
    paid_on = ma.fields.Date()
    reference = ma.fields.String()
    recorded_by_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class PaymentQuery(ma.Schema):
    invoice_id = ma.fields.Integer(load_default=None)


class PayableQuery(ma.Schema):
    hospital_id = ma.fields.Integer(load_default=None)
    status = ma.fields.Enum(PayableStatus, by_value=True, load_default=None)
    as_of = ma.fields.Date(load_default=None, metadata={"description": "judge as of this day (default today)"})


class PayableInvoiceOut(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    total = money_out()


class PayableOut(ma.Schema):
    receipt_id = ma.fields.Integer()
    shipment_id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    order_number = ma.fields.String()
    delivery_note_number = ma.fields.String()
    hospital_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    received_on = ma.fields.Date()
    amount = money_out(metadata={"description": "accepted packs at the order's prices"})
    due_on = ma.fields.Date()
    payment_rule = ma.fields.Dict(metadata={"description": "the payment terms that set due_on (rulebook 1.9.4)"})
    invoices = ma.fields.List(
        ma.fields.Nested(PayableInvoiceOut), metadata={"description": "the shipment's second invoices"}
    )
    paid = money_out()
    paid_by_due_date = money_out()
    outstanding = money_out()
    paid_in_full_on = ma.fields.Date(allow_none=True)
    status = ma.fields.String(metadata={"enum": [s.value for s in PayableStatus]})
    days_late = ma.fields.Integer()


class OnTimeQuery(ma.Schema):
    hospital_id = ma.fields.Integer(load_default=None, metadata={"description": "default: your hospital"})
    start = ma.fields.Date(required=True)
    end = ma.fields.Date(required=True)
    as_of = ma.fields.Date(load_default=None)


class OnTimeOut(ma.Schema):
    hospital_id = ma.fields.Integer()
    start = ma.fields.Date()
    end = ma.fields.Date()
    as_of = ma.fields.Date()
    due_count = ma.fields.Integer(metadata={"description": "receipts due in the period and past due or paid"})
    on_time_count = ma.fields.Integer()
    pending_count = ma.fields.Integer(metadata={"description": "due in the period, not yet due and still open"})
    count_rate = money_out(allow_none=True)
    due_amount = money_out()
    on_time_amount = money_out(metadata={"description": "money paid by each receipt's due date"})
    amount_rate = money_out(allow_none=True)


class PrepaymentIn(ma.Schema):
    hospital_id = _id(required=True)
    tender_id = _id(required=True)
    amount = money(required=True)
    received_on = ma.fields.Date(required=True)


class PrepaymentOut(ma.Schema):
    id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    tender_id = ma.fields.Integer()
    amount = money_out()
    received_on = ma.fields.Date()
    annual_agreed_amount = money_out(metadata={"description": "Σ agreed packs × award price, per year of the cycle"})
    minimum_amount = money_out(metadata={"description": "prepayment_min_share of the annual amount (rulebook 1.9.2)"})
    prepaid_total = money_out(metadata={"description": "prepaid to this hospital for this tender up to this record"})
    warning = ma.fields.String(allow_none=True)
    recorded_by_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class PrepaymentQuery(ma.Schema):
    hospital_id = ma.fields.Integer(load_default=None)
    tender_id = ma.fields.Integer(load_default=None)


class BalanceQuery(ma.Schema):
    hospital_id = ma.fields.Integer(load_default=None, metadata={"description": "default: your hospital"})
    tender_id = ma.fields.Integer(required=True)


class BalanceOut(ma.Schema):
    hospital_id = ma.fields.Integer()
    tender_id = ma.fields.Integer()
    annual_agreed_amount = money_out(allow_none=True)
    minimum_amount = money_out(allow_none=True)
    prepaid = money_out()
    payments = money_out(metadata={"description": "payments on second invoices, in the share billing this tender"})
    set_against = money_out()
    balance = money_out()
    paid_beyond_prepayment = money_out()
