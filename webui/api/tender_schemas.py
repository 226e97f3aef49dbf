"""Request and response schemas of the tender API (shared with the tender pages)."""

from __future__ import annotations

import marshmallow as ma

from procurement.rules.types import DosageClass, LotCategory, Outcome
from procurement.tenders.models import TenderKind, TenderStatus


def money(**kwargs) -> ma.fields.Decimal:
    """A Decimal field serialised as a string (JSON numbers would lose exactness)."""
    return ma.fields.Decimal(as_string=True, allow_nan=False, **kwargs)


class TenderIn(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=200))
    kind = ma.fields.Enum(TenderKind, by_value=True, required=True)
    rule_set = ma.fields.String(required=True, metadata={"description": "name of a rule set, e.g. vbp.batch10"})
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))
    overrides = ma.fields.Dict(keys=ma.fields.String(), load_default=dict)
    region_prefix = ma.fields.String(load_default="", validate=ma.validate.Regexp(r"^(\d{2}|\d{4}|\d{6})?$"))
    supply_region_digits = ma.fields.Integer(strict=True, load_default=4, validate=ma.validate.OneOf([2, 4, 6]))
    demand_deadline = ma.fields.AwareDateTime(load_default=None)
    bid_deadline = ma.fields.AwareDateTime(load_default=None)


class TenderPatch(ma.Schema):
    title = ma.fields.String(validate=ma.validate.Length(min=2, max=200))
    description = ma.fields.String(validate=ma.validate.Length(max=5000))
    overrides = ma.fields.Dict(keys=ma.fields.String())
    region_prefix = ma.fields.String(validate=ma.validate.Regexp(r"^(\d{2}|\d{4}|\d{6})?$"))
    supply_region_digits = ma.fields.Integer(strict=True, validate=ma.validate.OneOf([2, 4, 6]))
    demand_deadline = ma.fields.AwareDateTime(allow_none=True)
    bid_deadline = ma.fields.AwareDateTime(allow_none=True)
    status = ma.fields.Enum(
        TenderStatus,
        by_value=True,
        metadata={"description": "move to demand_collection, bidding (needs opening_passphrase), in_force or closed"},
    )
    opening_passphrase = ma.fields.String(load_only=True, validate=ma.validate.Length(max=256))


class LotProductIn(ma.Schema):
    product_id = ma.fields.Integer(strict=True, required=True)
    spec_factor = money(load_default=None, metadata={"description": "差比价 factor vs the reference strength"})
    group = ma.fields.String(load_default=None, validate=ma.validate.OneOf(["A", "B"]))


class LotIn(ma.Schema):
    generic_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    dosage_form = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=50))
    reference_strength = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    ceiling_ucp = money(required=True, metadata={"description": "maximum valid bid price per comparable unit"})
    category = ma.fields.Enum(LotCategory, by_value=True, load_default=LotCategory.CHEMICAL)
    dosage_class = ma.fields.Enum(DosageClass, by_value=True, load_default=DosageClass.ORAL_SOLID)
    products = ma.fields.List(ma.fields.Nested(LotProductIn), load_default=list)


class LotProductOut(ma.Schema):
    product_id = ma.fields.Integer()
    spec_factor = money()
    group = ma.fields.String(allow_none=True)
    payment_standard = money(allow_none=True)
    payment_rule = ma.fields.String(allow_none=True)


class LotOut(ma.Schema):
    id = ma.fields.Integer()
    tender_id = ma.fields.Integer()
    number = ma.fields.Integer()
    generic_name = ma.fields.String()
    dosage_form = ma.fields.String()
    reference_strength = ma.fields.String()
    unit = ma.fields.String()
    ceiling_ucp = money()
    category = ma.fields.String()
    dosage_class = ma.fields.String()
    products = ma.fields.List(ma.fields.Nested(LotProductOut))
    bid_count = ma.fields.Integer(metadata={"description": "sealed bids received (counts only before opening)"})
    demand_total = ma.fields.Integer(metadata={"description": "reported demand, comparable units"})
    demand_hospitals = ma.fields.Integer()


