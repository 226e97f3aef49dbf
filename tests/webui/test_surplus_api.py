"""The surplus API over HTTP: results with their breakdown by role, filters, the Excel export, and inputs.

The world is ``tests/procurement/surplus_world``: hospital 0 receives 110 packs (3,080 tablets, 280 above the agreed
2,800) at 14.00 a pack. Budget 3,360.00; spend 1,400 × 0.56 = 784.00; surplus base 2,576.00; score 70 → tier B
(40 %): 1,030.40 retained.
"""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from core.models import User
from procurement.audit import surplus
from tests.procurement.order_world import build_order_world
from tests.procurement.surplus_world import PERIOD, receive, setup_hospital


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


@pytest.fixture
def as_actor(api, db):
    return lambda actor: api(db.get(User, actor.user_id))


@pytest.fixture
def computed(ow, db):
    hospital, _award, _volume = setup_hospital(ow, db)
    receive(ow, db, hospital, 110)
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    db.flush()
    return hospital


def test_results_with_their_breakdown(ow, computed, as_actor):
    response = as_actor(ow.world.auditor).get(f"/api/v1/surplus?hospital_id={computed.org_id}")
    assert response.status_code == 200, response.json
    [row] = response.json
    assert (row["budget"], row["spend"], row["surplus_base"]) == ("3360.0000", "784.0000", "2576.0000")
    assert (row["score"], row["tier"], row["ratio"], row["retained"]) == ("70.0000", "B", "0.4000", "1030.4000")
    assert (row["status"], row["final"], row["year_start"], row["measured_to"]) == (
        "retained", True, "2026-05-07", "2026-08-14"
    )  # fmt: skip
    terms = {t["name"]: t for t in row["breakdown"]["terms"]}
    assert terms["excluded_above_agreed"]["value"] == "140.0000"
    assert terms["budget"]["formula"].startswith("base × pre-tender price")
    assert row["rule"]["version"] == "2024-shenzhen" and row["allocations"] == []
    everyone = as_actor(ow.world.auditor).get("/api/v1/surplus?page_size=1")
    assert json.loads(everyone.headers["X-Pagination"])["total"] == 3  # the other two hospitals' years too


def test_a_hospital_sees_its_own_only(ow, computed, as_actor):
    own = as_actor(computed).get("/api/v1/surplus")
    assert [r["hospital_id"] for r in own.json] == [computed.org_id]
    other = as_actor(ow.hospital(1))
    assert computed.org_id not in [r["hospital_id"] for r in other.get("/api/v1/surplus").json]
    refused = other.get(f"/api/v1/surplus?hospital_id={computed.org_id}")
    assert (refused.status_code, refused.json["code"]) == (403, "foreign_organisation")
    assert as_actor(ow.distributor).get("/api/v1/surplus").status_code == 403


def test_filters_by_tender_and_generic_name(ow, computed, as_actor):
    auditor = as_actor(ow.world.auditor)
    assert len(auditor.get(f"/api/v1/surplus?tender_id={ow.tender.id}").json) == 3
    assert auditor.get(f"/api/v1/surplus?tender_id={ow.tender.id + 999}").json == []
    assert len(auditor.get("/api/v1/surplus?generic_name=阿托伐他汀钙片").json) == 3
    assert auditor.get("/api/v1/surplus?generic_name=不存在").json == []
    assert auditor.get("/api/v1/surplus?hospital_id=abc").status_code == 422


def test_export_as_excel(ow, computed, as_actor):
    response = as_actor(computed).get("/api/v1/surplus/export.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    rows = list(book["结余留用 results"].values)
    assert len(rows) == 2 and rows[1][17] == "1030.4000" and rows[1][13] == "0.4000"


def test_inputs_are_saved_whole_or_refused_with_the_rows_named(ow, db, as_actor, factory):
    auditor = as_actor(ow.world.auditor)
    hospital = ow.hospital(0)
    body = {
        "baseline_prices": [{"tender_id": ow.tender.id, "generic_name": ow.lot.generic_name, "unit": ow.lot.unit,
                             "price": "1.2000", "region_code": "3502"}],
        "insured_shares": [{"tender_id": ow.tender.id, "hospital_id": hospital.org_id,
                            "generic_name": ow.lot.generic_name, "share": "0.7500"}],
        "member_shares": [{"general_hospital_id": hospital.org_id,
                           "members": [{"hospital_id": hospital.org_id, "share": "1"}]}],
    }  # fmt: skip
    saved = auditor.post("/api/v1/surplus/inputs", json=body)
    assert saved.status_code == 200, saved.json
    assert saved.json["baseline_prices"][0]["price"] == "1.2000"
    assert saved.json["insured_shares"][0]["share"] == "0.7500"
    assert saved.json["member_shares"] == [
        {"general_hospital_id": hospital.org_id, "member_id": hospital.org_id, "share": "1.0000"}
    ]
    again = auditor.post("/api/v1/surplus/inputs", json=body)
    assert again.json["baseline_prices"][0]["id"] == saved.json["baseline_prices"][0]["id"]
    body["member_shares"][0]["members"][0]["share"] = "0.9"
    body["baseline_prices"][0]["price"] = "-1"
    refused = auditor.post("/api/v1/surplus/inputs", json=body)
    assert refused.status_code == 422 and refused.json["code"] == "surplus_inputs_invalid"
    assert set(refused.json["errors"]["json"]) == {"baseline_prices[0].price", "member_shares[0].members"}
    assert as_actor(hospital).post("/api/v1/surplus/inputs", json=body).status_code == 403
    shape = auditor.post("/api/v1/surplus/inputs", json={"insured_shares": [{"tender_id": "x"}]})
    assert shape.status_code == 422
