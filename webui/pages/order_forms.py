"""Forms of the order pages and the reading of scanner text; they check shape, the order services check the rules."""

from __future__ import annotations

import re
import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, Length, Optional

from webui.pages.order_labels import PROBLEM_KINDS

MAX_PACKS_PER_LINE = 1_000_000  # far above any hospital order; keeps the number inside the database's integer
MAX_CODE_CHARS = 200  # as the order API accepts
MAX_SCANS = 5_000  # codes in one scan box: well inside the 500 kB a form field may hold (MAX_FORM_MEMORY_SIZE)
_SEPARATOR = re.compile(r"[ \t]+")  # between a refused code and its reason; never GS, which is part of a code


def new_key() -> str:
    """Return a fresh idempotency key for one rendering of a form."""
    return uuid.uuid4().hex


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def scan_lines(text: str | None) -> list[str]:
    """Split a scan box into codes, one per line as a keyboard-wedge scanner types them."""
    # Browsers send CR LF; only the CR and surrounding spaces and tabs go. GS (0x1D) and other control characters
    # stay: GS separates a GS1 code's fields, and str.strip() would drop it at either end of a line.
    codes = []
    for line in (text or "").replace("\r", "").split("\n"):
        code = line.strip(" \t")
        if code:
            codes.append(code)
    return codes


def refusal_lines(text: str | None, default_reason: str) -> list[tuple[str, str]]:
    """Split the refusal box into (code, reason): a reason typed after the code, else the reason for all."""
    pairs = []
    for line in scan_lines(text):
        code, *rest = _SEPARATOR.split(line, maxsplit=1)
        pairs.append((code, (rest[0].strip() if rest else "") or default_reason.strip()))
    return pairs


def _scans_fit(_form: Form, field: TextAreaField) -> None:
    codes = scan_lines(field.data)
    if len(codes) > MAX_SCANS:
        raise ValidationError(_l("At most %(num)s codes at a time.", num=MAX_SCANS))
    for number, code in enumerate(codes, start=1):
        if len(code) > MAX_CODE_CHARS:
            raise ValidationError(_l("Line %(num)s is too long to be a trace code.", num=number))


class PacksField(IntegerField):
    """A whole number of packs; anything else is refused with the page's own words."""

    def process_formdata(self, valuelist: list) -> None:
        """Read the typed number, refusing decimals and words."""
        if valuelist and valuelist[0].strip():
            try:
                self.data = int(valuelist[0].strip())
            except ValueError as exc:
                self.data = None
                raise ValueError(_l("Enter a whole number of packs.")) from exc


def _packs_in_range(_form: Form, field: PacksField) -> None:
    if field.data is not None and not 0 <= field.data <= MAX_PACKS_PER_LINE:
        raise ValidationError(_l("Enter 0 or more packs, at most %(num)s.", num=MAX_PACKS_PER_LINE))


class CartLineForm(Form):
    product_id = HiddenField()
    quantity = PacksField(_l("Number of packs"), [Optional(), _packs_in_range])


class CartForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=64)])
    lines = FieldList(FormField(CartLineForm))
    note = StringField(_l("Note to the supplier"), [Optional(), Length(max=500)], filters=[_strip])

    def validate_lines(self, field: FieldList) -> None:
        """Refuse a product id that is not a number (the page wrote it; only a tampered form differs)."""
        for entry in field.entries:
            if not (entry.form.product_id.data or "").isdigit():
                raise ValidationError(_l("The form was altered; open the page afresh."))


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"), [DataRequired(), Length(max=500)], filters=[_strip])


class ShipLineForm(Form):
    line_no = HiddenField()
    codes = TextAreaField(_l("Trace codes, one per line"), [_scans_fit])
    batch = StringField(_l("Batch (optional)"), [Optional(), Length(max=20)], filters=[_strip])
    expiry = DateField(_l("Expiry (optional)"), [Optional()])


class ShipForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=64)])
    delivery_note_number = StringField(
        _l("Delivery note (随货同行单) number"), [DataRequired(), Length(max=64)], filters=[_strip]
    )
    lines = FieldList(FormField(ShipLineForm))

    def validate_lines(self, field: FieldList) -> None:
        """Refuse a shipment without any code, and a line number the page did not write."""
        if any(not (entry.form.line_no.data or "").isdigit() for entry in field.entries):
            raise ValidationError(_l("The form was altered; open the page afresh."))
        if not any(scan_lines(entry.form.codes.data) for entry in field.entries):
            raise ValidationError(_l("Scan the codes of at least one line."))


class ReceiveForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=64)])
    codes = TextAreaField(_l("Scanned packs and cases, one per line"), [_scans_fit])
    refusals = TextAreaField(
        _l("Packs to refuse (optional)"),
        [_scans_fit],
        description=_l(
            "One per line: scan the code, then type the reason after a space, or leave it to the reason below."
        ),
    )
    refusal_reason = StringField(
        _l("Reason for refused packs without one"), [Optional(), Length(max=300)], filters=[_strip]
    )

    def validate_codes(self, field: TextAreaField) -> None:
        """Ask for at least one scanned code, to receive or to refuse."""
        if not scan_lines(field.data) and not scan_lines(self.refusals.data):
            raise ValidationError(_l("Scan at least one code."))

    def validate_refusals(self, field: TextAreaField) -> None:
        """Ask for a reason when a refused code has none of its own and none is given for all."""
        if any(not reason for _code, reason in refusal_lines(field.data, self.refusal_reason.data or "")):
            raise ValidationError(_l("Give a reason for every refused pack: after its code, or in the box below."))


class ProblemForm(FlaskForm):
    kind = SelectField(_l("Kind of problem"), choices=lambda: list(PROBLEM_KINDS.items()))
    description = StringField(_l("What happened"), [DataRequired(), Length(max=1000)], filters=[_strip])


DOCUMENT_KINDS = {
    "delivery_note": _l("Delivery note (随货同行单)"),
    "invoice": _l("Invoice file (PDF/OFD or scan)"),
    "other": _l("Other document (e.g. test report)"),
}


class DocumentForm(FlaskForm):
    kind = SelectField(_l("Document"), choices=lambda: list(DOCUMENT_KINDS.items()))
    file = FileField(
        _l("File"),
        [FileRequired(_l("Choose a file to attach."))],
        description=_l("PDF, OFD, PNG or JPEG, at most 10 MB. The same file twice is kept once."),
    )
