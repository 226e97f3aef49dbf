"""Translated labels of order statuses, price bases, refusal reasons and the order services' messages."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.errors import DomainError
from trace.codes import InvalidCode, parse
from webui.pages.labels import lookup_label, service_message
from webui.pages.trace_labels import item_status_label, scan_error_label
from webui.pages.trace_views import key_to_code, printable

ORDER_STATUS = {
    "submitted": _l("Awaiting the supplier"),
    "confirmed": _l("Confirmed"),
    "rejected": _l("Rejected"),
    "cancelled": _l("Cancelled"),
    "shipped": _l("Shipped in full"),
    "completed": _l("Completed"),
}
SHIPMENT_STATUS = {
    "in_transit": _l("In transit"),
    "partially_received": _l("Partly received"),
    "received": _l("Received"),
}
PRICE_BASIS = {
    "awarded": _l("Awarded price"),
    "listed": _l("Listing price"),
}
REFUSAL_REASONS = {
    "invalid_code": _l("Not a valid trace code"),
    "unknown_code": _l("Not in the trace record"),
    "wrong_product": _l("Product not on this order"),
    "not_shipped_here": _l("Not shipped to this hospital"),
    "not_on_shipment": _l("Not on this shipment"),
    "already_received": _l("Already received"),
    "already_refused": _l("Already refused"),
    "refused_by_pharmacist": _l("Refused by the pharmacist"),
    "recalled": _l("Recalled"),
    "expired": _l("Expired"),
    "partial_case": _l("Case not scanned whole"),
    "case_refused": _l("Case holds a refused pack"),
}
PROBLEM_KINDS = {
    "late": _l("Late delivery"),
    "short": _l("Short delivery"),
    "stock_out": _l("Out of stock"),
    "quality": _l("Quality problem"),
    "other": _l("Other"),
}
# What went wrong with a whole request, by the service's error code (the field errors are shown by the fields).
ERROR_CODES = {
    "order_not_confirmed": _l("Confirm the order before shipping it."),
    "order_cancelled": _l("The hospital cancelled this order: nothing may ship."),
    "order_rejected": _l("This order was rejected: nothing may ship."),
    "order_fully_shipped": _l("Every pack of this order has shipped."),
    "order_status": _l("The order's status does not allow this any more; the page shows its current state."),
    "shipped": _l("Part of this order has shipped; it can no longer be cancelled."),
    "idempotency_key_reused": _l("This form was already used for another order. Open the order page afresh."),
    "key_reused": _l("This form was already used. Open the order page afresh."),
    "scanned_twice": _l("A code was scanned twice: remove the repeated line and post again."),
    "trace_refused": _l("The trace record refused these codes."),
    "bad_order_line": _l("Some lines need correcting; nothing was ordered."),
    "bad_shipment": _l("Some codes need correcting; nothing was shipped."),
    "problem_invalid": _l("The problem report has errors; nothing was saved."),
}
FILTERS = (
    "order_status_label",
    "shipment_status_label",
    "price_basis_label",
    "refusal_label",
    "refusal_code",
    "refusal_detail",
    "problem_kind_label",
)
_CASE_PARTLY = re.compile(r"^case \S+: (\d+) of its (\d+) packs scanned")
_CASE_REFUSED = re.compile(r"^case \S+ holds a refused pack \((\w+)\)")

_PATTERNS: tuple[tuple[re.Pattern[str], object], ...] = tuple(
    (re.compile(pattern), render)
    for pattern, render in (
        (r"^must be a whole number of packs above zero", lambda m: _("Enter a whole number of packs above zero.")),
        (
            r"is neither awarded to this hospital nor listed",
            lambda m: _("This product is neither awarded to your hospital nor listed for its region."),
        ),
        (r"^required$|^must not be empty$|is required$", lambda m: _("This field is required.")),
        (r"^must be at most (\d+) characters$", lambda m: _("Use at most %(num)s characters.", num=m[1])),
        (r"^must be one of", lambda m: _("Choose one of the offered values.")),
        (r"^empty$", lambda m: _("Scan at least one code.")),
        (r"is listed twice", lambda m: _("This code is listed twice.")),
        (r"was already scanned at position", lambda m: _("This code was scanned twice in this receipt.")),
        (
            r"is inside case (\S+), also scanned",
            lambda m: _(
                "This pack is inside case %(case)s, which is scanned too: scan the case or its packs.", case=m[1]
            ),
        ),
        (
            r"^case \S+: (\d+) of its (\d+) packs scanned",
            lambda m: _(
                "%(scanned)s of the case's %(total)s packs were scanned; a case is received whole.",
                scanned=m[1],
                total=m[2],
            ),
        ),
        (r"^case (\S+): (.+)$", lambda m: _("Case %(case)s: %(reason)s", case=m[1], reason=order_message(m[2]))),
        (r"has not been commissioned", lambda m: _("This code was never commissioned in the trace record.")),
        (
            r"is not in your stock \(it is (\w+)\)$",
            lambda m: _("This pack is not in your stock (it is %(status)s).", status=item_status_label(m[1])),
        ),
        (r"is inside a case", lambda m: _("This pack is inside a case: ship the case, or unpack it first.")),
        (r"^case \S+ holds no packs$", lambda m: _("This case holds no packs.")),
        (
            r"is product \d+, but line (\d+) orders",
            lambda m: _("This is not the product line %(num)s orders.", num=m[1]),
        ),
        (r"is recalled$", lambda m: _("This pack is recalled.")),
        (r"expired on (\S+)$", lambda m: _("This pack expired on %(date)s.", date=m[1])),
        (
            r"is batch (\S*), not (\S+)$",
            lambda m: _("This pack is batch %(batch)s, not %(wanted)s.", batch=m[1], wanted=m[2]),
        ),
        (
            r"expires (\S+), not (\S+)$",
            lambda m: _("This pack expires %(date)s, not %(wanted)s.", date=m[1], wanted=m[2]),
        ),
        (
            r"^ships (\d+) packs but only (\d+) of line \d+ remain",
            lambda m: _(
                "%(packs)s packs scanned, but only %(left)s remain to ship on this line.", packs=m[1], left=m[2]
            ),
        ),
        (r"^list the trace codes shipped on this line$", lambda m: _("Scan the codes shipped on this line.")),
        (r"is not a PDF, OFD, PNG or JPEG file", lambda m: _("This file is not a PDF, OFD, PNG or JPEG file.")),
        (r"^the file is empty", lambda m: _("The file is empty.")),
        (r"^the file has [\d,]+ bytes; at most", lambda m: _("The file is larger than 10 MB.")),
        (r"already has \d+ documents", lambda m: _("This shipment already has the most documents it keeps.")),
        (r"is already filed with shipment", lambda m: _("This file is already attached as another kind of document.")),
    )
)


def order_status_label(value: str | None) -> str:
    """Return the label of an order status."""
    return lookup_label(ORDER_STATUS, value)


def shipment_status_label(value: str | None) -> str:
    """Return the label of a shipment status."""
    return lookup_label(SHIPMENT_STATUS, value)


def price_basis_label(value: str | None) -> str:
    """Return the label of a price basis (awarded or listed)."""
    return lookup_label(PRICE_BASIS, value)


def refusal_label(value: str | None) -> str:
    """Return the label of the reason a pack was refused at receipt."""
    return lookup_label(REFUSAL_REASONS, value)


def refusal_code(refusal: dict) -> str:
    """Return a refused code as the pharmacist can read it: a pack's stored key as its code, a bad scan as typed."""
    code = str(refusal.get("code") or "")
    if refusal.get("reason") != "invalid_code" and code.startswith(("cn20:", "gs1:")):
        return key_to_code(code)
    return printable(code)


