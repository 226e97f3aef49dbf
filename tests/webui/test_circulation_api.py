"""The circulation API over HTTP: filing finance reports (upsert: 201 new, 200 replaced), listing them, indicators."""

from __future__ import annotations

import json

import pytest

from core.roles import OrgKind, Role
from tests.webui.test_api_conventions import assert_error

MARCH = {
    "month": "2025-03",
    "service_income": "400.00",
    "drug_income": "300.00",
    "consumable_income": "100.00",
    "test_income": "200.00",
    "insured_in_catalogue": "870.00",
    "insured_out_of_catalogue": "130.00",  # 130 / 1000 = 13 % > 12 %
}


@pytest.fixture
def cast(factory, api):
    hospital = factory.org(OrgKind.HOSPITAL, hospital_grade="2A")
    return {
        "hospital": hospital,
        "pharmacist": api(factory.user(hospital, roles=(Role.PHARMACIST,))),
        "stranger": api(factory.user(factory.org(OrgKind.HOSPITAL), roles=(Role.PHARMACY_MANAGER,))),
        "auditor": api(factory.user(factory.org(OrgKind.INSURANCE_BUREAU), roles=(Role.AUDITOR,))),
        "supplier": api(factory.user(factory.org(OrgKind.DISTRIBUTOR), roles=(Role.SUPPLIER_REP,))),
    }


def test_filing_a_report_and_filing_it_again(cast):
    pharmacist, hospital = cast["pharmacist"], cast["hospital"]
    created = pharmacist.post("/api/v1/hospital-finance/reports", json=MARCH)
    assert created.status_code == 201, created.json
    body = created.json
    assert (body["hospital_id"], body["month"], body["source"]) == (hospital.id, "2025-03", "hospital")
    assert body["insured_out_of_catalogue"] == "130.0000" and body["updated_at"] is None
    resent = pharmacist.post("/api/v1/hospital-finance/reports", json=MARCH)
    assert resent.status_code == 200 and resent.json["id"] == body["id"]
    corrected = cast["auditor"].post(
        "/api/v1/hospital-finance/reports",
        json={**MARCH, "hospital_id": hospital.id, "insured_out_of_catalogue": "120.00", "insured_in_catalogue": "880"},
    )
    assert corrected.status_code == 200 and corrected.json["source"] == "auditor"
    assert corrected.json["id"] == body["id"] and corrected.json["updated_at"] is not None
    listed = cast["auditor"].get(f"/api/v1/hospital-finance/reports?hospital_id={hospital.id}")
    assert [r["insured_out_of_catalogue"] for r in listed.json] == ["120.0000"]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1


def test_bad_reports_get_field_errors(cast):
    pharmacist = cast["pharmacist"]
    negative = pharmacist.post("/api/v1/hospital-finance/reports", json={**MARCH, "drug_income": "-1"})
    assert "drug_income" in assert_error(negative, 422, "validation_error")["errors"]["json"]
    month = pharmacist.post("/api/v1/hospital-finance/reports", json={**MARCH, "month": "2025-13"})
    assert "month" in assert_error(month, 422, "validation_error")["errors"]["json"]
    future = pharmacist.post("/api/v1/hospital-finance/reports", json={**MARCH, "month": "2099-01"})
    assert "month" in assert_error(future, 422, "invalid")["errors"]["json"]
    missing = {k: v for k, v in MARCH.items() if k != "test_income"}
    assert "test_income" in pharmacist.post("/api/v1/hospital-finance/reports", json=missing).json["errors"]["json"]
    unnamed = cast["auditor"].post("/api/v1/hospital-finance/reports", json=MARCH)
    assert "hospital_id" in assert_error(unnamed, 422, "invalid")["errors"]["json"]
    foreign = cast["stranger"].post(
        "/api/v1/hospital-finance/reports", json={**MARCH, "hospital_id": cast["hospital"].id}
    )
    assert_error(foreign, 403, "foreign_organisation")
    assert_error(cast["supplier"].get("/api/v1/hospital-finance/reports"), 403, "role_required")


def test_indicators_per_hospital_month_with_no_data(cast):
    pharmacist, hospital = cast["pharmacist"], cast["hospital"]
    assert pharmacist.post("/api/v1/hospital-finance/reports", json=MARCH).status_code == 201
    response = pharmacist.get("/api/v1/circulation/indicators?start=2025-03-01&end=2025-05-01")
    assert response.status_code == 200, response.json
    march, april = response.json
    assert (march["month"], march["no_data"], march["report_id"] is not None) == ("2025-03", False, True)
    assert (march["out_of_catalogue_share"], march["out_of_catalogue_limit"], march["above_limit"]) == (
        "0.1300",
        "0.1200",
        True,
    )
    assert march["structure"] == {"service": "0.4000", "drugs_consumables": "0.4000", "tests": "0.2000"}
    assert march["structure_applies"] is True and march["off_target"] is True
    assert (april["month"], april["no_data"], april["out_of_catalogue_share"], april["above_limit"]) == (
        "2025-04",
        True,
        None,
        None,
    )
    foreign = cast["stranger"].get(
        f"/api/v1/circulation/indicators?start=2025-03-01&end=2025-05-01&hospital_id={hospital.id}"
    )
    assert_error(foreign, 403, "foreign_organisation")
    auditor = cast["auditor"].get(
        f"/api/v1/circulation/indicators?start=2025-03-01&end=2025-04-01&hospital_id={hospital.id}"
    )
    assert [(r["hospital_id"], r["above_limit"]) for r in auditor.json] == [(hospital.id, True)]
    assert_error(pharmacist.get("/api/v1/circulation/indicators?start=2025-03-01"), 422, "validation_error")
    backwards = pharmacist.get("/api/v1/circulation/indicators?start=2025-05-01&end=2025-03-01")
    assert "end" in assert_error(backwards, 422, "invalid")["errors"]["json"]
