"""Translated labels of invoice kinds, payment and progress statuses, and the money and agreement services' messages."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.errors import DomainError
from webui.pages.labels import lookup_label, service_message

INVOICE_KINDS = {
    "first": _l("First invoice (manufacturer → distributor)"),
    "second": _l("Second invoice (distributor → hospital)"),
}
PAYABLE_STATUS = {
    "due": _l("Due"),
    "overdue": _l("Overdue"),
    "paid": _l("Paid"),
    "paid_late": _l("Paid late"),
}
PROGRESS_STATUS = {
    "not_started": _l("Not started"),
    "behind": _l("Behind time"),
    "on_track": _l("On track"),
    "ahead": _l("Ahead of time"),
    "complete": _l("Complete"),
    "over": _l("Above the agreed volume"),
}
PRODUCT_KINDS = {
    "drug": _l("Drugs"),
    "consumable": _l("High-value consumables"),
}
# What went wrong with a whole request, by the service's error code (the field errors are shown by the fields).
ERROR_CODES = {
    "bad_invoice": _l("Some fields of the invoice need correcting; nothing was uploaded."),
    "duplicate_invoice": _l("This seller's invoice with this number is already uploaded."),
    "not_the_supplier": _l("Only the shipment's supplier uploads its invoices."),
    "not_the_seller": _l("A manufacturer uploads only the invoices it issued."),
    "not_your_product": _l("A manufacturer's first invoice bills only products it makes or holds."),
    "above_outstanding": _l("The payment is more than what is outstanding on the invoice."),
    "key_reused": _l("This form was already used for another payment. Open the page afresh."),
    "not_awarded": _l("This tender has no published awards to prepay."),
    "foreign_organisation": _l("A hospital sees only its own figures."),
}
FILTERS = (
    "invoice_kind_label",
    "payable_status_label",
    "progress_status_label",
    "product_kind_label",
    "yuan",
    "percent",
    "units",
    "money_message",
)
_FEN = Decimal("0.01")


def _shipped_batches(text: str) -> str:
    return ", ".join(re.findall(r"'([^']*)'", text)) or "—"


_PATTERNS: tuple[tuple[re.Pattern[str], object], ...] = tuple(
    (re.compile(pattern), render)
    for pattern, render in (
        (
            r"is not made or held by your organisation$",
            lambda m: _("Your organisation neither makes nor holds this product: bill only your own products."),
        ),
        (
            r"^the invoice number .* is required",
            lambda m: _("Enter the invoice number (发票号码), at most 32 characters."),
        ),
        (r"^(\S+) is in the future$", lambda m: _("%(date)s is in the future.", date=m[1])),
        (
            r"^invoice (.+) of this seller is already uploaded$",
            lambda m: _("Invoice %(number)s of this seller is already uploaded.", number=m[1]),
        ),
        (
            r"^the second invoice is issued by the shipment's supplier",
            lambda m: _("The second invoice is issued by the shipment's supplier."),
        ),
        (
            r"^the second invoice is issued to the hospital",
            lambda m: _("The second invoice is issued to the hospital that ordered the goods."),
        ),
        (
            r"^a manufacturer delivering itself issues only the second invoice",
            lambda m: _("A manufacturer delivering itself issues only the second invoice (rulebook 4.1)."),
        ),
        (
            r"^the first invoice is issued to the distributor",
            lambda m: _("The first invoice is issued to the distributor."),
        ),
        (
            r"^the first invoice's seller is the manufacturer",
            lambda m: _("The first invoice's seller is the manufacturer, another organisation."),
        ),
        (r"^must be your organisation", lambda m: _("A manufacturer uploads only the invoices it issued.")),
        (r"^first or second$", lambda m: _("Choose the first or the second invoice.")),
        (r"^an invoice lists at least one line$", lambda m: _("Fill in at least one line.")),
        (r"^an invoice holds at most (\d+) lines$", lambda m: _("An invoice holds at most %(num)s lines.", num=m[1])),
        (r"^a whole number of packs above zero", lambda m: _("Enter a whole number of packs above zero.")),
        (r"^product \d+ was not shipped in this shipment$", lambda m: _("This product is not on this shipment.")),
        (
            r"^batch '(.*)' of product \d+ was not shipped \(shipped: (.*)\)$",
            lambda m: _(
                "Batch %(batch)s of this product is not on this shipment (shipped: %(batches)s).",
                batch=m[1],
                batches=_shipped_batches(m[2]),
            ),
        ),
        (
            r"^(\d+) packs of batch (\S*) invoiced in all, but (\d+) were accepted or are in transit$",
            lambda m: _(
                "%(total)s packs of batch %(batch)s invoiced in all, but only %(num)s were accepted or are in transit.",
                total=m[1],
                batch=m[2],
                num=m[3],
            ),
        ),
        (
            r"^(\d+) packs of batch (\S*) invoiced in all, but (\d+) were shipped$",
            lambda m: _(
                "%(total)s packs of batch %(batch)s invoiced in all, but only %(num)s were shipped.",
                total=m[1],
                batch=m[2],
                num=m[3],
            ),
        ),
        (
            r"^a price above zero with at most four decimals$",
            lambda m: _("Enter a price above zero, at most four decimals."),
        ),
        (r"^one of the VAT rates", lambda m: _("Choose one of the VAT rates.")),
        (r"^an amount in yuan to the fen", lambda m: _("Enter an amount in yuan, at most two decimals.")),
        (r"^a tax in yuan to the fen", lambda m: _("Enter the tax in yuan, at most two decimals.")),
        (
            r"^(\S+) is not quantity × unit price: (\S+) × (\S+) = (\S+)$",
            lambda m: _(
                "%(amount)s is not quantity × unit price: %(quantity)s × %(price)s = %(expected)s.",
                amount=m[1],
                quantity=m[2],
                price=m[3],
                expected=m[4],
            ),
        ),
        (
            r"^(\S+) is not amount × tax rate: (\S+) × (\S+) = (\S+)$",
            lambda m: _(
                "%(tax)s is not amount × tax rate: %(amount)s × %(rate)s = %(expected)s.",
                tax=m[1],
                amount=m[2],
                rate=m[3],
                expected=m[4],
            ),
        ),
        (
            r"^(\S+) is not the sum of the lines' amount: (\S+)$",
            lambda m: _("%(value)s is not the sum of the lines' amounts: %(expected)s.", value=m[1], expected=m[2]),
        ),
        (
            r"^(\S+) is not the sum of the lines' tax: (\S+)$",
            lambda m: _("%(value)s is not the sum of the lines' tax: %(expected)s.", value=m[1], expected=m[2]),
        ),
        (
            r"^(\S+) is not amount \+ tax: (\S+)$",
            lambda m: _("%(value)s is not amount + tax: %(expected)s.", value=m[1], expected=m[2]),
        ),
        (
            r"^invoice (.+) is a first invoice",
            lambda m: _("Invoice %(number)s is a first invoice; hospitals pay second invoices.", number=m[1]),
        ),
        (
            r"^an amount above zero, in yuan to the fen$",
            lambda m: _("Enter an amount above zero, in yuan, at most two decimals."),
        ),
        (
            r"^(\S+) is above the (\S+) outstanding on invoice (.+)$",
            lambda m: _(
                "%(amount)s is more than the %(outstanding)s outstanding on invoice %(number)s.",
                amount=m[1],
                outstanding=yuan(m[2]),
                number=m[3],
            ),
        ),
        (
            r"^hospital \d+ has no agreed volume in tender \d+$",
            lambda m: _("This hospital has no agreed volume in this tender."),
        ),
        (
            r"^prepaid (\S+) in all is below (\d+)% of the annual agreed amount (\S+) \(at least (\S+),",
            lambda m: _(
                "Prepaid %(prepaid)s in all: below %(share)s%% of the annual agreed amount %(annual)s "
                "(at least %(minimum)s, rulebook 1.9.2).",
                prepaid=yuan(m[1]),
                share=m[2],
                annual=yuan(m[3]),
                minimum=yuan(m[4]),
            ),
        ),
        (r"^drug or consumable$", lambda m: _("Choose drugs or high-value consumables.")),
        (
            r"^a purchase cannot be declared for a future month$",
            lambda m: _("A purchase cannot be declared for a future month."),
        ),
        (r"^must be above zero$", lambda m: _("Enter an amount above zero.")),
        (r"^must be a decimal amount$", lambda m: _("Enter an amount in yuan.")),
        (r"^has more than four decimal places$", lambda m: _("Use at most four decimals.")),
        (r"^required$", lambda m: _("This field is required.")),
        (
            r"^progress can be checked for today or a past day",
            lambda m: _("Progress can be checked for today or a past day, not a future one."),
        ),
        (r"^the period ends before it starts$", lambda m: _("The period ends before it starts.")),
    )
)


def invoice_kind_label(value: str | None) -> str:
    """Return the label of an invoice kind (first or second)."""
    return lookup_label(INVOICE_KINDS, value)


def payable_status_label(value: str | None) -> str:
    """Return the label of a receipt's payment status."""
    return lookup_label(PAYABLE_STATUS, value)


