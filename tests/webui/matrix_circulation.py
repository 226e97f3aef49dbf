"""Rows of the authorization matrix for the circulation endpoints: finance reports and indicators.

"own" is the caller's organisation, "foreign" another of the same kind. A hospital files and reads only its own
figures (another hospital's answer 403, since hospitals are listed openly); auditors file for any hospital and read
all; administrators read all but file nothing; suppliers and organisers have no access.
"""

from __future__ import annotations

import uuid

from core.roles import OrgKind, Role
from tests.webui.matrix_orders import HOSPITAL_ROLES


def _hospital(w, scope: str):
    """The hospital a request is about: the caller's own (or a foreign) one, or a fresh hospital for others."""
    if w.role in HOSPITAL_ROLES:
        return w.org(scope)
    return w.factory.org(OrgKind.HOSPITAL, name=f"医院{uuid.uuid4().hex[:8]}")


def _report(w, scope: str):
    body = {
        "hospital_id": _hospital(w, scope).id,
        "month": "2025-03",
        **dict.fromkeys(("service_income", "drug_income", "consumable_income", "test_income"), "10.00"),
        "insured_in_catalogue": "88.00",
        "insured_out_of_catalogue": "12.00",
    }
    return "POST", "/api/v1/hospital-finance/reports", body


def _query(path: str, extra: str = ""):
    def build(w, scope: str):
        return "GET", f"{path}?hospital_id={_hospital(w, scope).id}{extra}", None

    return build


def circulation_rows(Row):
    """Return the matrix rows of the circulation endpoints."""
    filing = {
        **dict.fromkeys(Role, (403, 403)),
        **dict.fromkeys(HOSPITAL_ROLES, (201, 403)),
        Role.AUDITOR: (201, 201),
    }
    reading = {
        **dict.fromkeys(Role, (403, 403)),
        **dict.fromkeys(HOSPITAL_ROLES, (200, 403)),
        Role.AUDITOR: (200, 200),
        Role.ADMIN: (200, 200),
    }
    return [
        Row("POST", "/api/v1/hospital-finance/reports", _report, filing),
        Row("GET", "/api/v1/hospital-finance/reports", _query("/api/v1/hospital-finance/reports"), reading),
        Row(
            "GET",
            "/api/v1/circulation/indicators",
            _query("/api/v1/circulation/indicators", "&start=2025-01-01&end=2025-03-01"),
            reading,
        ),
    ]
