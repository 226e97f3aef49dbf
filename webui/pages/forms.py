"""The page forms (Flask-WTF, so every POST carries a CSRF token); they check shape, the services check rules."""

from __future__ import annotations

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    ValidationError,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from core.roles import HospitalGrade, OrgKind, Role
from webui.pages.labels import HOSPITAL_GRADES, ORG_KINDS, ROLES

USERNAME_PATTERN = r"^[A-Za-z0-9._-]{3,64}$"  # the same shape the API's UserIn accepts


def optional_int(value: object) -> int | None:
    """Coerce a select's value to an id, the empty choice to None."""
    if value in (None, "", "None"):
        return None
    return int(value)  # type: ignore[arg-type]


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _email(_form: FlaskForm, field: StringField) -> None:
    # The API validates addresses with marshmallow; using its validator keeps one definition of "valid".
    if field.data:
        try:
            ma.validate.Email()(field.data)
        except ma.ValidationError as exc:
            raise ValidationError(_l("Enter a valid email address.")) from exc


class OrganisationForm(FlaskForm):
    name = StringField(_l("Name"), [DataRequired(), Length(min=2, max=200)], filters=[_strip])
    name_en = StringField(_l("English name"), [Optional(), Length(max=200)], filters=[_strip])
    kind = SelectField(_l("Kind"), choices=lambda: [(k.value, ORG_KINDS[k]) for k in OrgKind])
    uscc = StringField(
        _l("Unified social credit code"),
        [DataRequired(), Length(max=40)],
        filters=[_strip],
        description=_l("18 characters, as printed on the business licence or registration certificate."),
    )
    region_code = StringField(
        _l("Administrative division code"),
        [DataRequired(), Regexp(r"^\d{6}$", message=_l("Enter the six-digit administrative code."))],
        filters=[_strip],
        description=_l("Six digits, e.g. 350200 for Xiamen."),
    )
    region_name = StringField(_l("Region"), [DataRequired(), Length(max=100)], filters=[_strip])
    hospital_grade = SelectField(
        _l("Hospital grade"),
        choices=lambda: [("", _l("Not a hospital")), *((g.value, HOSPITAL_GRADES[g]) for g in HospitalGrade)],
    )
    parent = SelectField(
        _l("Parent organisation"),
        coerce=optional_int,
        description=_l("The lead unit of a medical community or alliance, if this organisation belongs to one."),
    )


class UserForm(FlaskForm):
    username = StringField(
        _l("Username"),
        [
            DataRequired(),
            Regexp(USERNAME_PATTERN, message=_l("Use 3 to 64 letters, digits, dots, hyphens or underscores.")),
        ],
        filters=[_strip],
    )
    display_name = StringField(_l("Full name"), [DataRequired(), Length(max=100)], filters=[_strip])
    email = StringField(_l("Email"), [Optional(), Length(max=200), _email], filters=[_strip])
    organisation = SelectField(_l("Organisation"), coerce=optional_int, validators=[DataRequired()])
    roles = SelectMultipleField(
        _l("Roles"),
        choices=lambda: [(r.value, ROLES[r]) for r in Role],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    password = PasswordField(
        _l("Initial password"),
        [DataRequired(), Length(max=256)],
        description=_l("At least 10 characters; hand it over in person and ask the user to keep it private."),
    )


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name"),
        [DataRequired(), Length(max=100)],
        filters=[_strip],
        description=_l("What the token is for, e.g. “HIS interface”."),
    )
    expires_in_days = IntegerField(_l("Valid for (days)"), [Optional(), NumberRange(min=1)])
    password = PasswordField(
        _l("Your password"),
        [DataRequired(), Length(max=256)],
        description=_l("Confirm your identity to create a token."),
    )


class ConfirmForm(FlaskForm):
    """A button-only form: its CSRF token is the whole point."""


class AuditFilterForm(FlaskForm):
    """Filters in the query string: reading changes nothing, and a token in a URL would leak into logs."""

    class Meta:
        csrf = False

    action = StringField(_l("Action"), [Optional(), Length(max=64)], filters=[_strip])
    object_type = StringField(_l("Object type"), [Optional(), Length(max=64)], filters=[_strip])
    organisation = SelectField(_l("Organisation"), coerce=optional_int, validate_choice=False)
