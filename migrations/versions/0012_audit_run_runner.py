"""audit runs: who runs them, their heartbeat, and the interrupted status

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('queued', 'running', 'done', 'failed')"
NEW_STATUSES = "status IN ('queued', 'running', 'done', 'failed', 'interrupted')"


def upgrade() -> None:
    with op.batch_alter_table("audit_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runner", sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_audit_runs_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_audit_runs_status"), NEW_STATUSES)


def downgrade() -> None:
    op.execute("UPDATE audit_runs SET status = 'failed' WHERE status = 'interrupted'")
    with op.batch_alter_table("audit_runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_audit_runs_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_audit_runs_status"), OLD_STATUSES)
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("runner")
