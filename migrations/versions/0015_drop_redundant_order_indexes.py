"""orders: drop two indexes that a unique constraint already leads with

``ix_purchase_orders_hospital_id`` duplicates the lead column of ``uq_purchase_orders_hospital_id_idempotency_key``
and ``ix_purchase_order_lines_order_id`` that of ``uq_purchase_order_lines_order_id_line_no``: every order paid to
keep them up to date (two of the sixteen index and table pages an order writes) and no query needs them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_orders_hospital_id"))
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_order_lines_order_id"))


def downgrade() -> None:
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchase_order_lines_order_id"), ["order_id"], unique=False)
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchase_orders_hospital_id"), ["hospital_id"], unique=False)
