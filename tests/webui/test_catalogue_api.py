"""The catalogue API: products and their codes, admin-only writes, uploads saved or refused whole, reports, export."""

from __future__ import annotations

import io

import openpyxl
import pytest
import sqlalchemy as sa

from core.models import AuditRecord
from core.roles import OrgKind, Role
from procurement.catalogue import CatalogueImport, Product
from procurement.catalogue_template import COLUMNS
from tests.factories import make_uscc
from tests.procurement.test_catalogue import consumable_row, csv_file, drug_row, gtin, xlsx_file
from tests.webui.test_api_conventions import assert_error


@pytest.fixture
def admin(factory):
    return factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ADMIN,))


@pytest.fixture
def makers(factory):
    return (
        factory.org(OrgKind.MANUFACTURER, name="闽海制药有限公司", uscc=make_uscc(880001)),
        factory.org(OrgKind.MANUFACTURER, name="鹭江药业有限公司", uscc=make_uscc(880002)),
    )


def upload(caller, data: bytes, filename: str):
    return caller.post(
        "/api/v1/catalogue/imports",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def count(db, model) -> int:
    return db.exec(sa.select(sa.func.count()).select_from(model)).one()[0]


def workbook(response) -> openpyxl.Workbook:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    return openpyxl.load_workbook(io.BytesIO(response.data))


def _drug_body(maker, **overrides) -> dict:
    body = {
        "generic_name": "硫酸氢氯吡格雷片",
        "generic_name_en": "Clopidogrel Bisulfate Tablets",
        "dosage_form": "片剂",
        "strength": "75mg",
        "pack_quantity": 7,
        "unit": "片",
        "package_spec": "75mg×7片",
        "manufacturer_id": maker.id,
        "approval_number": "国药准字H20193001",
        "insurance_code": "XB01ACL104A001010101351",
        "trace_product_id": "8110004",
        "gtin": gtin("0693510100004"),
        "gqce_status": "passed",
        "essential": True,
    }
    body.update(overrides)
    return body


def test_an_administrator_adds_a_drug_and_everyone_reads_it(api, factory, admin, makers):
    created = api(admin).post("/api/v1/catalogue/products", json=_drug_body(makers[0]))
    assert created.status_code == 201, created.json
    body = created.json
    assert body["mah_id"] == makers[0].id and body["gqce_status"] == "passed" and body["gqce_passed"] is True
    assert body["udi_di"] is None and body["kind"] == "drug"
    pharmacist = factory.user(factory.org(OrgKind.HOSPITAL))
    read = api(pharmacist).get(f"/api/v1/catalogue/products/{body['id']}")
    assert read.status_code == 200 and read.json == body
    audit = factory.db.exec(sa.select(AuditRecord).where(AuditRecord.action == "catalogue.product_created")).scalars()
    assert [a.object_id for a in audit] == [str(body["id"])]


def test_only_administrators_write_the_catalogue(api, factory, makers):
    organiser = factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ORGANISER,))
    assert_error(api(organiser).post("/api/v1/catalogue/products", json=_drug_body(makers[0])), 403, "role_required")
    rep = factory.user(makers[0])
    assert_error(upload(api(rep), xlsx_file([drug_row(1)]), "a.xlsx"), 403, "role_required")
    assert count(factory.db, Product) == 0 and count(factory.db, CatalogueImport) == 0


def test_bad_codes_are_422_naming_each_field(api, admin, makers):
    body = _drug_body(makers[0], approval_number="国药准字H2019300", gtin="06935101000040", trace_product_id="81100")
    answer = assert_error(api(admin).post("/api/v1/catalogue/products", json=body), 422, "invalid_product")
    assert set(answer["errors"]["json"]) == {"approval_number", "gtin", "trace_product_id"}
    fraction = assert_error(
        api(admin).post("/api/v1/catalogue/products", json=_drug_body(makers[0], pack_quantity=7.5)),
        422,
        "validation_error",
    )
    assert "pack_quantity" in fraction["errors"]["json"]


def test_codes_taken_are_409_naming_the_field(api, admin, makers):
    assert api(admin).post("/api/v1/catalogue/products", json=_drug_body(makers[0])).status_code == 201
    again = _drug_body(makers[0], approval_number="国药准字H20193002", trace_product_id="8110005")
    answer = assert_error(api(admin).post("/api/v1/catalogue/products", json=again), 409, "product_exists")
    assert set(answer["errors"]) == {"gtin", "insurance_code"}


def test_a_consumable_is_listed_with_its_udi_di_and_filtered_by_kind(api, admin, makers):
    consumable = {
        "kind": "consumable", "generic_name": "植入式心脏起搏器", "strength": "双腔 DDDR", "pack_quantity": 1,
        "unit": "台", "package_spec": "1台/盒", "manufacturer_id": makers[1].id,
        "udi_di": gtin("0693520200004"), "registration_number": "国械注准20203120045", "category": "心脏植入类",
    }  # fmt: skip
    assert api(admin).post("/api/v1/catalogue/products", json=consumable).status_code == 201
    assert api(admin).post("/api/v1/catalogue/products", json=_drug_body(makers[0])).status_code == 201
    listed = api(admin).get("/api/v1/catalogue/products?kind=consumable").json
    assert [(p["generic_name"], p["udi_di"], p["gqce_status"]) for p in listed] == [
        ("植入式心脏起搏器", consumable["udi_di"], "not_applicable")
    ]
    missing_udi = {**consumable, "udi_di": None, "registration_number": "国械注准20203120046"}
    answer = assert_error(api(admin).post("/api/v1/catalogue/products", json=missing_udi), 422, "invalid_product")
    assert list(answer["errors"]["json"]) == ["udi_di"]