def refusal_detail(refusal: dict) -> str:
    """Return what a receipt says about one refusal beyond its label: the pharmacist's words or the fault found."""
    reason, message = refusal.get("reason"), str(refusal.get("message") or "")
    if reason == "refused_by_pharmacist":
        return message
    if reason == "invalid_code":
        return order_message(message, scanned=str(refusal.get("code") or ""))
    if reason == "expired" or reason == "recalled":
        return order_message(message)
    if match := _CASE_PARTLY.match(message):
        return _(
            "%(scanned)s of the case's %(total)s packs were scanned; a case is received whole.",
            scanned=match[1],
            total=match[2],
        )
    if match := _CASE_REFUSED.match(message):
        return _("The case holds a refused pack (%(reason)s): it is refused whole.", reason=refusal_label(match[1]))
    return ""


def problem_kind_label(value: str | None) -> str:
    """Return the label of a kind of supply problem."""
    return lookup_label(PROBLEM_KINDS, value)


def order_message(message: str, *, scanned: str | None = None) -> str:
    """Translate an order service's message; for a code that does not parse, say why in the reader's words."""
    if scanned is not None:
        try:
            parse(scanned)
        except InvalidCode as exc:
            return scan_error_label(exc.code)
    for pattern, render in _PATTERNS:
        if match := pattern.search(message):
            return render(match)
    return service_message(message)


def general_message(exc: DomainError) -> str:
    """Return the sentence that heads a refused request, by the service's error code."""
    label = ERROR_CODES.get(exc.code or "")
    return str(label) if label is not None else order_message(exc.message)
