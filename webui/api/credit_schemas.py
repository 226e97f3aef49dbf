"""Request and response schemas of the credit-rating API: cases, repairs, approvals, ratings (rulebook 6)."""

from __future__ import annotations

import marshmallow as ma

from procurement.audit.credit_rules import (
    CATEGORIES_2020,
    CATEGORIES_2025,
    CHARITABLE_DONATION,
    FLAGS,
    MEASURES,
    RULE_SETS,
)
from webui.api.tender_schemas import money

CATEGORIES = sorted(set(CATEGORIES_2020) | set(CATEGORIES_2025))
LEVELS = sorted({level for rules in RULE_SETS.values() for level in rules["levels"]})
SOURCES = sorted({source for rules in RULE_SETS.values() for source in rules["evidence_sources"]})


def _id(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1), **kwargs)


def _reference() -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(min=1, max=200))


class CreditCaseIn(ma.Schema):
    supplier_id = _id(required=True, metadata={"description": "the manufacturer or distributor rated"})
    controlling_org_id = _id(
        load_default=None,
        metadata={"description": "for a distributor: the manufacturer / MAH that controlled the conduct (穿透处置)"},
    )
    category = ma.fields.String(
        required=True, validate=ma.validate.OneOf(CATEGORIES), metadata={"description": "rule 6.2, by rule set"}
    )
    rule_set_version = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(sorted(RULE_SETS)),
        metadata={"description": "default: by decision date (2025 rules from 2025-07-01)"},
    )
    conduct_date = ma.fields.Date(required=True)
    decision_date = ma.fields.Date(required=True, metadata={"description": "judgment / penalty / report date"})
    evidence_source = ma.fields.String(
        required=True, validate=ma.validate.OneOf(SOURCES), metadata={"description": "6.1"}
    )
    decision_number = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=100), metadata={"description": "文书编号"}
    )
    single_amount = money(load_default=None, metadata={"description": "largest single amount, yuan"})
    cumulative_amount = money(load_default=None, metadata={"description": "amount of the whole case, yuan"})
    level = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(LEVELS),
        metadata={"description": "only for categories not rated by amount (rules 6.4/6.5 rate bribery and tax)"},
    )
    flags = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(FLAGS)),
        load_default=list,
        metadata={"description": "2025: rated at the top level directly (6.6)"},
    )
    product_ids = ma.fields.List(_id(), load_default=list, validate=ma.validate.Length(max=500))
    documents = ma.fields.List(_reference(), load_default=list, validate=ma.validate.Length(max=50))
    summary = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))
    province = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^\d{2}$"),
        metadata={"description": "rating province, two region-code digits; default: the recording bureau's"},
    )


class CreditCaseQuery(ma.Schema):
    supplier_id = _id(load_default=None)
    level = ma.fields.String(load_default=None, validate=ma.validate.OneOf(LEVELS))
    category = ma.fields.String(load_default=None, validate=ma.validate.OneOf(CATEGORIES))


class CreditMeasureIn(ma.Schema):
    measure = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf([*MEASURES, CHARITABLE_DONATION]),
        metadata={"description": "①–⑥ of rule 6.8 (charitable donations are refused under the 2025 rules)"},
    )
    evidence = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    documents = ma.fields.List(_reference(), load_default=list, validate=ma.validate.Length(max=20))


class CreditRepairIn(ma.Schema):
    measures = ma.fields.List(
        ma.fields.Nested(CreditMeasureIn), required=True, validate=ma.validate.Length(min=1, max=12)
    )
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=1000))


class CreditApprovalIn(ma.Schema):
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class CreditMeasureOut(ma.Schema):
    measure = ma.fields.String()
    evidence = ma.fields.String()
    documents = ma.fields.List(ma.fields.String())


class CreditRepairOut(ma.Schema):
    id = ma.fields.Integer()
    case_id = ma.fields.Integer()
    measures = ma.fields.List(ma.fields.Nested(CreditMeasureOut))
    note = ma.fields.String()
    submitted_at = ma.fields.AwareDateTime()


class CreditSanctionOut(ma.Schema):
    id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    product_id = ma.fields.Integer(allow_none=True, metadata={"description": "null: all the firm's products"})
    scope = ma.fields.String(metadata={"enum": ["case_products", "all_products_in_province"]})
    province = ma.fields.String(allow_none=True)
    starts_on = ma.fields.Date()
    ends_on = ma.fields.Date(allow_none=True)


class CreditCaseOut(ma.Schema):
    id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    controlling_org_id = ma.fields.Integer(allow_none=True)
    category = ma.fields.String()
    rule_set_version = ma.fields.String()
    conduct_date = ma.fields.Date()
    decision_date = ma.fields.Date()
    evidence_source = ma.fields.String()
    decision_number = ma.fields.String()
    summary = ma.fields.String()
    single_amount = money(allow_none=True)
    cumulative_amount = money(allow_none=True)
    flags = ma.fields.List(ma.fields.String())
    documents = ma.fields.List(ma.fields.String())
    product_ids = ma.fields.List(ma.fields.Integer())
    level = ma.fields.String()
    grade = ma.fields.Integer(metadata={"description": "1 (mildest) … 4 (gravest), comparable across rule sets"})
    basis = ma.fields.Dict(metadata={"description": "the threshold, flag or auditor's choice that set the level"})
    consequence = ma.fields.String()
    public = ma.fields.Boolean(metadata={"description": "on the public list of serious ratings"})
    province = ma.fields.String()
    counts = ma.fields.Boolean()
    excluded_reason = ma.fields.String(allow_none=True)
    window_ends_on = ma.fields.Date(metadata={"description": "first day the case no longer counts (6.4)"})
    status = ma.fields.String(metadata={"enum": ["rated", "repaired", "expired", "excluded"]})
    active = ma.fields.Boolean()
    repaired_on = ma.fields.Date(allow_none=True)
    required_measures = ma.fields.List(ma.fields.String())
    done_measures = ma.fields.List(ma.fields.String())
    missing_measures = ma.fields.List(ma.fields.String())
    margin_removed_by_awards = ma.fields.List(
        ma.fields.Integer(), metadata={"description": "VBP awards that count as measure ⑤ (6.8)"}
    )
    repairs = ma.fields.List(ma.fields.Nested(CreditRepairOut))
    sanctions = ma.fields.List(ma.fields.Nested(CreditSanctionOut))
    created_at = ma.fields.AwareDateTime()


class CreditRatingQuery(ma.Schema):
    supplier_id = _id(load_default=None)
    as_of = ma.fields.Date(load_default=None, metadata={"description": "default: today"})


class CreditRatingOut(ma.Schema):
    supplier_id = ma.fields.Integer()
    supplier_name = ma.fields.String()
    supplier_kind = ma.fields.String()
    level = ma.fields.String()
    rule_set_version = ma.fields.String()
    grade = ma.fields.Integer()
    public = ma.fields.Boolean()
    case_id = ma.fields.Integer(metadata={"description": "the case that sets the level"})
    case_ids = ma.fields.List(ma.fields.Integer(), metadata={"description": "every case rating the supplier"})
    penetrated = ma.fields.Boolean(metadata={"description": "rated as the controlling manufacturer of another firm"})
    since = ma.fields.Date()
    until = ma.fields.Date()
    province = ma.fields.String()
