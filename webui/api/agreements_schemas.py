"""Request and response schemas of the agreements API: progress against time, online share, offline purchases."""

from __future__ import annotations

import marshmallow as ma

from procurement.orders.online_share import KINDS
from procurement.orders.progress import ProgressStatus
from webui.api.supply_schemas import Month, RaisedAlertOut


def money(**kwargs) -> ma.fields.Decimal:
    """A Decimal serialised as a string (JSON numbers would lose exactness)."""
    return ma.fields.Decimal(as_string=True, allow_nan=False, **kwargs)


def _id(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(validate=ma.validate.Range(min=1), **kwargs)


class ProgressQuery(ma.Schema):
    hospital_id = _id(load_default=None, metadata={"description": "a hospital sees only its own"})
    tender_id = _id(load_default=None)
    status = ma.fields.Enum(ProgressStatus, by_value=True, load_default=None)
    on = ma.fields.Date(load_default=None, metadata={"description": "the day to measure on; default today (China)"})


class ProgressOut(ma.Schema):
    agreed_volume_id = ma.fields.Integer()
    tender_id = ma.fields.Integer()
    tender_title = ma.fields.String()
    lot_id = ma.fields.Integer()
    lot_number = ma.fields.Integer()
    generic_name = ma.fields.String()
    unit = ma.fields.String(metadata={"description": "the comparable unit volumes are counted in"})
    hospital_id = ma.fields.Integer()
    hospital_name = ma.fields.String()
    award_id = ma.fields.Integer()
    product_id = ma.fields.Integer(metadata={"description": "the winning product the hospital was allocated"})
    supplier_id = ma.fields.Integer()
    supplier_name = ma.fields.String()
    unit_price = money(metadata={"description": "winning price per pack; purchases past the volume keep it (1.7.1)"})
    cycle_start = ma.fields.Date()
    cycle_end = ma.fields.Date()
    period_start = ma.fields.Date(metadata={"description": "the agreement year measured, clipped to the cycle"})
    period_end = ma.fields.Date()
    on = ma.fields.Date()
    annual_volume = ma.fields.Integer(metadata={"description": "agreed volume as awarded, comparable units a year"})
    agreed_volume = ma.fields.Integer(metadata={"description": "volume due in this period (prorated if shortened)"})
    ordered_units = money(metadata={"description": "comparable units on orders neither cancelled nor rejected"})
    received_units = money(metadata={"description": "comparable units accepted at receipt: the purchased volume"})
    received_amount = money()
    completion = money(allow_none=True, metadata={"description": "received ÷ agreed"})
    time_progress = money(metadata={"description": "days elapsed ÷ days in the period (序时进度)"})
    pace = money(allow_none=True, metadata={"description": "completion ÷ time progress; null before day one"})
    status = ma.fields.Enum(ProgressStatus, by_value=True)
    over_units = money(metadata={"description": "received beyond the agreed volume, at the winning price"})
    non_winning_packs = ma.fields.Integer(metadata={"description": "non-winning packs of the same generic name"})
    non_winning_amount = money()
    warning_share = money(metadata={"description": "behind when completion < this × time progress (1.7.5)"})


class OnlineShareQuery(ma.Schema):
    hospital_id = _id(load_default=None, metadata={"description": "a hospital sees only its own"})
    start = ma.fields.Date(load_default=None, metadata={"description": "default 1 January of this year"})
    end = ma.fields.Date(load_default=None, metadata={"description": "default today (China)"})


class OnlineShareOut(ma.Schema):
    hospital_id = ma.fields.Integer()
    hospital_name = ma.fields.String()
    kind = ma.fields.String(metadata={"enum": list(KINDS)})
    start = ma.fields.Date()
    end = ma.fields.Date()
    platform_amount = money(metadata={"description": "packs accepted at receipt, at their order prices"})
    offline_amount = money(metadata={"description": "declared off-platform purchases of the months touched"})
    total_amount = money()
    share = money(allow_none=True, metadata={"description": "platform ÷ total; null when nothing was bought"})
    target = money(metadata={"description": "the online-purchase target (rulebook 0.2)"})
    meets_target = ma.fields.Boolean(allow_none=True)


class OfflinePurchaseQuery(ma.Schema):
    hospital_id = _id(load_default=None, metadata={"description": "auditors and admins: one hospital's"})


class OfflinePurchaseIn(ma.Schema):
    hospital_id = _id(strict=True, load_default=None, metadata={"description": "default: the caller's hospital"})
    month = Month(required=True, metadata={"description": "the month of the purchase; not a future one"})
    product_kind = ma.fields.String(required=True, validate=ma.validate.OneOf(KINDS))
    product_id = _id(strict=True, load_default=None)
    description = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300))
    amount = money(required=True, metadata={"description": "yuan, tax included, up to 4 decimal places"})
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class OfflinePurchaseOut(ma.Schema):
    id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    month = Month()
    product_kind = ma.fields.String()
    product_id = ma.fields.Integer(allow_none=True)
    description = ma.fields.String()
    amount = money()
    reason = ma.fields.String()
    declared_by_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class ProgressCheckIn(ma.Schema):
    on = ma.fields.Date(load_default=None, metadata={"description": "the day to check; default today (China)"})


class ProgressCheckOut(ma.Schema):
    on = ma.fields.Date()
    alerts = ma.fields.List(ma.fields.Nested(RaisedAlertOut), metadata={"description": "alerts newly raised"})
