"""Rows of the authorization matrix for the supply endpoints, and the awards, orders and problems they act on.

"own" is a product the caller's organisation won, an order its hospital placed or a problem reported against it;
"foreign" is the same belonging to another organisation.
"""

from __future__ import annotations

import datetime as dt

from core.db import utcnow
from core.roles import OrgKind, Role
from procurement.orders.supply import china_today, first_of_month
from procurement.orders.supply_models import SupplyProblem
from tests.procurement.supply_world import award_of, order_of, product_of

HOSPITAL_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER)
OVERSEERS = (Role.ADMIN, Role.AUDITOR, Role.ORGANISER)


def _cache(w) -> dict:
    if getattr(w, "_supply", None) is None:
        w._supply = {}
    return w._supply


def _party(w, scope: str, roles: tuple[Role, ...], kind: OrgKind):
    """The caller's organisation when it plays this part in its own scope, else another of the kind."""
    cache = _cache(w)
    if (scope, kind) not in cache:
        own = scope == "own" and w.role in roles
        cache[(scope, kind)] = w.own_org if own else w.factory.org(kind)
    return cache[(scope, kind)]


def _won_product(w, scope: str):
    cache = _cache(w)
    if (scope, "product") not in cache:
        supplier = _party(w, scope, (Role.SUPPLIER_REP,), OrgKind.MANUFACTURER)
        product = product_of(w.factory, supplier)
        today = china_today(utcnow())
        award_of(
            w.factory,
            supplier=supplier,
            product=product,
            cycle_start=today - dt.timedelta(days=365),
            cycle_end=today + dt.timedelta(days=365),
        )
        cache[(scope, "product")] = product
    return cache[(scope, "product")]


def _order(w, scope: str):
    hospital = _party(w, scope, HOSPITAL_ROLES, OrgKind.HOSPITAL)
    supplier = _party(w, scope, (Role.SUPPLIER_REP,), OrgKind.MANUFACTURER)
    return order_of(w.factory, hospital=hospital, supplier=supplier, product=_won_product(w, scope))


def _problem_id(w, scope: str) -> int:
    order = _order(w, scope)
    problem = SupplyProblem(
        order_id=order.id, hospital_id=order.hospital_id, supplier_id=order.supplier_id, kind="late", description="迟送"
    )
    w.factory.db.add(problem)
    w.factory.db.flush()
    return problem.id


def _by_role(values: dict[Role, tuple[int, int]], default: tuple[int, int]) -> dict[Role, tuple[int, int]]:
    return {role: values.get(role, default) for role in Role}


def supply_rows(Row):
    """Return the matrix rows of the supply endpoints."""
    everyone = dict.fromkeys(Role, (200, 200))
    overseers = _by_role(dict.fromkeys(OVERSEERS, (200, 200)), (403, 403))
    supplier_write = _by_role({Role.SUPPLIER_REP: (201, 422)}, (403, 403))  # foreign: not a product it won

    def report(w, scope):
        month = first_of_month(china_today(utcnow()))
        body = {
            "product_id": _won_product(w, scope).id,
            "month": f"{month:%Y-%m}",
            "produced": 10,
            "inventory": 5,
            "reserve": 5,
        }
        return "POST", "/api/v1/supply/reports", body

    def stop(w, scope):
        stops_on = china_today(utcnow()) + dt.timedelta(days=200)
        body = {
            "product_id": _won_product(w, scope).id,
            "stops_on": stops_on.isoformat(),
            "planned": True,
            "reason": "计划停产",
        }
        return "POST", "/api/v1/supply/stops", body

    def problem(w, scope):
        return (
            "POST",
            "/api/v1/supply/problems",
            {"order_id": _order(w, scope).id, "kind": "short", "description": "少"},
        )

    def resolve(w, scope):
        return "POST", f"/api/v1/supply/problems/{_problem_id(w, scope)}/resolve", {"resolution": "已补发"}

    def risk_check(w, scope):
        return "POST", "/api/v1/supply/risk-checks", {"month": f"{first_of_month(china_today(utcnow())):%Y-%m}"}

    return [
        Row(
            "GET",
            "/api/v1/supply/reports",
            lambda w, s: ("GET", "/api/v1/supply/reports", None),
            _by_role({**dict.fromkeys(OVERSEERS, (200, 200)), Role.SUPPLIER_REP: (200, 200)}, (403, 403)),
        ),
        Row("POST", "/api/v1/supply/reports", report, supplier_write),
        Row("GET", "/api/v1/supply/stops", lambda w, s: ("GET", "/api/v1/supply/stops", None), everyone),
        Row("POST", "/api/v1/supply/stops", stop, supplier_write),
        Row("GET", "/api/v1/supply/problems", lambda w, s: ("GET", "/api/v1/supply/problems", None), everyone),
        Row(
            "POST",
            "/api/v1/supply/problems",
            problem,
            _by_role(dict.fromkeys(HOSPITAL_ROLES, (201, 404)), (403, 403)),
        ),
        Row(
            "POST",
            "/api/v1/supply/problems/<int:problem_id>/resolve",
            resolve,
            _by_role({Role.SUPPLIER_REP: (200, 404)}, (403, 403)),
        ),
        Row("POST", "/api/v1/supply/risk-checks", risk_check, overseers),
    ]
