"""People-facing, translated names for the traceability codes: events, pack statuses, alerts, verdicts, scan errors."""

from __future__ import annotations

import datetime as dt
import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.alerts import AlertStatus, Severity
from trace import rules
from trace.models import EventType, ItemStatus
from webui.pages.labels import lookup_label

EVENT_TYPES = {
    EventType.COMMISSION: _l("Commissioned"),
    EventType.AGGREGATE: _l("Packed into a case"),
    EventType.DISAGGREGATE: _l("Unpacked from a case"),
    EventType.SHIP: _l("Shipped"),
    EventType.RECEIVE: _l("Received"),
    EventType.DISPENSE: _l("Dispensed to a patient"),
    EventType.RETURN: _l("Returned by the patient"),
    EventType.RECALL: _l("Recall issued"),
    EventType.DESTROY: _l("Destruction recorded"),
    EventType.UNDO: _l("Dispensing undone"),
}

ITEM_STATUSES = {
    ItemStatus.ACTIVE: _l("In stock"),
    ItemStatus.IN_TRANSIT: _l("In transit"),
    ItemStatus.PARTIAL: _l("Split pack, units left"),
    ItemStatus.DISPENSED: _l("Dispensed"),
    ItemStatus.RETURNED: _l("Returned"),
    ItemStatus.DESTROYED: _l("Destroyed"),
}

SEVERITIES = {
    Severity.LOW: _l("Low"),
    Severity.MEDIUM: _l("Medium"),
    Severity.HIGH: _l("High"),
    Severity.CRITICAL: _l("Critical"),
}

ALERT_STATUSES = {
    AlertStatus.OPEN: _l("Open"),
    AlertStatus.ASSIGNED: _l("Assigned"),
    AlertStatus.CONFIRMED: _l("Confirmed"),
    AlertStatus.DISMISSED: _l("Dismissed"),
}

ALERT_CODES = {
    rules.DUPLICATE_SALE: _l("Duplicate sale: one box, one sale (R1)"),
    rules.TWO_INSTITUTIONS: _l("Pack sold by two institutions, suspected resale (R2)"),
    rules.SPLIT_OVER_DISPENSE: _l("Split pack dispensed beyond its size (R3)"),
    rules.PRODUCT_MISMATCH: _l("Trace code does not match the settled drug (R5)"),
    rules.CHAIN_BREAK: _l("Break in the chain of custody (R6)"),
    rules.SAME_CODE_TWO_PATIENTS: _l("Split pack dispensed to a second patient (R7)"),
    rules.RECALLED_DISPENSE: _l("Attempt to dispense a recalled pack"),
}

# What a refusal of trace.verification.check means for the person at the counter, by the verdict's code.
VERDICT_REASONS = {
    "unknown_code": _l("This code was never commissioned: the pack may be counterfeit. Set it aside and report it."),
    "not_shipped_to_you": _l("This pack was not shipped to your organisation."),
    "in_case": _l("This pack is still inside a case: act on the case, or unpack it first."),
    "not_a_sales_unit": _l("Only sales units are dispensed: unpack the case first."),
    "sold_elsewhere": _l("This pack was already sold by another institution (suspected resale)."),
    "duplicate_sale": _l("This pack was already dispensed: one box, one sale."),
    "sold_after_returned": _l("A patient returned this pack: it must not be dispensed again."),
    "sold_after_destroyed": _l("This pack was destroyed: it must not be dispensed."),
    "recalled": _l("This pack is recalled."),
    "not_received": _l("Your organisation never received this pack (sale without receipt)."),
    "product_mismatch": _l("The trace code does not match the drug being settled."),
    "future_time": _l("The event time lies in the future."),
}

