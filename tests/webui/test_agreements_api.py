"""The agreements API over HTTP: progress against time, the behind-time check, declarations and online share.

On 2026-06-15 the batch-10 world is on day 76 of its first agreement year (2026-04-01 to 2027-03-31, 365 days).
The first hospital agreed 7,000 tablets a year; 30 packs of 28 received make 840: completion 0.12 against time
0.2082, behind (0.12 < 0.80 × 0.2082), at a pace of 840 × 365 ÷ (7,000 × 76) = 0.5763.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.models import User
from procurement.orders.receiving import receive_shipment
from tests.procurement.order_world import TODAY, build_order_world

ON = TODAY.date().isoformat()


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


@pytest.fixture
def as_actor(api, db):
    return lambda actor: api(db.get(User, actor.user_id))


def _receive(ow, db, hospital, packs: int) -> None:
    _, shipment, codes = ow.shipped(hospital, packs)
    receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)


def test_progress_rows_over_http(ow, db, as_actor):
    hospital = ow.hospital(0)
    _receive(ow, db, hospital, 30)
    response = as_actor(hospital).get(f"/api/v1/agreements/progress?on={ON}")
    assert response.status_code == 200, response.json
    [row] = response.json
    assert row["hospital_id"] == hospital.org_id and row["status"] == "behind"
    assert (row["agreed_volume"], row["received_units"], row["ordered_units"]) == (7000, "840.0000", "840.0000")
    assert (row["completion"], row["time_progress"], row["pace"]) == ("0.1200", "0.2082", "0.5763")
    assert (row["period_start"], row["period_end"], row["warning_share"]) == ("2026-04-01", "2027-03-31", "0.80")
    assert row["unit_price"] == "14.0000" and row["received_amount"] == "420.0000"
    auditor = as_actor(ow.world.auditor)
    page = auditor.get(f"/api/v1/agreements/progress?on={ON}&status=behind&page_size=2")
    assert len(page.json) == 2 and json.loads(page.headers["X-Pagination"])["total"] == 3
    assert auditor.get(f"/api/v1/agreements/progress?on={ON}&status=ahead").json == []
    assert auditor.get("/api/v1/agreements/progress?status=late").status_code == 422
    other = ow.hospital(1).org_id
    refused = as_actor(hospital).get(f"/api/v1/agreements/progress?hospital_id={other}")
    assert refused.status_code == 403 and refused.json["code"] == "foreign_organisation"


def test_progress_check_raises_each_alert_once(ow, as_actor):
    auditor = as_actor(ow.world.auditor)
    first = auditor.post("/api/v1/agreements/progress-checks", json={"on": ON})
    assert first.status_code == 200, first.json
    assert first.json["on"] == ON and len(first.json["alerts"]) == 3  # nothing bought yet anywhere
    alert = first.json["alerts"][0]
    assert alert["code"] == "ORDERS-PROGRESS-BEHIND-TIME" and alert["object_id"].startswith("2026-06/")
    again = auditor.post("/api/v1/agreements/progress-checks", json={"on": ON})
    assert again.status_code == 200 and again.json["alerts"] == []
    future = auditor.post("/api/v1/agreements/progress-checks", json={"on": "2999-01-01"})
    assert future.status_code == 422 and "on" in future.json["errors"]["json"]
    assert as_actor(ow.hospital(0)).post("/api/v1/agreements/progress-checks", json={}).status_code == 403


def test_declarations_feed_the_online_share(ow, db, as_actor):
    hospital, other = ow.hospital(0), ow.hospital(1)
    _receive(ow, db, hospital, 30)  # 420.0000 of drugs on the platform
    caller = as_actor(hospital)
    body = {"month": "2026-06", "product_kind": "drug", "description": "急救用药", "amount": "20.0000",
            "reason": "平台缺货"}  # fmt: skip
    created = caller.post("/api/v1/agreements/offline-purchases", json=body)
    assert created.status_code == 201, created.json
    assert (created.json["hospital_id"], created.json["month"], created.json["amount"]) == (
        hospital.org_id,
        "2026-06",
        "20.0000",
    )
    as_actor(other).post("/api/v1/agreements/offline-purchases", json={**body, "amount": "5"})
    assert [r["id"] for r in caller.get("/api/v1/agreements/offline-purchases").json] == [created.json["id"]]
    everyone = as_actor(ow.world.auditor).get("/api/v1/agreements/offline-purchases").json
    assert len(everyone) == 2
    for bad, field in (
        ({"amount": "1.00001"}, "amount"),
        ({"month": "2026-13"}, "month"),
        ({"month": "2999-01"}, "month"),
        ({"product_kind": "food"}, "product_kind"),
        ({"reason": ""}, "reason"),
    ):
        refused = caller.post("/api/v1/agreements/offline-purchases", json={**body, **bad})
        assert refused.status_code == 422 and field in refused.json["errors"]["json"], (bad, refused.json)
    foreign = caller.post("/api/v1/agreements/offline-purchases", json={**body, "hospital_id": other.org_id})
    assert foreign.status_code == 403
    share = caller.get("/api/v1/agreements/online-share?start=2026-06-01&end=2026-06-30")
    assert share.status_code == 200, share.json
    drug = next(r for r in share.json if r["kind"] == "drug")
    assert (drug["platform_amount"], drug["offline_amount"], drug["share"]) == ("420.0000", "20.0000", "0.9545")
    assert (drug["target"], drug["meets_target"]) == ("0.95", True)
    consumable = next(r for r in share.json if r["kind"] == "consumable")
    assert (consumable["share"], consumable["meets_target"], consumable["target"]) == (None, None, "0.85")
    overseen = as_actor(ow.world.organiser).get("/api/v1/agreements/online-share?start=2026-06-01&end=2026-06-30")
    assert {r["hospital_id"] for r in overseen.json} == {hospital.org_id, other.org_id}
    backwards = caller.get("/api/v1/agreements/online-share?start=2026-06-30&end=2026-06-01")
    assert backwards.status_code == 422
    assert as_actor(ow.distributor).get("/api/v1/agreements/online-share").status_code == 403


def test_a_default_day_is_today_in_china(ow, as_actor):
    response = as_actor(ow.world.auditor).get("/api/v1/agreements/progress")
    assert response.status_code == 200
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    assert {row["on"] for row in response.json} == {today}
