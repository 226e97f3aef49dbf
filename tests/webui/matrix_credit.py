"""Rows of the authorization matrix for the credit-rating endpoints (rulebook 6).

"own" is a case about the caller's firm when the caller is a supplier, else about a fresh manufacturer; "foreign"
is a case about another firm. Cases are staged as the platform (a system actor): a 2020 一般 bribery case of
20,000 yuan on the world's product, which needs the repair measures ①④⑤⑥ before it can be approved.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from core.actor import Actor
from core.db import utcnow
from core.roles import OrgKind, Role
from procurement.audit import credit, credit_disposal

SYSTEM = Actor.system("matrix")
SUPPLIER_KINDS = (OrgKind.MANUFACTURER.value, OrgKind.DISTRIBUTOR.value)
REQUIRED = ("stop_conduct", "compliance_report", "remove_inflated_margin", "return_gains")
_numbers = itertools.count(1)


def _supplier(w, scope: str):
    """Return the firm a scope's case is about: the caller's own firm if it is one, else a cached manufacturer."""
    cache = w.__dict__.setdefault("_credit_suppliers", {})
    if scope not in cache:
        org = w.org(scope)
        cache[scope] = org if org.kind in SUPPLIER_KINDS else w.factory.org(OrgKind.MANUFACTURER)
    return cache[scope]


def _case_body(w, scope: str) -> dict:
    return {
        "supplier_id": _supplier(w, scope).id,
        "category": "bribery",
        "conduct_date": "2024-05-01",
        "decision_date": "2025-03-01",
        "evidence_source": "administrative_penalty",
        "decision_number": f"矩阵罚〔2025〕{next(_numbers)}号",
        "cumulative_amount": "20000",
        "product_ids": [w.product.id],
        "province": "35",
    }


def staged_case(w, scope: str, *, repaired: bool = False):
    """Return (once per scope) a recorded case; with ``repaired`` its required measures are reported too."""
    cache = w.__dict__.setdefault("_credit_cases", {})
    if scope not in cache:
        body = _case_body(w, scope)
        data = credit.CaseIn(
            **{k: body[k] for k in ("supplier_id", "category", "evidence_source", "decision_number", "province")},
            conduct_date=dt.date(2024, 5, 1),
            decision_date=dt.date(2025, 3, 1),
            cumulative_amount=Decimal("20000"),
            product_ids=(w.product.id,),
        )
        cache[scope] = credit.record_case(w.factory.db, data=data, actor=SYSTEM)[0]
    case = cache[scope]
    if repaired:
        measures = [{"measure": m, "evidence": "矩阵证明"} for m in REQUIRED]
        credit_disposal.record_repair(
            w.factory.db, case=case, measures=measures, note="", actor=SYSTEM, on=utcnow().date()
        )
    return case


def credit_rows(Row):
    """Return the matrix rows of the credit endpoints."""
    others = dict.fromkeys((Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.ORGANISER), (403, 403))
    overseers = {Role.AUDITOR: (200, 200), Role.ADMIN: (200, 200)}
    reading_lists = {**others, **overseers, Role.SUPPLIER_REP: (200, 200)}
    recording = {**others, Role.SUPPLIER_REP: (403, 403), Role.AUDITOR: (201, 201), Role.ADMIN: (201, 201)}
    reading_one = {**others, **overseers, Role.SUPPLIER_REP: (200, 404)}
    repairing = {**others, Role.SUPPLIER_REP: (201, 404), Role.AUDITOR: (201, 201), Role.ADMIN: (201, 201)}
    approving = {**others, **overseers, Role.SUPPLIER_REP: (403, 404)}

    def case(w, scope):
        return "GET", f"/api/v1/credit/cases/{staged_case(w, scope).id}", None

    def repair(w, scope):
        body = {"measures": [{"measure": "stop_conduct", "evidence": "已停止"}]}
        return "POST", f"/api/v1/credit/cases/{staged_case(w, scope).id}/repairs", body

    def approval(w, scope):
        return "POST", f"/api/v1/credit/cases/{staged_case(w, scope, repaired=True).id}/approval", {}

    return [
        Row("GET", "/api/v1/credit/cases", lambda w, s: ("GET", "/api/v1/credit/cases", None), reading_lists),
        Row("POST", "/api/v1/credit/cases", lambda w, s: ("POST", "/api/v1/credit/cases", _case_body(w, s)), recording),
        Row("GET", "/api/v1/credit/cases/<int:case_id>", case, reading_one),
        Row("POST", "/api/v1/credit/cases/<int:case_id>/repairs", repair, repairing),
        Row("POST", "/api/v1/credit/cases/<int:case_id>/approval", approval, approving),
        Row("GET", "/api/v1/credit/ratings", lambda w, s: ("GET", "/api/v1/credit/ratings", None), reading_lists),
    ]
