"""The forms of the money and agreement pages: invoices, payments, prepayments, off-platform purchases, filters.

They check shape only (a number is a number, a date a date); the services check the rules and their messages are
shown next to the same fields.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, FieldList, Form, FormField, HiddenField, SelectField, StringField
from wtforms.fields import MonthField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import TextInput

from procurement.orders.rules import ORDER_RULES
from webui.pages.forms import optional_int
from webui.pages.money_labels import PAYABLE_STATUS, PRODUCT_KINDS
from webui.pages.order_forms import PacksField

DEFAULT_VAT = "0.13"  # the rate of medicines and medical devices in China


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def vat_choices() -> list[tuple[str, str]]:
    """Return the VAT rates an invoice line may carry, as (value, "13%") choices."""
    return [(str(rate), f"{(rate * 100).normalize():f}%") for rate in ORDER_RULES["vat_rates"]]


class MoneyField(DecimalField):
    """An amount typed in yuan; anything that is not a plain decimal number is refused with the page's own words."""

    # A text box, not a number input: a number input's spinner and mouse wheel would change an amount unseen.
    widget = TextInput()

    def __init__(self, *args, message: object = None, **kwargs) -> None:
        super().__init__(*args, places=None, **kwargs)
        self.message = message or _l("Enter an amount in yuan, e.g. 61.95.")

    def process_formdata(self, valuelist: list) -> None:
        """Read the typed number, refusing words, exponents and anything but digits and one point."""
        self.data = None
        if valuelist and valuelist[0].strip():
            text = valuelist[0].strip()
            try:
                value = Decimal(text)
            except InvalidOperation as exc:
                raise ValueError(self.message) from exc
            if not value.is_finite() or "e" in text.lower():
                raise ValueError(self.message)
            self.data = value


class InvoiceLineForm(Form):
    product_id = HiddenField()
    batch = HiddenField()
    quantity = PacksField(_l("Number of packs"), [Optional()])
    unit_price = MoneyField(
        _l("Unit price excl. tax"), [Optional()], message=_l("Enter a price in yuan, e.g. 12.3894.")
    )
    tax_rate = SelectField(_l("Tax rate"), choices=vat_choices, default=DEFAULT_VAT)
    amount = MoneyField(_l("Amount excl. tax"), [Optional()])
    tax = MoneyField(_l("Tax"), [Optional()])

    def is_blank(self) -> bool:
        """Return whether nothing was typed on this line: it is not on the invoice."""
        return all(f.data in (None, "") for f in (self.quantity, self.unit_price, self.amount, self.tax))


class InvoiceForm(FlaskForm):
    number = StringField(_l("Invoice number (发票号码)"), [DataRequired(), Length(max=32)], filters=[_strip])
    issued_on = DateField(_l("Date of issue"), [DataRequired(message=_l("Enter the date on the invoice."))])
    seller_org_id = SelectField(_l("Seller"), coerce=optional_int)
    buyer_org_id = SelectField(_l("Buyer"), coerce=optional_int)
    lines = FieldList(FormField(InvoiceLineForm))
    amount = MoneyField(_l("Total amount excl. tax (金额)"), [Optional()])
    tax = MoneyField(_l("Total tax (税额)"), [Optional()])
    total = MoneyField(_l("Total incl. tax (价税合计)"), [Optional()])


class PayForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=64)])
    amount = MoneyField(_l("Amount paid (yuan)"), [DataRequired(message=_l("Enter the amount paid."))])
    paid_on = DateField(_l("Paid on"), [DataRequired(message=_l("Enter the day of the payment."))])
    reference = StringField(_l("Bank reference"), [Optional(), Length(max=64)], filters=[_strip])


class PrepaymentForm(FlaskForm):
    hospital_id = SelectField(_l("Hospital"), coerce=optional_int, validators=[DataRequired()])
    tender_id = SelectField(_l("Tender"), coerce=optional_int, validators=[DataRequired()])
    amount = MoneyField(_l("Amount prepaid (yuan)"), [DataRequired(message=_l("Enter the amount prepaid."))])
    received_on = DateField(_l("Received on"), [DataRequired(message=_l("Enter the day the hospital received it."))])


class PayablesFilter(FlaskForm):
    """Filters in the query string: reading changes nothing, so no CSRF token."""

    class Meta:
        csrf = False

    hospital = SelectField(_l("Hospital"), coerce=optional_int, validate_choice=False)
    status = SelectField(
        _l("Status"), choices=lambda: [("", _l("All statuses")), *PAYABLE_STATUS.items()], validate_choice=False
    )
    start = DateField(_l("On-time rate from"), [Optional()])
    end = DateField(_l("to"), [Optional()])


class ProgressFilter(FlaskForm):
    class Meta:
        csrf = False

    tender = SelectField(_l("Tender"), coerce=optional_int, validate_choice=False)
    hospital = SelectField(_l("Hospital"), coerce=optional_int, validate_choice=False)
    on = DateField(_l("Measured on"), [Optional()])


class ShareFilter(FlaskForm):
    class Meta:
        csrf = False

    hospital = SelectField(_l("Hospital"), coerce=optional_int, validate_choice=False)
    start = DateField(_l("From"), [Optional()])
    end = DateField(_l("To"), [Optional()])


class OfflinePurchaseForm(FlaskForm):
    month = MonthField(_l("Month of the purchase"), [DataRequired(message=_l("Choose the month, e.g. 2026-03."))])
    product_kind = SelectField(_l("Kind"), choices=lambda: list(PRODUCT_KINDS.items()))
    description = StringField(_l("What was bought"), [DataRequired(), Length(max=300)], filters=[_strip])
    amount = MoneyField(_l("Amount incl. tax (yuan)"), [DataRequired(message=_l("Enter the amount."))])
    reason = StringField(_l("Why it was bought off the platform"), [DataRequired(), Length(max=500)], filters=[_strip])
