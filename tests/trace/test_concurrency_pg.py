"""PostgreSQL-only: 50 simultaneous attempts to dispense one pack; exactly one wins, no entry is lost or doubled."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core import accounts
from core.actor import Actor
from core.alerts import Alert
from core.db import new_session, utcnow
from core.roles import OrgKind, Role
from tests.factories import PASSWORD, make_uscc
from trace import capture, ledger, merkle, rules
from trace.items import register_trade_item
from trace.models import EventType, LedgerEntry, TraceEvent
from trace.transitions import EventIn

pytestmark = pytest.mark.postgres_only
ATTEMPTS = 50
SYSTEM = Actor.system("tests")


def _org(session, n, kind, **extra):
    return accounts.create_organisation(
        session,
        name=f"org{n}",
        kind=kind,
        uscc=make_uscc(800000 + n),
        region_code="350200",
        region_name="厦门市",
        actor=SYSTEM,
        **extra,
    )


def _actor(session, org, role):
    user = accounts.create_user(
        session,
        username=f"u{org.id}",
        password=PASSWORD,
        display_name="u",
        organisation_id=org.id,
        roles=[role],
        actor=SYSTEM,
    )
    return accounts.actor_for_user(session, user.id)


def _run(session, actor, batch_id, *events):
    batch = capture.BatchIn(batch_id, list(events), f"{hash(batch_id) & (2**64 - 1):064x}")
    return capture.capture(session, actor=actor, batch=batch, now=utcnow())


def test_fifty_simultaneous_dispenses_of_one_pack(committed_pg):
    _, engine = committed_pg("dispense", pool_size=ATTEMPTS + 5, max_overflow=0)
    code = "81234561000000011234"
    with new_session(engine) as s:
        maker = _org(s, 1, OrgKind.MANUFACTURER)
        hospital = _org(s, 2, OrgKind.HOSPITAL, hospital_grade="3A")
        register_trade_item(
            s, actor=SYSTEM, name="药", holder_org_id=maker.id, pack_size=28, unit="片", product_id="8123456"
        )
        maker_actor, pharmacist = _actor(s, maker, Role.SUPPLIER_REP), _actor(s, hospital, Role.PHARMACIST)
        assert _run(
            s,
            maker_actor,
            "m1",
            EventIn(EventType.COMMISSION, code),
            EventIn(EventType.SHIP, code, to_org_id=hospital.id),
        ).accepted
        assert _run(s, pharmacist, "h0", EventIn(EventType.RECEIVE, code)).accepted
        s.commit()

    barrier = threading.Barrier(ATTEMPTS)
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def attempt(n: int) -> None:
        try:
            with new_session(engine) as session:
                barrier.wait()
                result = _run(session, pharmacist, f"h{n + 1}", EventIn(EventType.DISPENSE, code))
                session.commit()
                outcomes.append(result.accepted)
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(ATTEMPTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    assert sorted(outcomes) == [False] * (ATTEMPTS - 1) + [True]
    with new_session(engine) as s:
        dispenses = s.exec(sa.select(sa.func.count()).where(TraceEvent.type == "dispense")).one()[0]
        duplicates = s.exec(sa.select(sa.func.count()).where(Alert.code == rules.DUPLICATE_SALE)).one()[0]
        size = ledger.size(s)
        indices = s.exec(sa.select(LedgerEntry.idx).order_by(LedgerEntry.idx)).scalars().all()
        assert dispenses == 1 and duplicates == ATTEMPTS - 1
        assert indices == list(range(size)) == list(range(4))  # commission, ship, receive, dispense: no gap, no twin
        entries = [bytes(e) for e in s.exec(sa.select(LedgerEntry.entry).order_by(LedgerEntry.idx)).scalars()]
        assert ledger.current_root(s) == (4, merkle.root(entries))
