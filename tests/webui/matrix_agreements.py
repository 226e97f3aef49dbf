"""Rows of the authorization matrix for the agreements endpoints.

"own" names the caller's organisation as the hospital asked about or declaring; "foreign" names another one. A
hospital asking about another hospital is refused (403) by progress and online share; the offline-purchase list
quietly keeps a hospital to its own declarations, so it answers 200 either way.
"""

from __future__ import annotations

from core.roles import Role

HOSPITAL_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER)
OVERSEERS = (Role.AUDITOR, Role.ORGANISER, Role.ADMIN)


def _by_role(values: dict[Role, tuple[int, int]], default: tuple[int, int]) -> dict[Role, tuple[int, int]]:
    return {role: values.get(role, default) for role in Role}


def _get(path: str):
    return lambda w, scope: ("GET", f"{path}?hospital_id={w.org(scope).id}", None)


def _declaration(w, scope: str):
    body = {
        "hospital_id": w.org(scope).id,
        "month": "2025-06",
        "product_kind": "drug",
        "description": "急救药品",
        "amount": "120.5000",
        "reason": "平台缺货",
    }
    return "POST", "/api/v1/agreements/offline-purchases", body


def agreement_rows(Row):
    """Return the matrix rows of the agreements endpoints."""
    own_hospital = dict.fromkeys(HOSPITAL_ROLES, (200, 403))
    progress = _by_role(own_hospital, (200, 200))
    share = _by_role({**own_hospital, **dict.fromkeys(OVERSEERS, (200, 200))}, (403, 403))
    offline_list = _by_role(dict.fromkeys((*HOSPITAL_ROLES, Role.AUDITOR, Role.ADMIN), (200, 200)), (403, 403))
    declare = _by_role(dict.fromkeys(HOSPITAL_ROLES, (201, 403)), (403, 403))
    check = _by_role(dict.fromkeys(OVERSEERS, (200, 200)), (403, 403))
    return [
        Row("GET", "/api/v1/agreements/progress", _get("/api/v1/agreements/progress"), progress),
        Row("GET", "/api/v1/agreements/online-share", _get("/api/v1/agreements/online-share"), share),
        Row("GET", "/api/v1/agreements/offline-purchases", _get("/api/v1/agreements/offline-purchases"), offline_list),
        Row("POST", "/api/v1/agreements/offline-purchases", _declaration, declare),
        Row(
            "POST",
            "/api/v1/agreements/progress-checks",
            lambda w, s: ("POST", "/api/v1/agreements/progress-checks", {}),
            check,
        ),
    ]
