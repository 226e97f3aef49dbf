"""tender bids: the digest of the request made under a bid's Idempotency-Key

A retry with the same key must repeat the same request; another lot, product or price under that key is refused.
The digest is a keyed HMAC (``procurement.tenders.bidding.request_digest``), so it cannot be searched for the sealed
price. Bids stored before have none and are compared by lot and product only.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tender_bids", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tender_bids", schema=None) as batch_op:
        batch_op.drop_column("request_sha256")
