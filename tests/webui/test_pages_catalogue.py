"""The catalogue page: drugs and consumables with their codes, export for everyone, imports for administrators."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
import sqlalchemy as sa

from core.actor import Actor
from core.roles import OrgKind
from procurement.catalogue import CatalogueImport, Product, create_product
from tests.factories import make_uscc
from tests.procurement.test_catalogue import consumable_row, drug_row, gtin, xlsx_file
from tests.webui.test_pages import GROUP_USERS, csrf_token, group_user, sign_in

SYSTEM = Actor.system("page-tests")


@pytest.fixture
def makers(factory):
    return (
        factory.org(OrgKind.MANUFACTURER, name="闽海制药有限公司", uscc=make_uscc(880001)),
        factory.org(OrgKind.MANUFACTURER, name="鹭江药业有限公司", uscc=make_uscc(880002)),
    )


@pytest.fixture
def products(factory, makers):
    drug = create_product(
        factory.db,
        data={"generic_name": "利伐沙班片", "dosage_form": "片剂", "strength": "10mg", "pack_quantity": 5,
              "unit": "片", "package_spec": "10mg×5片", "manufacturer_id": makers[1].id, "mah_id": makers[0].id,
              "approval_number": "国药准字H20193147", "insurance_code": "XB01AFL113A001010102352",
              "trace_product_id": "8120009", "gtin": gtin("0693520200009"), "gqce_status": "passed",
              "key_monitored": True},
        actor=SYSTEM,
    )  # fmt: skip
    stent = create_product(
        factory.db,
        data={"kind": "consumable", "generic_name": "药物洗脱冠脉支架系统", "strength": "3.0mm×18mm",
              "pack_quantity": 1, "unit": "套", "package_spec": "1套/盒", "manufacturer_id": makers[0].id,
              "udi_di": gtin("0693510100901"), "registration_number": "国械注准20193130101",
              "category": "血管介入类"},
        actor=SYSTEM,
    )  # fmt: skip
    return drug, stent


def upload(client, data: bytes, filename: str):
    token = csrf_token(client, "/catalogue")
    return client.post(
        "/catalogue/imports",
        data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_the_catalogue_shows_codes_holders_and_kinds(client, factory, products):
    drug, stent = products
    sign_in(client, group_user(factory, "pharmacy"))
    html = client.get("/catalogue").get_data(as_text=True)
    shown = ("利伐沙班片", "鹭江药业有限公司", "闽海制药有限公司", "国药准字H20193147", "XB01AFL113A001010102352",
             "8120009", drug.gtin, "药物洗脱冠脉支架系统", "国械注准20193130101", stent.udi_di,
             "血管介入类")  # fmt: skip
    for text in shown:
        assert text in html, text
    assert 'data-kind="drug"' in html and 'data-kind="consumable"' in html
    consumables = client.get("/catalogue?kind=consumable").get_data(as_text=True)
    assert "药物洗脱冠脉支架系统" in consumables and "利伐沙班片" not in consumables
    assert 'href="/catalogue/export.xlsx?kind=consumable"' in consumables
    assert 'data-testid="catalogue-import"' not in html  # pharmacists do not import


@pytest.mark.parametrize("group", list(GROUP_USERS))
def test_everyone_exports_what_they_see(client, factory, products, group):
    sign_in(client, group_user(factory, group))
    response = client.get("/catalogue/export.xlsx?kind=drug")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert [row[1].value for row in sheet.iter_rows(min_row=2)] == ["利伐沙班片"]
    template = client.get("/catalogue/template.xlsx")
    assert template.status_code == 200 and openpyxl.load_workbook(io.BytesIO(template.data)).worksheets[0]["A1"].value


@pytest.mark.parametrize("group", [g for g in GROUP_USERS if g != "admin"])
def test_only_administrators_import(client, factory, makers, group):
    sign_in(client, group_user(factory, group))
    assert upload(client, xlsx_file([drug_row(1)]), "a.xlsx").status_code == 403
    assert client.get("/catalogue/imports/1").status_code == 403
    assert factory.db.exec(sa.select(sa.func.count()).select_from(Product)).one()[0] == 0


def test_an_administrator_imports_and_lands_on_the_import(client, factory, makers):
    sign_in(client, group_user(factory, "admin"))
    html = client.get("/catalogue").get_data(as_text=True)
    assert 'data-testid="catalogue-import"' in html and 'enctype="multipart/form-data"' in html
    response = upload(client, xlsx_file([drug_row(1), consumable_row(1)]), "目录.xlsx")
    assert response.status_code == 303
    record = factory.db.exec(sa.select(CatalogueImport)).scalars().one()
    assert response.headers["Location"] == f"/catalogue/imports/{record.id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-status="accepted"' in page and "目录.xlsx" in page
    assert factory.db.exec(sa.select(sa.func.count()).select_from(Product)).one()[0] == 2
    assert "目录.xlsx" in client.get("/catalogue").get_data(as_text=True)  # listed among recent imports


def test_a_refused_import_shows_every_problem_and_its_report(client, factory, makers):
    sign_in(client, group_user(factory, "admin"))
    rows = [drug_row(1), drug_row(2, 转换比="2.5"), drug_row(3, 批准文号="国药准字Q20190003"), drug_row(1)]
    response = upload(client, xlsx_file(rows), "坏的.xlsx")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-status="rejected"' in html
    found = set(re.findall(r'data-row="(\d*)" data-column="([^"]*)" data-code="(\w+)"', html))
    assert found == {("3", "转换比", "fractional"), ("4", "批准文号", "invalid_approval_number"),
                     ("5", "", "duplicate_row")}  # fmt: skip
    assert "国药准字Q20190003" in html  # the value as uploaded
    assert factory.db.exec(sa.select(sa.func.count()).select_from(Product)).one()[0] == 0
    record = factory.db.exec(sa.select(CatalogueImport)).scalars().one()  # kept although the answer is 422
    link = f"/catalogue/imports/{record.id}/report.xlsx"
    assert f'href="{link}"' in html
    report = client.get(link)
    assert report.status_code == 200
    uploaded, listing = openpyxl.load_workbook(io.BytesIO(report.data)).worksheets
    assert [r[0].value for r in listing.iter_rows(min_row=2)] == [3, 4, 5]
    assert uploaded.cell(row=3, column=uploaded.max_column).value.startswith("[转换比]")


def test_a_missing_file_is_shown_on_the_form(client, factory):
    sign_in(client, group_user(factory, "admin"))
    token = csrf_token(client, "/catalogue")
    response = client.post("/catalogue/imports", data={"csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert 'class="field-errors"' in response.get_data(as_text=True)
    assert factory.db.exec(sa.select(sa.func.count()).select_from(CatalogueImport)).one()[0] == 0
