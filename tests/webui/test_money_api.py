"""The money API over HTTP: invoices with field errors, idempotent payments, due lists, rates and prepayments."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.models import User
from procurement.orders.receiving import receive_shipment
from tests.procurement.order_world import TODAY, build_order_world
from webui.api import money as money_api


@pytest.fixture
def money(db, factory, api):
    ow = build_order_world(db, factory)
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 5)
    receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)  # 70.00 due 15 July
    client = {
        name: api(db.get(User, who.user_id))
        for name, who in {
            "hospital": hospital,
            "other_hospital": ow.hospital(1),
            "distributor": ow.distributor,
            "auditor": ow.world.auditor,
        }.items()
    }
    return ow, shipment, client


def _second(ow, shipment, **changes) -> dict:
    body = {
        "shipment_id": shipment.id,
        "kind": "second",
        "number": "24350000000000000001",
        "issued_on": TODAY.date().isoformat(),
        "seller_org_id": shipment.supplier_id,
        "buyer_org_id": shipment.hospital_id,
        "lines": [
            {
                "product_id": ow.award_of(ow.hospital(0)).product_id,
                "batch": "B2601",
                "quantity": 5,
                "unit_price": "12.3894",
                "tax_rate": "0.13",
                "amount": "61.95",
                "tax": "8.05",
            }
        ],
        "amount": "61.95",
        "tax": "8.05",
        "total": "70.00",
    }
    lines = changes.pop("lines", None)
    if lines:
        body["lines"] = [{**body["lines"][0], **lines}]
    return {**body, **changes}


def test_an_invoice_is_uploaded_read_and_scoped(money):
    ow, shipment, client = money
    response = client["distributor"].post("/api/v1/invoices", json=_second(ow, shipment))
    assert response.status_code == 201, response.get_json()
    invoice = response.get_json()
    assert (invoice["total"], invoice["kind"], invoice["delivery_note_number"]) == (
        "70.0000", "second", shipment.delivery_note_number,
    )  # fmt: skip
    assert [(x["line_no"], x["quantity"], x["unit_price"]) for x in invoice["lines"]] == [(1, 5, "12.3894")]
    read = client["hospital"].get(f"/api/v1/invoices/{invoice['id']}")
    assert read.status_code == 200 and read.get_json()["lines"][0]["amount"] == "61.9500"
    assert client["other_hospital"].get(f"/api/v1/invoices/{invoice['id']}").status_code == 404
    listed = client["auditor"].get("/api/v1/invoices?kind=second")
    assert [i["id"] for i in listed.get_json()] == [invoice["id"]]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1
    assert client["other_hospital"].get("/api/v1/invoices").get_json() == []
    again = client["distributor"].post("/api/v1/invoices", json=_second(ow, shipment))
    assert again.status_code == 409 and again.get_json()["code"] == "duplicate_invoice"


def test_bad_invoices_answer_422_naming_the_line_and_field(money):
    ow, shipment, client = money
    post = lambda body: client["distributor"].post("/api/v1/invoices", json=body)  # noqa: E731
    response = post(_second(ow, shipment, lines={"amount": "61.97"}, amount="61.97", total="70.02"))
    body = response.get_json()
    assert response.status_code == 422 and body["code"] == "bad_invoice"
    assert list(body["errors"]["json"]) == ["lines.0.amount"]
    response = post(_second(ow, shipment, lines={"batch": "NOPE"}))
    assert list(response.get_json()["errors"]["json"]) == ["lines.0.batch"]
    response = post(_second(ow, shipment, total="71.00"))
    assert list(response.get_json()["errors"]["json"]) == ["total"]
    response = post(_second(ow, shipment, lines={"quantity": "5"}))  # quantities are JSON integers
    assert response.status_code == 422 and "quantity" in response.get_json()["errors"]["json"]["lines"]["0"]
    assert client["hospital"].post("/api/v1/invoices", json=_second(ow, shipment)).status_code == 403
    assert client["auditor"].get("/api/v1/invoices").get_json() == []  # nothing half-saved


def test_payments_are_idempotent_and_capped_and_due_lists_follow(money):
    ow, shipment, client = money
    invoice = client["distributor"].post("/api/v1/invoices", json=_second(ow, shipment)).get_json()
    body = {"invoice_id": invoice["id"], "amount": "50.00", "paid_on": "2026-07-10", "reference": "BANK-7"}
    first = client["hospital"].post("/api/v1/payments", json=body, headers={"Idempotency-Key": "p-1"})
    retry = client["hospital"].post("/api/v1/payments", json=body, headers={"Idempotency-Key": "p-1"})
    assert (first.status_code, retry.status_code) == (201, 200), first.get_json()
    assert retry.get_json()["id"] == first.get_json()["id"] and retry.headers["Idempotent-Replayed"] == "true"
    reused = client["hospital"].post(
        "/api/v1/payments", json={**body, "amount": "5.00"}, headers={"Idempotency-Key": "p-1"}
    )
    assert reused.status_code == 409 and reused.get_json()["code"] == "key_reused"
    above = client["hospital"].post("/api/v1/payments", json={**body, "amount": "20.01"})
    assert above.status_code == 422 and "20.00" in above.get_json()["errors"]["json"]["amount"][0]
    assert len(client["distributor"].get("/api/v1/payments").get_json()) == 1
    overdue = client["hospital"].get("/api/v1/payments/due?status=overdue&as_of=2026-08-10").get_json()
    assert [(r["amount"], r["paid"], r["outstanding"], r["due_on"], r["days_late"]) for r in overdue] == [
        ("70.0000", "50.0000", "20.0000", "2026-07-15", 26)
    ]
    assert overdue[0]["invoices"] == [{"id": invoice["id"], "number": invoice["number"], "total": "70.0000"}]
    rate = client["hospital"].get("/api/v1/payments/on-time-rate?start=2026-07-01&end=2026-07-31&as_of=2026-08-10")
    assert rate.status_code == 200, rate.get_json()
    got = rate.get_json()
    assert (got["due_count"], got["on_time_count"], got["count_rate"]) == (1, 0, "0.0000")
    assert (got["on_time_amount"], got["amount_rate"]) == ("50.0000", "0.7143")  # 50 of 70 paid by the due date
    anyone = client["auditor"].get("/api/v1/payments/on-time-rate?start=2026-07-01&end=2026-07-31")
    assert anyone.status_code == 422 and "hospital_id" in anyone.get_json()["errors"]["json"]


def test_prepayments_warn_below_the_minimum_and_show_their_balance(money):
    ow, _shipment, client = money
    hospital_id = ow.hospital(0).org_id
    body = {"hospital_id": hospital_id, "tender_id": ow.tender.id, "amount": "500.00", "received_on": "2026-04-10"}
    response = client["auditor"].post("/api/v1/prepayments", json=body)
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert (made["annual_agreed_amount"], made["minimum_amount"]) == ("3500.0000", "1050.0000")
    assert "below 30%" in made["warning"]
    assert client["hospital"].post("/api/v1/prepayments", json=body).status_code == 403
    assert [p["id"] for p in client["hospital"].get("/api/v1/prepayments").get_json()] == [made["id"]]
    assert client["other_hospital"].get("/api/v1/prepayments").get_json() == []
    balance = client["hospital"].get(f"/api/v1/prepayments/balance?tender_id={ow.tender.id}")
    assert balance.status_code == 200, balance.get_json()
    assert (balance.get_json()["prepaid"], balance.get_json()["balance"]) == ("500.0000", "500.0000")
    foreign = client["other_hospital"].get(
        f"/api/v1/prepayments/balance?tender_id={ow.tender.id}&hospital_id={hospital_id}"
    )
    assert foreign.status_code == 403


def test_the_due_list_is_judged_on_china_s_date_by_default(money, monkeypatch):
    _ow, _shipment, client = money
    # 01:00 on 16 July in Beijing, still 15 July in UTC: the receipt due on 15 July is a day late.
    monkeypatch.setattr(money_api, "utcnow", lambda: dt.datetime(2026, 7, 15, 17, 0, tzinfo=dt.UTC))
    rows = client["hospital"].get("/api/v1/payments/due").get_json()
    assert [(r["due_on"], r["status"], r["days_late"]) for r in rows] == [("2026-07-15", "overdue", 1)]
