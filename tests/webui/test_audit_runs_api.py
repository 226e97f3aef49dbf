"""Audit runs over HTTP: run in the request or queued with ``Prefer: respond-async`` and polled; retries, errors."""

from __future__ import annotations

import datetime as dt
import time

from sqlmodel import Session

from core import accounts
from core.db import make_engine, utcnow
from core.roles import OrgKind, Role
from core.schema import upgrade
from procurement.audit import runs
from tests.factories import Factory
from tests.webui.test_api_conventions import assert_error

PERIOD = {"start": "2026-08-01", "end": "2026-09-01", "parts": ["payments", "supply"]}


def _auditor(factory):
    return factory.user(factory.org(OrgKind.INSURANCE_BUREAU), roles=(Role.AUDITOR,))


def test_run_in_the_request_then_replay_list_and_read(factory, api):
    auditor = api(_auditor(factory))
    response = auditor.post("/api/v1/audits/runs", json=PERIOD, headers={"Idempotency-Key": "run-aug"})
    assert response.status_code == 201, response.json
    body = response.json
    assert response.headers["Location"] == f"/api/v1/audits/runs/{body['id']}"
    assert body["status"] == "done" and body["parts"] == ["payments", "supply"]
    assert {part: entry["status"] for part, entry in body["progress"].items()} == {"payments": "done", "supply": "done"}
    again = auditor.post("/api/v1/audits/runs", json=PERIOD, headers={"Idempotency-Key": "run-aug"})
    assert (again.status_code, again.json["id"]) == (200, body["id"])
    assert auditor.get(f"/api/v1/audits/runs/{body['id']}").json["progress"] == body["progress"]
    assert body["id"] in [run["id"] for run in auditor.get("/api/v1/audits/runs").json]


def test_bad_runs_are_refused_with_the_field_named(factory, api):
    auditor = api(_auditor(factory))
    body = assert_error(auditor.post("/api/v1/audits/runs", json={**PERIOD, "end": "2026-07-01"}), 422, "invalid")
    assert "end" in body["errors"]["json"]
    body = assert_error(auditor.post("/api/v1/audits/runs", json={"start": "2026-08-01"}), 422, "validation_error")
    assert "end" in body["errors"]["json"]
    pharmacist = api(factory.user(factory.org(OrgKind.HOSPITAL), roles=(Role.PHARMACIST,)))
    assert_error(pharmacist.post("/api/v1/audits/runs", json=PERIOD), 403, "role_required")
    assert_error(pharmacist.get("/api/v1/audits/runs"), 403, "role_required")


def test_a_queued_run_runs_after_the_response_and_reports_progress(backend, fresh_database_url, tmp_path):
    """An application that owns its engine (as under gunicorn) answers 202 and runs the parts in a thread."""
    from webui import create_app

    url = fresh_database_url(backend, "runs")
    upgrade(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        factory = Factory(session)
        token = factory.token(_auditor(factory))
        session.commit()
    app = create_app({
        "YAOLIAN_ENV": "test", "TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
        "SIGNING_KEY_PATH": str(tmp_path / "instance" / "ledger-signing-key.pem"), "DATABASE_URL": url,
    })  # fmt: skip
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Prefer": "respond-async"}
    response = client.post("/api/v1/audits/runs", json=PERIOD, headers=headers)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "queued"
    response.close()  # the WSGI server closes the response; the run starts then
    location, deadline, body = response.headers["Location"], time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        body = client.get(location, headers={"Authorization": f"Bearer {token}"}).get_json()
        if body["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert body["status"] == "done", body
    assert body["no_data"] is True  # a fresh database has nothing to audit, and says so
    assert body["error"] == "no data in this period for any part"
    assert all(entry["status"] == "done" for entry in body["progress"].values())
    engine.dispose()
    app.extensions["yaolian.engine"].dispose()


def test_a_run_over_a_period_another_run_is_auditing_gets_409_until_that_run_is_presumed_gone(factory, api, db, app):
    user = _auditor(factory)
    auditor = api(user)
    other, _ = runs.request_run(
        db, actor=accounts.actor_for_user(db, user.id), start=dt.date(2026, 8, 15), end=dt.date(2026, 9, 15),
        parts=["supply"],
    )  # fmt: skip
    other.status, other.runner = "running", "worker-7.example:311:4711"  # another host: only silence tells
    other.heartbeat_at = utcnow() - dt.timedelta(minutes=90)
    db.add(other)
    db.flush()
    body = assert_error(auditor.post("/api/v1/audits/runs", json=PERIOD), 409, "run_in_progress")
    assert f"audit run {other.id}" in body["message"] and "supply" in body["message"]
    assert body["errors"] == {"period": [f"overlaps audit run {other.id}"]}
    app.config["AUDIT_RUN_STALE_MINUTES"] = 60  # YAOLIAN_AUDIT_RUN_STALE_MINUTES
    response = auditor.post("/api/v1/audits/runs", json=PERIOD)
    assert response.status_code == 201, response.json
    swept = auditor.get(f"/api/v1/audits/runs/{other.id}").json
    assert swept["status"] == "interrupted" and "no word from its process" in swept["error"]
    assert swept["progress"]["supply"]["status"] == "not_run"
