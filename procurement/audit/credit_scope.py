"""Which sanction bars a product listing (挂网) in a region: credit disposals reach all products only in a province.

``supplier_sanctions`` has no region. A credit disposal of "all products" (6.7) is limited to the rating province
by its ``credit_disposals`` row: it bars listings whose region overlaps that province ("" = everywhere overlaps
every province). Every other sanction, and a case-product disposal, bars the listing everywhere.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session

from procurement.audit.credit_models import CreditDisposal
from procurement.catalogue import Product
from procurement.tenders.models import SupplierSanction


def _overlaps(region_prefix: str, province: str) -> bool:
    return region_prefix.startswith(province) or province.startswith(region_prefix)


def listing_sanction(
    session: Session, *, supplier_id: int, product_id: int, region_prefix: str, on: dt.date
) -> SupplierSanction | None:
    """Return a sanction barring this listing on a day: of the delivering supplier, or of the product's maker/MAH."""
    product = session.get(Product, product_id)
    firms = {supplier_id} | ({product.manufacturer_id, product.mah_id} - {None} if product else set())
    stmt = (
        sa.select(SupplierSanction, CreditDisposal.province)
        .outerjoin(CreditDisposal, CreditDisposal.sanction_id == SupplierSanction.id)
        .where(
            SupplierSanction.supplier_id.in_(sorted(firms)),
            SupplierSanction.starts_on <= on,
            sa.or_(SupplierSanction.ends_on.is_(None), SupplierSanction.ends_on >= on),
            sa.or_(SupplierSanction.product_id.is_(None), SupplierSanction.product_id == product_id),
        )
        .order_by(SupplierSanction.id)
    )
    for sanction, province in session.exec(stmt).all():
        if province is None or _overlaps(region_prefix, province):
            return sanction
    return None
