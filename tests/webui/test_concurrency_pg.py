"""PostgreSQL-only: real concurrent requests against a committed database (no shared rolled-back connection)."""

from __future__ import annotations

import threading

import pytest

from core import accounts
from core.actor import Actor
from core.db import new_session, utcnow
from core.roles import OrgKind, Role
from tests.factories import PASSWORD, make_uscc

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def committed_app(committed_pg):
    from webui import create_app

    url, engine = committed_pg("concurrency")
    system = Actor.system("tests")
    with new_session(engine) as session:
        office = accounts.create_organisation(
            session, name="福建省药械联合采购中心", kind=OrgKind.PROCUREMENT_OFFICE, uscc=make_uscc(700001),
            region_code="350000", region_name="福建省", actor=system,
        )  # fmt: skip
        admin = accounts.create_user(
            session, username="admin", password=PASSWORD, display_name="管理员", organisation_id=office.id,
            roles=[Role.ADMIN], actor=system,
        )  # fmt: skip
        _, secret = accounts.issue_token(session, user=admin, name="t", now=utcnow(), policy=accounts.TokenPolicy())
        session.commit()
        office_id = office.id
    app = create_app({"YAOLIAN_ENV": "test", "DATABASE_URL": url})
    yield app, secret, office_id
    app.extensions["yaolian.engine"].dispose()


def test_twenty_simultaneous_creations_of_one_username_make_exactly_one_user(committed_app):
    app, secret, office_id = committed_app
    body = {"username": "same.name", "password": PASSWORD, "display_name": "同名", "organisation_id": office_id,
            "roles": ["organiser"]}  # fmt: skip
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def create() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/users", json=body, headers={"Authorization": f"Bearer {secret}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [201] + [409] * 19
    listed = app.test_client().get("/api/v1/users", headers={"Authorization": f"Bearer {secret}"}).json
    assert [u["username"] for u in listed].count("same.name") == 1
