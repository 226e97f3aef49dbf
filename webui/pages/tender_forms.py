"""Forms of the tender pages; they check shape, the tender services check the rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, DecimalField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from procurement.rules.types import DosageClass, LotCategory
from procurement.tenders.models import TenderKind

TENDER_KINDS = {
    TenderKind.NATIONAL_VBP: _l("National volume-based procurement"),
    TenderKind.ALLIANCE: _l("Alliance procurement"),
    TenderKind.HOSPITAL_LED: _l("Hospital-led alliance (药共体)"),
}
LOT_CATEGORIES = {
    LotCategory.CHEMICAL: _l("Chemical drug"),
    LotCategory.SPECIAL_ANTI_INFECTIVE: _l("Special anti-infective"),
    LotCategory.GLUCOCORTICOID: _l("Glucocorticoid"),
    LotCategory.CONSUMABLE: _l("Consumable"),
}
DOSAGE_CLASSES = {
    DosageClass.ORAL_SOLID: _l("Oral solid"),
    DosageClass.SMALL_INJECTION: _l("Small-volume injection"),
    DosageClass.LARGE_INJECTION: _l("Large-volume injection"),
    DosageClass.OTHER: _l("Other"),
}

# A datetime-local input sends seconds when its value has them (set by a script, or with step="1"); minutes first,
# as the field renders its value.
DATETIME_LOCAL = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class TenderForm(FlaskForm):
    title = StringField(_l("Title"), [DataRequired(), Length(min=2, max=200)])
    kind = SelectField(_l("Tender kind"), choices=lambda: [(k.value, label) for k, label in TENDER_KINDS.items()])
    rule_set = SelectField(_l("Rule set"), choices=[])
    region_prefix = StringField(
        _l("Area (region code prefix)"),
        [Optional(), Regexp(r"^(\d{2}|\d{4}|\d{6})$", message=_l("Enter 2, 4 or 6 digits."))],
        description=_l("e.g. 35 for all of Fujian, 3502 for Xiamen; empty for everywhere."),
    )
    demand_deadline = DateTimeLocalField(_l("Demand reports due (UTC)"), [Optional()], format=DATETIME_LOCAL)
    bid_deadline = DateTimeLocalField(_l("Bid deadline (UTC)"), [DataRequired()], format=DATETIME_LOCAL)
    description = StringField(_l("Description"), [Optional(), Length(max=5000)])


class LotForm(FlaskForm):
    generic_name = SelectField(_l("Generic name and dosage form"), choices=[])
    reference_strength = StringField(_l("Reference strength"), [DataRequired(), Length(max=100)])
    ceiling_ucp = DecimalField(
        _l("Ceiling per comparable unit (yuan)"), [DataRequired(), NumberRange(min=0)], places=None
    )
    category = SelectField(_l("Category"), choices=lambda: [(k.value, v) for k, v in LOT_CATEGORIES.items()])
    dosage_class = SelectField(_l("Dosage class"), choices=lambda: [(k.value, v) for k, v in DOSAGE_CLASSES.items()])


class PassphraseForm(FlaskForm):
    passphrase = PasswordField(_l("Opening passphrase"), [DataRequired(), Length(max=256)])


class StatusForm(FlaskForm):
    status = HiddenField()


class DemandForm(FlaskForm):
    lot_id = HiddenField()
    product_id = SelectField(_l("Brand"), choices=[])
    quantity = IntegerField(_l("Annual demand (comparable units)"), [DataRequired(), NumberRange(min=1)])
    historical_use = IntegerField(_l("Average annual use, last two years"), [Optional(), NumberRange(min=0)])
    exception_reason = StringField(_l("Reason if below 80 per cent of use"), [Optional(), Length(max=500)])


class BidForm(FlaskForm):
    lot_id = HiddenField()
    product_id = SelectField(_l("Product"), choices=[])
    price = DecimalField(_l("Price per pack (yuan)"), [DataRequired(), NumberRange(min=0)], places=None)
