"""Forms and labels of the credit-rating pages (rulebook 6): record a case, report a repair, approve it.

The forms check shape only; ``procurement.audit.credit`` checks the rules and its messages are shown next to the
same fields.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from procurement.audit.credit_rules import CHARITABLE_DONATION, MEASURES, RULE_SETS
from webui.pages.forms import optional_int
from webui.pages.money_forms import MoneyField

CATEGORY_LABELS = {
    "bribery": _l("Commercial bribery (商业贿赂)"),
    "tax": _l("Tax violations (涉税违法)"),
    "monopoly": _l("Monopoly conduct (垄断行为)"),
    "unfair_price": _l("Unfair price conduct (不正当价格行为)"),
    "disrupting_procurement": _l("Disrupting centralised procurement (扰乱集中采购秩序)"),
    "breach_of_contract": _l("Malicious breach of contract (恶意违约)"),
    "other": _l("Other (其他)"),
    "price_monopoly": _l("Price monopoly (价格垄断)"),
    "price_violation": _l("Price violations (价格违法)"),
    "resisting_supervision": _l("Resisting supervision (抗拒监管)"),
    "bid_violation": _l("Bid violations (违规竞标)"),
    "breaking_commitment": _l("Breaking commitments (违反承诺)"),
}
LEVEL_LABELS = {
    ("2020", "general"): _l("General (一般)"),
    ("2020", "medium"): _l("Medium (中等)"),
    ("2020", "serious"): _l("Serious (严重)"),
    ("2020", "most_serious"): _l("Most serious (特别严重)"),
    ("2025", "dishonest"): _l("Dishonest (失信)"),
    ("2025", "serious"): _l("Seriously dishonest (严重失信)"),
    ("2025", "most_serious"): _l("Most seriously dishonest (特别严重失信)"),
}
SOURCE_LABELS = {
    "court_judgment": _l("Court judgment (法院判决)"),
    "administrative_penalty": _l("Administrative penalty (行政处罚)"),
    "audit_report": _l("Audit report (审计报告, 2025)"),
    "audit_referral": _l("Audit referral (审计移送, 2025)"),
}
MEASURE_LABELS = {
    "stop_conduct": _l("① Stop the conduct"),
    "discipline_staff": _l("② Discipline the staff involved"),
    "public_apology": _l("③ Publish an apology"),
    "compliance_report": _l("④ Compliance rectification report"),
    "remove_inflated_margin": _l("⑤ Remove the inflated price margin"),
    "return_gains": _l("⑥ Return unreasonable gains"),
    CHARITABLE_DONATION: _l("Charitable donation (2020 only)"),
}
FLAG_LABELS = {
    "bribed_insurance_staff": _l("Bribed healthcare-security staff"),
    "bribed_procurement_staff": _l("Bribed procurement-agency staff"),
    "vbp_bid_rigging": _l("Bid-rigging in national VBP (围标串标)"),
}
# One choice per level code: "serious" and "most_serious" exist in both rule sets.
LEVEL_CHOICES = {
    "general": _l("一般 (2020)"),
    "medium": _l("中等 (2020)"),
    "dishonest": _l("失信 (2025)"),
    "serious": _l("严重 / 严重失信"),
    "most_serious": _l("特别严重 / 特别严重失信"),
}
STATUS_LABELS = {
    "rated": _l("Rated"),
    "repaired": _l("Repaired"),
    "expired": _l("Out of the window"),
    "excluded": _l("Not rated (before 2020-08-28)"),
}
SCOPE_LABELS = {
    "case_products": _l("Case products, every province"),
    "all_products_in_province": _l("All products in province %(province)s"),
}


def level_label(case_or_rating) -> str:
    """Return the label of a case's or rating's level in its rule set."""
    version, level = case_or_rating["rule_set_version"], case_or_rating["level"]
    return str(LEVEL_LABELS.get((version, level), level))


def _choices(labels: dict) -> list[tuple[str, object]]:
    return list(labels.items())


class CaseForm(FlaskForm):
    supplier_id = SelectField(_l("Supplier"), coerce=optional_int, validators=[DataRequired()])
    controlling_org_id = SelectField(
        _l("Controlling manufacturer / MAH"),
        coerce=optional_int,
        description=_l("For a distributor: the manufacturer that controlled the conduct; the disposal reaches it."),
    )
    category = SelectField(_l("Category"), choices=lambda: _choices(CATEGORY_LABELS))
    rule_set_version = SelectField(
        _l("Rule set"),
        choices=lambda: [("", _l("By decision date (2025 rules from 2025-07-01)")), *((v, v) for v in RULE_SETS)],
    )
    conduct_date = DateField(_l("Conduct date"), [DataRequired(message=_l("Enter the date of the conduct."))])
    decision_date = DateField(_l("Decision date"), [DataRequired(message=_l("Enter the date of the decision."))])
    evidence_source = SelectField(_l("Evidence source"), choices=lambda: _choices(SOURCE_LABELS))
    decision_number = StringField(_l("Document number (文书编号)"), [DataRequired(), Length(max=100)])
    single_amount = MoneyField(_l("Largest single amount (yuan)"), [Optional()])
    cumulative_amount = MoneyField(_l("Cumulative amount (yuan)"), [Optional()])
    level = SelectField(
        _l("Level"),
        choices=lambda: [("", _l("Computed from the amounts")), *LEVEL_CHOICES.items()],
        description=_l("Only for categories not rated by amount."),
    )
    flags = SelectMultipleField(
        _l("Rated at the top level directly (2025)"),
        choices=lambda: _choices(FLAG_LABELS),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,
    )
    product_ids = StringField(
        _l("Case product ids"), [Optional(), Regexp(r"^[\d,\s]*$", message=_l("Product ids separated by commas."))]
    )
    documents = StringField(_l("Evidence documents"), [Optional(), Length(max=2000)])
    summary = TextAreaField(_l("Summary"), [Optional(), Length(max=5000)])


class RepairForm(FlaskForm):
    measure = SelectField(
        _l("Measure"), choices=lambda: [(m, MEASURE_LABELS[m]) for m in (*MEASURES, CHARITABLE_DONATION)]
    )
    evidence = TextAreaField(_l("Evidence"), [DataRequired(message=_l("Describe the evidence.")), Length(max=2000)])
    documents = StringField(_l("Documents"), [Optional(), Length(max=2000)])


class ApprovalForm(FlaskForm):
    note = StringField(_l("Note"), [Optional(), Length(max=500)])


def split_ids(text: str | None) -> tuple[int, ...]:
    """Split a field of ids separated by commas or spaces (the form's pattern allows only those)."""
    return tuple(int(part) for part in re.split(r"[,\s]+", text or "") if part)


def split_list(text: str | None) -> tuple[str, ...]:
    """Split a comma- or newline-separated field into its non-empty items."""
    return tuple(part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip())
