"""Catalogue spreadsheet imports: all or nothing, every bad row and column named, reports, export round trips."""

from __future__ import annotations

import io

import openpyxl
import pytest
import sqlalchemy as sa

from procurement.catalogue import Product, create_product
from procurement.catalogue_io import get_import, import_products, report_workbook
from procurement.catalogue_template import COLUMNS, export_products, template_workbook
from tests.procurement.test_catalogue import (
    ADMIN,
    ZH,
    _drug,
    audits,
    consumable_row,
    count,
    csv_file,
    drug_row,
    gtin,
    makers,
    problems,
    rejected,
    xlsx_file,
)

__all__ = ["makers"]  # the fixture, shared with test_catalogue


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


def test_a_five_thousand_row_file_imports_completely(db, makers):
    """Bulk inserts keep a large file whole; its speed is measured by scripts/bench/bench_catalogue_import.py."""
    rows = [
        {"通用名": f"测试药品{n}", "剂型": "片剂", "规格": "10mg", "包装规格": f"10mg×{n}片", "转换比": str(n),
         "最小单位": "片", "生产企业": "闽海制药有限公司", "批准文号": f"国药准字H2020{n:04d}",
         "GTIN": gtin(f"0693510{n:06d}"), "追溯码产品标识": f"8{n:06d}"}
        for n in range(1, 5001)
    ]  # fmt: skip
    data = csv_file(rows)
    record = import_products(db, filename="big.csv", data=data, actor=ADMIN)
    assert record.created_count == 5000 and count(db, Product) == 5000
