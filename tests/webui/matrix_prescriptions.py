"""Rows of the authorization matrix for the prescription endpoints: imports, their reports, physicians.

An import always lands in the caller's own hospital, so "own" rows name a physician registered there and "foreign"
rows one registered only in the other hospital: the import is refused row by row (422), never stored elsewhere.
An import to read is staged for the scope's organisation; a hospital reads only its own, auditors every one.
"""

from __future__ import annotations

import itertools

from core.roles import Role
from procurement.audit.prescription_models import Physician, PrescriptionImport
from tests.webui.matrix_orders import HOSPITAL_ROLES

_n = itertools.count(1)


def _physician(w, scope: str) -> str:
    code = f"M{next(_n)}"
    w.factory.db.add(Physician(hospital_id=w.org(scope).id, code=code, name="医生", department="内科"))
    w.factory.db.flush()
    return code


def _rows_body(w, scope: str) -> dict:
    return {
        "rows": [
            {
                "prescription_no": f"MX{next(_n)}",
                "patient_id": "P-1",
                "physician_code": _physician(w, scope),
                "setting": "门诊",
                "prescribed_on": "2026-06-01",
                "product_id": w.product.id,
                "quantity": 1,
                "days_supply": 7,
                "amount": "28.00",
            }
        ]
    }


def staged_import(w, scope: str) -> PrescriptionImport:
    """Return (once) a refused import filed under the scope's organisation."""
    cache = w.__dict__.setdefault("_rx_imports", {})
    if scope not in cache:
        record = PrescriptionImport(
            hospital_id=w.org(scope).id,
            source="api",
            sha256="0" * 64,
            status="rejected",
            error_count=1,
            report={"columns": [], "rows": [], "errors": [{"row": 1, "code": "no_rows", "message": "x"}]},
            created_by_name="matrix",
        )
        w.factory.db.add(record)
        w.factory.db.flush()
        cache[scope] = record
    return cache[scope]


def prescription_rows(Row):
    """Return the matrix rows of the prescription endpoints."""

    def by_role(hospital: tuple[int, int], auditor: tuple[int, int]) -> dict[Role, tuple[int, int]]:
        values = {**dict.fromkeys(HOSPITAL_ROLES, hospital), Role.AUDITOR: auditor}
        return {role: values.get(role, (403, 403)) for role in Role}

    def get(path):
        return lambda w, s: ("GET", path(w, s), None)

    def one(w, s):
        return f"/api/v1/prescriptions/imports/{staged_import(w, s).id}"

    def physicians(w, s):
        return {"physicians": [{"code": f"N{next(_n)}", "name": "新医生", "department": "儿科"}]}

    return [
        Row(
            "POST",
            "/api/v1/prescriptions/imports",
            lambda w, s: ("POST", "/api/v1/prescriptions/imports", _rows_body(w, s)),
            by_role((201, 422), (403, 403)),
        ),
        Row(
            "GET",
            "/api/v1/prescriptions/imports",
            get(lambda w, s: "/api/v1/prescriptions/imports"),
            by_role((200, 200), (200, 200)),
        ),
        Row("GET", "/api/v1/prescriptions/imports/<int:import_id>", get(one), by_role((200, 404), (200, 200))),
        Row(
            "GET",
            "/api/v1/prescriptions/imports/<int:import_id>/report.xlsx",
            get(lambda w, s: one(w, s) + "/report.xlsx"),
            by_role((200, 404), (200, 200)),
        ),
        Row("GET", "/api/v1/physicians", get(lambda w, s: "/api/v1/physicians"), by_role((200, 200), (200, 200))),
        Row(
            "POST",
            "/api/v1/physicians",
            lambda w, s: ("POST", "/api/v1/physicians", physicians(w, s)),
            by_role((201, 201), (403, 403)),
        ),
    ]
