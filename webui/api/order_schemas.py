"""Request and response schemas of the order API (shared with the order pages)."""

from __future__ import annotations

import marshmallow as ma

from procurement.orders.models import OrderStatus
from webui.api.tender_schemas import money

CODES = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=200)), required=True)


class BuyableOut(ma.Schema):
    product_id = ma.fields.Integer()
    generic_name = ma.fields.String()
    strength = ma.fields.String()
    package_spec = ma.fields.String()
    pack_quantity = ma.fields.Integer()
    price = money()
    price_basis = ma.fields.Function(lambda row: row.price_basis.value)
    supplier_id = ma.fields.Integer()
    supplier_name = ma.fields.String()
    award_id = ma.fields.Integer(allow_none=True)
    lot_id = ma.fields.Integer(allow_none=True)
    tender_id = ma.fields.Integer(allow_none=True)
    tender_title = ma.fields.String(allow_none=True)
    agreed_volume = ma.fields.Integer(allow_none=True, metadata={"description": "comparable units per agreement year"})
    cycle_start = ma.fields.Date(allow_none=True)
    cycle_end = ma.fields.Date(allow_none=True)
    listing_id = ma.fields.Integer(allow_none=True)
    winning_product_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "for a listed product: the winning product of its generic name"}
    )


class OrderLineIn(ma.Schema):
    product_id = ma.fields.Integer(strict=True, required=True)
    quantity = ma.fields.Integer(strict=True, required=True, metadata={"description": "packs, above zero"})
    unit_price = money(
        load_default=None, metadata={"description": "optional; must equal the awarded or listed price if sent"}
    )


class OrderIn(ma.Schema):
    lines = ma.fields.List(ma.fields.Nested(OrderLineIn), required=True)
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class OrderQuery(ma.Schema):
    status = ma.fields.Enum(OrderStatus, by_value=True, load_default=None)


class ReasonIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class ShipLineIn(ma.Schema):
    line_no = ma.fields.Integer(strict=True, required=True)
    codes = CODES
    batch = ma.fields.String(load_default=None, validate=ma.validate.Length(max=20))
    expiry = ma.fields.Date(load_default=None)


class ShipIn(ma.Schema):
    delivery_note_number = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    lines = ma.fields.List(ma.fields.Nested(ShipLineIn), required=True)


class RefusalIn(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300))


class ReceiveIn(ma.Schema):
    shipment_id = ma.fields.Integer(strict=True, required=True)
    codes = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=200)), load_default=list)
    refusals = ma.fields.List(ma.fields.Nested(RefusalIn), load_default=list)


class OrderLineOut(ma.Schema):
    line_no = ma.fields.Integer()
    product_id = ma.fields.Integer()
    generic_name = ma.fields.String()
    strength = ma.fields.String()
    package_spec = ma.fields.String()
    quantity = ma.fields.Integer()
    unit_price = money()
    amount = money()
    price_basis = ma.fields.String()
    award_id = ma.fields.Integer(allow_none=True)
    lot_id = ma.fields.Integer(allow_none=True)
    listing_id = ma.fields.Integer(allow_none=True)
    winning_product_id = ma.fields.Integer(allow_none=True)
    shipped_qty = ma.fields.Integer()
    received_qty = ma.fields.Integer()
    refused_qty = ma.fields.Integer()


class ShipmentOut(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    delivery_note_number = ma.fields.String()
    status = ma.fields.String()
    pack_count = ma.fields.Integer()
    trace_batch_id = ma.fields.String()
    shipped_at = ma.fields.AwareDateTime()


class RefusalOut(ma.Schema):
    code = ma.fields.String()
    reason = ma.fields.String(metadata={"description": "stable reason code, e.g. expired, recalled, wrong_product"})
    message = ma.fields.String()


class ReceiptOut(ma.Schema):
    id = ma.fields.Integer()
    shipment_id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    accepted_count = ma.fields.Integer()
    refused_count = ma.fields.Integer()
    amount = money()
    due_on = ma.fields.Date(metadata={"description": "last day for payment (rulebook 1.9.4)"})
    payment_rule = ma.fields.Dict()
    refusals = ma.fields.List(ma.fields.Nested(RefusalOut))
    received_at = ma.fields.AwareDateTime()


class OrderOut(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    hospital_id = ma.fields.Integer()
    hospital_name = ma.fields.String()
    supplier_id = ma.fields.Integer()
    supplier_name = ma.fields.String()
    status = ma.fields.String()
    total_amount = money()
    note = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    placed_at = ma.fields.AwareDateTime()
    confirmed_at = ma.fields.AwareDateTime(allow_none=True)
    closed_at = ma.fields.AwareDateTime(allow_none=True)


class OrderDetailOut(OrderOut):
    lines = ma.fields.List(ma.fields.Nested(OrderLineOut))
    shipments = ma.fields.List(ma.fields.Nested(ShipmentOut))
    receipts = ma.fields.List(ma.fields.Nested(ReceiptOut))


class ListingIn(ma.Schema):
    product_id = ma.fields.Integer(strict=True, required=True)
    supplier_id = ma.fields.Integer(strict=True, required=True)
    price = money(required=True, metadata={"description": "per pack, tax included"})
    region_prefix = ma.fields.String(load_default="", validate=ma.validate.Regexp(r"^\d{0,6}$"))
    starts_on = ma.fields.Date(required=True)
    ends_on = ma.fields.Date(load_default=None)


class ListingOut(ma.Schema):
    id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    price = money()
    region_prefix = ma.fields.String()
    starts_on = ma.fields.Date()
    ends_on = ma.fields.Date(allow_none=True)


class DistributorIn(ma.Schema):
    hospital_id = ma.fields.Integer(strict=True, required=True)
    distributor_id = ma.fields.Integer(strict=True, required=True)


class DistributorOut(ma.Schema):
    id = ma.fields.Integer()
    award_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    distributor_id = ma.fields.Integer()


class StockOut(ma.Schema):
    product_id = ma.fields.Integer()
    generic_name = ma.fields.String(allow_none=True)
    package_spec = ma.fields.String(allow_none=True)
    batch = ma.fields.String(allow_none=True)
    expiry = ma.fields.Date(allow_none=True)
    packs = ma.fields.Integer()
    units = ma.fields.Integer(metadata={"description": "smallest units left (split packs counted by what remains)"})


class StockQuery(ma.Schema):
    hospital_id = ma.fields.Integer(load_default=None)
