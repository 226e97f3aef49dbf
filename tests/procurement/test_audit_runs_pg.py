"""PostgreSQL-only: two auditors asking for the same period at once get one run; the second is refused, not doubled.

Without the advisory lock the second request could not see the first's uncommitted run and would queue a second run
of the same parts over the same period.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from core import accounts
from core.actor import Actor
from core.db import new_session
from core.errors import DomainError
from core.roles import OrgKind, Role
from procurement.audit import runs
from procurement.audit.run_models import AuditRun
from tests.factories import PASSWORD, make_uscc

pytestmark = pytest.mark.postgres_only
SYSTEM = Actor.system("tests")
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def pg_auditor(committed_pg):
    _, engine = committed_pg("audit-runs")
    with new_session(engine) as session:
        bureau = accounts.create_organisation(
            session, name="福州市医疗保障局", kind=OrgKind.INSURANCE_BUREAU, uscc=make_uscc(710001),
            region_code="350100", region_name="福州市", actor=SYSTEM,
        )  # fmt: skip
        user = accounts.create_user(
            session, username="auditor", password=PASSWORD, display_name="审计", organisation_id=bureau.id,
            roles=[Role.AUDITOR], actor=SYSTEM,
        )  # fmt: skip
        session.commit()
        auditor = accounts.actor_for_user(session, user.id)
    return engine, auditor


def test_simultaneous_requests_for_one_period_make_one_run(pg_auditor):
    engine, auditor = pg_auditor
    period = {"start": dt.date(2026, 8, 1), "end": dt.date(2026, 9, 1), "parts": ["supply"], "now": NOW}
    first = new_session(engine)
    run, created = runs.request_run(first, actor=auditor, **period)  # holds the lock until it commits
    assert created
    outcome: dict[str, object] = {}

    def second_request() -> None:
        with new_session(engine) as second:
            try:
                outcome["run"] = runs.request_run(second, actor=auditor, **period)[0].id
                second.commit()
            except DomainError as exc:
                outcome["code"] = exc.code
                second.rollback()

    thread = threading.Thread(target=second_request)
    thread.start()
    thread.join(timeout=1.0)
    assert thread.is_alive(), "the second request must wait for the first to commit"
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert outcome == {"code": "run_in_progress"}
    with new_session(engine) as session:
        assert session.exec(sa.select(sa.func.count()).select_from(AuditRun)).scalar_one() == 1
        assert session.get(AuditRun, run.id).status == "queued"


def test_a_request_behind_a_long_run_in_its_own_request_is_told_so_not_queued(pg_auditor, monkeypatch):
    """A run executing in its request holds the turn until it commits; another request waits a moment, then gets
    409 with Retry-After instead of tying up a worker for the whole run."""
    engine, auditor = pg_auditor
    monkeypatch.setattr(runs, "LOCK_WAIT_SECONDS", 0.3)
    first = new_session(engine)
    try:
        runs.request_run(first, actor=auditor, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 1),
                         parts=["supply"], now=NOW)  # fmt: skip
        with new_session(engine) as second:
            began = time.monotonic()
            with pytest.raises(DomainError) as caught:
                runs.request_run(second, actor=auditor, start=dt.date(2025, 1, 1), end=dt.date(2025, 2, 1),
                                 parts=["credit"], now=NOW)  # fmt: skip
            assert 0.3 <= time.monotonic() - began < 5
            assert caught.value.code == "run_in_progress" and caught.value.retry_after == 1
            assert "another audit run is being started" in caught.value.message
    finally:
        first.rollback()
        first.close()
