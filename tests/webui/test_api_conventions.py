"""One error body, request ids, pagination, and the answers bad input gets."""

import io
import json

import pytest
import sqlalchemy as sa

from core.models import ApiToken, AuditRecord
from core.roles import OrgKind, Role
from tests.factories import PASSWORD

ERROR_KEYS = {"code", "status", "message", "errors", "request_id"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == status and body["code"] == code and body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_missing_token_is_401(api):
    assert_error(api().get("/api/v1/me"), 401, "authentication_required")


@pytest.mark.parametrize("header", ["Token abc", "Bearer", "Basic dXNlcjpwYXNz"])
def test_malformed_authorization_is_401(client, header):
    assert_error(client.get("/api/v1/me", headers={"Authorization": header}), 401, "token_invalid")


def test_expired_and_revoked_tokens_are_401(client, factory):
    user = factory.user()
    import datetime as dt

    expired = factory.token(user, expires_in=dt.timedelta(seconds=-1))
    revoked = factory.token(user, revoked=True)
    assert_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"}), 401, "token_expired")
    assert_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {revoked}"}), 401, "token_revoked")


def test_unknown_path_and_method_use_the_error_body(api, factory):
    caller = api(factory.user())
    assert_error(caller.get("/api/v1/nothing-here"), 404, "not_found")
    body = assert_error(caller.request("PUT", "/api/v1/me"), 405, "method_not_allowed")
    assert body["errors"] == {}


def test_missing_object_is_404_naming_it(api, factory):
    body = assert_error(api(factory.user()).get("/api/v1/catalogue/products/999999"), 404, "product_not_found")
    assert "999999" in body["message"]


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/auth/tokens", data="{not json", content_type="application/json")
    body = assert_error(response, 400, "bad_request")
    assert "json" in body["errors"]


def test_unknown_fields_and_wrong_types_are_422_per_field(client):
    response = client.post(
        "/api/v1/auth/tokens",
        json={"username": "a", "password": "b", "expires_in_days": 2.7, "colour": "red"},
    )
    body = assert_error(response, 422, "validation_error")
    assert body["errors"]["json"]["expires_in_days"] == ["Not a valid integer."]
    assert body["errors"]["json"]["colour"] == ["Unknown field."]
    response = client.post("/api/v1/auth/tokens", json={"username": "a", "password": "b", "expires_in_days": "ten"})
    assert assert_error(response, 422, "validation_error")["errors"]["json"]["expires_in_days"]


def test_missing_required_fields_are_named(client):
    body = assert_error(client.post("/api/v1/auth/tokens", json={}), 422, "validation_error")
    assert set(body["errors"]["json"]) == {"username", "password"}


def test_oversized_bodies_are_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post(
        "/api/v1/auth/tokens", data=json.dumps({"username": "x" * 5000}), content_type="application/json"
    )
    assert_error(response, 413, "payload_too_large")


def test_service_validation_errors_name_the_field(api, factory):
    admin = factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ADMIN,))
    response = api(admin).post(
        "/api/v1/organisations",
        json={
            "name": "某某医院",
            "kind": "hospital",
            "uscc": "12350200000000001X",
            "region_code": "350200",
            "region_name": "厦门市",
            "hospital_grade": "2A",
        },
    )
    body = assert_error(response, 422, "invalid_uscc")
    assert "uscc" in body["errors"]["json"]


def test_internal_errors_hide_internals(app, client):
    @app.get("/api/v1/_boom")
    def boom():
        raise RuntimeError("secret connection string postgres://user:pw@host")

    response = client.get("/api/v1/_boom")
    body = assert_error(response, 500, "internal_error")
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in body["message"]


def test_a_well_formed_request_id_is_echoed(api, factory):
    response = api(factory.user()).get("/api/v1/me", headers={"X-Request-ID": "his-req-12345678"})
    assert response.headers["X-Request-ID"] == "his-req-12345678"
    odd = api(factory.user()).get("/api/v1/me", headers={"X-Request-ID": "bad id <script>"})
    assert odd.headers["X-Request-ID"] != "bad id <script>" and len(odd.headers["X-Request-ID"]) == 32


