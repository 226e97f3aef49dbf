"""Translated labels of tender stages, bid outcomes and demand flags, as template filters."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATUS = {
    "draft": _l("Draft"),
    "demand_collection": _l("Collecting demand"),
    "bidding": _l("Bidding"),
    "opened": _l("Opened"),
    "evaluated": _l("Evaluated"),
    "awarded": _l("Awarded"),
    "in_force": _l("In force"),
    "closed": _l("Closed"),
}
OUTCOMES = {
    "won": _l("Won"),
    "won_revived": _l("Won after revival"),
    "revival_offered": _l("May revive"),
    "lost": _l("Lost"),
    "invalid": _l("Invalid"),
}
DEMAND_FLAGS = {
    "over_reported": _l("far above historical use (rule 3.9)"),
    "below_history_excused": _l("below 80 per cent of historical use, with a reason (rule 1.1.7)"),
}
FILTERS = ("tender_status_label", "outcome_label", "demand_flag_label")


def tender_status_label(value: str) -> str:
    """Return the label of a tender stage."""
    return str(STATUS.get(value, value))


def outcome_label(value: str) -> str:
    """Return the label of a bid outcome."""
    return str(OUTCOMES.get(value, value))


def demand_flag_label(value: str) -> str:
    """Return the label of a demand-report flag."""
    return str(DEMAND_FLAGS.get(value, value))
