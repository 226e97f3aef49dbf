"""The forms of the surplus pages: the results filter, a period to compute, and the bureau's three inputs.

They check shape only; the surplus services check the rules, and their messages are shown next to the fields.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from webui.pages.forms import optional_int
from webui.pages.money_forms import MoneyField


class SurplusFilter(FlaskForm):
    class Meta:
        csrf = False

    tender = SelectField(_l("Tender"), coerce=optional_int, validate_choice=False)
    hospital = SelectField(_l("Hospital"), coerce=optional_int, validate_choice=False)
    generic_name = StringField(_l("Generic name"), [Optional(), Length(max=200)])


class ComputeForm(FlaskForm):
    start = DateField(_l("From"), [DataRequired(message=_l("Enter the first day."))])
    end = DateField(_l("Until (not included)"), [DataRequired(message=_l("Enter the day after the last."))])


class BaselinePriceForm(FlaskForm):
    tender = SelectField(_l("Tender"), coerce=optional_int, validate_choice=False)
    generic_name = StringField(_l("Generic name"), [DataRequired(), Length(max=200)])
    unit = StringField(_l("Comparable unit"), [DataRequired(), Length(max=16)])
    region_code = StringField(
        _l("Region code (prefix)"),
        [Optional(), Regexp(r"^\d{0,6}$", message=_l("Up to 6 digits, e.g. 35 or 350200."))],
        description=_l("Empty for every region of the tender; the longest matching prefix applies."),
    )
    price = MoneyField(_l("Pre-tender weighted average price per unit (yuan)"),
                       [DataRequired(message=_l("Enter the price."))])  # fmt: skip
    source = StringField(_l("Source of the figure"), [Optional(), Length(max=300)])


class InsuredShareForm(FlaskForm):
    tender = SelectField(_l("Tender"), coerce=optional_int, validate_choice=False)
    hospital = SelectField(_l("Hospital"), coerce=optional_int, validate_choice=False)
    generic_name = StringField(_l("Generic name"), [DataRequired(), Length(max=200)])
    share = MoneyField(_l("Insured-patient share (0–1)"), [DataRequired(message=_l("Enter the share, e.g. 0.85."))])
    source = StringField(_l("Source of the figure"), [Optional(), Length(max=300)])


def parse_member_lines(text: str) -> tuple[list[tuple[int, Decimal]], list[str]]:
    """Read "hospital id: share" lines into pairs; return them and a message per unreadable line."""
    pairs, problems = [], []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        left, _, right = line.replace("：", ":").partition(":")
        try:
            pairs.append((int(left.strip()), Decimal(right.strip())))
        except (ValueError, InvalidOperation):
            problems.append(str(_l('Line %(num)s is not "hospital id: share".', num=number)))
    return pairs, problems


class MemberSharesForm(FlaskForm):
    general_hospital = SelectField(_l("General hospital (总医院)"), coerce=optional_int, validate_choice=False)
    members = TextAreaField(
        _l("Member units and shares"),
        [DataRequired(message=_l("Name at least one member unit."))],
        description=_l('One "hospital id: share" per line; the shares must add up to exactly 1.'),
    )
