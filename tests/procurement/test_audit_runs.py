"""Audit runs: parts run for a period, report rows, findings and progress; a rerun raises nothing twice; an empty
period says so; bad periods, unknown parts and reused keys are refused."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.alerts import Alert
from core.models import AuditRecord
from procurement.audit import runs
from procurement.audit.parts import PartSummary
from procurement.orders.rules import PAYMENT_OVERDUE
from tests.errors import domain_error as _error
from tests.procurement.order_world import build_order_world
from tests.procurement.test_invoices_payments import _received

ORDER_PARTS = ["payments", "progress", "supply"]
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


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


def test_a_run_is_refused_while_another_covers_an_overlapping_period_with_a_common_part(ow, db):
    auditor = ow.world.auditor
    first, _ = runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                                parts=["payments", "supply"], now=NOW)  # fmt: skip
    error = _error(
        lambda: runs.request_run(
            db, actor=auditor, start=dt.date(2026, 8, 15), end=dt.date(2026, 9, 15), parts=["supply"], now=NOW
        ),
        "run_in_progress",
    )
    assert f"audit run {first.id}" in error.message and "supply" in error.message
    assert error.errors == {"period": [f"overlaps audit run {first.id}"]}
    # Another part, or a period that does not overlap ([start, end) touching is not overlapping), is allowed.
    other, created = runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                                      parts=["progress"], now=NOW)  # fmt: skip
    assert created and other.id != first.id
    _, created = runs.request_run(db, actor=auditor, start=dt.date(2026, 9, 1), end=dt.date(2026, 10, 1),
                                      parts=["supply"], now=NOW)  # fmt: skip
    assert created
    # Once the first run is done the period is free again.
    runs.execute_run(db, actor=auditor, run=first)
    again, created = runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 15), end=dt.date(2026, 9, 15),
                                      parts=["payments"], now=NOW)  # fmt: skip
    assert created and again.status == "queued"


def test_a_run_whose_process_has_gone_is_marked_interrupted_and_stops_blocking(ow, db, monkeypatch):
    auditor = ow.world.auditor
    first, _ = runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                                parts=ORDER_PARTS, now=NOW)  # fmt: skip
    first.status = "running"
    first.progress = {**first.progress, "payments": {"status": "done", "done": 1, "total": 1}}
    first.progress = {**first.progress, "progress": {"status": "running", "done": 3, "total": 9}}
    # A process on this host that no longer exists: pid 2**22 + 1 is above Linux's default pid_max.
    first.runner = f"{runs.current_runner().split(':')[0]}:{2**22 + 1}:12345"
    db.add(first)
    db.flush()
    assert runs.runner_alive(first.runner) is False
    assert runs.runner_alive(runs.current_runner()) is True
    _, created = runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                                       parts=ORDER_PARTS, now=NOW)  # fmt: skip
    assert created
    db.refresh(first)
    assert first.status == "interrupted" and first.finished_at is not None
    assert "stopped before it finished" in first.error and "request the period again" in first.error
    statuses = {name: entry["status"] for name, entry in first.progress.items()}
    assert statuses == {"payments": "done", "progress": "interrupted", "supply": "not_run"}
    record = db.exec(
        sa.select(AuditRecord).where(
            AuditRecord.action == "audit_run.interrupted", AuditRecord.object_id == str(first.id)
        )
    ).scalar_one()
    assert record.details["from"] == "running"


def test_a_silent_run_on_another_host_is_interrupted_only_after_the_stale_window(ow, db):
    auditor = ow.world.auditor
    first, _ = runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                                parts=["supply"], now=NOW)  # fmt: skip
    first.status, first.runner, first.heartbeat_at = "running", "elsewhere.example:4242:99", NOW
    db.add(first)
    db.flush()
    assert runs.runner_alive(first.runner) is None  # another host: cannot tell
    soon = NOW + dt.timedelta(minutes=30)
    _error(lambda: runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                                    parts=["supply"], now=soon, stale_after=dt.timedelta(hours=1)),
           "run_in_progress")  # fmt: skip
    assert first.status == "running"
    late = NOW + dt.timedelta(hours=1, minutes=1)
    _, created = runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                                       parts=["supply"], now=late, stale_after=dt.timedelta(hours=1))  # fmt: skip
    assert created
    db.refresh(first)
    assert first.status == "interrupted" and "no word from its process (elsewhere.example:4242:99)" in first.error


def test_a_run_that_finishes_while_it_is_being_swept_keeps_its_verdict(ow, db, monkeypatch):
    auditor = ow.world.auditor
    first, _ = runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                                parts=["supply"], now=NOW)  # fmt: skip
    first.status, first.runner, first.heartbeat_at = "running", "elsewhere.example:4242:99", NOW
    db.add(first)
    db.flush()
    real = runs.runner_alive

    def finishing_meanwhile(runner):  # the runner on the other host saves its verdict between read and write
        db.execute(
            sa.update(runs.AuditRun)
            .where(runs.AuditRun.id == first.id)
            .values(status="done", heartbeat_at=NOW + dt.timedelta(hours=2))
            .execution_options(synchronize_session=False)
        )  # fmt: skip  (another connection's write)
        return real(runner)

    monkeypatch.setattr(runs, "runner_alive", finishing_meanwhile)
    swept = runs.sweep_interrupted(
        db, actor=auditor, now=NOW + dt.timedelta(hours=3), stale_after=dt.timedelta(hours=1)
    )
    db.refresh(first)
    assert swept == [] and first.status == "done" and first.error is None
    assert not db.exec(sa.select(AuditRecord).where(AuditRecord.action == "audit_run.interrupted")).first()


def _name_runner(queue) -> None:
    queue.put(runs.current_runner())


def test_a_runner_is_named_per_process_and_known_dead_once_its_process_ends():
    """A forked worker (as gunicorn forks them) names itself, not its parent; once it exits it is known to be gone."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_name_runner, args=(queue,))
    child.start()
    name = queue.get(timeout=30)
    child.join(timeout=30)
    assert name != runs.current_runner() and name.split(":")[1] == str(child.pid)
    assert runs.runner_alive(name) is False
    assert runs.runner_alive(runs.current_runner()) is True
    assert runs.runner_alive("elsewhere.example:1:1") is None and runs.runner_alive(None) is None


def test_a_run_swept_as_interrupted_while_it_ran_stops_and_leaves_the_verdict(ow, db, monkeypatch):
    """Another process marks a slow run interrupted between its parts: the run stops at its next heartbeat instead
    of writing "done" over the sweep."""
    from procurement.audit.run_models import AuditRun

    def swept_meanwhile(session, actor, *, start, end, progress=None):
        table = AuditRun.__table__
        session.connection().execute(table.update().where(table.c.status == "running").values(status="interrupted"))
        return PartSummary("sweeper", start, end)

    monkeypatch.setitem(runs.PARTS, "sweeper", "tests.procurement.test_audit_runs:_swept_meanwhile")
    monkeypatch.setitem(globals(), "_swept_meanwhile", swept_meanwhile)
    auditor = ow.world.auditor
    run, _ = runs.request_run(db, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                              parts=["sweeper", "payments"], now=NOW)  # fmt: skip
    with pytest.raises(runs.RunSwept):
        runs.execute_run(db, actor=auditor, run=run)
    status = db.execute(sa.select(AuditRun.__table__.c.status).where(AuditRun.__table__.c.id == run.id)).scalar_one()
    assert status == "interrupted"