def test_lists_are_paginated_with_totals(api, factory):
    org = factory.org()
    caller = factory.user(org)
    for _ in range(7):
        factory.user(org)
    response = api(caller).get("/api/v1/users?page=2&page_size=3")
    assert response.status_code == 200
    assert len(response.json) == 3
    meta = json.loads(response.headers["X-Pagination"])
    assert meta["total"] == 8 and meta["total_pages"] == 3 and meta["page"] == 2
    assert_error(api(caller).get("/api/v1/users?page_size=1000"), 422, "validation_error")
    assert_error(api(caller).get("/api/v1/users?page=0"), 422, "validation_error")


def test_token_issue_and_wrong_password_over_http(client, db, factory):
    user = factory.user(username="chen.qi")
    response = client.post("/api/v1/auth/tokens", json={"username": "chen.qi", "password": PASSWORD, "name": "his"})
    assert response.status_code == 201, response.json
    secret = response.json["token"]
    assert response.json["token_type"] == "Bearer" and response.json["expires_at"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json["id"] == user.id
    stored = db.exec(sa.select(ApiToken.token_hash)).scalars().all()
    assert secret not in stored
    assert_error(
        client.post("/api/v1/auth/tokens", json={"username": "chen.qi", "password": "x"}), 401, "bad_credentials"
    )


def test_login_is_rate_limited_and_the_failures_are_kept(app, client, db, factory):
    factory.user(username="zhou.ba")
    app.config["LOGIN_MAX_FAILURES_PER_USER"] = 3
    for _ in range(3):
        assert client.post("/api/v1/auth/tokens", json={"username": "zhou.ba", "password": "x"}).status_code == 401
    response = client.post("/api/v1/auth/tokens", json={"username": "zhou.ba", "password": PASSWORD})
    assert_error(response, 429, "login_rate_limited")
    assert int(response.headers["Retry-After"]) > 0


def test_token_revocation_over_http(api, client, factory):
    user = factory.user()
    caller = api(user)
    tokens = caller.get("/api/v1/auth/tokens").json
    assert len(tokens) == 1 and "token" not in tokens[0]
    response = caller.delete(f"/api/v1/auth/tokens/{tokens[0]['id']}")
    assert response.status_code == 200 and response.json["revoked_at"]
    assert_error(caller.get("/api/v1/me"), 401, "token_revoked")


def test_failed_requests_write_nothing(api, db, factory):
    admin = factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ADMIN,))
    before = db.exec(sa.select(sa.func.count()).select_from(AuditRecord)).one()[0]
    response = api(admin).post(
        "/api/v1/users",
        json={
            "username": "half.done",
            "password": "short",
            "display_name": "H",
            "organisation_id": admin.organisation_id,
            "roles": ["admin"],
        },
    )
    assert response.status_code == 422
    assert db.exec(sa.select(sa.func.count()).select_from(AuditRecord)).one()[0] == before


def test_state_changes_leave_audit_records_with_request_ids(api, db, factory):
    admin = factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ADMIN,))
    hospital = factory.org()
    response = api(admin).post(
        "/api/v1/users",
        json={
            "username": "new.pharmacist",
            "password": PASSWORD,
            "display_name": "新药师",
            "organisation_id": hospital.id,
            "roles": ["pharmacist"],
        },
        headers={"X-Request-ID": "req-create-user-1"},
    )
    assert response.status_code == 201, response.json
    record = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "user.created")).scalars().one()
    assert record.actor_user_id == admin.id and record.request_id == "req-create-user-1"
    assert record.object_id == str(response.json["id"])


def test_log_lines_carry_the_request_id(app, client):
    stream = io.StringIO()
    app.logger.handlers[0].setStream(stream)

    @app.get("/api/v1/_log")
    def log_something():
        app.logger.warning("supplier report late")
        return {}

    log_something._yaolian_public = True
    response = client.get("/api/v1/_log", headers={"X-Request-ID": "trace-me-12345"})
    assert response.status_code == 200
    assert "[trace-me-12345] webui: supplier report late" in stream.getvalue()
