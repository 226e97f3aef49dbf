"""supply and circulation anomaly inputs

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMOUNTS = (
    "service_income",
    "drug_income",
    "consumable_income",
    "test_income",
    "insured_in_catalogue",
    "insured_out_of_catalogue",
)


def upgrade() -> None:
    op.create_table(
        "hospital_finance_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *(sa.Column(name, core.db.Money(precision=18, scale=4), nullable=False) for name in AMOUNTS),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            " AND ".join(f"{name} >= 0" for name in AMOUNTS), name=op.f("ck_hospital_finance_reports_non_negative")
        ),
        sa.CheckConstraint("source IN ('hospital', 'auditor')", name=op.f("ck_hospital_finance_reports_source")),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["organisations.id"], name=op.f("fk_hospital_finance_reports_hospital_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_hospital_finance_reports_submitted_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hospital_finance_reports")),
        sa.UniqueConstraint("hospital_id", "month", name=op.f("uq_hospital_finance_reports_hospital_id_month")),
    )
    with op.batch_alter_table("hospital_finance_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hospital_finance_reports_hospital_id"), ["hospital_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hospital_finance_reports_month"), ["month"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hospital_finance_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hospital_finance_reports_month"))
        batch_op.drop_index(batch_op.f("ix_hospital_finance_reports_hospital_id"))
    op.drop_table("hospital_finance_reports")
