"""Which sanction bars a product listing (挂网) in a region, or supplying a product to a hospital (6.7).

A credit disposal of "all products" (6.7) is limited to the rating province, by its ``credit_disposals`` row and
the sanction's ``region_prefix``: it bars listings whose region overlaps that province ("" = everywhere overlaps
every province). Every other sanction, and a case-product disposal, bars the listing everywhere.

Supplying what already exists is barred only by credit disposals (rule 6.7: listing and distribution), not by the
VBP violation list, which bars bidding (1.8.1): a product may not be delivered to a hospital in the sanction's
region while the delivering firm, the award's winner or the product's maker or MAH is sanctioned for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from procurement.audit.credit_models import CreditDisposal
from procurement.audit.credit_rules import DISPOSAL_RULE
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


def disposal_bars(*, firms: Sequence[Any], product_id: Any, region: Any, on: Any) -> tuple[sa.ColumnElement[bool], ...]:
    """Return the conditions on ``SupplierSanction`` of a credit disposal barring supply of a product (6.7).

    Each argument is a value or an SQL expression, so the same rule serves one lookup and a correlated
    ``NOT EXISTS`` in a larger query: ``firms`` may supply it, ``region`` is the buying hospital's region code.
    """
    where = sa.literal(region) if isinstance(region, str) else region
    return (
        SupplierSanction.rule == DISPOSAL_RULE,
        SupplierSanction.supplier_id.in_(list(firms)),
        SupplierSanction.starts_on <= on,
        sa.or_(SupplierSanction.ends_on.is_(None), SupplierSanction.ends_on >= on),
        sa.or_(SupplierSanction.product_id.is_(None), SupplierSanction.product_id == product_id),
        where.startswith(SupplierSanction.region_prefix),
    )


def supply_sanction(
    session: Session, *, firm_ids: Sequence[int], product_id: int, region_code: str, on: dt.date
) -> SupplierSanction | None:
    """Return a credit disposal barring any of these firms from supplying the product in a region on a day."""
    stmt = sa.select(SupplierSanction).where(
        *disposal_bars(firms=sorted(set(firm_ids)), product_id=product_id, region=region_code, on=on)
    )
    return session.exec(stmt.order_by(SupplierSanction.id)).scalars().first()
