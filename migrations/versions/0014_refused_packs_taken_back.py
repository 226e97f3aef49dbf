"""shipment packs: when a refused pack was taken back into its supplier's stock

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shipment_packs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("taken_back_at", core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shipment_packs", schema=None) as batch_op:
        batch_op.drop_column("taken_back_at")
