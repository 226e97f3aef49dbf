"""Translated labels of report states, supply alerts and stop kinds, and the supply services' messages."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.alerts import Alert
from procurement.orders.rules import (
    SUPPLY_PROBLEM,
    SUPPLY_REPORT_LATE,
    SUPPLY_REPORT_MISSING,
    SUPPLY_STOCK_OUT,
    SUPPLY_STOP_LATE_NOTICE,
)
from webui.pages.labels import lookup_label
from webui.pages.order_labels import order_message
from webui.pages.supply_forms import STOP_KINDS

# Where one product's report for one month stands (see supply_views.report_state).
REPORT_STATES = {
    "filed": _l("Filed"),
    "late": _l("Filed late"),
    "missing": _l("Missing"),
    "due": _l("Not yet filed"),
    "not_won": _l("Not won this month"),
}
SUPPLY_ALERTS = {
    SUPPLY_REPORT_MISSING: _l("Monthly report missing"),
    SUPPLY_REPORT_LATE: _l("Monthly report filed late"),
    SUPPLY_STOCK_OUT: _l("Out of stock with open orders"),
    SUPPLY_STOP_LATE_NOTICE: _l("Production stop reported late"),
    SUPPLY_PROBLEM: _l("Supply problem reported"),
}
# What went wrong with a whole request, by the service's error code (the field errors are shown by the fields).
ERROR_CODES = {
    "supply_report_invalid": _l("The report has errors; nothing was saved."),
    "stop_invalid": _l("The stop notice has errors; nothing was saved."),
    "stop_overlaps": _l("The stop notice overlaps another stop of this product; nothing was saved."),
    "resolution_invalid": _l("The answer has errors; nothing was saved."),
    "problem_resolved": _l("This problem has already been answered."),
}
FILTERS = ("report_state_label", "supply_alert_label", "supply_alert_detail", "stop_kind_label")

_PATTERNS: tuple[tuple[re.Pattern[str], object], ...] = tuple(
    (re.compile(pattern), render)
    for pattern, render in (
        (r"^must be a whole number of packs$", lambda m: _("Enter a whole number of packs.")),
        (r"^must not be negative$", lambda m: _("Enter 0 or more packs.")),
        (
            r"^(\d{4}-\d{2}) has not begun",
            lambda m: _("%(month)s has not begun; choose a past month or the current one.", month=m[1]),
        ),
        (
            r"is not one of your winning products in (\d{4}-\d{2})$",
            lambda m: _("This product is not one of your winning products in %(month)s.", month=m[1]),
        ),
        (
            r"is not one of your winning products on or after (\S+)$",
            lambda m: _("This product is not one of your winning products on or after %(date)s.", date=m[1]),
        ),
        (r"^must be after stops_on$", lambda m: _("The expected restart must come after the stop date.")),
        (r"^must be true \(a planned stop\)", lambda m: _("Choose a planned or an unplanned stop.")),
        (
            r"^stop \d+ of this product from (\S+) overlaps these dates$",
            lambda m: _("A stop of this product from %(date)s already covers these dates.", date=m[1]),
        ),
    )
)


def report_state_label(value: str | None) -> str:
    """Return the label of where a monthly report stands: filed, filed late, missing or not yet filed."""
    return lookup_label(REPORT_STATES, value)


def supply_alert_label(value: str | None) -> str:
    """Return the label of a supply alert code."""
    return lookup_label(SUPPLY_ALERTS, value)


def supply_alert_detail(alert: Alert) -> str:
    """Return what a supply alert found, from its evidence, in the reader's language."""
    e = alert.evidence or {}
    if alert.code == SUPPLY_REPORT_MISSING:
        return _(
            "The %(month)s report was due on %(date)s and has not been filed.",
            month=e.get("month"),
            date=e.get("due_on"),
        )
    if alert.code == SUPPLY_STOCK_OUT:
        orders = {"orders": e.get("open_orders"), "packs": e.get("open_packs")}
        if e.get("stop_id"):
            return _("Production has stopped; open orders: %(orders)s, waiting for %(packs)s packs.", **orders)
        return _(
            "The %(month)s report gave no stock; open orders: %(orders)s, waiting for %(packs)s packs.",
            month=e.get("inventory_month"),
            **orders,
        )
    if alert.code == SUPPLY_STOP_LATE_NOTICE:
        return _(
            "Stop on %(date)s given %(days)s days' notice (negative: after the stop); at least %(required)s needed.",
            date=e.get("stops_on"),
            days=e.get("notice_days"),
            required=e.get("required_notice_days"),
        )
    if alert.code == SUPPLY_REPORT_LATE:
        return _("Filed %(days)s days after its due date %(date)s.", days=e.get("days_late"), date=e.get("due_on"))
    return alert.title


def stop_kind_label(planned: bool | None) -> str:
    """Return the label of a production stop's kind: planned or unplanned."""
    return lookup_label(STOP_KINDS, "planned" if planned else "unplanned")


def supply_message(message: str) -> str:
    """Translate a supply service's message for the page, keeping it as written when it is not known."""
    for pattern, render in _PATTERNS:
        if match := pattern.search(message):
            return render(match)
    return order_message(message)
