"""The catalogue: code layouts, adding products, all-or-nothing spreadsheet imports with their reports, export."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
import sqlalchemy as sa

from core.actor import Actor
from core.errors import DomainError
from core.models import AuditRecord
from core.roles import OrgKind, Role
from procurement import catalogue_codes as codes
from procurement import spreadsheets
from procurement.catalogue import CatalogueImport, Product, create_product
from procurement.catalogue_io import ImportRejected, import_products
from procurement.catalogue_template import COLUMNS
from tests.factories import make_uscc

ADMIN = Actor.system("catalogue-tests")
ZH = [c.zh for c in COLUMNS]


def gtin(body: str) -> str:
    """Complete a 13-digit GTIN body with its GS1 check digit."""
    from stdnum import ean

    return body + ean.calc_check_digit(body)


@pytest.fixture
def makers(factory):
    """Two manufacturers with known names and credit codes, and a hospital (which cannot make anything)."""
    return {
        "minhai": factory.org(OrgKind.MANUFACTURER, name="闽海制药有限公司", uscc=make_uscc(880001)),
        "lujiang": factory.org(OrgKind.MANUFACTURER, name="鹭江药业有限公司", uscc=make_uscc(880002)),
        "hospital": factory.org(OrgKind.HOSPITAL, name="厦门大学附属第一医院"),
    }


def drug_row(n: int, **overrides) -> dict[str, str]:
    """One drug row of the template, by Chinese header; ``n`` keeps its codes unique."""
    row = {
        "类别": "药品",
        "通用名": "阿托伐他汀钙片",
        "英文名": "Atorvastatin Calcium Tablets",
        "剂型": "片剂",
        "规格": "10mg",
        "包装规格": f"10mg×7片×{n}板",
        "转换比": str(7 * n),
        "最小单位": "片",
        "生产企业": "闽海制药有限公司",
        "批准文号": f"国药准字H2019{n:04d}",
        "医保编码": f"XC10AAA101A00101{n:02d}01351",
        "追溯码产品标识": f"81{n:05d}",
        "GTIN": gtin(f"069351010{n:04d}"),
        "一致性评价": "通过",
        "国家基本药物": "是",
        "重点监控": "否",
    }
    row.update(overrides)
    return row


def consumable_row(n: int, **overrides) -> dict[str, str]:
    row = {
        "类别": "耗材",
        "通用名": "药物洗脱冠脉支架系统",
        "规格": f"3.0mm×{10 + n}mm",
        "包装规格": "1套/盒",
        "转换比": "1",
        "最小单位": "套",
        "生产企业": make_uscc(880002),  # by credit code
        "UDI-DI": gtin(f"069352020{n:04d}"),
        "耗材分类": "血管介入类",
        "注册证号": f"国械注准2019313{n:04d}",
        "医保编码": f"C0201010010010013520200{n:04d}",
    }
    row.update(overrides)
    return row


def xlsx_file(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    header = header or list(dict.fromkeys(key for row in rows for key in row))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(h, "") for h in header])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_file(rows: list[dict[str, str]], *, encoding: str = "utf-8-sig", header: list[str] | None = None) -> bytes:
    header = header or list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return buffer.getvalue().encode(encoding)


def count(db, model) -> int:
    return db.exec(sa.select(sa.func.count()).select_from(model)).one()[0]


def audits(db, action: str) -> list[AuditRecord]:
    return list(db.exec(sa.select(AuditRecord).where(AuditRecord.action == action)).scalars())


def rejected(db, *, filename: str, data: bytes) -> CatalogueImport:
    """Import a file that must be refused, check nothing was saved, and return the kept import."""
    before = count(db, Product)
    with pytest.raises(ImportRejected) as refusal:
        import_products(db, filename=filename, data=data, actor=ADMIN)
    assert count(db, Product) == before
    record = refusal.value.record
    assert record.status == "rejected" and record.created_count == 0 and record.error_count == len(record.errors)
    assert refusal.value.kind == "invalid" and refusal.value.keep_work
    return record


def problems(record: CatalogueImport) -> set[tuple]:
    return {(e["row"], e["column"], e["code"]) for e in record.errors}


# ---------------------------------------------------------------- code layouts


@pytest.mark.parametrize(
    "number",
    ["国药准字H20193147", "国药准字Z44023372", "国药准字S20140001", "国药准字J20150055", "国药准字B20020815",
     "国药准字F20050009", "国药准字HJ20140344", "国药准字ZC20171003", "国药准字SJ20233150", "H20130137",
     "HC20150022", " 国药准字 h2019 3147 ", "国药准字Ｈ20193147"],
)  # fmt: skip
def test_approval_numbers_in_the_published_layouts_pass(number):
    assert codes.approval_number(number).startswith(("国药准字", "H"))


@pytest.mark.parametrize(
    "number", ["国药准字X20193147", "国药准字H2019314", "国药准字H201931470", "国药准字T20000001", "药准字H20193147",
               "国药准字HX20193147", "国药证字H20193147", "20193147"],
)  # fmt: skip
def test_malformed_approval_numbers_are_refused(number):
    with pytest.raises(codes.CodeError) as refused:
        codes.approval_number(number)
    assert refused.value.code == "invalid_approval_number"


def test_device_registration_numbers_follow_the_registration_measures():
    assert codes.registration_number("国械注准20153130456") == "国械注准20153130456"
    assert codes.registration_number("国械注进20173464321") == "国械注进20173464321"
    assert codes.registration_number("闽械注准20192140012") == "闽械注准20192140012"
    for bad in ("闽械注准20193140012", "闽械注进20192140012", "国械注准2015313045", "国械备20150001"):
        with pytest.raises(codes.CodeError):
            codes.registration_number(bad)


def test_gtins_need_their_check_digit_and_are_kept_as_gtin_14():
    good = gtin("0693510100001")
    assert codes.gtin(good) == good
    assert codes.gtin(good[1:]) == good  # a GTIN-13 (or an Excel cell that lost its leading zero)
    assert codes.gtin(good[1:] + ".0") == good
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(codes.CodeError, match="check digit"):
        codes.gtin(wrong)
    with pytest.raises(codes.CodeError, match="digits"):
        codes.gtin("69351010000")


def test_udi_di_is_a_checked_gtin_when_numeric_else_an_agency_code():
    good = gtin("0693520200001")
    assert codes.udi_di(good) == good
    with pytest.raises(codes.CodeError, match="check digit"):
        codes.udi_di(good[:-1] + str((int(good[-1]) + 1) % 10))
    assert codes.udi_di("MA.156.M0.100035.10022022") == "MA.156.M0.100035.10022022"
    with pytest.raises(codes.CodeError):
        codes.udi_di("UDI#123")


def test_insurance_codes_and_trace_identifiers():
    assert codes.insurance_code("XC10AAA101A001010101351", consumable=False)
    assert codes.insurance_code("C02010100100100135101000001", consumable=True)
    assert codes.insurance_code("C0201010010010013510", consumable=True)  # the 20-character form
    with pytest.raises(codes.CodeError):
        codes.insurance_code("C02010100100100135101000001", consumable=False)
    with pytest.raises(codes.CodeError):
        codes.insurance_code("XC10AAA101A001010101351", consumable=True)
    assert codes.trace_product_id("8110001") == "8110001"
    for bad in ("811000", "81100011", "811000A"):
        with pytest.raises(codes.CodeError):
            codes.trace_product_id(bad)


def test_cells_reject_fractional_negative_and_over_precise_numbers():
    assert spreadsheets.whole_number("28") == 28 and spreadsheets.whole_number("28.0") == 28
    for text, code in (("2.5", "fractional"), ("-3", "negative"), ("0", "too_small"), ("二十", "not_a_number")):
        with pytest.raises(spreadsheets.CellError) as refused:
            spreadsheets.whole_number(text)
        assert refused.value.code == code
    assert str(spreadsheets.money("12.3456")) == "12.3456"
    with pytest.raises(spreadsheets.CellError, match="more than 4 decimal"):
        spreadsheets.money("12.34567")


# ---------------------------------------------------------------- one product at a time


def _drug(makers, **overrides) -> dict:
    data = {
        "kind": "drug", "generic_name": "瑞舒伐他汀钙片", "dosage_form": "片剂", "strength": "10mg",
        "pack_quantity": 14, "unit": "片", "package_spec": "10mg×7片×2板", "manufacturer_id": makers["minhai"].id,
        "approval_number": "国药准字H20193147", "gtin": gtin("0693510100009"), "gqce_status": "reference",
    }  # fmt: skip
    data.update(overrides)
    return data


def test_an_administrator_adds_a_drug_and_the_change_is_audited(db, makers):
    product = create_product(db, data=_drug(makers), actor=ADMIN)
    assert product.id and product.mah_id == makers["minhai"].id  # the holder defaults to the manufacturer
    assert product.gqce_status == "reference" and product.gqce_passed
    assert db.exec(sa.select(Product.id).where(Product.gqce_passed, Product.id == product.id)).first()
    [record] = audits(db, "catalogue.product_created")
    assert record.object_id == str(product.id) and record.actor_name == "system:catalogue-tests"


def test_only_administrators_add_products(db, factory, makers):
    organiser = factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ORGANISER,))
    from core.accounts import actor_for_user

    with pytest.raises(DomainError) as refused:
        create_product(db, data=_drug(makers), actor=actor_for_user(db, organiser.id))
    assert refused.value.kind == "forbidden"
    assert count(db, Product) == 0


def test_a_product_with_bad_fields_is_refused_naming_each_field(db, makers):
    data = _drug(makers, approval_number="国药准字Q20193147", gtin="06935101000010", pack_quantity=0,
                 manufacturer_id=makers["hospital"].id, udi_di="06935202000017")  # fmt: skip
    with pytest.raises(DomainError) as refused:
        create_product(db, data=data, actor=ADMIN)
    assert refused.value.kind == "invalid"
    assert set(refused.value.errors) == {"approval_number", "gtin", "pack_quantity", "manufacturer_id", "udi_di"}
    assert "not a manufacturer" in refused.value.errors["manufacturer_id"][0]


def test_a_consumable_needs_its_udi_di_and_takes_no_drug_fields(db, makers):
    data = {"kind": "consumable", "generic_name": "人工髋关节假体", "strength": "52mm", "pack_quantity": 1,
            "unit": "套", "package_spec": "1套/盒", "manufacturer_id": makers["lujiang"].id,
            "approval_number": "国药准字H20193147", "gqce_status": "passed", "essential": True}  # fmt: skip
    with pytest.raises(DomainError) as refused:
        create_product(db, data=data, actor=ADMIN)
    assert set(refused.value.errors) == {"udi_di", "approval_number", "gqce_status", "essential"}
    data.update(udi_di=gtin("0693520200011"), approval_number=None, gqce_status=None, essential=False)
    product = create_product(db, data=data, actor=ADMIN)
    assert product.gqce_status == "not_applicable" and not product.gqce_passed and product.dosage_form is None


def test_codes_already_in_the_catalogue_are_a_conflict_naming_the_field(db, makers):
    create_product(db, data=_drug(makers), actor=ADMIN)
    with pytest.raises(DomainError) as refused:
        create_product(db, data=_drug(makers, approval_number="国药准字H20190001"), actor=ADMIN)
    assert refused.value.kind == "conflict" and set(refused.value.errors) == {"gtin"}
    with pytest.raises(DomainError) as refused:
        create_product(db, data=_drug(makers, gtin=None), actor=ADMIN)  # same approval number and pack
    assert set(refused.value.errors) == {"approval_number"}
    other_pack = create_product(db, data=_drug(makers, gtin=None, package_spec="10mg×28片"), actor=ADMIN)
    assert other_pack.approval_number == "国药准字H20193147"
