"""Rows of the authorization matrix for the surplus endpoints: results, their Excel export, and the bureau's inputs.

Results are asked for the caller's organisation (own) or another one (foreign): auditors and administrators see
every hospital's, a hospital only its own, suppliers and organisers none. Inputs are the insurance bureau's to set:
an insured share for a bare award's hospital, in the caller's scope or not, is the auditor's alone.
"""

from __future__ import annotations

from core.roles import Role
from tests.webui.matrix_orders import HOSPITAL_ROLES, staged_award


def _by_role(values: dict[Role, tuple[int, int]], default: tuple[int, int]) -> dict[Role, tuple[int, int]]:
    return {role: values.get(role, default) for role in Role}


def _results(path: str):
    def build(w, scope: str):
        return "GET", f"{path}?hospital_id={w.org(scope).id}", None

    return build


def _inputs(w, scope: str):
    award, hospital = staged_award(w, scope)
    share = {"tender_id": award.tender_id, "hospital_id": hospital.id, "generic_name": "矩阵药", "share": "0.8"}
    return "POST", "/api/v1/surplus/inputs", {"insured_shares": [share]}


def surplus_rows(Row):
    """Return the matrix rows of the surplus endpoints."""
    reading = _by_role(
        {**dict.fromkeys(HOSPITAL_ROLES, (200, 403)), Role.AUDITOR: (200, 200), Role.ADMIN: (200, 200)}, (403, 403)
    )
    return [
        Row("GET", "/api/v1/surplus", _results("/api/v1/surplus"), reading),
        Row("GET", "/api/v1/surplus/export.xlsx", _results("/api/v1/surplus/export.xlsx"), reading),
        Row("POST", "/api/v1/surplus/inputs", _inputs, _by_role({Role.AUDITOR: (200, 200)}, (403, 403))),
    ]
