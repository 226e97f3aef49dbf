"""Forms of the supply pages; they check shape, the supply services check the rules (rulebook 1.8.2, 8.3, 8.5)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, Form, MonthField, RadioField, SelectField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from webui.pages.order_forms import PacksField

# Far above any month's output of one product, and well inside the reports' 64-bit columns.
MAX_REPORTED_PACKS = 10_000_000_000
STOP_KINDS = {
    "planned": _l("Planned discontinuation"),
    "unplanned": _l("Unplanned stop"),
}


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _packs_in_range(_form: Form, field: PacksField) -> None:
    if field.data is not None and not 0 <= field.data <= MAX_REPORTED_PACKS:
        raise ValidationError(_l("Enter 0 or more packs, at most %(num)s.", num=MAX_REPORTED_PACKS))


def _figure(label: object) -> PacksField:
    # InputRequired, not DataRequired: 0 packs is a figure a report must be able to give.
    required = InputRequired(message=_l("Enter a number of packs; 0 if there were none."))
    return PacksField(label, [required, _packs_in_range])


class ReportForm(FlaskForm):
    """One product's figures for one month; the product and month come from the address it posts to."""

    produced = _figure(_l("Produced"))
    inventory = _figure(_l("Inventory"))
    reserve = _figure(_l("Reserve"))


class StopForm(FlaskForm):
    product_id = SelectField(_l("Product"), coerce=int, validate_choice=True)
    planned = RadioField(_l("Kind of stop"), choices=lambda: list(STOP_KINDS.items()), validators=[InputRequired()])
    stops_on = DateField(_l("Production stops on"), [InputRequired()])
    resumes_on = DateField(
        _l("Expected to resume on"), [Optional()], description=_l("Leave empty if the restart date is unknown.")
    )
    reason = TextAreaField(_l("Reason"), [DataRequired(), Length(max=500)], filters=[_strip])


class ResolveForm(FlaskForm):
    resolution = TextAreaField(
        _l("Your answer"),
        [DataRequired(), Length(max=1000)],
        filters=[_strip],
        description=_l("What you did about it; the hospital reads this and the problem is closed."),
    )


class RiskCheckForm(FlaskForm):
    month = MonthField(_l("Month to check"), [InputRequired()])
