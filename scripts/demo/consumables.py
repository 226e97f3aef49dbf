"""The demo high-value consumables: implants of the kinds China buys in national volume-based rounds.

The makers are the demo world's fictional companies; every code is synthetic but well formed: the UDI-DIs are
GTIN-14 under the maker's GS1 company prefix (items 901 on, clear of its drugs), the registration numbers follow
国械注准 + year + class 3 + category + serial (12 active implants, 13 passive implants, 16 ophthalmic devices), and
the insurance codes are 27-character NHSA-style consumable codes (C + 26 digits) with made-up digits.
"""

from __future__ import annotations

from dataclasses import dataclass

from procurement.catalogue import GqceStatus, Product, ProductKind
from scripts.demo.world import LUJIANG, MINHAI, SHAXI


@dataclass(frozen=True)
class DemoConsumable:
    generic_name: str
    generic_name_en: str
    category: str  # 耗材分类
    model: str  # 规格型号, stored as the product's strength
    pack_quantity: int
    unit: str
    package_spec: str
    maker: str
    udi_di: str
    registration_number: str
    insurance_code: str


CONSUMABLES: tuple[DemoConsumable, ...] = (
    DemoConsumable("药物洗脱冠脉支架系统", "Drug-eluting Coronary Stent System", "血管介入类", "3.0mm×18mm", 1, "套",
                   "1套/盒", MINHAI, "06935101009017", "国械注准20193130101", "C02010100100100135101000001"),
    DemoConsumable("人工髋关节假体", "Total Hip Joint Prosthesis", "骨科植入类", "陶瓷-聚乙烯 52mm", 1, "套",
                   "1套/盒", LUJIANG, "06935202009015", "国械注准20183130212", "C03020100200200235202000001"),
    DemoConsumable("人工晶状体", "Intraocular Lens", "眼科植入类", "+20.0D", 1, "片", "1片/盒", LUJIANG,
                   "06935202009022", "国械注准20173160233", "C05010100300300335202000002"),
    DemoConsumable("植入式心脏起搏器", "Implantable Cardiac Pacemaker", "心脏植入类", "双腔 DDDR", 1, "台",
                   "1台/盒", SHAXI, "06935403009012", "国械注准20203120045", "C02020100400400435403000001"),
)  # fmt: skip


def consumable_products(manufacturer_ids: dict[str, int]) -> list[Product]:
    """Build the demo consumables as catalogue products (their makers hold their registrations)."""
    return [
        Product(
            kind=ProductKind.CONSUMABLE.value,
            generic_name=c.generic_name,
            generic_name_en=c.generic_name_en,
            strength=c.model,
            pack_quantity=c.pack_quantity,
            unit=c.unit,
            package_spec=c.package_spec,
            manufacturer_id=manufacturer_ids[c.maker],
            mah_id=manufacturer_ids[c.maker],
            udi_di=c.udi_di,
            category=c.category,
            registration_number=c.registration_number,
            insurance_code=c.insurance_code,
            gqce_status=GqceStatus.NOT_APPLICABLE.value,
        )
        for c in CONSUMABLES
    ]
