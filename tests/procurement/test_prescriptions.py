"""Prescription imports: Chinese and English layouts, files and rows, all or nothing, a row-level report, retries
that never duplicate, the physician registry, and patient identifiers that are stored nowhere in clear (0.17)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.errors import DomainError
from core.models import AuditRecord
from core.pseudonym import pseudonymise
from procurement import spreadsheets as sheets
from procurement.audit import prescriptions as rx
from procurement.audit.physician_registry import list_physicians, register_physicians
from procurement.audit.prescription_models import (
    Physician,
    Prescription,
    PrescriptionImport,
    PrescriptionLine,
    RxCase,
    RxPatient,
)
from procurement.audit.rx_keys import StoredLabels
from tests.procurement.rx_world import HEADER_ZH, KEY, PATIENT, build_rx_world, csv_bytes

CODE = "81234560000000011234"  # a 20-digit trace code


@pytest.fixture
def w(db, factory):
    return build_rx_world(db, factory)


def _import(db, w, data: bytes, *, actor=None, name="rx.csv", **kwargs):
    actor = actor or w.hospital
    return rx.import_prescriptions(
        db, actor=actor, hospital_id=actor.org_id, pseudonym_key=KEY, filename=name, data=data, **kwargs
    )


def _good_file(w) -> bytes:
    code = w.drug.insurance_code
    return csv_bytes(
        [*HEADER_ZH, "追溯码", "患者姓名"],
        [
            ["RX001", 1, PATIENT, "D001", "门诊", "2026-06-01", code, "0.5", 7, "12.30", CODE, "王小明"],
            ["RX001", 2, PATIENT, "D001", "门诊", "2026-06-01", w.drug2.insurance_code, 2, 5, "40", "", "王小明"],
            ["RX002", 1, "110101199003070011", "D002", "急诊", "2026/06/02", code, 1, 3, "24.6", "", "赵六"],
        ],
    )


def _count(db, model) -> int:
    return db.exec(sa.select(sa.func.count()).select_from(model)).one()[0]


def test_a_chinese_csv_is_stored_with_pseudonymised_patients(db, w):
    record, created = _import(db, w, _good_file(w))
    assert created and record.status == "accepted"
    assert (record.row_count, record.prescription_count, record.line_count, record.error_count) == (3, 2, 3, 0)
    assert record.report["ignored"] == ["患者姓名"]
    first = db.exec(sa.select(Prescription).where(Prescription.external_no == "RX001")).scalar_one()
    stored = StoredLabels(db)
    assert stored.patients([first.patient_id]) == {first.patient_id: pseudonymise(KEY, PATIENT)}
    assert (first.setting, first.prescribed_on, first.department) == ("outpatient", dt.date(2026, 6, 1), "心内科")
    lines = db.exec(
        sa.select(PrescriptionLine).where(PrescriptionLine.prescription_id == first.id).order_by("line_no")
    ).scalars()
    got = [(li.line_no, li.product_id, li.quantity, li.days_supply, li.amount, li.trace_code_id) for li in lines]
    code_id = got[0][-1]
    assert stored.trace_codes([code_id]) == {code_id: f"cn20:{CODE}"}
    assert got == [
        (1, w.drug.id, Decimal("0.5000"), 7, Decimal("12.3000"), code_id),
        (2, w.drug2.id, Decimal("2.0000"), 5, Decimal("40.0000"), None),
    ]
    second = db.exec(sa.select(Prescription).where(Prescription.external_no == "RX002")).scalar_one()
    assert (second.setting, second.prescribed_on, second.department) == ("emergency", dt.date(2026, 6, 2), "呼吸科")
    audit = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "prescriptions.imported")).scalar_one()
    assert audit.object_id == str(record.id) and audit.details["lines"] == 3
    assert audit.actor_org_id == w.hospital.org_id


def test_english_headers_excel_and_json_rows_are_read_alike(db, w):
    header = [
        "prescription_no",
        "patient_id",
        "physician_code",
        "setting",
        "prescribed_on",
        "product_id",
        "quantity",
        "days_supply",
        "amount",
        "chronic",
        "drug_class",
        "abnormal",
        "abnormal_justified",
        "case_id",
    ]
    row = ["E1", "P-1", "D002", "inpatient", "20260603", w.consumable.id, 1, "", "8800", "是", "", "是", "否", "Z100"]
    dated = [
        "E2",
        "P-1",
        "D002",
        "inpatient",
        dt.datetime(2026, 6, 4),
        w.consumable.id,
        1,
        "",
        "8800",
        "是",
        "",
        "",
        "",
        "Z100",
    ]
    data = sheets.workbook_bytes([sheets.SheetOut("rx", header, [row, dated])])  # E2: a real Excel date cell
    record, _ = _import(db, w, data, name="rx.xlsx")
    assert record.line_count == 2
    line = db.exec(sa.select(PrescriptionLine).order_by(PrescriptionLine.id)).scalars().first()
    assert (line.consumable, line.days_supply, line.abnormal, line.abnormal_justified) == (True, None, True, False)
    e2 = db.exec(sa.select(Prescription).where(Prescription.external_no == "E2")).scalar_one()
    assert (e2.prescribed_on, e2.setting, e2.chronic) == (dt.date(2026, 6, 4), "inpatient", True)
    e1 = db.exec(sa.select(Prescription).where(Prescription.external_no == "E1")).scalar_one()
    assert (e1.patient_id, e1.case_id) == (e2.patient_id, e2.case_id)  # one patient, one case: stored once each
    assert StoredLabels(db).cases([e1.case_id]) == {e1.case_id: "Z100"}
    rows = [
        {
            "prescription_no": "J1",
            "patient_id": "P-2",
            "physician_code": "D001",
            "setting": "门诊",
            "prescribed_on": "2026-06-04",
            "product_code": w.drug.insurance_code,
            "quantity": 2,
            "days_supply": 10,
            "amount": "24.60",
            "reason": "慢阻肺稳定期",
            "drug_class": "抗菌药物",
        }
    ]
    record, created = rx.import_prescriptions(
        db, actor=w.hospital, hospital_id=w.hospital.org_id, pseudonym_key=KEY, rows=rows
    )
    assert created and record.source == "api" and record.line_count == 1
    j1 = db.exec(sa.select(Prescription).where(Prescription.external_no == "J1")).scalar_one()
    assert j1.patient_id != e1.patient_id and j1.case_id is None
    assert _count(db, RxPatient) == 2 and _count(db, RxCase) == 1
    line = db.exec(sa.select(PrescriptionLine).where(PrescriptionLine.drug_class != "")).scalar_one()
    assert (line.drug_class, line.reason_recorded, line.days_supply) == ("antimicrobial", True, 10)


def test_missing_columns_are_named_and_nothing_is_stored(db, w):
    header = [h for h in HEADER_ZH if h not in ("数量", "医师编码")]
    with pytest.raises(rx.RxImportRejected) as caught:
        _import(db, w, csv_bytes(header, [["RX1", 1, PATIENT, "门诊", "2026-06-01", "X", 7, "1"]]))
    errors = caught.value.record.errors
    assert [(e["column"], e["code"]) for e in errors] == [("医师编码", "missing_column"), ("数量", "missing_column")]
    assert _count(db, Prescription) == 0


def test_every_bad_row_is_reported_and_nothing_is_stored(db, w):
    code = w.drug.insurance_code
    rows = [
        ["A1", 1, PATIENT, "D001", "门诊", "2026-13-01", code, 1, 7, "1"],  # row 2: no such month
        ["A2", 1, PATIENT, "D001", "门诊", "2026-06-01", "XNOSUCHDRUG", 1, 7, "1"],  # row 3
        ["A3", 1, PATIENT, "D999", "门诊", "2026-06-01", code, 1, 7, "1"],  # row 4: not registered
        ["A4", 1, PATIENT, "D001", "门诊", "2026-06-01", code, 1, 7, "1"],  # row 5
        ["A4", 1, PATIENT, "D001", "门诊", "2026-06-01", code, 1, 7, "1"],  # row 6: repeats row 5
        ["A5", 1, PATIENT, "D001", "门诊", "2026-06-01", code, -2, 7, "1"],  # row 7
        ["A6", 1, PATIENT, "D001", "门诊", "2026-06-01", code, 0, 7, "1"],  # row 8
        ["A7", 1, PATIENT, "D001", "网诊", "2026-06-01", code, 1, 7, "1"],  # row 9
        ["A8", 1, "", "D001", "门诊", "2026-06-01", code, 1, "", "1"],  # row 10: no patient, no days
    ]
    with pytest.raises(rx.RxImportRejected) as caught:
        _import(db, w, csv_bytes(HEADER_ZH, rows))
    record = caught.value.record
    got = [(e["row"], e["column"], e["code"]) for e in record.errors]
    assert got == [
        (2, "开具日期", "invalid_date"),
        (3, "药品编码", "unknown_product"),
        (4, "医师编码", "unknown_physician"),
        (6, "处方号", "duplicate_row"),
        (7, "数量", "negative"),
        (8, "数量", "zero"),
        (9, "就诊类型", "unknown_setting"),
        (10, "患者身份证号", "required"),
        (10, "天数", "required"),
    ]
    by_row = {e["row"]: e for e in record.errors}
    assert by_row[6]["params"] == {"earlier": 5} and by_row[3]["value"] == "XNOSUCHDRUG"
    assert caught.value.errors["import_id"] == record.id
    assert (record.status, record.error_count, record.row_count) == ("rejected", 9, 9)
    assert sorted(n for n, _ in record.report["rows"]) == [2, 3, 4, 6, 7, 8, 9, 10]
    assert _count(db, Prescription) == 0 and _count(db, PrescriptionLine) == 0
    assert db.exec(sa.select(AuditRecord).where(AuditRecord.action == "prescriptions.import_rejected")).scalar_one()


def test_lines_of_one_prescription_must_agree_and_inpatient_lines_need_no_days(db, w):
    code = w.drug.insurance_code
    rows = [
        ["B1", 1, PATIENT, "D001", "门诊", "2026-06-01", code, 1, 7, "1"],
        ["B1", 2, "OTHER-PATIENT", "D001", "门诊", "2026-06-01", code, 1, 7, "1"],
        ["B2", 1, PATIENT, "D001", "住院", "2026-06-01", code, 1, "", "1"],
    ]
    with pytest.raises(rx.RxImportRejected) as caught:
        _import(db, w, csv_bytes(HEADER_ZH, rows))
    errors = caught.value.record.errors
    assert [(e["row"], e["code"], e["value"]) for e in errors] == [(3, "inconsistent_prescription", "***")]


def test_a_prescription_imported_before_is_a_duplicate(db, w):
    _import(db, w, _good_file(w))
    again = csv_bytes(HEADER_ZH, [["RX002", 2, PATIENT, "D002", "急诊", "2026-06-02", w.drug.insurance_code, 1, 3, 1]])
    with pytest.raises(rx.RxImportRejected) as caught:
        _import(db, w, again)
    assert [(e["row"], e["code"]) for e in caught.value.record.errors] == [(2, "already_imported")]
    assert _count(db, Prescription) == 2
    # The other hospital numbers its own prescriptions: the same number is new there.
    other = csv_bytes(HEADER_ZH, [["RX002", 1, PATIENT, "D002", "急诊", "2026-06-02", w.drug.insurance_code, 1, 3, 1]])
    record, created = _import(db, w, other, actor=w.other)
    assert created and record.hospital_id == w.other.org_id


def test_a_retried_import_does_not_duplicate(db, w):
    data = _good_file(w)
    first, created = _import(db, w, data)
    again, created_again = _import(db, w, data)
    assert created and not created_again and again.id == first.id
    assert _count(db, Prescription) == 2 and _count(db, PrescriptionImport) == 1
    keyed = csv_bytes(HEADER_ZH, [["K1", 1, PATIENT, "D001", "门诊", "2026-06-01", w.drug.insurance_code, 1, 7, 1]])
    one, _ = _import(db, w, keyed, idempotency_key="k-1")
    same, created = _import(db, w, keyed, idempotency_key="k-1")
    assert same.id == one.id and not created
    with pytest.raises(DomainError) as caught:
        _import(db, w, _good_file(w) + b"\n", idempotency_key="k-1")
    assert caught.value.code == "idempotency_key_reused"
    # A refused import stored nothing, so the same key runs again once the file is fixed.
    bad = csv_bytes(HEADER_ZH, [["K2", 1, PATIENT, "D777", "门诊", "2026-06-01", w.drug.insurance_code, 1, 7, 1]])
    with pytest.raises(rx.RxImportRejected):
        _import(db, w, bad, idempotency_key="k-2")
    register_physicians(
        db, actor=w.hospital, hospital_id=w.hospital.org_id, physicians=[{"code": "D777", "name": "新"}]
    )
    fixed, created = _import(db, w, bad, idempotency_key="k-2")
    assert created and fixed.status == "accepted"


def test_the_clear_patient_identifier_is_stored_nowhere(db, w, connection):
    _import(db, w, _good_file(w))
    bad = csv_bytes(
        [*HEADER_ZH, "患者姓名"],
        [
            ["Z1", 1, PATIENT, "D404", "门诊", "2026-06-01", "X", 1, 7, 1, "王小明"],
            ["Z2", PATIENT, "", "D001", "门诊", "2026-06-01", w.drug.insurance_code, 1, 7, 1, "王小明"],  # shifted
        ],
    )
    with pytest.raises(rx.RxImportRejected) as caught:
        _import(db, w, bad)
    shifted = [(e["column"], e["code"], e["value"]) for e in caught.value.record.errors if e["row"] == 3]
    assert shifted == [("行号", "out_of_range", "***"), ("患者身份证号", "required", "")]
    db.flush()
    tables = ("prescriptions", "prescription_lines", "prescription_imports", "physicians", "audit_records",
              "rx_patients", "rx_trace_codes", "rx_cases")  # fmt: skip
    scanned = 0
    for table in tables:
        for row in connection.execute(sa.text(f"SELECT * FROM {table}")).mappings():
            text = json.dumps({k: str(v) for k, v in row.items()}, ensure_ascii=False)
            assert PATIENT not in text and "110101199003070011" not in text and "王小明" not in text, table
            scanned += 1
    assert scanned >= 2 + 3 + 2 + 4 + 2


def test_only_a_hospitals_own_staff_import_and_read(db, w):
    with pytest.raises(DomainError) as caught:
        rx.import_prescriptions(
            db, actor=w.auditor, hospital_id=w.hospital.org_id, pseudonym_key=KEY, data=_good_file(w)
        )
    assert caught.value.code == "role_required"
    with pytest.raises(DomainError) as caught:
        rx.import_prescriptions(db, actor=w.other, hospital_id=w.hospital.org_id, pseudonym_key=KEY, data=b"x")
    assert caught.value.code == "foreign_organisation"
    record, _ = _import(db, w, _good_file(w))
    with pytest.raises(DomainError) as caught:
        rx.get_import(db, import_id=record.id, actor=w.other)
    assert caught.value.kind == "not_found"
    assert rx.get_import(db, import_id=record.id, actor=w.auditor).id == record.id
    assert rx.list_imports(db, actor=w.other).total == 0
    assert [r.id for r in rx.list_imports(db, actor=w.auditor, hospital_id=w.hospital.org_id).items] == [record.id]


def test_the_physician_registry_is_an_audited_upsert_by_code(db, w):
    result, created = register_physicians(
        db,
        actor=w.hospital,
        hospital_id=w.hospital.org_id,
        physicians=[
            {
                "code": "D001",
                "name": "张医生",
                "department": "心内科",
                "title": "主任医师",
                "prescribing_status": "restricted",
            },
            {"code": "D003", "name": "周医生"},
        ],
    )
    assert created == 1 and [p.code for p in result] == ["D001", "D003"]
    d001 = db.exec(sa.select(Physician).where(Physician.hospital_id == w.hospital.org_id, Physician.code == "D001"))
    assert d001.scalar_one().prescribing_status == "restricted"
    audit = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "physicians.registered")).scalars().all()[-1]
    assert audit.details["changes"][0] == {
        "code": "D001",
        "changed": {"title": ["主治医师", "主任医师"], "prescribing_status": ["active", "restricted"]},
    }
    with pytest.raises(DomainError) as caught:
        register_physicians(
            db,
            actor=w.hospital,
            hospital_id=w.hospital.org_id,
            physicians=[{"code": "X", "name": "a"}, {"code": "X", "name": "b", "prescribing_status": "gone"}],
        )
    assert caught.value.errors == {
        "physicians[1].prescribing_status": ["one of active, restricted, removed"],
        "physicians[1].code": ["repeats physicians[0]"],
    }
    assert list_physicians(db, actor=w.other).total == 2
    assert list_physicians(db, actor=w.auditor, hospital_id=w.hospital.org_id).total == 3


def test_a_roster_file_is_registered_whole_or_refused_by_row(db, w):
    from procurement.audit.physician_registry import register_roster

    header = ["Code", "Name", "Department", "Title", "Prescribing status"]
    good = csv_bytes(header, [["D001", "张医生", "心内科", "主治医师", "取消"], ["D020", "冯医生", "眼科", "", ""]])
    physicians, created = register_roster(
        db, actor=w.hospital, hospital_id=w.hospital.org_id, filename="r.csv", data=good
    )
    assert created == 1 and [(p.code, p.prescribing_status) for p in physicians] == [
        ("D001", "removed"),
        ("D020", "active"),
    ]
    bad = csv_bytes(header, [["D021", "", "", "", ""], ["D021", "卫医生", "", "", "停"]])
    with pytest.raises(DomainError) as caught:
        register_roster(db, actor=w.hospital, hospital_id=w.hospital.org_id, filename="r.csv", data=bad)
    assert caught.value.errors == {
        "row 3 prescribing_status": ["'停' is not 有, 限制 or 取消"],
        "row 2 name": ["required"],
        "row 3 code": ["repeats row 2"],
    }
    with pytest.raises(DomainError) as caught:
        register_roster(
            db, actor=w.hospital, hospital_id=w.hospital.org_id, filename="r.csv", data=csv_bytes(["科室"], [["x"]])
        )
    assert caught.value.code == "missing_column"
    assert list_physicians(db, actor=w.hospital).total == 3


def test_interning_never_drops_a_value_silently(db):
    """A conflict other than "this value is stored already" (here a primary key the id sequence has not reached, as
    after a restore with explicit ids) fails loudly; the value is never left out of the answer to be stored as NULL."""
    from sqlalchemy.exc import IntegrityError

    from procurement.audit import rx_keys

    known = rx_keys.intern_trace_codes(db, ["cn20:00000000000000000001"])
    taken = max(known.values()) + 1
    db.execute(sa.text("INSERT INTO rx_trace_codes (id, code) VALUES (:id, 'cn20:restored')"), {"id": taken})
    savepoint = db.begin_nested()
    try:
        got = rx_keys.intern_trace_codes(db, ["cn20:00000000000000000002"])
    except IntegrityError:  # PostgreSQL: the sequence hands out the taken id
        savepoint.rollback()
    else:  # SQLite numbers new rows after the largest id
        savepoint.commit()
        assert set(got) == {"cn20:00000000000000000002"} and got["cn20:00000000000000000002"] != taken
    assert rx_keys.intern_trace_codes(db, ["cn20:00000000000000000001"]) == known  # known values keep their id
