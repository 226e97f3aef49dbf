"""The migrations build exactly the schema the models describe, on both backends, and run down and up again."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import core.alert_review
import core.alerts
import core.models  # noqa: F401
import procurement.audit.circulation_models
import procurement.audit.credit_models
import procurement.audit.prescription_models
import procurement.audit.reconciliation_models
import procurement.audit.run_models
import procurement.audit.surplus_models
import procurement.catalogue
import procurement.orders.document_models
import procurement.orders.models
import procurement.orders.money_models
import procurement.orders.supply_models
import procurement.tenders.models  # noqa: F401
import trace.models  # noqa: F401
from core.db import make_engine
from core.schema import alembic_config, upgrade


def test_models_and_migrations_agree(backend, fresh_database_url):
    url = fresh_database_url(backend, "migrations")
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
        assert diff == [], f"models differ from migrations: {diff}"
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url), "base")
    upgrade(url)


def test_earlier_abnormal_prescription_alerts_are_rekeyed_by_cycle(backend, fresh_database_url):
    """0016: a 7.2 alert keyed by its run's period gets the physician-and-cycle key the rule uses now."""
    import json

    import sqlalchemy as sa

    url = fresh_database_url(backend, "rekey")
    command.upgrade(alembic_config(url), "0015")
    engine = make_engine(url)
    evidence = {"subject": "physician:7", "details": {"on": "2026-03-05", "prescription_id": 9}}
    row = {"code": "RX-ABNORMAL-RESTRICT", "source": "monitoring", "severity": "high", "status": "open",
           "title": "t", "object_type": "physician", "object_id": "7", "evidence": json.dumps(evidence), "rule": "{}",
           "created_at": "2026-04-01 00:00:00",
           "dedupe_key": "RX-ABNORMAL-RESTRICT|physician:7|2026-03-01..2026-04-01"}  # fmt: skip
    try:
        with engine.begin() as conn:
            columns = ", ".join(row)
            marks = ", ".join(f":{name}" for name in row)
            conn.execute(sa.text(f"INSERT INTO alerts ({columns}) VALUES ({marks})"), row)
        upgrade(url)
        with engine.connect() as conn:
            key = conn.execute(sa.text("SELECT dedupe_key FROM alerts")).scalar_one()
        assert key == "RX-ABNORMAL-RESTRICT|physician:7|cycle:2026-01..2027-01"
    finally:
        engine.dispose()
