"""Alembic environment: one metadata for all packages; batch mode so SQLite can alter tables."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
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

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("YAOLIAN_DATABASE_URL")
    if url:
        return url
    from webui.config import load_config  # the default instance database, as the app would use it

    return load_config()["DATABASE_URL"]


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    if connection.dialect.name != "sqlite":
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    # SQLite alters a table by copying it into a new one and dropping the old, which foreign keys pointing at the
    # table forbid while they are enforced. As SQLite's own procedure for such changes says: enforcement off
    # (outside any transaction), every migration in one transaction (SQLite's DDL is transactional; Alembic is told
    # so), then the references checked before it commits, so migrations that broke one leave nothing changed.
    # Rows that referred to missing rows before the migrations are not the migrations' doing: only new ones fail.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        transactional_ddl=True,
    )
    if connection.in_transaction():
        raise RuntimeError("SQLite migrations need a connection outside any transaction (foreign keys are switched)")
    raw = connection.connection.driver_connection
    before = {tuple(row[:3]) for row in raw.execute("PRAGMA foreign_key_check")}  # (table, rowid, parent)
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            found = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            broken = [tuple(row) for row in found if tuple(row[:3]) not in before]
            if broken:
                raise RuntimeError(f"the migrations left rows referring to missing rows: {broken[:10]}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
