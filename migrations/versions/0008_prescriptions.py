"""prescription and dispensing records, pseudonymised

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "physicians",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=64), nullable=False),
        sa.Column("prescribing_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "prescribing_status IN ('active', 'restricted', 'removed')", name=op.f("ck_physicians_prescribing_status")
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["organisations.id"], name=op.f("fk_physicians_hospital_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_physicians")),
        sa.UniqueConstraint("hospital_id", "code", name=op.f("uq_physicians_hospital_id_code")),
    )
    op.create_table(
        "prescription_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("prescription_count", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column(
            "report", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('accepted', 'rejected')", name=op.f("ck_prescription_imports_status")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_prescription_imports_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["organisations.id"], name=op.f("fk_prescription_imports_hospital_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescription_imports")),
        sa.UniqueConstraint(
            "hospital_id", "idempotency_key", name=op.f("uq_prescription_imports_hospital_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("prescription_imports", schema=None) as batch_op:
        batch_op.create_index("ix_prescription_imports_hospital_id_sha256", ["hospital_id", "sha256"], unique=False)
    op.create_table(
        "prescriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("external_no", sa.String(length=64), nullable=False),
        sa.Column("physician_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("setting", sa.String(length=16), nullable=False),
        sa.Column("prescribed_on", sa.Date(), nullable=False),
        sa.Column("patient_key", sa.String(length=64), nullable=False),
        sa.Column("chronic", sa.Boolean(), nullable=False),
        sa.Column("diagnosis_code", sa.String(length=32), nullable=True),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "setting IN ('outpatient', 'emergency', 'inpatient')", name=op.f("ck_prescriptions_setting")
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["organisations.id"], name=op.f("fk_prescriptions_hospital_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["prescription_imports.id"], name=op.f("fk_prescriptions_import_id_prescription_imports")
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"], ["physicians.id"], name=op.f("fk_prescriptions_physician_id_physicians")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescriptions")),
        sa.UniqueConstraint("hospital_id", "external_no", name=op.f("uq_prescriptions_hospital_id_external_no")),
    )
    with op.batch_alter_table("prescriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prescriptions_import_id"), ["import_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prescriptions_patient_key"), ["patient_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_prescriptions_physician_id"), ["physician_id"], unique=False)
        batch_op.create_index(
            "ix_prescriptions_prescribed_on_hospital_id", ["prescribed_on", "hospital_id"], unique=False
        )
    op.create_table(
        "prescription_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prescription_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", core.db.Money(precision=18, scale=4), nullable=False),
        sa.Column("days_supply", sa.Integer(), nullable=True),
        sa.Column("amount", core.db.Money(precision=18, scale=4), nullable=False),
        sa.Column("drug_class", sa.String(length=32), nullable=False),
        sa.Column("reason_recorded", sa.Boolean(), nullable=False),
        sa.Column("abnormal", sa.Boolean(), nullable=False),
        sa.Column("abnormal_justified", sa.Boolean(), nullable=False),
        sa.Column("trace_code", sa.String(length=64), nullable=True),
        sa.Column("consumable", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "drug_class = '' OR drug_class IN ('narcotic', 'psychotropic_1', 'psychotropic_2', 'toxic', 'radiopharmaceutical', 'precursor', 'antimicrobial', 'special_storage')",
            name=op.f("ck_prescription_lines_drug_class"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_prescription_lines_amount_not_negative")),
        sa.CheckConstraint(
            "days_supply IS NULL OR days_supply > 0", name=op.f("ck_prescription_lines_days_supply_positive")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_prescription_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["prescription_id"], ["prescriptions.id"], name=op.f("fk_prescription_lines_prescription_id_prescriptions")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_prescription_lines_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescription_lines")),
        sa.UniqueConstraint("prescription_id", "line_no", name=op.f("uq_prescription_lines_prescription_id_line_no")),
    )
    with op.batch_alter_table("prescription_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prescription_lines_prescription_id"), ["prescription_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prescription_lines_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prescription_lines_trace_code"), ["trace_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prescription_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prescription_lines_trace_code"))
        batch_op.drop_index(batch_op.f("ix_prescription_lines_product_id"))
        batch_op.drop_index(batch_op.f("ix_prescription_lines_prescription_id"))
    op.drop_table("prescription_lines")
    with op.batch_alter_table("prescriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_prescriptions_prescribed_on_hospital_id")
        batch_op.drop_index(batch_op.f("ix_prescriptions_physician_id"))
        batch_op.drop_index(batch_op.f("ix_prescriptions_patient_key"))
        batch_op.drop_index(batch_op.f("ix_prescriptions_import_id"))
    op.drop_table("prescriptions")
    with op.batch_alter_table("prescription_imports", schema=None) as batch_op:
        batch_op.drop_index("ix_prescription_imports_hospital_id_sha256")
    op.drop_table("prescription_imports")
    op.drop_table("physicians")
