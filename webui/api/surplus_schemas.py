"""Request and response schemas of the surplus-retention API (rulebook 3; member shares 0.4)."""

from __future__ import annotations

import marshmallow as ma

from procurement.audit.surplus_calc import ResultStatus
from webui.api.money_schemas import money_out
from webui.api.tender_schemas import money


def _id(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1), **kwargs)


def _query_id(**kwargs) -> ma.fields.Integer:
    # Query strings are text: "12" is an id there, while JSON bodies must send numbers (strict).
    return ma.fields.Integer(validate=ma.validate.Range(min=1), **kwargs)


class SurplusQuery(ma.Schema):
    tender_id = _query_id(load_default=None)
    hospital_id = _query_id(load_default=None, metadata={"description": "a hospital sees its own (and its shares)"})
    generic_name = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=200))


class AllocationOut(ma.Schema):
    hospital_id = ma.fields.Integer()
    hospital_name = ma.fields.String()
    share = money_out()
    amount = money_out()
    holds_remainder = ma.fields.Boolean(metadata={"description": "the general hospital takes the rounding fen"})


class SurplusResultOut(ma.Schema):
    id = ma.fields.Integer()
    tender_id = ma.fields.Integer()
    lot_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    hospital_name = ma.fields.String()
    agreed_volume_id = ma.fields.Integer()
    generic_name = ma.fields.String()
    unit = ma.fields.String()
    year_start = ma.fields.Date(metadata={"description": "the agreement year of the tender cycle (1.6.1)"})
    year_end = ma.fields.Date()
    measured_to = ma.fields.Date(metadata={"description": "last day counted; before year_end: provisional"})
    final = ma.fields.Boolean()
    status = ma.fields.String(metadata={"enum": [s.value for s in ResultStatus]})
    completion = money_out(allow_none=True)
    score = money_out(allow_none=True)
    tier = ma.fields.String(allow_none=True)
    ratio = money_out(allow_none=True)
    budget = money_out(allow_none=True, metadata={"description": "rule 3.1"})
    spend = money_out(allow_none=True, metadata={"description": "rule 3.2"})
    surplus_base = money_out(allow_none=True, metadata={"description": "max(0, budget − spend)"})
    retained = money_out(metadata={"description": "surplus base × ratio when completed and passed (3.3)"})
    breakdown = ma.fields.Dict(
        metadata={"description": "every term (name, label, value, formula, source), the indicators and notes"}
    )
    rule = ma.fields.Dict(metadata={"description": "the parameter set used (name, version, cites, values)"})
    allocations = ma.fields.List(ma.fields.Nested(AllocationOut), metadata={"description": "Sanming split (0.4)"})
    computed_at = ma.fields.AwareDateTime()


class BaselinePriceIn(ma.Schema):
    tender_id = _id(required=True)
    generic_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    unit = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=16),
                            metadata={"description": "the lot's comparable unit"})  # fmt: skip
    price = money(required=True, metadata={"description": "pre-tender weighted average price per unit (3.1)"})
    region_code = ma.fields.String(load_default="", validate=ma.validate.Regexp(r"^\d{0,6}$"),
                                   metadata={"description": "region-code prefix; empty for every region"})  # fmt: skip
    source = ma.fields.String(load_default="", validate=ma.validate.Length(max=300))


class InsuredShareIn(ma.Schema):
    tender_id = _id(required=True)
    hospital_id = _id(required=True)
    generic_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    share = money(required=True, metadata={"description": "insured patients' share of use, 0–1 (3.1)"})
    source = ma.fields.String(load_default="", validate=ma.validate.Length(max=300))


class MemberShareIn(ma.Schema):
    hospital_id = _id(required=True)
    share = money(required=True)


class MemberSharesIn(ma.Schema):
    general_hospital_id = _id(required=True, metadata={"description": "the medical community's 总医院"})
    members = ma.fields.List(ma.fields.Nested(MemberShareIn), required=True, validate=ma.validate.Length(min=1),
                             metadata={"description": "every unit's share; they sum to exactly 1 (0.4)"})  # fmt: skip


class SurplusInputsIn(ma.Schema):
    baseline_prices = ma.fields.List(ma.fields.Nested(BaselinePriceIn), load_default=list,
                                     validate=ma.validate.Length(max=5000))  # fmt: skip
    insured_shares = ma.fields.List(ma.fields.Nested(InsuredShareIn), load_default=list,
                                    validate=ma.validate.Length(max=5000))  # fmt: skip
    member_shares = ma.fields.List(ma.fields.Nested(MemberSharesIn), load_default=list,
                                   validate=ma.validate.Length(max=500))  # fmt: skip


class BaselinePriceOut(ma.Schema):
    id = ma.fields.Integer()
    tender_id = ma.fields.Integer()
    region_code = ma.fields.String()
    generic_name = ma.fields.String()
    unit = ma.fields.String()
    price = money_out()
    source = ma.fields.String()


class InsuredShareOut(ma.Schema):
    id = ma.fields.Integer()
    tender_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    generic_name = ma.fields.String()
    share = money_out()
    source = ma.fields.String()


class MemberShareOut(ma.Schema):
    general_hospital_id = ma.fields.Integer()
    member_id = ma.fields.Integer()
    share = money_out()


class SurplusInputsOut(ma.Schema):
    baseline_prices = ma.fields.List(ma.fields.Nested(BaselinePriceOut))
    insured_shares = ma.fields.List(ma.fields.Nested(InsuredShareOut))
    member_shares = ma.fields.List(ma.fields.Nested(MemberShareOut))
