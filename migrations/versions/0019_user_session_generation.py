"""users.session_generation: signing out ends every browser session made before

A browser session's cookie names the user and the generation it was made in; signing out raises the generation, so
a copy of the cookie taken before no longer signs anyone in. Existing users start at 0.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("session_generation")
