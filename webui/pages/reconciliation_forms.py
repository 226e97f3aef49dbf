"""The forms of the reconciliation pages: the violations filter and the registers auditors keep.

They check shape only; the registry services check the rules (one nationwide equivalent, one group per distributor,
no overlapping remote-area listing) and their messages are shown next to the same fields.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from webui.pages.forms import optional_int

CODE_LABELS = {
    "RECON-CHAIN-TOO-LONG": _l("More invoices than allowed"),
    "RECON-FIRST-SELLER-NOT-MANUFACTURER": _l("First invoice not from the manufacturer"),
    "RECON-PARTY-MISMATCH": _l("Seller or buyer does not link the chain"),
    "RECON-BATCH-MISMATCH": _l("Batch mismatch"),
    "RECON-QTY-MISMATCH": _l("Quantity mismatch"),
    "RECON-PRICE-MISMATCH": _l("Price differs from the order"),
    "RECON-PRICE-ABOVE-AWARD": _l("Price above the award"),
    "RECON-GOODS-WITHOUT-INVOICE": _l("Goods without invoice"),
    "RECON-INVOICE-WITHOUT-GOODS": _l("Invoice without goods"),
    "RECON-PAYMENT-WITHOUT-INVOICE": _l("Payment without invoice"),
}
EQUIVALENT_KINDS = {
    "sales_company": _l("Sales company of a manufacturer or group"),
    "import_agent": _l("General agent of an imported drug"),
}


class ViolationFilter(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    code = SelectField(_l("Finding"), choices=[("", _l("All findings"))], validators=[Optional()])
    hospital = SelectField(_l("Hospital"), coerce=optional_int, validators=[Optional()])
    supplier = SelectField(_l("Supplier"), coerce=optional_int, validators=[Optional()])
    shipment = IntegerField(_l("Shipment"), validators=[Optional(), NumberRange(min=1)])
    state = SelectField(
        _l("State"),
        choices=[("open", _l("Still found")), ("resolved", _l("No longer found")), ("all", _l("All"))],
        default="open",
        validators=[Optional()],
    )


class EquivalentForm(FlaskForm):
    org_id = SelectField(_l("Company treated as the manufacturer"), coerce=optional_int, validators=[DataRequired()])
    principal_org_id = SelectField(_l("Manufacturer it acts for"), coerce=optional_int, validators=[DataRequired()])
    kind = SelectField(_l("Kind"), choices=list(EQUIVALENT_KINDS.items()), validators=[DataRequired()])
    valid_from = DateField(_l("Valid from"), validators=[DataRequired()])
    valid_to = DateField(_l("Valid until (exclusive)"), validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])


class RemoteAreaForm(FlaskForm):
    region_prefix = StringField(
        _l("Region code"), validators=[DataRequired(), Regexp(r"^\d{2}(\d{2}){0,2}$", message=_l("2, 4 or 6 digits"))]
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    listed_by = StringField(_l("Listed by (authority and document)"), validators=[DataRequired(), Length(max=200)])
    valid_from = DateField(_l("Valid from"), validators=[DataRequired()])
    valid_to = DateField(_l("Valid until (exclusive)"), validators=[Optional()])


class GroupForm(FlaskForm):
    name = StringField(_l("Group name"), validators=[DataRequired(), Length(max=200)])
    member_org_ids = SelectMultipleField(_l("Member distributors"), coerce=int, validators=[DataRequired()])
