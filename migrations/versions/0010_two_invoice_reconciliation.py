"""two-invoice reconciliation: manufacturer equivalents, remote areas, results

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import core.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INVOICE_KINDS = "kind IN ('first', 'second', 'transfer', 'extra')"


def upgrade() -> None:
    op.create_table(
        "distribution_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_distribution_groups_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distribution_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_distribution_groups_name")),
    )
    op.create_table(
        "manufacturer_equivalents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("principal_org_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("registered_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('sales_company', 'import_agent')", name=op.f("ck_manufacturer_equivalents_kind")),
        sa.CheckConstraint("org_id <> principal_org_id", name=op.f("ck_manufacturer_equivalents_not_itself")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_manufacturer_equivalents_period")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_manufacturer_equivalents_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["principal_org_id"],
            ["organisations.id"],
            name=op.f("fk_manufacturer_equivalents_principal_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["registered_by_id"], ["users.id"], name=op.f("fk_manufacturer_equivalents_registered_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manufacturer_equivalents")),
        sa.UniqueConstraint("org_id", "valid_from", name=op.f("uq_manufacturer_equivalents_org_id_valid_from")),
        sa.UniqueConstraint(
            "principal_org_id",
            "kind",
            "valid_from",
            name=op.f("uq_manufacturer_equivalents_principal_org_id_kind_valid_from"),
        ),
    )
    with op.batch_alter_table("manufacturer_equivalents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_manufacturer_equivalents_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_manufacturer_equivalents_principal_org_id"), ["principal_org_id"], unique=False
        )

    op.create_table(
        "remote_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_prefix", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("listed_by", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_remote_areas_period")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_remote_areas_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_areas")),
        sa.UniqueConstraint("region_prefix", "valid_from", name=op.f("uq_remote_areas_region_prefix_valid_from")),
    )
    with op.batch_alter_table("remote_areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remote_areas_region_prefix"), ["region_prefix"], unique=False)

    op.create_table(
        "distribution_group_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["distribution_groups.id"],
            name=op.f("fk_distribution_group_members_group_id_distribution_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_distribution_group_members_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distribution_group_members")),
        sa.UniqueConstraint("org_id", name=op.f("uq_distribution_group_members_org_id")),
    )
    with op.batch_alter_table("distribution_group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_distribution_group_members_group_id"), ["group_id"], unique=False)

    op.create_table(
        "reconciliation_verdicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("seller_org_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column(
            "reasons", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False
        ),
        sa.Column("lines", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False),
        sa.Column("rule", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("computed_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("verdict IN ('pay', 'hold')", name=op.f("ck_reconciliation_verdicts_verdict")),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["organisations.id"], name=op.f("fk_reconciliation_verdicts_hospital_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_reconciliation_verdicts_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["seller_org_id"], ["organisations.id"], name=op.f("fk_reconciliation_verdicts_seller_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_reconciliation_verdicts_shipment_id_shipments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_verdicts")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_reconciliation_verdicts_invoice_id")),
    )
    with op.batch_alter_table("reconciliation_verdicts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconciliation_verdicts_hospital_id"), ["hospital_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reconciliation_verdicts_seller_org_id"), ["seller_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reconciliation_verdicts_shipment_id"), ["shipment_id"], unique=False)

    op.create_table(
        "reconciliation_violations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=True),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=True),
        sa.Column("subject_org_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("batch", sa.String(length=20), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column(
            "evidence", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False
        ),
        sa.Column("rule", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("found_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_reconciliation_violations_alert_id_alerts")),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["organisations.id"], name=op.f("fk_reconciliation_violations_hospital_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_reconciliation_violations_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_reconciliation_violations_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_reconciliation_violations_shipment_id_shipments")
        ),
        sa.ForeignKeyConstraint(
            ["subject_org_id"],
            ["organisations.id"],
            name=op.f("fk_reconciliation_violations_subject_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["organisations.id"], name=op.f("fk_reconciliation_violations_supplier_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_violations")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_reconciliation_violations_dedupe_key")),
    )
    with op.batch_alter_table("reconciliation_violations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconciliation_violations_code"), ["code"], unique=False)
        batch_op.create_index("ix_reconciliation_violations_hospital_id_code", ["hospital_id", "code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reconciliation_violations_invoice_id"), ["invoice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reconciliation_violations_shipment_id"), ["shipment_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reconciliation_violations_subject_org_id"), ["subject_org_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reconciliation_violations_supplier_id"), ["supplier_id"], unique=False)

    # Invoices between the first and the second (rulebook 4.3, 4.4) are new kinds. SQLite cannot add a constraint
    # without rebuilding the table, and rebuilding ``invoices`` under its lines and payments is not worth the risk
    # there: the services refuse other kinds on both backends; PostgreSQL enforces them as well.
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint(op.f("ck_invoices_kind"), "invoices", INVOICE_KINDS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_invoices_kind"), "invoices", type_="check")
    with op.batch_alter_table("reconciliation_violations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_violations_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_reconciliation_violations_subject_org_id"))
        batch_op.drop_index(batch_op.f("ix_reconciliation_violations_shipment_id"))
        batch_op.drop_index(batch_op.f("ix_reconciliation_violations_invoice_id"))
        batch_op.drop_index("ix_reconciliation_violations_hospital_id_code")
        batch_op.drop_index(batch_op.f("ix_reconciliation_violations_code"))

    op.drop_table("reconciliation_violations")
    with op.batch_alter_table("reconciliation_verdicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_verdicts_shipment_id"))
        batch_op.drop_index(batch_op.f("ix_reconciliation_verdicts_seller_org_id"))
        batch_op.drop_index(batch_op.f("ix_reconciliation_verdicts_hospital_id"))

    op.drop_table("reconciliation_verdicts")
    with op.batch_alter_table("distribution_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_distribution_group_members_group_id"))

    op.drop_table("distribution_group_members")
    with op.batch_alter_table("remote_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remote_areas_region_prefix"))

    op.drop_table("remote_areas")
    with op.batch_alter_table("manufacturer_equivalents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manufacturer_equivalents_principal_org_id"))
        batch_op.drop_index(batch_op.f("ix_manufacturer_equivalents_org_id"))

    op.drop_table("manufacturer_equivalents")
    op.drop_table("distribution_groups")
