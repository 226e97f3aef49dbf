"""The catalogue's spreadsheet layout: the template's columns and words, the template itself, and the export.

The template and the export share one layout, so an exported catalogue imports again unchanged. Headers may be
written in Chinese or English (or one of the listed alternatives), in any order; only the first worksheet is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.models import Organisation
from procurement import spreadsheets as sheets
from procurement.catalogue import product_query
from procurement.catalogue_models import GqceStatus, Product, ProductKind

SHEET_TITLE = "产品 Products"


@dataclass(frozen=True)
class Column:
    """One column of the template: the field it fills, its Chinese and English headers, other accepted headers."""

    field: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    note: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("kind", "类别", "Kind", ("产品类别", "药品/耗材"), "药品 or 耗材 (drug / consumable); empty: 药品"),
    Column("generic_name", "通用名", "Generic name", ("通用名称", "药品通用名", "产品名称", "Product name"),
           "required"),
    Column("generic_name_en", "英文名", "English name", ("英文通用名",)),
    Column("dosage_form", "剂型", "Dosage form", (), "required for drugs; empty for consumables"),
    Column("strength", "规格", "Strength", ("规格型号", "Specification"), "required (consumables: 规格型号)"),
    Column("package_spec", "包装规格", "Package specification", ("包装",), "required, e.g. 10mg×7片×4板"),
    Column("pack_quantity", "转换比", "Pack quantity", ("包装数量", "最小包装数量"),
           "required: whole number ≥ 1 of smallest units per pack"),
    Column("unit", "最小单位", "Unit", ("最小使用单位", "最小包装单位", "单位"), "required: 片, 粒, 支, 瓶, 个, 套 …"),
    Column("manufacturer", "生产企业", "Manufacturer", ("生产厂家", "生产企业名称"),
           "required: a registered manufacturer's exact name or unified social credit code"),
    Column("mah", "上市许可持有人", "Marketing authorisation holder", ("持有人", "注册人", "MAH", "Registrant"),
           "name or credit code; empty: the manufacturer"),
    Column("approval_number", "批准文号", "Approval number", ("国药准字", "药品批准文号"),
           "required for drugs: 国药准字H/Z/S/J/B/F + 8 digits (HC/ZC/SC, HJ/ZJ/SJ for imports)"),
    Column("insurance_code", "医保编码", "Insurance code", ("医保药品编码", "医保代码", "国家医保编码", "医保耗材编码"),
           "drugs: X or Z + 22 characters; consumables: C + 19 or 26 digits"),
    Column("trace_product_id", "追溯码产品标识", "Trace product ID", ("产品资源码", "追溯产品标识"), "7 digits"),
    Column("gtin", "GTIN", "GTIN", ("商品条码", "条形码"), "8, 12, 13 or 14 digits with a correct check digit"),
    Column("gqce_status", "一致性评价", "GQCE status", ("一致性评价状态",),
           "通过, 参比制剂/原研, 未通过/未评价 or 不适用; empty: 未通过/未评价 (drugs), 不适用 (consumables)"),
    Column("essential", "国家基本药物", "Essential medicine", ("基本药物", "基药"), "是/否; empty: 否"),
    Column("key_monitored", "重点监控", "Key monitored", ("重点监控药品",), "是/否; empty: 否"),
    Column("udi_di", "UDI-DI", "UDI-DI", ("产品标识", "器械唯一标识", "UDI"),
           "required for consumables: GS1 GTIN-14 or another agency's DI"),
    Column("category", "耗材分类", "Consumable category", ("分类",), "consumables only, e.g. 血管介入类"),
    Column("registration_number", "注册证号", "Registration number", ("医疗器械注册证号", "注册证编号"),
           "consumables only, e.g. 国械注准20153130456"),
)  # fmt: skip
BY_KEY = {
    sheets.header_key(name): column
    for column in COLUMNS
    for name in (column.zh, column.en, column.field, *column.aliases)
}
ALWAYS_REQUIRED = ("generic_name", "strength", "package_spec", "pack_quantity", "unit", "manufacturer")
KIND_WORDS = {
    "药品": ProductKind.DRUG, "药": ProductKind.DRUG, "西药": ProductKind.DRUG, "中成药": ProductKind.DRUG,
    "drug": ProductKind.DRUG, "耗材": ProductKind.CONSUMABLE, "医用耗材": ProductKind.CONSUMABLE,
    "高值耗材": ProductKind.CONSUMABLE, "高值医用耗材": ProductKind.CONSUMABLE, "consumable": ProductKind.CONSUMABLE,
}  # fmt: skip
GQCE_WORDS = {
    GqceStatus.PASSED: ("通过", "已通过", "通过一致性评价", "passed"),
    GqceStatus.REFERENCE: ("参比制剂/原研", "参比制剂", "原研", "原研药", "reference"),
    GqceStatus.NOT_EVALUATED: ("未通过/未评价", "未通过", "未评价", "未开展", "not_evaluated", "not evaluated"),
    GqceStatus.NOT_APPLICABLE: ("不适用", "not_applicable", "not applicable", "n/a"),
}
GQCE_OF_WORD = {word: status for status, words in GQCE_WORDS.items() for word in words}
WIDTHS = [14] * len(COLUMNS)


def template_workbook() -> bytes:
    """Return the import template: the headers on the first sheet, what each column takes on the second."""
    guide = [[c.zh, c.en, c.note, " / ".join(c.aliases)] for c in COLUMNS]
    return sheets.workbook_bytes(
        [
            sheets.SheetOut(SHEET_TITLE, [c.zh for c in COLUMNS], [], widths=WIDTHS),
            sheets.SheetOut(
                "说明 Guide",
                ["列 Column", "English", "填写说明 Rules", "也接受 Also accepted"],
                guide,
                widths=(16, 28, 90, 40),
            ),
        ]
    )


def export_products(
    session: Session, *, actor: Actor, q: str | None = None, kind: ProductKind | str | None = None
) -> bytes:
    """Return the catalogue (or the products matching ``q`` and ``kind``) as .xlsx in the import template's layout."""
    products = list(session.exec(product_query(q=q, kind=kind)).scalars())
    org_ids = {p.manufacturer_id for p in products} | {p.mah_id for p in products if p.mah_id}
    names = dict(session.exec(sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))).all())
    kind_words = {ProductKind.DRUG: "药品", ProductKind.CONSUMABLE: "耗材"}

    def cells(p: Product) -> list[object]:
        value = {
            "kind": kind_words[ProductKind(p.kind)],
            "manufacturer": names.get(p.manufacturer_id),
            "mah": names.get(p.mah_id) if p.mah_id not in (None, p.manufacturer_id) else None,
            "gqce_status": GQCE_WORDS[GqceStatus(p.gqce_status)][0],
            "essential": "是" if p.essential else "否",
            "key_monitored": "是" if p.key_monitored else "否",
        }
        return [value[c.field] if c.field in value else getattr(p, c.field) for c in COLUMNS]

    rows = (cells(p) for p in products)
    return sheets.workbook_bytes([sheets.SheetOut(SHEET_TITLE, [c.zh for c in COLUMNS], rows, widths=WIDTHS)])
