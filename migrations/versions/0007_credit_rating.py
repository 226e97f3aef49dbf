"""credit rating: misconduct cases, ratings, repair

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("supplier_sanctions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("region_prefix", sa.String(length=6), server_default=sa.text("''"), nullable=False)
        )

    op.create_table(
        "credit_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("controlling_org_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("rule_set_version", sa.String(length=8), nullable=False),
        sa.Column("conduct_date", sa.Date(), nullable=False),
        sa.Column("decision_date", sa.Date(), nullable=False),
        sa.Column("evidence_source", sa.String(length=32), nullable=False),
        sa.Column("decision_number", sa.String(length=100), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("single_amount", core.db.Money(precision=18, scale=4), nullable=True),
        sa.Column("cumulative_amount", core.db.Money(precision=18, scale=4), nullable=True),
        sa.Column(
            "flags", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "documents", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("level", sa.String(length=24), nullable=False),
        sa.Column(
            "basis", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("province", sa.String(length=2), nullable=False),
        sa.Column("counts", sa.Boolean(), nullable=False),
        sa.Column("excluded_reason", sa.String(length=200), nullable=True),
        sa.Column("window_ends_on", sa.Date(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by_org_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("repaired_on", sa.Date(), nullable=True),
        sa.Column("repair_approved_by_id", sa.Integer(), nullable=True),
        sa.Column("repair_note", sa.String(length=500), nullable=True),
        sa.CheckConstraint("rule_set_version IN ('2020', '2025')", name=op.f("ck_credit_cases_rule_set_version")),
        sa.CheckConstraint(
            "cumulative_amount IS NULL OR cumulative_amount >= 0", name=op.f("ck_credit_cases_cumulative_amount")
        ),
        sa.CheckConstraint("decision_date >= conduct_date", name=op.f("ck_credit_cases_decided_after_conduct")),
        sa.CheckConstraint("single_amount IS NULL OR single_amount >= 0", name=op.f("ck_credit_cases_single_amount")),
        sa.ForeignKeyConstraint(
            ["controlling_org_id"], ["organisations.id"], name=op.f("fk_credit_cases_controlling_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["users.id"], name=op.f("fk_credit_cases_recorded_by_id_users")),
        sa.ForeignKeyConstraint(
            ["recorded_by_org_id"], ["organisations.id"], name=op.f("fk_credit_cases_recorded_by_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["repair_approved_by_id"], ["users.id"], name=op.f("fk_credit_cases_repair_approved_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["organisations.id"], name=op.f("fk_credit_cases_supplier_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_cases")),
        sa.UniqueConstraint(
            "supplier_id",
            "category",
            "decision_number",
            name=op.f("uq_credit_cases_supplier_id_category_decision_number"),
        ),
    )
    with op.batch_alter_table("credit_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_cases_supplier_id"), ["supplier_id"], unique=False)

    op.create_table(
        "credit_case_products",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["credit_cases.id"],
            name=op.f("fk_credit_case_products_case_id_credit_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_credit_case_products_product_id_products")
        ),
        sa.PrimaryKeyConstraint("case_id", "product_id", name=op.f("pk_credit_case_products")),
    )
    op.create_table(
        "credit_disposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("sanction_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("province", sa.String(length=2), nullable=True),
        sa.CheckConstraint(
            "scope IN ('case_products', 'all_products_in_province')", name=op.f("ck_credit_disposals_scope")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["credit_cases.id"], name=op.f("fk_credit_disposals_case_id_credit_cases")
        ),
        sa.ForeignKeyConstraint(
            ["sanction_id"], ["supplier_sanctions.id"], name=op.f("fk_credit_disposals_sanction_id_supplier_sanctions")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["organisations.id"], name=op.f("fk_credit_disposals_supplier_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_disposals")),
        sa.UniqueConstraint("sanction_id", name=op.f("uq_credit_disposals_sanction_id")),
    )
    with op.batch_alter_table("credit_disposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_disposals_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_disposals_supplier_id"), ["supplier_id"], unique=False)

    op.create_table(
        "credit_repairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "measures", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_by_org_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["credit_cases.id"], name=op.f("fk_credit_repairs_case_id_credit_cases")),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_credit_repairs_submitted_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_org_id"],
            ["organisations.id"],
            name=op.f("fk_credit_repairs_submitted_by_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_repairs")),
    )
    with op.batch_alter_table("credit_repairs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_repairs_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credit_repairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_repairs_case_id"))

    op.drop_table("credit_repairs")
    with op.batch_alter_table("credit_disposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_disposals_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_credit_disposals_case_id"))

    op.drop_table("credit_disposals")
    op.drop_table("credit_case_products")
    with op.batch_alter_table("credit_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_cases_supplier_id"))

    op.drop_table("credit_cases")

    with op.batch_alter_table("supplier_sanctions", schema=None) as batch_op:
        batch_op.drop_column("region_prefix")
