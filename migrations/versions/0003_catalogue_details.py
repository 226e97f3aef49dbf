"""Catalogue details: marketing-authorisation holder, GQCE status, consumables (UDI-DI, category, registration
number), optional dosage form for consumables, and the catalogue imports with their reports.

The boolean ``gqce_passed`` becomes ``gqce_status`` (passed / reference / not_evaluated / not_applicable): passed
products stay passed, consumables become not_applicable and other drugs not_evaluated; the model keeps
``Product.gqce_passed`` as "passed or reference". Existing products get their manufacturer as holder.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 18:36:48.715080
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GQCE_STATUSES = "'passed', 'reference', 'not_evaluated', 'not_applicable'"


def upgrade() -> None:
    op.create_table(
        "catalogue_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('accepted', 'rejected')", name=op.f("ck_catalogue_imports_status")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_catalogue_imports_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_imports")),
    )
    with op.batch_alter_table("catalogue_imports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalogue_imports_created_at"), ["created_at"], unique=False)

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mah_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("gqce_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("udi_di", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("category", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("registration_number", sa.String(length=32), nullable=True))
        batch_op.alter_column("dosage_form", existing_type=sa.String(length=50), nullable=True)

    op.execute(
        "UPDATE products SET mah_id = manufacturer_id, gqce_status = CASE "
        "WHEN gqce_passed THEN 'passed' WHEN kind = 'consumable' THEN 'not_applicable' ELSE 'not_evaluated' END"
    )

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.alter_column("gqce_status", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_check_constraint(op.f("ck_products_gqce_status"), f"gqce_status IN ({GQCE_STATUSES})")
        batch_op.create_index(batch_op.f("ix_products_mah_id"), ["mah_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_products_approval_number_package_spec"), ["approval_number", "package_spec"]
        )
        batch_op.create_unique_constraint(batch_op.f("uq_products_udi_di"), ["udi_di"])
        batch_op.create_foreign_key(batch_op.f("fk_products_mah_id_organisations"), "organisations", ["mah_id"], ["id"])
        batch_op.drop_column("gqce_passed")


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gqce_passed", sa.Boolean(), nullable=True))

    # "passed" meant passed or reference; consumables without a dosage form get an empty one back.
    op.execute(
        "UPDATE products SET gqce_passed = (gqce_status IN ('passed', 'reference')), "
        "dosage_form = COALESCE(dosage_form, '')"
    )

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.alter_column("gqce_passed", existing_type=sa.Boolean(), nullable=False)
        batch_op.drop_constraint(batch_op.f("fk_products_mah_id_organisations"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_products_udi_di"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_products_approval_number_package_spec"), type_="unique")
        batch_op.drop_constraint(batch_op.f("ck_products_gqce_status"), type_="check")
        batch_op.drop_index(batch_op.f("ix_products_mah_id"))
        batch_op.alter_column("dosage_form", existing_type=sa.String(length=50), nullable=False)
        batch_op.drop_column("registration_number")
        batch_op.drop_column("category")
        batch_op.drop_column("udi_di")
        batch_op.drop_column("gqce_status")
        batch_op.drop_column("mah_id")

    with op.batch_alter_table("catalogue_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalogue_imports_created_at"))

    op.drop_table("catalogue_imports")
