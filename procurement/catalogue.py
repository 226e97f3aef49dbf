"""The product catalogue: drugs and high-value consumables that hospitals buy and tenders group into lots."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel

from core.actor import Actor
from core.db import UTCDateTime, utcnow
from core.errors import not_found
from core.pagination import Page, paginate


class ProductKind(StrEnum):
    DRUG = "drug"
    CONSUMABLE = "consumable"


class Product(SQLModel, table=True):
    """One marketed product at one packaging: generic name, form, strength and pack, from one manufacturer."""

    __tablename__ = "products"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('drug', 'consumable')", name="kind"),
        sa.CheckConstraint("pack_quantity > 0", name="pack_quantity_positive"),
        sa.Index("ix_products_generic_name", "generic_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=ProductKind.DRUG.value, sa_column=sa.Column(sa.String(16), nullable=False))
    generic_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))  # 通用名
    generic_name_en: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    dosage_form: str = Field(sa_column=sa.Column(sa.String(50), nullable=False))  # 剂型
    strength: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))  # 规格
    pack_quantity: int = Field(nullable=False)  # smallest units per pack (转换比)
    unit: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # 片, 粒, 支, 袋 …
    package_spec: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))  # 包装规格, e.g. 10mg×7片×2板
    manufacturer_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    approval_number: str | None = Field(default=None, sa_column=sa.Column(sa.String(32)))  # 国药准字
    insurance_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), unique=True))  # 医保药品编码
    trace_product_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(7), unique=True))
    gtin: str | None = Field(default=None, sa_column=sa.Column(sa.String(14), unique=True))
    gqce_passed: bool = Field(default=False, nullable=False)  # 通过一致性评价
    essential: bool = Field(default=False, nullable=False)  # 国家基本药物
    key_monitored: bool = Field(default=False, nullable=False)  # 重点监控
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


def list_products(
    session: Session,
    *,
    actor: Actor,
    page: int = 1,
    per_page: int = 50,
    q: str | None = None,
    kind: ProductKind | None = None,
) -> Page[Product]:
    """List catalogue products (readable by every signed-in user), optionally searching names."""
    stmt = sa.select(Product).order_by(Product.generic_name, Product.strength, Product.id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(sa.or_(Product.generic_name.ilike(like), Product.generic_name_en.ilike(like)))
    if kind:
        stmt = stmt.where(Product.kind == ProductKind(kind).value)
    return paginate(session, stmt, page=page, per_page=per_page)


def get_product(session: Session, *, product_id: int, actor: Actor) -> Product:
    """Return one catalogue product."""
    product = session.get(Product, product_id)
    if product is None:
        raise not_found("Product", product_id)
    return product