# The parser's reasons for a bad scan, by its error code; the parser's own message is shown below as detail.
SCAN_ERRORS = {
    "empty_scan": _l("Nothing was read: scan again."),
    "unsupported_symbology": _l("The scanner sent a symbology prefix that is not supported."),
    "commodity_barcode": _l(
        "This is the 13-digit commodity barcode, not the drug trace code: scan the 20-digit trace code or the 2D code."
    ),
    "bad_length": _l("A Chinese drug trace code has 20 digits."),
    "bad_format": _l("This is not a drug trace code."),
    "invalid_gs1": _l("This is not a valid GS1 code."),
    "gs_separator_lost": _l(
        "The GS separator was lost: set the scanner to send GS or ␝ (U+241D), or type the bracketed form (01)…(21)…."
    ),
    "missing_gtin": _l("The GS1 code has no GTIN (01): it names no product."),
    "missing_serial": _l("The GS1 code has no serial number (21): it does not identify a single pack."),
    "bad_gtin_check_digit": _l("The GTIN check digit is wrong: scan again."),
}

_PROBLEMS = (
    (re.compile(r"^no checkpoint has been signed yet$"), lambda m: _("No checkpoint has been signed yet.")),
    (
        re.compile(r"^checkpoint (\d+): signature does not verify$"),
        lambda m: _("The signature of checkpoint %(size)s does not verify with the platform key.", size=m[1]),
    ),
    (
        re.compile(r"^entry (\d+): chain link or position does not match$"),
        lambda m: _("Entry %(idx)s: its link to the previous entry or its position does not match.", idx=m[1]),
    ),
    (
        re.compile(r"^entry (\d+): not included in the signed tree"),
        lambda m: _("Entry %(idx)s is not included in the signed tree: it was altered.", idx=m[1]),
    ),
)
PROBLEM_ENTRY = re.compile(r"^entry (\d+):")


def event_label(event_type: str | None) -> str:
    """Return the translated name of a trace event type."""
    return lookup_label(EVENT_TYPES, event_type)


def item_status_label(status: str | None) -> str:
    """Return the translated name of a pack's status."""
    return lookup_label(ITEM_STATUSES, status)


def severity_label(severity: str | None) -> str:
    """Return the translated name of an alert severity."""
    return lookup_label(SEVERITIES, severity)


def alert_status_label(status: str | None) -> str:
    """Return the translated name of an alert's handling status."""
    return lookup_label(ALERT_STATUSES, status)


def alert_label(code: str | None) -> str:
    """Return the readable name of an alert code, or the code itself."""
    return lookup_label(ALERT_CODES, code)


def problem_label(problem: str) -> str:
    """Translate a problem found while verifying a pack's entries, keeping it as written when it is not known."""
    for pattern, render in _PROBLEMS:
        if match := pattern.search(problem):
            return render(match)
    return problem


def verdict_headline(allowed: bool, action: str) -> str:
    """Return the big line of a verdict: may the pack be received or dispensed here."""
    if action == EventType.RECEIVE:
        return _("May be received") if allowed else _("Do not receive")
    return _("May be dispensed") if allowed else _("Do not dispense")


def verdict_reason(
    code: str,
    reason: str,
    *,
    action: str,
    expiry: dt.date | None = None,
    remaining: int | None = None,
    unit: str = "",
) -> str:
    """Return why a verdict was given, in the reader's language; unknown refusals keep the service's words."""
    if code == "ok":
        if action == EventType.RECEIVE:
            return _("The pack was shipped to your organisation and may be received.")
        return _("Your organisation holds the pack and it may be dispensed.")
    if code == "expired" and expiry is not None:
        return _("This pack expired on %(date)s.", date=expiry.isoformat())
    if code == "split_pack" and remaining is not None:
        return _("This pack is split: enter the quantity (at most %(num)s %(unit)s).", num=remaining, unit=unit)
    if code == "over_dispense" and remaining is not None:
        return _("The quantity exceeds the %(num)s %(unit)s left in the pack.", num=remaining, unit=unit)
    if code in VERDICT_REASONS:
        return str(VERDICT_REASONS[code])
    return reason


def scan_error_label(code: str | None) -> str:
    """Return the translated reason a scan is not a trace code."""
    label = SCAN_ERRORS.get(code or "")
    return str(label) if label is not None else _("This is not a valid drug trace code.")


def action_name(action: str | None) -> str:
    """Return the translated name of a scan's purpose: receiving or dispensing."""
    return _("Receive") if action == EventType.RECEIVE else _("Dispense")


FILTERS = (
    "event_label",
    "item_status_label",
    "severity_label",
    "alert_status_label",
    "alert_label",
    "problem_label",
    "action_name",
)
