"""The catalogue: code layouts, adding products, all-or-nothing spreadsheet imports with their reports, export."""

from __future__ import annotations

import csv
import io
import time

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
from procurement.catalogue_io import ImportRejected, get_import, import_products, report_workbook
from procurement.catalogue_template import COLUMNS, export_products, template_workbook
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


# ---------------------------------------------------------------- imports


def test_an_xlsx_with_chinese_headers_imports_every_row(db, makers):
    rows = [drug_row(1), drug_row(2, 上市许可持有人="鹭江药业有限公司", 一致性评价="参比制剂/原研"), consumable_row(1)]
    record = import_products(db, filename="目录.xlsx", data=xlsx_file(rows), actor=ADMIN)
    assert (record.status, record.row_count, record.created_count, record.errors) == ("accepted", 3, 3, [])
    products = {p.id: p for p in db.exec(sa.select(Product)).scalars()}
    assert sorted(products) == sorted(record.report["product_ids"])
    first, second, stent = (products[i] for i in record.report["product_ids"])
    assert (first.pack_quantity, first.mah_id, first.gqce_status, first.essential) == (7, makers["minhai"].id,
                                                                                         "passed", True)  # fmt: skip
    assert second.mah_id == makers["lujiang"].id and second.gqce_status == "reference"
    assert (stent.kind, stent.manufacturer_id, stent.gqce_status) == ("consumable", makers["lujiang"].id,
                                                                      "not_applicable")  # fmt: skip
    [audit] = audits(db, "catalogue.imported")
    assert audit.object_id == str(record.id) and audit.details["product_ids"] == record.report["product_ids"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_a_csv_imports_in_utf8_with_or_without_bom_and_in_gb18030(db, makers, encoding):
    english = {c.zh: c.en for c in COLUMNS}
    rows = [{english[k]: v for k, v in drug_row(n).items()} for n in (1, 2)]
    record = import_products(db, filename="catalogue.csv", data=csv_file(rows, encoding=encoding), actor=ADMIN)
    assert record.created_count == 2
    names = set(db.exec(sa.select(Product.generic_name)).scalars())
    assert names == {"阿托伐他汀钙片"}


def test_every_bad_row_is_named_by_row_and_column_and_nothing_is_saved(db, makers):
    create_product(db, data=_drug(makers, gtin=gtin("0693510109999")), actor=ADMIN)
    rows = [
        drug_row(1),  # row 2: fine
        drug_row(2, 转换比="-7"),  # row 3
        drug_row(3, 转换比="2.5"),  # row 4
        drug_row(4, 批准文号="国药准字Q20190004"),  # row 5
        drug_row(5, 生产企业="不存在制药厂"),  # row 6
        drug_row(1),  # row 7: a repeat of row 2
        drug_row(7, GTIN=drug_row(1)["GTIN"]),  # row 8: same GTIN as row 2
        drug_row(8, GTIN=gtin("0693510109999")),  # row 9: GTIN already in the catalogue
        drug_row(9, 通用名=""),  # row 10
        consumable_row(1, **{"UDI-DI": ""}),  # row 11
        drug_row(11, 生产企业="厦门大学附属第一医院"),  # row 12
        drug_row(12, 一致性评价="大概通过"),  # row 13
        drug_row(13, 国家基本药物="也许"),  # row 14
        drug_row(14, GTIN="06935101000010"),  # row 15: wrong check digit
    ]
    record = rejected(db, filename="bad.xlsx", data=xlsx_file(rows))
    found = problems(record)
    assert found == {
        (3, "转换比", "negative"),
        (4, "转换比", "fractional"),
        (5, "批准文号", "invalid_approval_number"),
        (6, "生产企业", "unknown_organisation"),
        (7, None, "duplicate_row"),
        (8, "GTIN", "duplicate_in_file"),
        (9, "GTIN", "exists"),
        (10, "通用名", "required"),
        (11, "UDI-DI", "required"),
        (12, "生产企业", "not_a_manufacturer"),
        (13, "一致性评价", "invalid_choice"),
        (14, "国家基本药物", "not_yes_or_no"),
        (15, "GTIN", "invalid_gtin"),
    }
    assert record.row_count == 14
    assert [a.object_id for a in audits(db, "catalogue.import_rejected")] == [str(record.id)]
    assert audits(db, "catalogue.imported") == []
    assert get_import(db, import_id=record.id, actor=ADMIN).errors == record.errors


def test_blank_rows_keep_the_row_numbers_the_user_sees(db, makers):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(drug_row(1)))
    sheet.append(list(drug_row(1).values()))
    sheet.append([])
    sheet.append(list(drug_row(2, 转换比="0").values()))
    buffer = io.BytesIO()
    book.save(buffer)
    record = rejected(db, filename="gaps.xlsx", data=buffer.getvalue())
    assert problems(record) == {(4, "转换比", "too_small")}


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("catalogue.xlsx", b"PK\x03\x04 not really a workbook", "unreadable_file"),
        ("catalogue.xls", b"\xd0\xcf\x11\xe0 old excel", "old_excel_format"),
        ("catalogue.csv", "通用名,规格\n甲,1mg,多余\n".encode(), "extra_cells"),
        ("catalogue.csv", b"\xff\xfe\x00\x00\x81", "unknown_encoding"),
        ("catalogue.csv", b"\n\n", "missing_header"),
        ("catalogue.csv", "通用名,剂型,规格,包装规格,转换比,最小单位,生产企业\n".encode(), "no_rows"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(db, makers, filename, data, code):
    record = rejected(db, filename=filename, data=data)
    assert [e["code"] for e in record.errors] == [code]


def test_header_problems_name_the_column(db, makers):
    rows = [{k: v for k, v in drug_row(1).items() if k != "转换比"} | {"备注": "x", "药品通用名": "重复", "": "?"}]
    record = rejected(db, filename="h.xlsx", data=xlsx_file(rows))
    assert problems(record) == {
        (1, "备注", "unknown_column"),
        (1, "药品通用名", "duplicate_column"),
        (1, "转换比", "missing_column"),
        (1, "R", "unnamed_column"),  # the 18th column: values under an empty header
    }


def test_the_report_downloads_as_a_workbook_listing_each_problem(db, makers):
    rows = [drug_row(1), drug_row(2, 转换比="2.5"), drug_row(3, 批准文号="无")]
    record = rejected(db, filename="bad.xlsx", data=xlsx_file(rows))
    book = openpyxl.load_workbook(io.BytesIO(report_workbook(record)))
    uploaded, listing = book.worksheets
    header = [cell.value for cell in uploaded[1]]
    assert header == [*drug_row(1), "Problems"]
    assert [row[0].value for row in uploaded.iter_rows(min_row=2)] == ["药品", "药品", "药品"]
    notes = [row[-1].value for row in uploaded.iter_rows(min_row=2)]
    assert notes[0] is None and "[转换比]" in notes[1] and "[批准文号]" in notes[2] and "approval number" in notes[2]
    assert uploaded["C3"].value == "Atorvastatin Calcium Tablets"
    assert [(r[0].value, r[1].value) for r in listing.iter_rows(min_row=2)] == [(3, "转换比"), (4, "批准文号")]


def test_uploaded_formulas_come_back_as_text(db, makers):
    record = rejected(db, filename="f.csv", data=csv_file([drug_row(1, 通用名="=HYPERLINK(1)", 转换比="x")]))
    sheet = openpyxl.load_workbook(io.BytesIO(report_workbook(record))).worksheets[0]
    assert sheet["B2"].value == "=HYPERLINK(1)" and sheet["B2"].data_type == "s"


def test_export_then_import_into_an_empty_catalogue_gives_the_same_products(db, makers):
    rows = [drug_row(n) for n in range(1, 4)] + [drug_row(4, 上市许可持有人="鹭江药业有限公司"), consumable_row(1)]
    import_products(db, filename="seed.xlsx", data=xlsx_file(rows), actor=ADMIN)
    fields = [c for c in Product.model_fields if c not in ("id", "created_at")]

    def snapshot():
        return sorted(tuple(getattr(p, f) for f in fields) for p in db.exec(sa.select(Product)).scalars())

    before = snapshot()
    exported = export_products(db, actor=ADMIN)
    db.exec(sa.delete(Product))
    record = import_products(db, filename="catalogue.xlsx", data=exported, actor=ADMIN)
    assert record.created_count == 5 and snapshot() == before


def test_the_template_lists_every_column_and_imports_as_an_empty_file(db, makers):
    book = openpyxl.load_workbook(io.BytesIO(template_workbook()))
    assert [c.value for c in book.worksheets[0][1]] == ZH
    assert book.worksheets[1].max_row == len(COLUMNS) + 1
    record = rejected(db, filename="template.xlsx", data=template_workbook())
    assert [e["code"] for e in record.errors] == ["no_rows"]


def test_five_thousand_rows_import_in_a_few_seconds(db, makers):
    rows = [
        {"通用名": f"测试药品{n}", "剂型": "片剂", "规格": "10mg", "包装规格": f"10mg×{n}片", "转换比": str(n),
         "最小单位": "片", "生产企业": "闽海制药有限公司", "批准文号": f"国药准字H2020{n:04d}",
         "GTIN": gtin(f"0693510{n:06d}"), "追溯码产品标识": f"8{n:06d}"}
        for n in range(1, 5001)
    ]  # fmt: skip
    data = csv_file(rows)
    started = time.perf_counter()
    record = import_products(db, filename="big.csv", data=data, actor=ADMIN)
    elapsed = time.perf_counter() - started
    assert record.created_count == 5000 and count(db, Product) == 5000
    assert elapsed < 15, f"5,000 rows took {elapsed:.1f} s"
