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