def test_an_accepted_upload_is_201_with_its_counts(api, factory, admin, makers):
    answer = upload(api(admin), xlsx_file([drug_row(1), drug_row(2), consumable_row(1)]), "目录.xlsx")
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert (body["status"], body["row_count"], body["created_count"], body["errors"]) == ("accepted", 3, 3, [])
    assert len(body["product_ids"]) == 3 and body["report_url"] == f"/api/v1/catalogue/imports/{body['id']}/report.xlsx"
    assert count(factory.db, Product) == 3
    shown = api(admin).get(f"/api/v1/catalogue/imports/{body['id']}").json
    assert shown["status"] == "accepted" and shown["product_ids"] == body["product_ids"]
    assert [i["id"] for i in api(admin).get("/api/v1/catalogue/imports").json] == [body["id"]]


def test_a_refused_upload_is_422_listing_rows_and_keeps_only_its_report(api, factory, admin, makers):
    rows = [
        drug_row(1),
        drug_row(2, 转换比="-1"),
        drug_row(3, 转换比="1.5"),
        drug_row(1),
        drug_row(4, 生产企业="无名厂"),
    ]
    answer = assert_error(upload(api(admin), csv_file(rows), "bad.csv"), 422, "import_rejected")
    listed = {(e["row"], e["column"], e["code"]) for e in answer["errors"]["rows"]}
    assert listed == {
        (3, "转换比", "negative"),
        (4, "转换比", "fractional"),
        (5, None, "duplicate_row"),
        (6, "生产企业", "unknown_organisation"),
    }
    assert "nothing was imported" in answer["message"]
    import_id = answer["errors"]["import_id"]
    assert answer["errors"]["report_url"] == f"/api/v1/catalogue/imports/{import_id}/report.xlsx"
    assert count(factory.db, Product) == 0
    kept = api(admin).get(f"/api/v1/catalogue/imports/{import_id}")
    assert kept.status_code == 200 and kept.json["status"] == "rejected" and kept.json["error_count"] == 4
    actions = set(factory.db.exec(sa.select(AuditRecord.action)).scalars())
    assert "catalogue.import_rejected" in actions and "catalogue.imported" not in actions

    book = workbook(api(admin).get(answer["errors"]["report_url"]))
    uploaded, listing = book.worksheets
    notes = {row[0].row: row[-1].value for row in uploaded.iter_rows(min_row=2)}
    assert notes[2] is None and "转换比" in notes[3] and "转换比" in notes[4] and "row 2" in notes[5]
    assert "无名厂" in notes[6]
    assert [r[0].value for r in listing.iter_rows(min_row=2)] == [3, 4, 5, 6]


def test_an_upload_without_a_file_or_with_a_broken_one_is_422(api, factory, admin):
    assert_error(api(admin).post("/api/v1/catalogue/imports"), 422, "file_missing")
    broken = assert_error(upload(api(admin), b"PK\x03\x04broken", "x.xlsx"), 422, "import_rejected")
    assert [e["code"] for e in broken["errors"]["rows"]] == ["unreadable_file"]


def test_export_downloads_the_catalogue_and_imports_again_unchanged(api, factory, admin, makers):
    seed = [drug_row(n) for n in (1, 2)] + [consumable_row(1)]
    assert upload(api(admin), xlsx_file(seed), "seed.xlsx").status_code == 201
    pharmacist = factory.user(factory.org(OrgKind.HOSPITAL))
    exported = api(pharmacist).get("/api/v1/catalogue/products/export.xlsx")
    sheet = workbook(exported).worksheets[0]
    assert [c.value for c in sheet[1]] == [c.zh for c in COLUMNS] and sheet.max_row == 4
    drugs_only = workbook(api(pharmacist).get("/api/v1/catalogue/products/export.xlsx?kind=drug")).worksheets[0]
    assert drugs_only.max_row == 3

    fields = [f for f in Product.model_fields if f not in ("id", "created_at")]
    before = sorted(tuple(getattr(p, f) for f in fields) for p in factory.db.exec(sa.select(Product)).scalars())
    factory.db.exec(sa.delete(Product))
    assert upload(api(admin), exported.data, "catalogue.xlsx").status_code == 201
    after = sorted(tuple(getattr(p, f) for f in fields) for p in factory.db.exec(sa.select(Product)).scalars())
    assert after == before


def test_the_template_downloads_for_everyone(api, factory):
    book = workbook(api(factory.user()).get("/api/v1/catalogue/imports/template"))
    assert [c.value for c in book.worksheets[0][1]][:3] == ["类别", "通用名", "英文名"]
