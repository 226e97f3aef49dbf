"""The tender API over HTTP: a whole batch, bad input with its reasons, retries, and the OCDS export."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from core.roles import OrgKind, Role
from procurement.catalogue import Product
from tests.procurement.test_ocds import STANDARDS, build_validator

PASSPHRASE = "api-opening-passphrase-1"


@pytest.fixture
def cast(factory, db, api):
    office = factory.org(OrgKind.PROCUREMENT_OFFICE, region_code="350000")
    hospital = factory.org(OrgKind.HOSPITAL, region_code="350203")
    makers = [factory.org(OrgKind.MANUFACTURER, region_code="350100") for _ in range(3)]
    products = []
    for maker in makers:
        product = Product(
            generic_name="氨氯地平片", dosage_form="片剂", strength="5mg", pack_quantity=28, unit="片",
            package_spec="5mg×14片×2板", manufacturer_id=maker.id, gqce_status="passed",
        )  # fmt: skip
        db.add(product)
        products.append(product)
    db.flush()
    return {
        "organiser": api(factory.user(office, roles=(Role.ORGANISER,))),
        "hospital": api(factory.user(hospital, roles=(Role.PHARMACY_MANAGER,))),
        "makers": [api(factory.user(m, roles=(Role.SUPPLIER_REP,))) for m in makers],
        "products": products,
    }


def _tender(cast, seconds: float = 2.0) -> tuple[int, int]:
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()
    body = {"title": "API 批次", "kind": "national_vbp", "rule_set": "vbp.batch10", "bid_deadline": deadline,
            "region_prefix": "35"}  # fmt: skip
    tender = cast["organiser"].post("/api/v1/tenders", json=body)
    assert tender.status_code == 201, tender.get_json()
    tender_id = tender.get_json()["id"]
    lot = cast["organiser"].post(
        f"/api/v1/tenders/{tender_id}/lots",
        json={
            "generic_name": "氨氯地平片",
            "dosage_form": "片剂",
            "reference_strength": "5mg",
            "ceiling_ucp": "0.5000",
        },
    )
    assert lot.status_code == 201, lot.get_json()
    return tender_id, lot.get_json()["id"]


def _to_bidding(cast, tender_id: int, lot_id: int) -> None:
    org = cast["organiser"]
    assert org.patch(f"/api/v1/tenders/{tender_id}", json={"status": "demand_collection"}).status_code == 200
    reported = cast["hospital"].post(f"/api/v1/tenders/{tender_id}/demand", json={"lines": [
        {"lot_id": lot_id, "quantity": 120000, "historical_use": 100000}]})  # fmt: skip
    assert reported.status_code == 201, reported.get_json()
    opened = org.patch(f"/api/v1/tenders/{tender_id}", json={"status": "bidding", "opening_passphrase": PASSPHRASE})
    assert opened.status_code == 200, opened.get_json()


def test_batch_over_http_with_ocds_at_each_stage(cast):
    if not STANDARDS.is_dir():
        pytest.skip(f"the OCDS standard files are not at {STANDARDS} (../shared/standards/ocds)")
    validator = build_validator(STANDARDS)
    tender_id, lot_id = _tender(cast)
    _to_bidding(cast, tender_id, lot_id)
    prices = ["2.8000", "4.2000", "11.2000"]  # 0.10, 0.15 and 0.40 per tablet
    for maker, product, price in zip(cast["makers"], cast["products"], prices, strict=True):
        bid = maker.post(
            f"/api/v1/tenders/{tender_id}/lots/{lot_id}/bids", json={"product_id": product.id, "price": price}
        )
        assert bid.status_code == 201, bid.get_json()
        assert bid.get_json()["price"] is None and bid.get_json()["receipt"]["signature"]
    sealed = cast["organiser"].get(f"/api/v1/tenders/{tender_id}/ocds")
    assert sealed.status_code == 200 and validator.errors(sealed.get_json()) == []
    assert "4.2" not in sealed.get_data(as_text=True)  # no price before opening
    detail = cast["organiser"].get(f"/api/v1/tenders/{tender_id}").get_json()
    assert detail["lots"][0]["bid_count"] == 3 and detail["lots"][0]["demand_total"] == 120000
    time.sleep(2.1)  # past the deadline
    wrong = cast["organiser"].post(f"/api/v1/tenders/{tender_id}/open", json={"passphrase": "not-the-passphrase"})
    assert wrong.status_code == 422 and wrong.get_json()["code"] == "wrong_passphrase"
    opened = cast["organiser"].post(f"/api/v1/tenders/{tender_id}/open", json={"passphrase": PASSPHRASE})
    assert opened.status_code == 200 and sorted(b["price"] for b in opened.get_json()) == sorted(prices)
    again = cast["organiser"].post(f"/api/v1/tenders/{tender_id}/open", json={"passphrase": PASSPHRASE})
    assert again.status_code == 409 and again.get_json()["code"] == "already_opened"
    outcomes = cast["organiser"].post(f"/api/v1/tenders/{tender_id}/evaluate").get_json()
    assert len(outcomes) == 3 and all(o["reason"] and o["rule"] for o in outcomes)
    assert [o["outcome"] for o in sorted(outcomes, key=lambda o: o["ucp"])][:2] == ["won", "won"]
    paged = cast["organiser"].get(f"/api/v1/tenders/{tender_id}/results?page_size=2")
    assert len(paged.get_json()) == 2 and json.loads(paged.headers["X-Pagination"])["total"] == 3
    second = cast["organiser"].get(f"/api/v1/tenders/{tender_id}/results?page_size=2&page=2").get_json()
    assert [o["bid_id"] for o in second] == [o["bid_id"] for o in outcomes][2:]  # every list is paginated
    award = cast["organiser"].post(f"/api/v1/tenders/{tender_id}/award", json={})
    assert award.status_code == 200, award.get_json()
    volumes = award.get_json()["agreed_volumes"]
    assert len(volumes) == 1 and 0 < volumes[0]["agreed_volume"] <= 120000
    mine = cast["hospital"].get(f"/api/v1/tenders/{tender_id}/awards").get_json()
    assert [v["hospital_id"] for v in mine["agreed_volumes"]] == [volumes[0]["hospital_id"]]
    published = cast["hospital"].get(f"/api/v1/tenders/{tender_id}/ocds").get_json()
    assert validator.errors(published) == [] and published["releases"][0]["awards"]


def test_bad_input_is_named_and_nothing_is_saved(cast):
    tender_id, lot_id = _tender(cast, seconds=600)
    org = cast["organiser"]
    assert org.patch(f"/api/v1/tenders/{tender_id}", json={"status": "bidding"}).get_json()["code"] == (
        "transition_not_permitted"
    )
    assert org.patch(f"/api/v1/tenders/{tender_id}", json={"status": "demand_collection"}).status_code == 200
    for quantity in (-5, 1.5, "12"):
        bad = cast["hospital"].post(
            f"/api/v1/tenders/{tender_id}/demand", json={"lines": [{"lot_id": lot_id, "quantity": quantity}]}
        )
        assert bad.status_code == 422 and "lines" in bad.get_json()["errors"]["json"], bad.get_json()
    two = cast["hospital"].post(f"/api/v1/tenders/{tender_id}/demand", json={"lines": [
        {"lot_id": lot_id, "quantity": 900, "historical_use": 1000},
        {"lot_id": lot_id, "quantity": 500, "historical_use": 1000}]})  # fmt: skip
    assert two.status_code == 422 and "lines[1]" in str(two.get_json()["errors"])
    assert cast["hospital"].get(f"/api/v1/tenders/{tender_id}/demand").get_json() == []  # all or nothing
    org.patch(f"/api/v1/tenders/{tender_id}", json={"status": "bidding", "opening_passphrase": PASSPHRASE})
    maker, product = cast["makers"][0], cast["products"][0]
    url = f"/api/v1/tenders/{tender_id}/lots/{lot_id}/bids"
    assert maker.post(url, json={"product_id": product.id, "price": "1.00001"}).status_code == 422
    above = maker.post(url, json={"product_id": product.id, "price": "14.0028"})  # 0.5001 per tablet
    assert above.status_code == 422 and above.get_json()["code"] == "above_ceiling"
    other = maker.post(url, json={"product_id": cast["products"][1].id, "price": "5"})
    assert other.status_code == 403 and other.get_json()["code"] == "not_your_product"
    first = maker.post(url, json={"product_id": product.id, "price": "5.0000"}, headers={"Idempotency-Key": "k-1"})
    retry = maker.post(url, json={"product_id": product.id, "price": "5.0000"}, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, retry.status_code) == (201, 200) and first.get_json()["id"] == retry.get_json()["id"]
    second = maker.post(url, json={"product_id": product.id, "price": "4.0000"})
    assert second.status_code == 409 and second.get_json()["code"] == "duplicate_bid"
    early = org.post(f"/api/v1/tenders/{tender_id}/open", json={"passphrase": PASSPHRASE})
    assert early.status_code == 409 and early.get_json()["code"] == "before_deadline"
    assert org.get(f"/api/v1/tenders/{tender_id}/bids").get_json()["code"] == "sealed_until_opening"
