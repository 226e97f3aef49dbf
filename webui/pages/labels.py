"""People-facing, translated names for the platform's codes: organisation kinds, grades, roles, audit actions."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.roles import HospitalGrade, OrgKind, Role, UserGroup

ORG_KINDS = {
    OrgKind.HOSPITAL: _l("Hospital"),
    OrgKind.MANUFACTURER: _l("Manufacturer"),
    OrgKind.DISTRIBUTOR: _l("Distributor"),
    OrgKind.INSURANCE_BUREAU: _l("Medical insurance bureau"),
    OrgKind.PROCUREMENT_OFFICE: _l("Procurement office"),
}

HOSPITAL_GRADES = {
    HospitalGrade.G3A: _l("Grade 3, class A"),
    HospitalGrade.G3B: _l("Grade 3, class B"),
    HospitalGrade.G3C: _l("Grade 3, class C"),
    HospitalGrade.G2A: _l("Grade 2, class A"),
    HospitalGrade.G2B: _l("Grade 2, class B"),
    HospitalGrade.G2C: _l("Grade 2, class C"),
    HospitalGrade.G1A: _l("Grade 1, class A"),
    HospitalGrade.G1B: _l("Grade 1, class B"),
    HospitalGrade.G1C: _l("Grade 1, class C"),
    HospitalGrade.UNGRADED: _l("Ungraded"),
}

ROLES = {
    Role.PHARMACIST: _l("Pharmacist"),
    Role.PHARMACY_MANAGER: _l("Pharmacy manager"),
    Role.SUPPLIER_REP: _l("Supplier representative"),
    Role.AUDITOR: _l("Insurance auditor"),
    Role.ORGANISER: _l("Procurement organiser"),
    Role.ADMIN: _l("Platform administrator"),
}

GROUPS = {
    UserGroup.PHARMACY: _l("Hospital pharmacy"),
    UserGroup.SUPPLIER: _l("Supplier"),
    UserGroup.AUDITOR: _l("Insurance audit"),
    UserGroup.ORGANISER: _l("Procurement organisation"),
    UserGroup.ADMIN: _l("Platform administration"),
}

ACTIONS = {
    "organisation.created": _l("Organisation registered"),
    "user.created": _l("User account created"),
    "user.logged_in": _l("Signed in"),
    "token.issued": _l("API token issued"),
    "token.revoked": _l("API token revoked"),
    "product.batch_created": _l("Products added in bulk"),
    "trade_item.registered": _l("Trade item registered"),
    "trace.batch_captured": _l("Trace codes captured"),
    "trace.batch_refused": _l("Trace code batch refused"),
    "alert.raised": _l("Alert raised"),
    "signing_key.registered": _l("Signing key registered"),
    "signing_key.revoked": _l("Signing key revoked"),
    "ledger.checkpoint_signed": _l("Ledger checkpoint signed"),
    "catalogue.product_created": _l("Catalogue product added"),
    "catalogue.imported": _l("Catalogue imported"),
    "catalogue.import_rejected": _l("Catalogue import rejected"),
    "tender.created": _l("Tender created"),
    "tender.updated": _l("Tender edited"),
    "tender.lot_added": _l("Lot added"),
    "tender.demand_collection": _l("Demand collection started"),
    "tender.bidding": _l("Bidding opened, rules frozen"),
    "tender.in_force": _l("Agreements put in force"),
    "tender.closed": _l("Tender closed"),
    "tender.demand_reported": _l("Demand reported"),
    "tender.demand_updated": _l("Demand report changed"),
    "tender.bid_sealed": _l("Sealed bid received"),
    "tender.opened": _l("Bids opened"),
    "tender.evaluated": _l("Bids evaluated"),
    "tender.revival_accepted": _l("Revival price accepted"),
    "tender.awarded": _l("Awards published"),
    "supplier.sanctioned": _l("Supplier suspended"),
}

OBJECT_TYPES = {
    "organisation": _l("Organisation"),
    "user": _l("User"),
    "api_token": _l("API token"),
    "trade_item": _l("Trade item"),
    "trace_item": _l("Traced item"),
    "capture_batch": _l("Capture batch"),
    "alert": _l("Alert"),
    "org_signing_key": _l("Signing key"),
    "checkpoint": _l("Ledger checkpoint"),
    "product": _l("Product"),
    "catalogue_import": _l("Catalogue import"),
    "tender": _l("Tender"),
    "tender_lot": _l("Lot"),
    "tender_demand": _l("Demand report"),
    "tender_bid": _l("Bid"),
    "supplier_sanction": _l("Supplier sanction"),
}


def lookup_label(table: dict, value: object) -> str:
    """Return the label of a code from a table; an unknown code shows as it is rather than failing the page."""
    label = table.get(value)
    return str(label) if label is not None else str(value or "")


def kind_label(kind: str | None) -> str:
    """Return the translated name of an organisation kind."""
    return lookup_label(ORG_KINDS, kind)


def grade_label(grade: str | None) -> str:
    """Return the translated name of a hospital grade."""
    return lookup_label(HOSPITAL_GRADES, grade)


def role_label(role: str | None) -> str:
    """Return the translated name of a role."""
    return lookup_label(ROLES, role)


def group_label(group: str | None) -> str:
    """Return the translated name of a user group."""
    return lookup_label(GROUPS, group)


def action_label(action: str | None) -> str:
    """Return the translated description of an audit action, or the action code itself."""
    return lookup_label(ACTIONS, action)


def object_type_label(object_type: str | None) -> str:
    """Return the translated name of an audited object type, or the type code itself."""
    return lookup_label(OBJECT_TYPES, object_type)


# Service messages are English sentences; these patterns give the ones users meet on forms in their language.
# Anything not listed is shown as the service wrote it, so a new message is never lost, only untranslated.
_MESSAGE_PATTERNS: tuple[tuple[re.Pattern[str], object], ...] = tuple(
    (re.compile(pattern), label)
    for pattern, label in (
        (r"^unified social credit code .* must be 18 characters$", _l("A credit code has exactly 18 characters.")),
        (
            r"^unified social credit code .* has characters outside",
            _l("Use digits and the letters A–Y without I, O, S, V, Z, with a valid registration authority and region."),
        ),
        (
            r"^unified social credit code .* check character does not match$",
            _l("The check character (the last one) does not match; look for a mistyped character."),
        ),
        (r"^must be a six-digit administrative division code$", _l("Enter the six-digit administrative code.")),
        (r"^a hospital needs a grade", _l("A hospital needs a grade; other kinds of organisation have none.")),
        (r"^organisation \d+ does not exist$", _l("This organisation does not exist.")),
        (
            r"^an organisation with this name or credit code exists$",
            _l("An organisation with this name or code exists."),
        ),
        (r"^a user needs at least one role$", _l("Choose at least one role.")),
        (r"^must not be the username$", _l("The password must not be the username.")),
        (r"^taken$|^username .* is taken$", _l("This username is taken.")),
        (r"^the token is already revoked$", _l("The token is already revoked.")),
    )
)
_ROLE_KIND = re.compile(r"^role (\w+) cannot be held in a (\w+) organisation$")
_MIN_LENGTH = re.compile(r"^must be at least (\d+) characters$")
_DAYS_RANGE = re.compile(r"^must be between 1 and (\d+) days$")


def service_message(message: str) -> str:
    """Translate a service's error message for the page, keeping it as written when it is not known."""
    for pattern, label in _MESSAGE_PATTERNS:
        if pattern.search(message):
            return str(label)
    if match := _ROLE_KIND.match(message):
        return _(
            "The role “%(role)s” cannot be held in an organisation of kind “%(kind)s”.",
            role=role_label(match[1]),
            kind=kind_label(match[2]),
        )
    if match := _MIN_LENGTH.match(message):
        return _("Use at least %(num)s characters.", num=match[1])
    if match := _DAYS_RANGE.match(message):
        return _("Choose between 1 and %(num)s days.", num=match[1])
    return message


def problem_wording(table: dict, error: dict[str, Any]) -> str:
    """Word an import problem in the reader's language from ``table`` (code → label with %(param)s placeholders);
    an unknown code, or a label its params do not fill, keeps the service's English message."""
    label = table.get(error.get("code", ""))
    if label is None:
        return str(error.get("message", ""))
    try:
        return str(label) % (error.get("params") or {}) if "%(" in str(label) else str(label)
    except (KeyError, TypeError, ValueError):
        return str(error.get("message", ""))
