"""Request and response schemas of the order API (shared with the order pages)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow.decorators import POST_DUMP, PRE_DUMP

from procurement.orders.models import OrderStatus
from procurement.orders.placing import MAX_LINES
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
    lines = ma.fields.List(
        ma.fields.Nested(OrderLineIn),
        required=True,
        validate=ma.validate.Length(max=MAX_LINES),
        metadata={"description": f"at most {MAX_LINES} lines, one per product"},
    )
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))

    def load(self, data, *, many=None, partial=None, unknown=None):  # type: ignore[override]
        """Load as marshmallow would; the usual order (whole packs, no price, a short note) without its machinery."""
        if many is None and partial is None and unknown in (None, ma.RAISE):
            loaded = _plain_order(data)
            if loaded is not None:
                return loaded
        return super().load(data, many=many, partial=partial, unknown=unknown)


_ORDER_KEYS, _LINE_KEYS = frozenset({"lines", "note"}), frozenset({"product_id", "quantity"})


def _plain_order(data: Any) -> dict[str, Any] | None:
    # What OrderIn loads from a body that passes its validation, for bodies of the common shape; None for any
    # other body (a price sent, a wrong type, an unknown key...), which marshmallow then loads or refuses itself.
    if type(data) is not dict or not data.keys() <= _ORDER_KEYS or type(data.get("lines")) is not list:
        return None
    if len(data["lines"]) > MAX_LINES:
        return None
    note = data.get("note", "")
    if type(note) is not str or len(note) > 500:
        return None
    lines = []
    for line in data["lines"]:
        if type(line) is not dict or line.keys() != _LINE_KEYS:
            return None
        product_id, quantity = line["product_id"], line["quantity"]
        if type(product_id) is not int or type(quantity) is not int:
            return None
        lines.append({"product_id": product_id, "quantity": quantity, "unit_price": None})
    return {"lines": lines, "note": note}


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
    refused_not_taken_back = ma.fields.Integer(
        metadata={"description": "refused packs still with the carrier, until the supplier takes them back"}
    )


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


def plain_dumper(schema: ma.Schema) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Return a function that dumps a mapping exactly as ``schema.dump`` would, at a fraction of its cost.

    For schemas without hooks: integers, strings, money, ISO dates and times and lists of such schemas are
    converted inline; other fields by their own ``_serialize``; fields that read the whole object are refused.
    """
    if any(schema._hooks[tag] for tag in (PRE_DUMP, POST_DUMP)):
        raise TypeError(f"{type(schema).__name__} has dump hooks")
    plan = [(name, f.data_key or name, _converter(f)) for name, f in schema.dump_fields.items()]
    absent = object()

    def dump(obj: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, key, convert in plan:
            value = obj.get(name, absent)
            if value is not absent:
                out[key] = None if value is None else convert(value)
        return out

    return dump


def _converter(f: ma.fields.Field) -> Callable[[Any], Any]:
    # What each field's _serialize does with a value that is not None (marshmallow 4).
    if type(f) is ma.fields.Integer and not f.as_string:
        return int
    if type(f) is ma.fields.String:
        return str
    if type(f) is ma.fields.Decimal and f.as_string and f.places is None and not f.allow_nan:
        return lambda value: format(Decimal(str(value)), "f")
    if type(f) in (ma.fields.DateTime, ma.fields.AwareDateTime, ma.fields.Date) and f.format in (None, "iso"):
        return dt.date.isoformat if type(f) is ma.fields.Date else dt.datetime.isoformat
    if type(f) is ma.fields.List and type(f.inner) is ma.fields.Nested and isinstance(f.inner.schema, ma.Schema):
        inner = plain_dumper(f.inner.schema)
        return lambda values: [inner(value) for value in values]
    if isinstance(f, ma.fields.Function | ma.fields.Method | ma.fields.Constant | ma.fields.Pluck):
        raise TypeError(f"no plain dump for {f!r}")
    return lambda value: f._serialize(value, f.name, None)


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


dump_new_order = plain_dumper(OrderDetailOut())  # placing an order answers with this; see plain_dumper


class TakeBackOut(ma.Schema):
    shipment_id = ma.fields.Integer()
    packs = ma.fields.Integer(metadata={"description": "refused packs back in the supplier's stock"})
    codes = ma.fields.List(ma.fields.String(), metadata={"description": "codes received back (cases whole)"})


class DocumentOut(ma.Schema):
    id = ma.fields.Integer()
    shipment_id = ma.fields.Integer()
    kind = ma.fields.String()
    invoice_id = ma.fields.Integer(allow_none=True)
    filename = ma.fields.String()
    media_type = ma.fields.String(metadata={"description": "judged from the content: PDF, OFD, PNG or JPEG"})
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    uploaded_by_id = ma.fields.Integer(allow_none=True)
    uploaded_at = ma.fields.AwareDateTime()
    url = ma.fields.String(metadata={"description": "where to download the file"})
