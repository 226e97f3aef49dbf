"""Tables of the catalogue: products (drugs and high-value consumables) and the spreadsheet imports that fed it."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from core.models import JSONType


def _values(enum: type) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)


class ProductKind(StrEnum):
    DRUG = "drug"
    CONSUMABLE = "consumable"  # high-value medical consumable (高值医用耗材), identified by its UDI-DI


class GqceStatus(StrEnum):
    """Standing in the generic quality-and-efficacy consistency evaluation (一致性评价), rulebook 1.1.1."""

    PASSED = "passed"  # 通过仿制药质量和疗效一致性评价
    REFERENCE = "reference"  # 参比制剂 / 原研药: the product generics are measured against
    NOT_EVALUATED = "not_evaluated"  # 未通过或未开展
    NOT_APPLICABLE = "not_applicable"  # consumables, and drugs outside the evaluation (most 中药 and biologicals)


# Who may enter a national VBP round: GQCE-passed generics plus the reference drug or originator (rulebook 1.1.1).
GQCE_ELIGIBLE = (GqceStatus.PASSED.value, GqceStatus.REFERENCE.value)


class ImportStatus(StrEnum):
    ACCEPTED = "accepted"  # every row saved
    REJECTED = "rejected"  # nothing saved; the report names every bad row and column


class Product(SQLModel, table=True):
    """One marketed product at one packaging: generic name, form, strength and pack, from one manufacturer."""

    __tablename__ = "products"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('drug', 'consumable')", name="kind"),
        sa.CheckConstraint("pack_quantity > 0", name="pack_quantity_positive"),
        sa.CheckConstraint(f"gqce_status IN ({_values(GqceStatus)})", name="gqce_status"),
        sa.Index("ix_products_generic_name", "generic_name"),
        # One approval number covers every pack of a strength; the package specification tells the packs apart.
        sa.UniqueConstraint("approval_number", "package_spec"),
    )
    model_config = {"ignored_types": (hybrid_property,)}

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=ProductKind.DRUG.value, sa_column=sa.Column(sa.String(16), nullable=False))
    generic_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))  # 通用名 (耗材: 产品名称)
    generic_name_en: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    dosage_form: str | None = Field(default=None, sa_column=sa.Column(sa.String(50)))  # 剂型; none for consumables
    strength: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))  # 规格 (耗材: 规格型号)
    pack_quantity: int = Field(nullable=False)  # smallest units per pack (转换比)
    unit: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # 片, 粒, 支, 袋, 个, 套 …
    package_spec: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))  # 包装规格, e.g. 10mg×7片×2板
    manufacturer_id: int = Field(foreign_key="organisations.id", index=True, nullable=False)
    # 上市许可持有人 (drugs) or 注册人 (devices); the services fill in the manufacturer when none is named.
    mah_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    approval_number: str | None = Field(default=None, sa_column=sa.Column(sa.String(32)))  # 国药准字
    insurance_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), unique=True))  # 医保编码
    trace_product_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(7), unique=True))
    gtin: str | None = Field(default=None, sa_column=sa.Column(sa.String(14), unique=True))
    gqce_status: str = Field(default=GqceStatus.NOT_EVALUATED.value, sa_column=sa.Column(sa.String(16), nullable=False))
    essential: bool = Field(default=False, nullable=False)  # 国家基本药物
    key_monitored: bool = Field(default=False, nullable=False)  # 重点监控
    udi_di: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), unique=True))  # 医疗器械唯一标识 DI
    category: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))  # 耗材分类, e.g. 血管介入类
    registration_number: str | None = Field(default=None, sa_column=sa.Column(sa.String(32)))  # 国械注准…
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))

    @hybrid_property
    def gqce_passed(self) -> bool:
        """Whether the product may enter a VBP round on quality: GQCE passed, or the reference drug itself."""
        return self.gqce_status in GQCE_ELIGIBLE

    @gqce_passed.inplace.expression
    @classmethod
    def _gqce_passed_expression(cls) -> sa.ColumnElement[bool]:
        return cls.gqce_status.in_(GQCE_ELIGIBLE)

    @property
    def holder_id(self) -> int:
        """The marketing-authorisation holder (or device registrant): the manufacturer unless another is named."""
        return self.mah_id if self.mah_id is not None else self.manufacturer_id


class CatalogueImport(SQLModel, table=True):
    """One uploaded spreadsheet and its row-level report, kept whether the rows were saved or refused."""

    __tablename__ = "catalogue_imports"
    __table_args__ = (sa.CheckConstraint(f"status IN ({_values(ImportStatus)})", name="status"),)

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    row_count: int = Field(nullable=False)
    created_count: int = Field(nullable=False)
    error_count: int = Field(nullable=False)
    # {"columns": [...], "rows": [[row number, [cells]]], "errors": [{row, column, field, code, message}],
    #  "product_ids": [...]}: enough to rebuild the downloadable report without the file.
    report: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_by_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    created_at: dt.datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False, index=True)
    )

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The problems found, each with its row (header = 1), column, field, code and message."""
        return list(self.report.get("errors", []))
