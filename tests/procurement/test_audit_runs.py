"""Audit runs: parts run for a period, report rows, findings and progress; a rerun raises nothing twice; an empty
period says so; bad periods, unknown parts and reused keys are refused."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.alerts import Alert
from core.errors import DomainError
from procurement.audit import runs
from procurement.audit.parts import PartSummary
from procurement.orders.rules import PAYMENT_OVERDUE
from tests.procurement.order_world import build_order_world
from tests.procurement.test_invoices_payments import _received

ORDER_PARTS = ["payments", "progress", "supply"]
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _error(call, code):
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    return caught.value


def _run(db, actor, start, end, parts=ORDER_PARTS, key=None):
    run, created = runs.request_run(db, actor=actor, start=start, end=end, parts=parts, idempotency_key=key, now=NOW)
    if created:
        runs.execute_run(db, actor=actor, run=run)
    return run


def test_a_period_with_an_unpaid_receipt_raises_one_overdue_alert_and_a_rerun_adds_none(ow, db):
    hospital = ow.hospital(0)
    shipment, _receipt, _invoice = _received(ow, db, hospital)  # received 15 June, due 15 July, never paid
    auditor = ow.world.auditor
    run = _run(db, auditor, dt.date(2026, 8, 1), dt.date(2026, 9, 1))
    assert run.status == "done"
    payments = run.progress["payments"]
    assert payments["status"] == "done"
    assert (payments["summary"]["rows"], payments["summary"]["findings"]) == (1, 1)
    assert payments["summary"]["alerts_raised"] == 1
    assert run.progress["progress"]["summary"]["rows"] >= 1  # every hospital × lot with an agreed volume
    overdue = db.exec(sa.select(Alert).where(Alert.code == PAYMENT_OVERDUE)).scalars().all()
    assert [(a.object_type, a.object_id) for a in overdue] == [("shipment", str(shipment.id))]
    again = _run(db, auditor, dt.date(2026, 8, 1), dt.date(2026, 9, 1))
    assert again.id != run.id and again.progress["payments"]["summary"]["alerts_raised"] == 0
    assert len(db.exec(sa.select(Alert).where(Alert.code == PAYMENT_OVERDUE)).scalars().all()) == 1


def test_a_period_without_data_says_so(db, factory):
    from tests.procurement.tender_world import build_world

    world = build_world(db, factory)
    run = _run(db, world.auditor, dt.date(2019, 1, 1), dt.date(2019, 2, 1), parts=["payments", "supply"])
    assert run.status == "done" and run.error == "no data in this period for any part"
    assert all(entry["summary"]["no_data"] for entry in run.progress.values())


def test_bad_periods_unknown_parts_roles_and_reused_keys_are_refused(ow, db):
    auditor = ow.world.auditor
    error = _error(lambda: _run(db, auditor, dt.date(2026, 9, 1), dt.date(2026, 9, 1)), "invalid")
    assert "end" in error.errors
    error = _error(lambda: _run(db, auditor, dt.date(2026, 9, 1), dt.date(2027, 1, 1)), "invalid")
    assert "end" in error.errors  # a period cannot end after today
    error = _error(lambda: _run(db, auditor, dt.date(2026, 8, 1), dt.date(2026, 9, 1), parts=["tarot"]), "invalid")
    assert "parts" in error.errors and "tarot" in error.message
    _error(lambda: _run(db, ow.hospital(0), dt.date(2026, 8, 1), dt.date(2026, 9, 1)), "role_required")
    first = _run(db, auditor, dt.date(2026, 8, 1), dt.date(2026, 9, 1), parts=["payments"], key="k-1")
    assert _run(db, auditor, dt.date(2026, 8, 1), dt.date(2026, 9, 1), parts=["payments"], key="k-1").id == first.id
    _error(lambda: _run(db, auditor, dt.date(2026, 7, 1), dt.date(2026, 9, 1), parts=["payments"], key="k-1"),
           "idempotency_key_reused")  # fmt: skip


def test_a_failing_part_is_rolled_back_and_reported_while_the_others_finish(ow, db, monkeypatch):
    from core.alerts import Severity, raise_alert
    from core.errors import invalid

    def broken(session, actor, *, start, end, progress=None):
        raise_alert(session, actor=actor, code="TEST-HALF", source="test", severity=Severity.LOW, title="half",
                    object_type="t", object_id="1", evidence={}, rule={}, subject_org_id=None)  # fmt: skip
        raise invalid("source", "the source file is unreadable")

    def crashing(session, actor, *, start, end, progress=None):
        return {}["a bug in a part"]

    def steady(session, actor, *, start, end, progress=None):
        for done in range(1, 4):
            progress(done, 3)
        return PartSummary("steady", start, end, rows=3, findings=0)

    monkeypatch.setitem(runs.PARTS, "broken", "tests.procurement.test_audit_runs:_broken")
    monkeypatch.setitem(runs.PARTS, "steady", "tests.procurement.test_audit_runs:_steady")
    monkeypatch.setitem(globals(), "_broken", broken)
    monkeypatch.setitem(globals(), "_steady", steady)
    monkeypatch.setitem(runs.PARTS, "crashing", "tests.procurement.test_audit_runs:_crashing")
    monkeypatch.setitem(globals(), "_crashing", crashing)
    run = _run(db, ow.world.auditor, dt.date(2026, 8, 1), dt.date(2026, 9, 1), parts=["broken", "crashing", "steady"])
    assert run.status == "failed"
    assert run.error == "broken: the source file is unreadable; crashing: KeyError: 'a bug in a part'"
    assert run.progress["crashing"]["status"] == "failed"
    assert run.progress["broken"]["status"] == "failed"
    assert (run.progress["steady"]["status"], run.progress["steady"]["done"], run.progress["steady"]["total"]) == (
        "done", 3, 3,
    )  # fmt: skip
    assert db.exec(sa.select(Alert).where(Alert.code == "TEST-HALF")).scalars().all() == []


def test_months_in_covers_every_month_touching_the_period():
    assert runs.months_in(dt.date(2026, 1, 15), dt.date(2026, 3, 1)) == [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    assert runs.months_in(dt.date(2026, 12, 31), dt.date(2027, 1, 2)) == [dt.date(2026, 12, 1), dt.date(2027, 1, 1)]
