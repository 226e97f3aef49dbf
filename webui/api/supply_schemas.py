"""Request and response schemas of the supply API: monthly reports, production stops, problems, risk checks."""

from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar

import marshmallow as ma

from procurement.orders import supply
from procurement.orders.supply_problems import ProblemKind, ProblemStatus

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class Month(ma.fields.Field):
    """A calendar month written ``YYYY-MM``, held as its first day."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Not a valid month; write YYYY-MM, e.g. 2026-03."}

    def __init__(self, **kwargs) -> None:
        metadata = {"type": "string", "pattern": MONTH_PATTERN, "example": "2026-03", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else f"{value:%Y-%m}"

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not re.match(MONTH_PATTERN, value):
            raise self.make_error("invalid")
        return dt.date(int(value[:4]), int(value[5:7]), 1)


def packs(**kwargs) -> ma.fields.Integer:
    """A non-negative whole number of packs (JSON numbers only: "12" and 12.0 are refused)."""
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0), **kwargs)


def _id(*, strict: bool = True, **kwargs) -> ma.fields.Integer:
    # Query strings carry only text, so ids there are parsed from it; JSON bodies must send numbers.
    return ma.fields.Integer(strict=strict, validate=ma.validate.Range(min=1), **kwargs)


class SupplyReportIn(ma.Schema):
    product_id = _id(required=True, metadata={"description": "a product your organisation won in that month"})
    month = Month(required=True, metadata={"description": "the month reported on; a past or the current month"})
    produced = packs(required=True, metadata={"description": "packs produced in the month"})
    inventory = packs(required=True, metadata={"description": "packs in stock at the end of the month"})
    reserve = packs(required=True, metadata={"description": "packs held in reserve for the agreed volume"})


class SupplyReportOut(ma.Schema):
    id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    month = Month()
    produced = ma.fields.Integer()
    inventory = ma.fields.Integer()
    reserve = ma.fields.Integer()
    due_on = ma.fields.Date()
    late = ma.fields.Boolean(metadata={"description": "first filed after due_on (an amendment keeps this)"})
    submitted_at = ma.fields.AwareDateTime()


class SupplyReportQuery(ma.Schema):
    month = Month(load_default=None)
    product_id = _id(strict=False, load_default=None)
    supplier_id = _id(strict=False, load_default=None)
    late = ma.fields.Boolean(load_default=None)


class ProductionStopIn(ma.Schema):
    product_id = _id(required=True, metadata={"description": "a product your organisation won"})
    stops_on = ma.fields.Date(required=True)
    resumes_on = ma.fields.Date(load_default=None, metadata={"description": "expected restart; null if unknown"})
    # Only JSON true or false: marshmallow would read "yes" or 1 as true, and the kind of stop decides its notice.
    planned = ma.fields.Boolean(
        required=True,
        truthy={True},
        falsy={False},
        metadata={"description": "true: planned discontinuation; false: an unplanned stop"},
    )
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class ProductionStopOut(ma.Schema):
    id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    stops_on = ma.fields.Date()
    resumes_on = ma.fields.Date(allow_none=True)
    planned = ma.fields.Boolean()
    reason = ma.fields.String()
    notice_days = ma.fields.Integer(metadata={"description": "days from the notice to the stop; negative: after it"})
    late_notice = ma.fields.Function(
        lambda stop: supply.notice_is_late(stop),
        metadata={"type": "boolean", "description": "shorter notice than the rules ask"},
    )
    reported_at = ma.fields.AwareDateTime()


class ProductionStopQuery(ma.Schema):
    product_id = _id(strict=False, load_default=None)
    supplier_id = _id(strict=False, load_default=None)
    in_force_on = ma.fields.Date(load_default=None, metadata={"description": "only stops in force on this day"})


class SupplyProblemIn(ma.Schema):
    order_id = _id(required=True, metadata={"description": "one of your hospital's orders"})
    kind = ma.fields.Enum(ProblemKind, by_value=True, required=True)
    description = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))


class SupplyProblemOut(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    kind = ma.fields.String()
    description = ma.fields.String()
    status = ma.fields.Function(
        lambda p: (ProblemStatus.RESOLVED if p.resolved_at else ProblemStatus.OPEN).value,
        metadata={"type": "string", "enum": [s.value for s in ProblemStatus]},
    )
    reported_at = ma.fields.AwareDateTime()
    resolved_at = ma.fields.AwareDateTime(allow_none=True)
    resolution = ma.fields.String(allow_none=True)


class SupplyProblemQuery(ma.Schema):
    status = ma.fields.Enum(ProblemStatus, by_value=True, load_default=None)
    order_id = _id(strict=False, load_default=None)
    supplier_id = _id(strict=False, load_default=None)


class ResolutionIn(ma.Schema):
    resolution = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))


class RiskCheckIn(ma.Schema):
    month = Month(required=True, metadata={"description": "the month to check; a past or the current month"})


class RaisedAlertOut(ma.Schema):
    """An alert a check raised (supply risks, agreed-volume progress)."""

    id = ma.fields.Integer()
    code = ma.fields.String()
    severity = ma.fields.String()
    status = ma.fields.String()
    title = ma.fields.String()
    subject_org_id = ma.fields.Integer(allow_none=True)
    object_type = ma.fields.String()
    object_id = ma.fields.String()
    evidence = ma.fields.Dict()
    created_at = ma.fields.AwareDateTime()


class RiskCheckOut(ma.Schema):
    month = Month()
    alerts = ma.fields.List(ma.fields.Nested(RaisedAlertOut), metadata={"description": "raised by this run only"})
