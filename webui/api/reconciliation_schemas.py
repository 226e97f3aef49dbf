"""Request and response schemas of the reconciliation API: violations, verdicts and the registers they use."""

from __future__ import annotations

import marshmallow as ma

from procurement.audit.reconciliation_models import EquivalentKind, Verdict
from procurement.audit.reconciliation_reads import STATES
from procurement.audit.reconciliation_rules import CODES
from webui.api.money_schemas import money_out


def _id(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1), **kwargs)


class ViolationQuery(ma.Schema):
    code = ma.fields.String(load_default=None, validate=ma.validate.OneOf(CODES))
    hospital_id = ma.fields.Integer(load_default=None)
    supplier_id = ma.fields.Integer(load_default=None, metadata={"description": "the shipment's supplier"})
    shipment_id = ma.fields.Integer(load_default=None)
    invoice_id = ma.fields.Integer(load_default=None)
    since = ma.fields.Date(load_default=None, metadata={"description": "found in a run whose period ends after"})
    until = ma.fields.Date(load_default=None, metadata={"description": "found in a run whose period starts by"})
    state = ma.fields.String(
        load_default="open",
        validate=ma.validate.OneOf(STATES),
        metadata={"description": "open: still found by the latest run; resolved: no longer found; all"},
    )


class ViolationOut(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String(metadata={"enum": list(CODES)})
    severity = ma.fields.String()
    title = ma.fields.String()
    shipment_id = ma.fields.Integer(allow_none=True)
    hospital_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer(allow_none=True)
    subject_org_id = ma.fields.Integer(allow_none=True, metadata={"description": "the organisation at fault"})
    product_id = ma.fields.Integer(allow_none=True)
    batch = ma.fields.String(allow_none=True)
    invoice_id = ma.fields.Integer(allow_none=True)
    evidence = ma.fields.Dict(metadata={"description": "ids of the invoices, lines, packs, receipts, payments"})
    rule = ma.fields.Dict(metadata={"description": "the parameter set that found it (rulebook 4)"})
    alert_id = ma.fields.Integer(allow_none=True)
    period_start = ma.fields.Date()
    period_end = ma.fields.Date()
    found_at = ma.fields.AwareDateTime()
    last_seen_at = ma.fields.AwareDateTime()
    resolved_at = ma.fields.AwareDateTime(allow_none=True)


class VerdictLineOut(ma.Schema):
    line_id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    batch = ma.fields.String()
    quantity = ma.fields.Integer(metadata={"description": "packs billed on this line"})
    received = ma.fields.Integer(metadata={"description": "packs of this product and batch the hospital accepted"})
    matched_quantity = ma.fields.Integer(metadata={"description": "billed packs matched by accepted packs"})
    first_invoiced = ma.fields.Integer(metadata={"description": "packs of this batch on the first invoice"})
    order_line_id = ma.fields.Integer(allow_none=True)
    price = ma.fields.String(metadata={"description": "per pack, tax included"})
    order_price = ma.fields.String(allow_none=True)
    award_price = ma.fields.String(allow_none=True)
    price_check = ma.fields.String(metadata={"enum": ["ok", "above_award", "differs_from_order", "no_order_line"]})
    batch_check = ma.fields.String(metadata={"enum": ["ok", "not_shipped", "not_on_first_invoice"]})
    reasons = ma.fields.List(ma.fields.String())


class VerdictOut(ma.Schema):
    invoice_id = ma.fields.Integer()
    number = ma.fields.String()
    total = money_out()
    shipment_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    seller_org_id = ma.fields.Integer()
    verdict = ma.fields.String(metadata={"enum": [v.value for v in Verdict]})
    reasons = ma.fields.List(ma.fields.String())
    lines = ma.fields.List(ma.fields.Nested(VerdictLineOut))
    rule = ma.fields.Dict()
    period_start = ma.fields.Date()
    period_end = ma.fields.Date()
    computed_at = ma.fields.AwareDateTime()
    violations = ma.fields.List(ma.fields.Nested(ViolationOut), metadata={"description": "on the same shipment"})


class EquivalentIn(ma.Schema):
    org_id = _id(required=True, metadata={"description": "the company treated as the manufacturer"})
    principal_org_id = _id(required=True, metadata={"description": "the manufacturer (or group) it acts for"})
    kind = ma.fields.Enum(EquivalentKind, by_value=True, required=True)
    valid_from = ma.fields.Date(required=True)
    valid_to = ma.fields.Date(load_default=None, metadata={"description": "exclusive; none: open"})
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=300))


class EquivalentOut(ma.Schema):
    id = ma.fields.Integer()
    org_id = ma.fields.Integer()
    principal_org_id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": [k.value for k in EquivalentKind]})
    valid_from = ma.fields.Date()
    valid_to = ma.fields.Date(allow_none=True)
    note = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class EquivalentQuery(ma.Schema):
    org_id = ma.fields.Integer(load_default=None)
    principal_org_id = ma.fields.Integer(load_default=None)


class RemoteAreaIn(ma.Schema):
    region_prefix = ma.fields.String(
        required=True, validate=ma.validate.Length(min=2, max=6), metadata={"description": "2, 4 or 6 digits"}
    )
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    listed_by = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=200), metadata={"description": "authority, document"}
    )
    valid_from = ma.fields.Date(required=True)
    valid_to = ma.fields.Date(load_default=None)


class RemoteAreaOut(ma.Schema):
    id = ma.fields.Integer()
    region_prefix = ma.fields.String()
    name = ma.fields.String()
    listed_by = ma.fields.String()
    valid_from = ma.fields.Date()
    valid_to = ma.fields.Date(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class GroupIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    member_org_ids = ma.fields.List(_id(), required=True, validate=ma.validate.Length(min=2, max=200))


class GroupOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    member_org_ids = ma.fields.List(ma.fields.Integer())
    created_at = ma.fields.AwareDateTime()
