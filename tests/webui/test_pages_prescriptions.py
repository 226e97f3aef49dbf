"""The prescription pages: upload, the row-level report on the page and as a workbook, the accepted columns, the
registry of physicians, and who sees which hospital's imports."""

from __future__ import annotations

import io

import openpyxl
import pytest
import sqlalchemy as sa

from core.models import Organisation, User
from procurement.audit.prescription_models import Prescription
from tests.procurement.rx_world import HEADER_ZH, PATIENT, build_rx_world, csv_bytes
from tests.webui.test_pages import csrf_token, sign_in

# The assertions read the pages' English wording (zh-CN is the default).
pytestmark = pytest.mark.usefixtures("english_pages")


@pytest.fixture
def w(db, factory):
    return build_rx_world(db, factory)


def _user(db, actor):
    return db.get(User, actor.user_id)


def _upload(client, data: bytes, name="rx.csv"):
    token = csrf_token(client, "/prescriptions/")
    return client.post(
        "/prescriptions/imports",
        data={"csrf_token": token, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_a_pharmacist_uploads_a_file_and_reads_its_report(client, db, w):
    sign_in(client, _user(db, w.hospital))
    page = client.get("/prescriptions/").get_data(as_text=True)
    for header in (
        "处方号",
        "患者身份证号",
        "医师编码",
        "开具日期",
        "药品编码",
        "数量",
        "天数",
        "金额",
        "prescription_no",
    ):
        assert header in page, header
    assert 'data-testid="rx-upload"' in page
    data = csv_bytes(
        HEADER_ZH, [["P1", 1, PATIENT, "D001", "门诊", "2026-06-01", w.drug.insurance_code, 1, 7, "12.30"]]
    )
    response = _upload(client, data)
    assert response.status_code == 303
    report = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-status="accepted"' in report and PATIENT not in report
    again = _upload(client, data)
    assert again.status_code == 303 and again.headers["Location"] == response.headers["Location"]
    assert db.exec(sa.select(sa.func.count()).select_from(Prescription)).one()[0] == 1


def test_a_refused_upload_shows_each_problem_and_downloads_the_report(client, db, w):
    sign_in(client, _user(db, w.hospital))
    rows = [["P1", 1, PATIENT, "D404", "门诊", "2026-02-30", w.drug.insurance_code, 0, 7, "12.30"]]
    response = _upload(client, csv_bytes(HEADER_ZH, rows))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    problems = [("开具日期", "invalid_date"), ("医师编码", "unknown_physician"), ("数量", "zero")]
    for column, code in problems:
        assert f'data-row="2" data-column="{column}" data-code="{code}"' in html, code
    assert 'data-status="rejected"' in html and PATIENT not in html
    link = html.split('data-testid="report-download" href="')[1].split('"')[0]
    book = openpyxl.load_workbook(io.BytesIO(client.get(link).data))
    listing = [[c.value for c in row] for row in book.worksheets[2].iter_rows(min_row=2)]
    assert [(r[0], r[1]) for r in listing] == [(2, "医师编码"), (2, "开具日期"), (2, "数量")]
    assert db.exec(sa.select(sa.func.count()).select_from(Prescription)).one()[0] == 0


def test_imports_and_physicians_are_seen_by_their_hospital_and_auditors(app, client, db, w):
    sign_in(client, _user(db, w.hospital))
    _upload(
        client, csv_bytes(HEADER_ZH, [["P9", 1, "X", "D002", "急诊", "2026-06-01", w.drug.insurance_code, 1, 3, 1]])
    )
    physicians = client.get("/prescriptions/physicians").get_data(as_text=True)
    assert 'data-code="D001"' in physicians and "呼吸科" in physicians
    other = app.test_client()
    sign_in(other, _user(db, w.other))
    assert 'data-status="accepted"' not in other.get("/prescriptions/").get_data(as_text=True)
    auditor = app.test_client()
    sign_in(auditor, _user(db, w.auditor))
    listing = auditor.get("/prescriptions/").get_data(as_text=True)
    assert 'data-status="accepted"' in listing and 'data-testid="rx-upload"' not in listing
    hospital_name = db.get(Organisation, w.hospital.org_id).name
    assert f"<td>{hospital_name}</td>" in listing
    assert auditor.get("/prescriptions/physicians").get_data(as_text=True).count('data-code="D001"') == 2


def test_a_roster_file_registers_physicians_or_names_its_bad_rows(client, db, w):
    sign_in(client, _user(db, w.hospital))
    roster = csv_bytes(
        ["医师编码", "姓名", "科室", "职称", "处方权"],
        [["D001", "张医生", "心内科", "主任医师", "限制"], ["D050", "郑医生", "儿科", "住院医师", ""]],
    )
    token = csrf_token(client, "/prescriptions/physicians")
    response = client.post(
        "/prescriptions/physicians",
        data={"csrf_token": token, "file": (io.BytesIO(roster), "r.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    page = client.get("/prescriptions/physicians").get_data(as_text=True)
    assert 'data-code="D001" data-status="restricted"' in page and 'data-code="D050" data-status="active"' in page
    bad = csv_bytes(["医师编码", "姓名", "处方权"], [["D060", "", ""], ["D061", "钱医生", "暂停"]])
    token = csrf_token(client, "/prescriptions/physicians")
    response = client.post(
        "/prescriptions/physicians",
        data={"csrf_token": token, "file": (io.BytesIO(bad), "r.csv")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "row 3 prescribing_status: &#39;暂停&#39; is not 有, 限制 or 取消" in html
    assert "row 2 name: required" in html
    assert 'data-code="D060"' not in client.get("/prescriptions/physicians").get_data(as_text=True)


def test_a_prescribing_alert_links_to_its_lines_for_the_auditor_and_the_hospital_only(client, app, db, w):
    from core.actor import Actor
    from core.alerts import Severity, raise_alert
    from procurement.audit.prescription_models import PrescriptionLine

    sign_in(client, _user(db, w.hospital))
    rows = [["P7", 1, PATIENT, "D001", "门诊", "2026-06-01", w.drug.insurance_code, 2, 10, "24.60"]]
    assert _upload(client, csv_bytes(HEADER_ZH, rows)).status_code == 303
    [line] = db.exec(sa.select(PrescriptionLine)).scalars().all()
    alert = raise_alert(
        db, actor=Actor.system("t"), code="RX-QTY-OVER-LIMIT", source="monitoring", severity=Severity.MEDIUM,
        title="10 days on an outpatient prescription", object_type="prescription", object_id=line.prescription_id,
        evidence={"line_ids": [line.id], "line_count": 1}, rule={}, subject_org_id=w.hospital.org_id,
    )  # fmt: skip
    page = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert f'href="/prescriptions/lines?ids={line.id}"' in page
    lines = client.get(f"/prescriptions/lines?ids={line.id}").get_data(as_text=True)
    assert f'data-line-id="{line.id}"' in lines and "P7 / 1" in lines and PATIENT not in lines
    auditor = app.test_client()
    sign_in(auditor, _user(db, w.auditor))
    assert f'data-line-id="{line.id}"' in auditor.get(f"/prescriptions/lines?ids={line.id}").get_data(as_text=True)
    other = app.test_client()
    sign_in(other, _user(db, w.other))
    assert f'data-line-id="{line.id}"' not in other.get(f"/prescriptions/lines?ids={line.id}").get_data(as_text=True)
