"""The prescription API: file and JSON imports, retries that answer with the first import, refused imports with
their row-level report and downloadable workbook, and each hospital's physician registry."""

from __future__ import annotations

import io

import openpyxl
import pytest
import sqlalchemy as sa

from core.models import User
from procurement.audit.prescription_models import Prescription
from tests.procurement.rx_world import HEADER_ZH, PATIENT, build_rx_world, csv_bytes


@pytest.fixture
def w(db, factory):
    return build_rx_world(db, factory)


def _user(db, actor):
    return db.get(User, actor.user_id)


def _file(w, number="RX1", physician="D001", quantity=2) -> bytes:
    row = [number, 1, PATIENT, physician, "门诊", "2026-06-01", w.drug.insurance_code, quantity, 7, "24.60"]
    return csv_bytes(HEADER_ZH, [row])


def _upload(client, data: bytes, name="rx.csv", **kwargs):
    return client.post(
        "/api/v1/prescriptions/imports",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        **kwargs,
    )


def test_a_file_import_and_its_retry(db, w, api):
    client = api(_user(db, w.hospital))
    first = _upload(client, _file(w))
    assert first.status_code == 201, first.json
    body = first.json
    assert (body["status"], body["row_count"], body["prescription_count"], body["line_count"]) == ("accepted", 1, 1, 1)
    assert body["errors"] == [] and body["report_url"].endswith(f"/prescriptions/imports/{body['id']}/report.xlsx")
    again = _upload(client, _file(w))
    assert again.status_code == 200 and again.json["id"] == body["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.exec(sa.select(sa.func.count()).select_from(Prescription)).one()[0] == 1


def test_json_rows_honour_the_idempotency_key(db, w, api):
    client = api(_user(db, w.hospital))
    rows = [
        {
            "prescription_no": "J1",
            "patient_id": PATIENT,
            "physician_code": "D001",
            "setting": "outpatient",
            "prescribed_on": "2026-06-01",
            "product_id": w.drug.id,
            "quantity": 1,
            "days_supply": 3,
            "amount": 12.3,
        }
    ]
    headers = {"Idempotency-Key": "his-batch-1"}
    first = client.post("/api/v1/prescriptions/imports", json={"rows": rows}, headers=headers)
    assert first.status_code == 201 and first.json["source"] == "api"
    again = client.post("/api/v1/prescriptions/imports", json={"rows": rows}, headers=headers)
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    other = client.post("/api/v1/prescriptions/imports", json={"rows": [{**rows[0], "amount": 1}]}, headers=headers)
    assert other.status_code == 409 and other.json["code"] == "idempotency_key_reused"
    empty = client.post("/api/v1/prescriptions/imports", json={"rows": []})
    assert empty.status_code == 422 and "rows" in empty.json["errors"]["json"]


def test_a_refused_import_reports_rows_and_downloads_its_report(db, w, api):
    client = api(_user(db, w.hospital))
    refused = _upload(client, _file(w, physician="D404", quantity=-1))
    assert refused.status_code == 422 and refused.json["code"] == "import_rejected"
    rows = refused.json["errors"]["rows"]
    assert [(r["row"], r["column"], r["code"]) for r in rows] == [
        (2, "医师编码", "unknown_physician"),
        (2, "数量", "negative"),
    ]
    import_id = refused.json["errors"]["import_id"]
    shown = client.get(f"/api/v1/prescriptions/imports/{import_id}")
    assert shown.status_code == 200 and shown.json["status"] == "rejected" and shown.json["error_count"] == 2
    report = client.get(refused.json["errors"]["report_url"])
    assert report.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(report.data))
    sheet = book.worksheets[1]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][:4] == ["Row", "处方号", "行号", "患者身份证号"] and cells[1][:4] == [2, "RX1", "1", "***"]
    assert "[医师编码] no physician with code D404 is registered for this hospital" in cells[1][-1]
    everything = [str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert not any(PATIENT in value for value in everything)
    assert db.exec(sa.select(sa.func.count()).select_from(Prescription)).one()[0] == 0
    assert api(_user(db, w.other)).get(f"/api/v1/prescriptions/imports/{import_id}").status_code == 404
    assert api(_user(db, w.auditor)).get(f"/api/v1/prescriptions/imports/{import_id}").status_code == 200


def test_physicians_are_registered_in_bulk_and_seen_by_their_hospital(db, w, api):
    client = api(_user(db, w.hospital))
    roster = {
        "physicians": [
            {"code": "D010", "name": "吴医生", "department": "内分泌科", "title": "主治医师"},
            {"code": "D001", "name": "张医生", "department": "心内科", "title": "主治医师"},
        ]
    }
    created = client.post("/api/v1/physicians", json=roster)
    assert created.status_code == 201 and created.json["created"] == 1
    assert [p["code"] for p in created.json["physicians"]] == ["D010", "D001"]
    assert client.post("/api/v1/physicians", json=roster).status_code == 200
    mine = client.get("/api/v1/physicians").json
    assert [p["code"] for p in mine] == ["D001", "D002", "D010"]
    assert {p["hospital_id"] for p in mine} == {w.hospital.org_id}
    everyone = api(_user(db, w.auditor)).get("/api/v1/physicians?page_size=100").json
    assert {p["hospital_id"] for p in everyone} >= {w.hospital.org_id, w.other.org_id}
    bad = client.post("/api/v1/physicians", json={"physicians": [{"code": "D1", "prescribing_status": "banned"}]})
    assert bad.status_code == 422 and set(bad.json["errors"]["json"]["physicians"]["0"]) == {
        "name",
        "prescribing_status",
    }