def progress_status_label(value: object) -> str:
    """Return the label of an agreed volume's progress status."""
    return lookup_label(PROGRESS_STATUS, str(value) if value is not None else None)


def product_kind_label(value: str | None) -> str:
    """Return the label of a kind of product (drugs or high-value consumables)."""
    return lookup_label(PRODUCT_KINDS, value)


def yuan(value: object) -> str:
    """Format an amount of money to the fen, as invoices show it ("70.00"); other values as they are."""
    if value is None or value == "":
        return "—"
    try:
        return str(Decimal(str(value)).quantize(_FEN, rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return str(value)


def percent(value: object) -> str:
    """Format a ratio (0.8125) as a percentage to one decimal ("81.3%"); a missing ratio as a dash."""
    if value is None:
        return "—"
    return f"{(Decimal(str(value)) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def units(value: object) -> str:
    """Format a number of comparable units without trailing zeros ("1400", "12.5")."""
    if value is None:
        return "—"
    number = Decimal(str(value))
    return str(number.quantize(Decimal(1))) if number == number.to_integral_value() else str(number.normalize())


def money_message(message: str) -> str:
    """Translate a money or agreements service's message for the page, keeping it as written when unknown."""
    for pattern, render in _PATTERNS:
        if match := pattern.search(message):
            return render(match)
    return service_message(message)


def money_general(exc: DomainError) -> str:
    """Return the sentence that heads a refused request, by the service's error code."""
    label = ERROR_CODES.get(exc.code or "")
    return str(label) if label is not None else money_message(exc.message)
