"""PostgreSQL-only: parallel wrong guesses at one account cannot pass the per-account limit together.

Without the per-account lock every attempt reads the failure count before any is recorded, so ten guesses at once
are all tried although the limit is three.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from core import accounts
from core.actor import Actor
from core.db import new_session, utcnow
from core.errors import DomainError
from core.models import LoginAttempt
from core.roles import OrgKind, Role
from tests.factories import PASSWORD, make_uscc

pytestmark = pytest.mark.postgres_only
GUESSES = 10


def test_parallel_wrong_guesses_stop_at_the_per_account_limit(committed_pg):
    _, engine = committed_pg("login_race", pool_size=GUESSES + 2, max_overflow=0)
    system = Actor.system("tests")
    with new_session(engine) as session:
        org = accounts.create_organisation(session, name="医院", kind=OrgKind.HOSPITAL, uscc=make_uscc(730001),
                                           region_code="350100", region_name="福州市", actor=system,
                                           hospital_grade="3A")  # fmt: skip
        accounts.create_user(session, username="target", password=PASSWORD, display_name="t",
                             organisation_id=org.id, roles=[Role.PHARMACIST], actor=system)  # fmt: skip
        session.commit()
    policy = accounts.LoginPolicy(max_failures_per_user=3, max_failures_per_ip=100, window=dt.timedelta(minutes=15))
    barrier, codes = threading.Barrier(GUESSES), []

    def guess(n: int) -> None:
        with new_session(engine) as session:
            barrier.wait()
            try:
                accounts.authenticate(session, username="target", password="wrong-guess", ip=f"10.0.0.{n}",
                                      policy=policy, now=utcnow())  # fmt: skip
            except DomainError as exc:
                codes.append(exc.code)
                if exc.keep_work:
                    session.commit()  # a failed attempt is recorded, as the web layer does
                else:
                    session.rollback()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes) == ["bad_credentials"] * 3 + ["login_rate_limited"] * (GUESSES - 3)
    with new_session(engine) as session:
        assert session.exec(sa.select(sa.func.count()).select_from(LoginAttempt)).scalar_one() == 3
