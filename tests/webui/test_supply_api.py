"""The supply API over HTTP: reports and amendments, stop notices, problems and answers, the monthly risk check."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.db import utcnow
from core.roles import OrgKind, Role
from procurement.orders.rules import SUPPLY_REPORT_MISSING, SUPPLY_STOCK_OUT
from procurement.orders.supply import china_today, first_of_month, report_due_on
from tests.procurement.supply_world import award_of, order_of, product_of
from tests.webui.test_api_conventions import assert_error


def _months_back(n: int) -> dt.date:
    month = first_of_month(china_today(utcnow()))
    for _ in range(n):
        month = first_of_month(month - dt.timedelta(days=1))
    return month


THIS_MONTH, TWO_AGO = _months_back(0), _months_back(2)  # TWO_AGO was due on the 10th of last month: always late
FIGURES = {"produced": 4000, "inventory": 900, "reserve": 600}


@pytest.fixture
def cast(factory, api):
    supplier = factory.org(OrgKind.MANUFACTURER)
    products = [product_of(factory, supplier) for _ in range(2)]
    for product in products:
        award_of(
            factory,
            supplier=supplier,
            product=product,
            cycle_start=_months_back(12),
            cycle_end=THIS_MONTH + dt.timedelta(days=400),
        )
    hospital = factory.org(OrgKind.HOSPITAL)
    return {
        "supplier": supplier,
        "products": products,
        "hospital": hospital,
        "rep": api(factory.user(supplier, roles=(Role.SUPPLIER_REP,))),
        "pharmacist": api(factory.user(hospital, roles=(Role.PHARMACIST,))),
        "stranger": api(factory.user(factory.org(OrgKind.HOSPITAL), roles=(Role.PHARMACY_MANAGER,))),
        "auditor": api(factory.user(factory.org(OrgKind.INSURANCE_BUREAU), roles=(Role.AUDITOR,))),
    }


def _report(cast, month: dt.date = THIS_MONTH, product: int = 0, **figures):
    body = {"product_id": cast["products"][product].id, "month": f"{month:%Y-%m}", **FIGURES, **figures}
    return cast["rep"].post("/api/v1/supply/reports", json=body)


def test_a_supplier_files_then_amends_a_month_s_report(cast):
    first = _report(cast)
    assert first.status_code == 201, first.json
    assert first.json["month"] == f"{THIS_MONTH:%Y-%m}" and first.json["late"] is False
    assert first.json["due_on"] == report_due_on(THIS_MONTH).isoformat()
    amended = _report(cast, inventory=0)
    assert amended.status_code == 200 and amended.json["id"] == first.json["id"] and amended.json["inventory"] == 0
    listed = cast["rep"].get("/api/v1/supply/reports")
    assert [r["id"] for r in listed.json] == [first.json["id"]]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1
    overseen = cast["auditor"].get(f"/api/v1/supply/reports?month={THIS_MONTH:%Y-%m}&late=false")
    assert first.json["id"] in [r["id"] for r in overseen.json]
    assert_error(cast["pharmacist"].get("/api/v1/supply/reports"), 403, "role_required")


def test_a_report_after_its_due_day_is_late(cast):
    response = _report(cast, month=TWO_AGO)
    assert response.status_code == 201 and response.json["late"] is True


def test_bad_report_fields_are_named(cast, factory):
    body = {"product_id": cast["products"][0].id, "month": "2026-13", "produced": "12", "inventory": -1}
    errors = assert_error(cast["rep"].post("/api/v1/supply/reports", json=body), 422, "validation_error")["errors"]
    assert set(errors["json"]) == {"month", "produced", "inventory", "reserve"}
    future = first_of_month(THIS_MONTH + dt.timedelta(days=40))
    errors = assert_error(_report(cast, month=future), 422, "supply_report_invalid")["errors"]
    assert set(errors["json"]) == {"month"}
    rival_product = product_of(factory, factory.org(OrgKind.MANUFACTURER))
    body = {"product_id": rival_product.id, "month": f"{THIS_MONTH:%Y-%m}", **FIGURES}
    response = cast["rep"].post("/api/v1/supply/reports", json=body)
    assert set(assert_error(response, 422, "supply_report_invalid")["errors"]["json"]) == {"product_id"}


def test_a_stop_notice_reports_its_notice_and_hospitals_see_it(cast):
    stops_on = china_today(utcnow()) + dt.timedelta(days=30)
    body = {
        "product_id": cast["products"][0].id,
        "stops_on": stops_on.isoformat(),
        "planned": True,
        "reason": "生产线搬迁",
    }
    response = cast["rep"].post("/api/v1/supply/stops", json=body)
    assert response.status_code == 201, response.json
    assert response.json["notice_days"] == 30 and response.json["late_notice"] is True
    seen = cast["pharmacist"].get(f"/api/v1/supply/stops?product_id={cast['products'][0].id}")
    assert [s["id"] for s in seen.json] == [response.json["id"]]
    again = cast["rep"].post("/api/v1/supply/stops", json=body)
    assert "stops_on" in assert_error(again, 409, "stop_overlaps")["errors"]
    bad = cast["rep"].post("/api/v1/supply/stops", json={**body, "planned": "yes", "reason": ""})
    assert set(assert_error(bad, 422, "validation_error")["errors"]["json"]) == {"planned", "reason"}


def test_a_hospital_reports_a_problem_and_the_supplier_answers(cast, factory):
    order = order_of(factory, hospital=cast["hospital"], supplier=cast["supplier"], product=cast["products"][0])
    body = {"order_id": order.id, "kind": "late", "description": "约定48小时内送达，已超时"}
    reported = cast["pharmacist"].post("/api/v1/supply/problems", json=body)
    assert reported.status_code == 201, reported.json
    assert reported.json["status"] == "open" and reported.json["supplier_id"] == cast["supplier"].id
    foreign = cast["stranger"].post("/api/v1/supply/problems", json=body)
    assert "order_id" in assert_error(foreign, 404, "order_not_found")["errors"]
    bad = cast["pharmacist"].post("/api/v1/supply/problems", json={**body, "kind": "lost"})
    assert set(assert_error(bad, 422, "validation_error")["errors"]["json"]) == {"kind"}
    assert [p["id"] for p in cast["rep"].get("/api/v1/supply/problems?status=open").json] == [reported.json["id"]]
    path = f"/api/v1/supply/problems/{reported.json['id']}/resolve"
    resolved = cast["rep"].post(path, json={"resolution": "已于次日补送"})
    assert resolved.status_code == 200 and resolved.json["status"] == "resolved" and resolved.json["resolved_at"]
    assert_error(cast["rep"].post(path, json={"resolution": "again"}), 409, "problem_resolved")
    assert cast["stranger"].get("/api/v1/supply/problems").json == []


def test_the_risk_check_raises_each_alert_once(cast, factory):
    _report(cast, month=TWO_AGO, product=0, inventory=0)
    order_of(factory, hospital=cast["hospital"], supplier=cast["supplier"], product=cast["products"][0])
    body = {"month": f"{TWO_AGO:%Y-%m}"}
    first = cast["auditor"].post("/api/v1/supply/risk-checks", json=body)
    assert first.status_code == 200, first.json
    mine = [a for a in first.json["alerts"] if a["subject_org_id"] == cast["supplier"].id]
    assert sorted(a["code"] for a in mine) == [SUPPLY_REPORT_MISSING, SUPPLY_STOCK_OUT]
    missing = next(a for a in mine if a["code"] == SUPPLY_REPORT_MISSING)
    assert missing["evidence"]["product_id"] == cast["products"][1].id and missing["severity"] == "high"
    assert cast["auditor"].post("/api/v1/supply/risk-checks", json=body).json == {"month": body["month"], "alerts": []}
    assert_error(cast["rep"].post("/api/v1/supply/risk-checks", json=body), 403, "role_required")
    bad = cast["auditor"].post("/api/v1/supply/risk-checks", json={"month": "2026/03"})
    assert set(assert_error(bad, 422, "validation_error")["errors"]["json"]) == {"month"}
