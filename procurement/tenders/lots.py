"""A tender's lots: product groups with their ceiling and specification-difference table (rulebook 1.2)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.errors import INVALID, DomainError, invalid
from core.params import parameter_set
from procurement.catalogue import Product
from procurement.rules.types import DosageClass, LotCategory
from procurement.tenders.lifecycle import require_status
from procurement.tenders.models import Lot, LotProduct, TenderStatus
from procurement.tenders.setup import get_tender, money_value, quantize4, require_organiser

# Specification-difference rule (差比价) used when a lot's table gives no factor for a product: the comparable price
# rises by this ratio per doubling of strength. Rulebook 1.2.3 marks the coefficient [U]: load the batch's own
# figure into the lot's table when known.
SPEC_DIFFERENCE = parameter_set(
    "tender.spec-difference",
    "2019",
    ("1.2.3",),
    note="[U] coefficient; a lot's explicit spec_factor always wins.",
    strength_doubling_ratio="1.7",
)


@dataclass(frozen=True)
class LotProductIn:
    product_id: int
    spec_factor: Decimal | None = None
    group: str | None = None


def add_lot(
    session: Session,
    *,
    tender_id: int,
    actor: Actor,
    generic_name: str,
    dosage_form: str,
    reference_strength: str,
    ceiling_ucp: Decimal,
    category: LotCategory = LotCategory.CHEMICAL,
    dosage_class: DosageClass = DosageClass.ORAL_SOLID,
    products: Sequence[LotProductIn] = (),
) -> Lot:
    """Add a product group with its ceiling and specification table; by default every catalogue match joins it."""
    tender = get_tender(session, tender_id=tender_id, actor=actor, lock=True)
    require_organiser(tender, actor)
    require_status(tender, TenderStatus.DRAFT, TenderStatus.DEMAND_COLLECTION, action="add a lot")
    ceiling = money_value("ceiling_ucp", ceiling_ucp)
    if ceiling <= 0:
        raise invalid("ceiling_ucp", "the ceiling must be above zero")
    if not products:
        matches = session.exec(
            sa.select(Product.id).where(Product.generic_name == generic_name, Product.dosage_form == dosage_form)
        ).all()
        products = [LotProductIn(product_id=row[0]) for row in matches]
    if not products:
        raise invalid("products", f"no catalogue product is {generic_name} {dosage_form}; add products first")
    number = session.exec(sa.select(sa.func.coalesce(sa.func.max(Lot.number), 0)).where(Lot.tender_id == tender.id))
    lot = Lot(
        tender_id=tender.id,
        number=int(number.one()[0]) + 1,
        generic_name=generic_name,
        dosage_form=dosage_form,
        reference_strength=reference_strength,
        unit="",
        ceiling_ucp=ceiling,
        category=LotCategory(category).value,
        dosage_class=DosageClass(dosage_class).value,
    )
    rows = _lot_products(session, lot, products)
    lot.unit = rows[0][0].unit
    session.add(lot)
    session.flush()
    for _product, row in rows:
        row.lot_id = lot.id
        session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="tender.lot_added",
        object_type="tender_lot",
        object_id=lot.id,
        details={"tender_id": tender.id, "ceiling_ucp": str(ceiling), "products": [r.product_id for _, r in rows]},
        org_id=tender.organiser_org_id,
    )
    return lot


def _lot_products(session: Session, lot: Lot, items: Sequence[LotProductIn]) -> list[tuple[Product, LotProduct]]:
    rows: list[tuple[Product, LotProduct]] = []
    seen: set[int] = set()
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        where = f"products[{index}]"
        product = session.get(Product, item.product_id)
        if product is None:
            errors[f"{where}.product_id"] = [f"unknown product {item.product_id}"]
            continue
        if item.product_id in seen:
            errors[f"{where}.product_id"] = [f"product {item.product_id} is listed twice"]
            continue
        seen.add(item.product_id)
        if product.generic_name != lot.generic_name or product.dosage_form != lot.dosage_form:
            errors[f"{where}.product_id"] = [
                f"{product.generic_name} {product.dosage_form} is not {lot.generic_name} {lot.dosage_form}"
            ]
            continue
        factor = item.spec_factor
        if factor is None:
            factor = strength_factor(product.strength, lot.reference_strength)
            if factor is None:
                errors[f"{where}.spec_factor"] = [
                    f"cannot compare {product.strength} with {lot.reference_strength}; give the factor (差比价)"
                ]
                continue
        factor = money_value(f"{where}.spec_factor", factor)
        if factor <= 0:
            errors[f"{where}.spec_factor"] = ["must be above zero"]
            continue
        if item.group is not None and item.group not in ("A", "B"):
            errors[f"{where}.group"] = ["must be A or B (rulebook 2.4)"]
            continue
        rows.append((product, LotProduct(product_id=product.id, spec_factor=factor, group=item.group)))
    if errors:
        raise DomainError(INVALID, "the lot's product table has errors", code="lot_products", errors=errors)
    return rows


_STRENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mg|g|μg|ug|ml|iu|万iu|万单位)\s*$", re.IGNORECASE)
_TO_MG = {"g": 1000.0, "mg": 1.0, "μg": 0.001, "ug": 0.001}


def strength_factor(strength: str, reference: str) -> Decimal | None:
    """Return the spec factor of ``strength`` against ``reference`` (差比价), or None if they cannot be compared."""
    a, b = _STRENGTH.match(strength or ""), _STRENGTH.match(reference or "")
    if not a or not b:
        return None
    unit_a, unit_b = a.group(2).lower(), b.group(2).lower()
    value_a, value_b = float(a.group(1)), float(b.group(1))
    if unit_a in _TO_MG and unit_b in _TO_MG:
        value_a, value_b = value_a * _TO_MG[unit_a], value_b * _TO_MG[unit_b]
    elif unit_a != unit_b:
        return None
    if value_a <= 0 or value_b <= 0:
        return None
    ratio = float(SPEC_DIFFERENCE["strength_doubling_ratio"])
    return quantize4(Decimal(repr(ratio ** math.log2(value_a / value_b))))


def lots_of(session: Session, tender_id: int) -> list[Lot]:
    """Return a tender's lots in number order."""
    return list(session.exec(sa.select(Lot).where(Lot.tender_id == tender_id).order_by(Lot.number)).scalars())


def lot_products(session: Session, lot_ids: Sequence[int]) -> list[tuple[LotProduct, Product]]:
    """Return the products of some lots with their catalogue rows."""
    if not lot_ids:
        return []
    stmt = (
        sa.select(LotProduct, Product)
        .join(Product, Product.id == LotProduct.product_id)
        .where(LotProduct.lot_id.in_(lot_ids))
        .order_by(LotProduct.lot_id, LotProduct.id)
    )
    return [(row[0], row[1]) for row in session.exec(stmt).all()]
