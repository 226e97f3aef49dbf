"""The forms of the alerts workbench and audit runs; they check shape only, the services check the rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from core.alert_review import NOTE_MAX
from webui.pages.forms import optional_int

REVIEW_ACTIONS = {
    "assign": _l("Assign"),
    "confirm": _l("Confirm the finding"),
    "dismiss": _l("Dismiss"),
    "reopen": _l("Reopen"),
    "comment": _l("Add a note"),
}
STATUSES = {
    "open": _l("Open"),
    "assigned": _l("Assigned"),
    "confirmed": _l("Confirmed"),
    "dismissed": _l("Dismissed"),
}
SEVERITIES = {"low": _l("Low"), "medium": _l("Medium"), "high": _l("High"), "critical": _l("Critical")}
SOURCES = {
    "trace": _l("Traceability"),
    "orders": _l("Orders and payments"),
    "agreements": _l("Agreed volumes"),
    "supply": _l("Supply"),
    "reconciliation": _l("Two-invoice reconciliation"),
    "monitoring": _l("Prescribing monitoring"),
    "circulation": _l("Supply and circulation"),
    "surplus": _l("Surplus retention"),
    "credit": _l("Credit rating"),
    "tenders": _l("Tenders"),
}
PARTS = {
    "payments": _l("Overdue payments"),
    "progress": _l("Agreed-volume progress"),
    "supply": _l("Supply reports and stock-outs"),
    "reconciliation": _l("Two-invoice reconciliation"),
    "monitoring": _l("Prescribing monitoring"),
    "circulation": _l("Supply and circulation anomalies"),
    "surplus": _l("Surplus retention"),
    "credit": _l("Credit rating"),
}


class AlertFilterForm(FlaskForm):
    """Filters in the query string (no CSRF: reading changes nothing)."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), choices=[("", _l("Any status")), *STATUSES.items()], validators=[Optional()])
    severity = SelectField(
        _l("Severity"), choices=[("", _l("Any severity")), *SEVERITIES.items()], validators=[Optional()]
    )
    source = SelectField(_l("Source"), choices=[("", _l("Any source")), *SOURCES.items()], validators=[Optional()])
    subject = SelectField(_l("About"), coerce=optional_int, validators=[Optional()], validate_choice=False)


class ReviewForm(FlaskForm):
    action = SelectField(_l("Action"), choices=list(REVIEW_ACTIONS.items()), validators=[DataRequired()])
    assignee = SelectField(_l("Assign to"), coerce=optional_int, validators=[Optional()], validate_choice=False)
    note = TextAreaField(
        _l("Note"),
        validators=[Length(max=NOTE_MAX)],
        description=_l("Required to confirm, dismiss or reopen: say what you checked and what you found."),
    )
    share = BooleanField(
        _l("Show this note to the organisation the alert is about"),
        description=_l("Otherwise the note stays internal: they see only that the status changed."),
    )


class AnswerForm(FlaskForm):
    note = TextAreaField(
        _l("Your answer"),
        validators=[DataRequired(message=_l("Write your answer.")), Length(max=NOTE_MAX)],
        description=_l("The auditors see your answer in the alert's history."),
    )


class RunForm(FlaskForm):
    start = DateField(_l("From"), validators=[DataRequired(message=_l("Enter the first day of the period."))])
    end = DateField(
        _l("Until (not included)"),
        validators=[DataRequired(message=_l("Enter the day after the period."))],
        description=_l("The first day after the period: 1 September for the whole of August."),
    )
    parts = SelectMultipleField(_l("Computations"), choices=list(PARTS.items()), validators=[Optional()])
