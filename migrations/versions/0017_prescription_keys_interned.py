"""Prescription pseudonyms, trace codes and case numbers stored once and referenced by id

``prescriptions.patient_key`` (the HMAC pseudonym), ``prescriptions.case_id`` (the hospital's case number) and
``prescription_lines.trace_code`` move to ``rx_patients``, ``rx_cases`` and ``rx_trace_codes``; the rows keep the
integer id (``patient_id``, ``case_id``, ``trace_code_id``). Monitoring then groups and compares integers over
millions of lines instead of hashing strings. Existing rows are carried over value for value; the downgrade puts the
strings back.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rx_patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rx_patients")),
        sa.UniqueConstraint("patient_key", name=op.f("uq_rx_patients_patient_key")),
    )
    op.create_table(
        "rx_trace_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rx_trace_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_rx_trace_codes_code")),
    )
    op.create_table(
        "rx_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("case_no", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["organisations.id"], name=op.f("fk_rx_cases_hospital_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rx_cases")),
        sa.UniqueConstraint("hospital_id", "case_no", name=op.f("uq_rx_cases_hospital_id_case_no")),
    )
    op.execute("INSERT INTO rx_patients (patient_key) SELECT DISTINCT patient_key FROM prescriptions ORDER BY 1")
    op.execute(
        "INSERT INTO rx_trace_codes (code) SELECT DISTINCT trace_code FROM prescription_lines "
        "WHERE trace_code IS NOT NULL ORDER BY 1"
    )
    op.execute(
        "INSERT INTO rx_cases (hospital_id, case_no) SELECT DISTINCT hospital_id, case_id FROM prescriptions "
        "WHERE case_id IS NOT NULL ORDER BY 1, 2"
    )
    with op.batch_alter_table("prescriptions") as batch_op:
        batch_op.add_column(sa.Column("patient_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("case_ref", sa.Integer(), nullable=True))
    with op.batch_alter_table("prescription_lines") as batch_op:
        batch_op.add_column(sa.Column("trace_code_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE prescriptions SET patient_id = "
        "(SELECT p.id FROM rx_patients p WHERE p.patient_key = prescriptions.patient_key)"
    )
    op.execute(
        "UPDATE prescriptions SET case_ref = (SELECT c.id FROM rx_cases c WHERE c.hospital_id = "
        "prescriptions.hospital_id AND c.case_no = prescriptions.case_id) WHERE case_id IS NOT NULL"
    )
    op.execute(
        "UPDATE prescription_lines SET trace_code_id = "
        "(SELECT t.id FROM rx_trace_codes t WHERE t.code = prescription_lines.trace_code) WHERE trace_code IS NOT NULL"
    )
    with op.batch_alter_table("prescriptions") as batch_op:
        batch_op.drop_index("ix_prescriptions_patient_key")
        batch_op.drop_column("patient_key")
        batch_op.drop_column("case_id")
    with op.batch_alter_table("prescriptions") as batch_op:
        batch_op.alter_column("patient_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("case_ref", new_column_name="case_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("prescriptions") as batch_op:
        batch_op.create_index(batch_op.f("ix_prescriptions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prescriptions_patient_id"), ["patient_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_prescriptions_case_id_rx_cases"), "rx_cases", ["case_id"], ["id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_prescriptions_patient_id_rx_patients"), "rx_patients", ["patient_id"], ["id"]
        )
    with op.batch_alter_table("prescription_lines") as batch_op:
        batch_op.drop_index("ix_prescription_lines_trace_code")
        batch_op.drop_column("trace_code")
        batch_op.create_index(batch_op.f("ix_prescription_lines_trace_code_id"), ["trace_code_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_prescription_lines_trace_code_id_rx_trace_codes"),
            "rx_trace_codes",
            ["trace_code_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("prescriptions") as batch_op:
        batch_op.add_column(sa.Column("patient_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("case_no", sa.String(length=64), nullable=True))
    with op.batch_alter_table("prescription_lines") as batch_op:
        batch_op.add_column(sa.Column("trace_code", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE prescriptions SET patient_key = (SELECT p.patient_key FROM rx_patients p "
        "WHERE p.id = prescriptions.patient_id)"
    )
    op.execute(
        "UPDATE prescriptions SET case_no = (SELECT c.case_no FROM rx_cases c WHERE c.id = prescriptions.case_id) "
        "WHERE case_id IS NOT NULL"
    )
    op.execute(
        "UPDATE prescription_lines SET trace_code = (SELECT t.code FROM rx_trace_codes t "
        "WHERE t.id = prescription_lines.trace_code_id) WHERE trace_code_id IS NOT NULL"
    )
    with op.batch_alter_table("prescription_lines") as batch_op:
        batch_op.drop_constraint("fk_prescription_lines_trace_code_id_rx_trace_codes", type_="foreignkey")
        batch_op.drop_index("ix_prescription_lines_trace_code_id")
        batch_op.drop_column("trace_code_id")
        batch_op.create_index("ix_prescription_lines_trace_code", ["trace_code"], unique=False)
    with op.batch_alter_table("prescriptions") as batch_op:
        batch_op.drop_constraint("fk_prescriptions_patient_id_rx_patients", type_="foreignkey")
        batch_op.drop_constraint("fk_prescriptions_case_id_rx_cases", type_="foreignkey")
        batch_op.drop_index("ix_prescriptions_patient_id")
        batch_op.drop_index("ix_prescriptions_case_id")
        batch_op.drop_column("patient_id")
        batch_op.drop_column("case_id")
    with op.batch_alter_table("prescriptions") as batch_op:
        batch_op.alter_column("patient_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("case_no", new_column_name="case_id", existing_type=sa.String(length=64))
    with op.batch_alter_table("prescriptions") as batch_op:
        batch_op.create_index("ix_prescriptions_patient_key", ["patient_key"], unique=False)
    op.drop_table("rx_cases")
    op.drop_table("rx_trace_codes")
    op.drop_table("rx_patients")