class TenderOut(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String()
    kind = ma.fields.String()
    status = ma.fields.String()
    organiser_org_id = ma.fields.Integer()
    rule_set_name = ma.fields.String()
    rule_set_version = ma.fields.String()
    overrides = ma.fields.Dict()
    frozen_rules = ma.fields.Dict(allow_none=True)
    region_prefix = ma.fields.String()
    supply_region_digits = ma.fields.Integer()
    demand_deadline = ma.fields.AwareDateTime(allow_none=True)
    bid_deadline = ma.fields.AwareDateTime(allow_none=True)
    key_id = ma.fields.String(allow_none=True)
    opened_at = ma.fields.AwareDateTime(allow_none=True)
    evaluated_at = ma.fields.AwareDateTime(allow_none=True)
    published_at = ma.fields.AwareDateTime(allow_none=True)
    cycle_start = ma.fields.Date(allow_none=True)
    cycle_end = ma.fields.Date(allow_none=True)


class TenderDetailOut(TenderOut):
    lots = ma.fields.List(ma.fields.Nested(LotOut))


class TenderQuery(ma.Schema):
    status = ma.fields.Enum(TenderStatus, by_value=True, load_default=None)


class DemandLineSchema(ma.Schema):
    lot_id = ma.fields.Integer(strict=True, required=True)
    quantity = ma.fields.Integer(strict=True, required=True, validate=ma.validate.Range(min=1))
    product_id = ma.fields.Integer(strict=True, load_default=None)
    historical_use = ma.fields.Integer(strict=True, load_default=None, validate=ma.validate.Range(min=0))
    exception_reason = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class DemandIn(ma.Schema):
    lines = ma.fields.List(ma.fields.Nested(DemandLineSchema), required=True, validate=ma.validate.Length(min=1))


class DemandOut(ma.Schema):
    id = ma.fields.Integer()
    tender_id = ma.fields.Integer()
    lot_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    product_id = ma.fields.Integer(allow_none=True)
    quantity = ma.fields.Integer()
    historical_use = ma.fields.Integer(allow_none=True)
    exception_reason = ma.fields.String(allow_none=True)
    flags = ma.fields.List(ma.fields.String())
    updated_at = ma.fields.AwareDateTime()


class BidIn(ma.Schema):
    product_id = ma.fields.Integer(strict=True, required=True)
    price = money(required=True, metadata={"description": "price per pack in yuan, at most four decimals"})


class BidOut(ma.Schema):
    id = ma.fields.Integer()
    tender_id = ma.fields.Integer()
    lot_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    status = ma.fields.String()
    commitment = ma.fields.String()
    submitted_at = ma.fields.AwareDateTime()
    receipt = ma.fields.Dict(metadata={"description": "signed by the platform key (GET /ledger/public-key)"})
    price = money(allow_none=True, metadata={"description": "null until the tender is opened"})
    ucp = money(allow_none=True)
    opened_payload = ma.fields.Dict(allow_none=True)
    revival_accepted_at = ma.fields.AwareDateTime(allow_none=True)


class OpenIn(ma.Schema):
    passphrase = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=256))


class OutcomeOut(ma.Schema):
    bid_id = ma.fields.Integer()
    lot_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    price = money(allow_none=True)
    ucp = money(allow_none=True)
    outcome = ma.fields.String(metadata={"enum": [o.value for o in Outcome]})
    rule = ma.fields.String()
    reason_code = ma.fields.String()
    reason_params = ma.fields.Dict()
    reason = ma.fields.String()
    rank = ma.fields.Integer(allow_none=True)
    award_price = money(allow_none=True, metadata={"description": "comparable-unit price it wins at"})
    offer_price = money(allow_none=True, metadata={"description": "comparable-unit price it may accept to win"})
    round = ma.fields.Integer()


class AwardIn(ma.Schema):
    cycle_start = ma.fields.Date(load_default=None)


class AwardOut(ma.Schema):
    id = ma.fields.Integer()
    lot_id = ma.fields.Integer()
    bid_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    rank = ma.fields.Integer()
    award_ucp = money()
    unit_price = money(metadata={"description": "price per pack"})
    ceiling_ucp = money()
    difference_per_unit = money(metadata={"description": "ceiling minus award price (rulebook 0.6)"})
    regions = ma.fields.List(ma.fields.String())
    backup_regions = ma.fields.List(ma.fields.String())
    revived = ma.fields.Boolean()
    cycle_start = ma.fields.Date()
    cycle_end = ma.fields.Date()


class AgreedVolumeOut(ma.Schema):
    lot_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    award_id = ma.fields.Integer()
    backup_award_id = ma.fields.Integer(allow_none=True)
    region = ma.fields.String()
    reported_base = ma.fields.Integer()
    agreed_volume = ma.fields.Integer()
    basis = ma.fields.String()


class AwardsOut(ma.Schema):
    tender_id = ma.fields.Integer()
    status = ma.fields.String()
    cycle_start = ma.fields.Date(allow_none=True)
    cycle_end = ma.fields.Date(allow_none=True)
    awards = ma.fields.List(ma.fields.Nested(AwardOut))
    agreed_volumes = ma.fields.List(ma.fields.Nested(AgreedVolumeOut))


class RuleSetOut(ma.Schema):
    name = ma.fields.String()
    version = ma.fields.String()
    cites = ma.fields.List(ma.fields.String())
    note = ma.fields.String()
    values = ma.fields.Dict()
