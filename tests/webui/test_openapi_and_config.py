"""The OpenAPI document, configuration from the environment, the unit of work, and gunicorn serving wsgi:app."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from core.audit import record_audit
from core.models import AuditRecord
from webui.config import DEV_SECRET_KEY, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_document_is_valid_openapi_3(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}


def test_every_api_route_is_documented_with_the_error_body(app, client):
    spec = client.get("/api/openapi.json").json
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, path) in documented
    assert set(spec["components"]["schemas"]["ErrorOut"]["properties"]) >= {"code", "status", "message", "errors"}
    token_op = spec["paths"]["/api/v1/auth/tokens"]["post"]
    assert token_op["security"] == []


def test_api_docs_load_assets_locally(client):
    html = client.get("/api/docs").get_data(as_text=True)
    assert "/api/docs/assets/swagger-ui-bundle.js" in html and "https://" not in html
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/docs/assets/../../wsgi.py").status_code == 404
    assert client.get("/assets/vendor/plotly.min.js").status_code == 200


def test_production_refuses_to_start_without_real_secrets(tmp_path):
    base = {"YAOLIAN_ENV": "production", "YAOLIAN_INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigError, match="YAOLIAN_SECRET_KEY"):
        load_config(base)
    with pytest.raises(ConfigError, match="YAOLIAN_SECRET_KEY"):
        load_config({**base, "YAOLIAN_SECRET_KEY": DEV_SECRET_KEY})
    with pytest.raises(ConfigError, match="YAOLIAN_SECRET_KEY"):
        load_config({**base, "YAOLIAN_SECRET_KEY": "s" * 20})
    with pytest.raises(ConfigError, match="YAOLIAN_PSEUDONYM_KEY"):
        load_config({**base, "YAOLIAN_SECRET_KEY": "s" * 40})
    cfg = load_config({**base, "YAOLIAN_SECRET_KEY": "s" * 40, "YAOLIAN_PSEUDONYM_KEY": "p" * 40})
    assert cfg["SESSION_COOKIE_SECURE"] and cfg["SECRET_KEY"] == "s" * 40


def test_outside_production_an_unset_secret_is_the_instances_own_random_one(tmp_path):
    """No published value ever signs sessions or keys pseudonyms: a development or demo instance makes its own secrets
    on first use (0600), keeps them across restarts, and another instance has others."""
    import stat

    first = load_config({"YAOLIAN_INSTANCE_PATH": str(tmp_path / "a")})
    again = load_config({"YAOLIAN_INSTANCE_PATH": str(tmp_path / "a")})
    other = load_config({"YAOLIAN_INSTANCE_PATH": str(tmp_path / "b")})
    assert first["SECRET_KEY"] == again["SECRET_KEY"] != other["SECRET_KEY"]
    assert first["PSEUDONYM_KEY"] == again["PSEUDONYM_KEY"] != other["PSEUDONYM_KEY"]
    assert first["SECRET_KEY"] != DEV_SECRET_KEY and len(first["SECRET_KEY"]) >= 32
    mode = stat.S_IMODE((tmp_path / "a" / "session-secret-key").stat().st_mode)
    assert mode == 0o600
    for mode_name in ("development", "test"):
        with pytest.raises(ConfigError, match="published"):
            load_config({"YAOLIAN_ENV": mode_name, "YAOLIAN_INSTANCE_PATH": str(tmp_path), "YAOLIAN_SECRET_KEY":
                         DEV_SECRET_KEY})  # fmt: skip
    with pytest.raises(ConfigError, match="at least 32"):
        load_config({"YAOLIAN_INSTANCE_PATH": str(tmp_path), "YAOLIAN_PSEUDONYM_KEY": "short"})


def test_configuration_comes_from_the_environment(tmp_path):
    cfg = load_config(
        {
            "YAOLIAN_INSTANCE_PATH": str(tmp_path),
            "YAOLIAN_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "YAOLIAN_LOCALE": "en",
            "YAOLIAN_LOGIN_MAX_FAILURES_PER_USER": "9",
        }
    )
    assert cfg["DATABASE_URL"] == "postgresql+psycopg://u@h/db"
    assert cfg["BABEL_DEFAULT_LOCALE"] == "en" and cfg["LOGIN_MAX_FAILURES_PER_USER"] == 9
    assert load_config({"YAOLIAN_INSTANCE_PATH": str(tmp_path)})["DATABASE_URL"] == f"sqlite:///{tmp_path}/yaolian.db"
    with pytest.raises(ConfigError, match="whole number"):
        load_config({"YAOLIAN_LOGIN_MAX_FAILURES_PER_USER": "many"})
    with pytest.raises(ConfigError, match="YAOLIAN_ENV"):
        load_config({"YAOLIAN_ENV": "staging"})


def test_a_request_that_fails_after_writing_leaves_nothing(app, client, db, factory):
    from core.accounts import actor_for_user
    from webui.db import get_db

    user = factory.user()

    @app.get("/api/v1/_write_then_fail")
    def write_then_fail():
        record_audit(
            get_db(), actor=actor_for_user(get_db(), user.id), action="half.done", object_type="x", object_id=1
        )
        get_db().flush()
        raise RuntimeError("fails after writing")

    write_then_fail._yaolian_public = True
    assert client.get("/api/v1/_write_then_fail").status_code == 500
    assert db.exec(sa.select(AuditRecord).where(AuditRecord.action == "half.done")).first() is None


def test_a_conflict_found_at_commit_is_409(app, client, factory):
    from core.models import Organisation
    from webui.db import get_db

    existing = factory.org()

    @app.get("/api/v1/_duplicate")
    def duplicate():
        get_db().add(
            Organisation(name=existing.name, kind="distributor", uscc="x" * 18, region_code="1", region_name="r")
        )
        return {"ok": True}

    duplicate._yaolian_public = True
    response = client.get("/api/v1/_duplicate")
    assert response.status_code == 409 and response.json["code"] == "conflicting_change"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_serves_wsgi_app(tmp_path):
    from core.schema import upgrade

    url = f"sqlite:///{tmp_path / 'g.db'}"
    upgrade(url)
    port = _free_port()
    env = {**os.environ, "YAOLIAN_DATABASE_URL": url, "YAOLIAN_INSTANCE_PATH": str(tmp_path)}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--no-control-socket", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2) as resp:
                    assert resp.status == 200 and b'"openapi"' in resp.read()
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(
                        proc.stderr.read().decode() if proc.poll() is not None else "timeout"
                    ) from None
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_response_forbids_framing_and_sniffing(client, app):
    for path in ("/login", "/api/v1/me", "/assets/vendor/plotly.min.js", "/no-such-page"):
        headers = client.get(path).headers
        assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers  # only in production, behind HTTPS


def test_production_pins_https(tmp_path):
    from webui import create_app

    app = create_app({"YAOLIAN_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"})
    response = app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    app.extensions["yaolian.engine"].dispose()


def test_behind_a_configured_proxy_the_clients_address_counts(tmp_path):
    from flask import request

    from webui import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "PROXY_HOPS": 1})

    @app.route("/_whoami")
    def whoami():
        return request.remote_addr

    client = app.test_client()
    forwarded = client.get(
        "/_whoami", headers={"X-Forwarded-For": "203.0.113.9"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert forwarded.get_data(as_text=True) == "203.0.113.9"
    plain = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}"})
    plain.add_url_rule("/_whoami", view_func=whoami)
    spoofed = plain.test_client().get("/_whoami", headers={"X-Forwarded-For": "203.0.113.9"},
                                      environ_base={"REMOTE_ADDR": "10.0.0.1"})  # fmt: skip
    assert spoofed.get_data(as_text=True) == "10.0.0.1"  # without a proxy configured the header is not trusted
    for made in (app, plain):
        made.extensions["yaolian.engine"].dispose()
