"""Request and response schemas of the circulation API: hospitals' monthly finance reports and the indicators."""

from __future__ import annotations

import marshmallow as ma

from webui.api.money_schemas import money_out
from webui.api.supply_schemas import Month
from webui.api.tender_schemas import money


def _not_negative(value) -> None:
    # A plain check rather than Range: apispec would write a Decimal bound into the document as a string.
    if value < 0:
        raise ma.ValidationError("Must be zero or more.")


def _amount(description: str) -> ma.fields.Decimal:
    return money(required=True, validate=_not_negative, metadata={"description": f"{description}, yuan, ≥ 0"})


def _id(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(validate=ma.validate.Range(min=1), **kwargs)


class FinanceReportIn(ma.Schema):
    hospital_id = _id(
        strict=True,
        load_default=None,
        metadata={"description": "the hospital reported on; a hospital's own users may leave it out"},
    )
    month = Month(required=True, metadata={"description": "the month reported on, YYYY-MM; not a future month"})
    service_income = _amount("medical-service income (医疗服务收入)")
    drug_income = _amount("drug income (药品收入)")
    consumable_income = _amount("consumable income (卫生材料收入)")
    test_income = _amount("examination and test income (检查化验收入)")
    insured_in_catalogue = _amount("insured patients' spending inside the insurance catalogue (目录内费用)")
    insured_out_of_catalogue = _amount("insured patients' spending outside the insurance catalogue (目录外费用)")
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class FinanceReportOut(ma.Schema):
    id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    month = Month()
    service_income = money_out()
    drug_income = money_out()
    consumable_income = money_out()
    test_income = money_out()
    insured_in_catalogue = money_out()
    insured_out_of_catalogue = money_out()
    source = ma.fields.String(metadata={"enum": ["hospital", "auditor"]})
    note = ma.fields.String()
    submitted_by_id = ma.fields.Integer(allow_none=True)
    submitted_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime(allow_none=True)


class FinanceReportQuery(ma.Schema):
    hospital_id = _id(load_default=None)
    start = ma.fields.Date(load_default=None, metadata={"description": "months from this day's month"})
    end = ma.fields.Date(load_default=None, metadata={"description": "months before this day"})


class IndicatorQuery(ma.Schema):
    hospital_id = _id(load_default=None)
    start = ma.fields.Date(required=True, metadata={"description": "first day of the period"})
    end = ma.fields.Date(required=True, metadata={"description": "day after the period: [start, end)"})


def _shares() -> ma.fields.Dict:
    return ma.fields.Dict(keys=ma.fields.String(), values=money(places=4), allow_none=True)


class IndicatorOut(ma.Schema):
    hospital_id = ma.fields.Integer()
    hospital_name = ma.fields.String()
    hospital_grade = ma.fields.String(allow_none=True)
    region_code = ma.fields.String()
    month = Month()
    report_id = ma.fields.Integer(allow_none=True)
    no_data = ma.fields.Boolean(metadata={"description": "no finance report for this hospital and month"})
    out_of_catalogue_share = money(places=4, allow_none=True)
    out_of_catalogue_limit = money(places=4)
    above_limit = ma.fields.Boolean(allow_none=True, metadata={"description": "strictly above the cap (0.11)"})
    structure_applies = ma.fields.Boolean(metadata={"description": "grade II and above (0.16)"})
    structure = _shares()
    structure_target = _shares()
    structure_deviation = _shares()
    structure_tolerance = money(places=4)
    off_target = ma.fields.Boolean(allow_none=True)
