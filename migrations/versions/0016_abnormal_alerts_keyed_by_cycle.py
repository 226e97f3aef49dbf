"""7.2 alerts keyed by assessment cycle instead of by audit period

The abnormal-prescription restriction and removal alerts (``RX-ABNORMAL-RESTRICT``, ``RX-ABNORMAL-REVOKE``) used to
be keyed by the run's period; they are now keyed by physician and assessment cycle, so that a run over another
period of the cycle does not raise them again. Existing alerts get the new key for the default cycle (the calendar
year of the deciding prescription, ``details.on``); an alert whose new key another already holds keeps its old one.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 05:30:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODES = ("RX-ABNORMAL-RESTRICT", "RX-ABNORMAL-REVOKE")


def upgrade() -> None:
    conn = op.get_bind()
    alerts = sa.table("alerts", sa.column("id", sa.Integer), sa.column("code", sa.String),
                      sa.column("dedupe_key", sa.String), sa.column("evidence", sa.Text))  # fmt: skip
    rows = conn.execute(
        sa.select(alerts.c.id, alerts.c.code, alerts.c.dedupe_key, sa.cast(alerts.c.evidence, sa.Text)).where(
            alerts.c.code.in_(CODES)
        )
    ).all()
    taken = {row.dedupe_key for row in rows}
    for alert_id, code, key, evidence in rows:
        if key is None or "|cycle:" in key:
            continue
        facts = json.loads(evidence) if evidence else {}
        on, subject = (facts.get("details") or {}).get("on"), facts.get("subject")
        if not on or not subject:
            continue
        year = int(str(on)[:4])
        new = f"{code}|{subject}|cycle:{year}-01..{year + 1}-01"
        if new in taken:
            continue
        conn.execute(alerts.update().where(alerts.c.id == alert_id).values(dedupe_key=new))
        taken.add(new)


def downgrade() -> None:
    pass  # the period a cycle-keyed alert was raised in is in its evidence; the old keys are not needed back
