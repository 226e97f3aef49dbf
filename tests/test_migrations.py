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


def test_prescription_strings_move_to_interned_tables_and_back(backend, fresh_database_url):
    """0017: pseudonyms, case numbers and trace codes become ids of rows stored once; the downgrade restores them."""
    import sqlalchemy as sa

    url = fresh_database_url(backend, "intern")
    command.upgrade(alembic_config(url), "0016")
    engine = make_engine(url)
    at = "2026-06-01 00:00:00"
    rows = [
        ("organisations", {"id": 1, "name": "H", "kind": "hospital", "uscc": "1" * 18, "region_code": "350400",
                           "region_name": "三明", "is_active": True, "created_at": at, "hospital_grade": "3A"}),
        ("organisations", {"id": 2, "name": "M", "kind": "manufacturer", "uscc": "2" * 18, "region_code": "350400",
                           "region_name": "三明", "is_active": True, "created_at": at}),
        ("products", {"id": 1, "kind": "drug", "generic_name": "g", "strength": "1", "pack_quantity": 1, "unit": "盒",
                      "package_spec": "1", "manufacturer_id": 2, "essential": False, "key_monitored": False,
                      "created_at": at, "gqce_status": "passed"}),
        ("physicians", {"id": 1, "hospital_id": 1, "code": "D1", "name": "n", "department": "d", "title": "",
                        "prescribing_status": "active", "created_at": at, "updated_at": at}),
        ("prescription_imports", {"id": 1, "hospital_id": 1, "source": "api", "filename": "", "sha256": "0" * 64,
                                  "status": "accepted", "row_count": 3, "prescription_count": 3, "line_count": 3,
                                  "error_count": 0, "report": "{}", "created_by_name": "x", "created_at": at}),
    ]  # fmt: skip
    for n, (patient, case, code) in enumerate([("a" * 64, "Z1", "cn20:1"), ("a" * 64, "Z1", "cn20:1"),
                                               ("b" * 64, None, None)], start=1):  # fmt: skip
        rows.append(("prescriptions", {"id": n, "hospital_id": 1, "import_id": 1, "external_no": f"R{n}",
                                       "physician_id": 1, "department": "d", "setting": "outpatient",
                                       "prescribed_on": "2026-06-01", "patient_key": patient, "chronic": False,
                                       "case_id": case}))  # fmt: skip
        rows.append(("prescription_lines", {"id": n, "prescription_id": n, "line_no": 1, "product_id": 1,
                                            "quantity": 1, "amount": 1, "drug_class": "", "reason_recorded": False,
                                            "abnormal": False, "abnormal_justified": False, "trace_code": code,
                                            "consumable": False}))  # fmt: skip
    try:
        with engine.begin() as conn:
            for table, row in rows:
                marks = ", ".join(f":{name}" for name in row)
                conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})"), row)
        upgrade(url)
        with engine.connect() as conn:
            got = conn.execute(sa.text(
                "SELECT p.external_no, k.patient_key, c.case_no, c.hospital_id, t.code FROM prescriptions p "
                "JOIN rx_patients k ON k.id = p.patient_id LEFT JOIN rx_cases c ON c.id = p.case_id "
                "JOIN prescription_lines l ON l.prescription_id = p.id "
                "LEFT JOIN rx_trace_codes t ON t.id = l.trace_code_id "
                "ORDER BY p.external_no")).all()  # fmt: skip
            counts = [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in ("rx_patients", "rx_cases", "rx_trace_codes")]  # fmt: skip
        assert [tuple(r) for r in got] == [("R1", "a" * 64, "Z1", 1, "cn20:1"), ("R2", "a" * 64, "Z1", 1, "cn20:1"),
                                           ("R3", "b" * 64, None, None, None)]  # fmt: skip
        assert counts == [2, 1, 1]  # each string stored once
        command.downgrade(alembic_config(url), "0016")
        with engine.connect() as conn:
            back = conn.execute(sa.text(
                "SELECT p.external_no, p.patient_key, p.case_id, l.trace_code FROM prescriptions p "
                "JOIN prescription_lines l ON l.prescription_id = p.id ORDER BY p.external_no")).all()  # fmt: skip
        assert [tuple(r) for r in back] == [("R1", "a" * 64, "Z1", "cn20:1"), ("R2", "a" * 64, "Z1", "cn20:1"),
                                            ("R3", "b" * 64, None, None)]  # fmt: skip
    finally:
        engine.dispose()


def test_sqlite_migrations_tolerate_rows_that_were_already_orphaned(fresh_database_url):
    """Foreign keys are off while SQLite copies tables; afterwards only references the migrations broke fail, so a
    database that already held an orphan row still upgrades (and keeps the row)."""
    import sqlalchemy as sa

    url = fresh_database_url("sqlite", "orphans")
    command.upgrade(alembic_config(url), "0016")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute(
                "INSERT INTO prescription_lines (id, prescription_id, line_no, product_id, quantity, amount, "
                "drug_class, reason_recorded, abnormal, abnormal_justified, consumable) "
                "VALUES (1, 999, 1, 999, 1, 1, '', 0, 0, 0, 0)"
            )
            raw.execute("PRAGMA foreign_keys=ON")
        upgrade(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() != "0016"
            assert conn.execute(sa.text("SELECT prescription_id FROM prescription_lines")).scalar_one() == 999
    finally:
        engine.dispose()
