"""A small world for prescription imports: two hospitals, their physicians, a drug, a second drug and a consumable."""

from __future__ import annotations

from dataclasses import dataclass

from core.accounts import actor_for_user
from core.actor import Actor
from core.roles import OrgKind, Role
from procurement.audit.physician_registry import register_physicians
from procurement.catalogue_models import Product

KEY = b"test-only-pseudonymisation-key-0123456789abcdef"
PATIENT = "350203198001011234"  # a clear identifier that must never be stored
HEADER_ZH = ["处方号", "行号", "患者身份证号", "医师编码", "就诊类型", "开具日期", "药品编码", "数量", "天数", "金额"]


@dataclass
class RxWorld:
    hospital: Actor
    other: Actor
    auditor: Actor
    drug: Product
    drug2: Product
    consumable: Product


def product(db, maker_id: int, n: int, **fields) -> Product:
    values = {
        "generic_name": "阿莫西林胶囊",
        "dosage_form": "胶囊剂",
        "strength": "0.25g",
        "pack_quantity": 24,
        "unit": "粒",
        "package_spec": f"0.25g×24粒 {n}",
        "manufacturer_id": maker_id,
        "insurance_code": f"XJ01CAA040E001010{n:05d}",
    } | fields
    item = Product(**values)
    db.add(item)
    db.flush()
    return item


def build_rx_world(db, factory) -> RxWorld:
    """Create the hospitals (each with physicians D001 and D002), an auditor and three products."""
    actors = []
    for region in ("350203", "350206"):
        org = factory.org(OrgKind.HOSPITAL, region_code=region)
        actors.append(actor_for_user(db, factory.user(org, roles=(Role.PHARMACIST,)).id))
    bureau = factory.org(OrgKind.INSURANCE_BUREAU)
    auditor = actor_for_user(db, factory.user(bureau, roles=(Role.AUDITOR,)).id)
    maker = factory.org(OrgKind.MANUFACTURER)
    drug = product(db, maker.id, 1)
    drug2 = product(db, maker.id, 2, generic_name="硝苯地平控释片", strength="30mg", package_spec="30mg×7片")
    consumable = product(
        db,
        maker.id,
        3,
        kind="consumable",
        generic_name="冠脉支架",
        dosage_form=None,
        strength="3.0×18mm",
        pack_quantity=1,
        unit="个",
        package_spec="1个/盒",
        insurance_code=None,
        udi_di="06901234567892",
    )
    for hospital in actors:
        register_physicians(
            db,
            actor=hospital,
            hospital_id=hospital.org_id,
            physicians=[
                {"code": "D001", "name": "张医生", "department": "心内科", "title": "主治医师"},
                {"code": "D002", "name": "李医生", "department": "呼吸科", "title": "副主任医师"},
            ],
        )
    return RxWorld(actors[0], actors[1], auditor, drug, drug2, consumable)


def csv_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    """Lay rows out as a UTF-8 CSV file with a byte order mark, as Excel saves it."""
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    return ("\ufeff" + "\n".join(lines) + "\n").encode("utf-8")
