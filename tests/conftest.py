"""Test harness: an app per database backend, a rolled-back session per test, factories and an API client.

SQLite always runs. PostgreSQL runs when ``YAOLIAN_TEST_POSTGRES_URL`` names a server database (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``): the run creates its own throwaway database there, migrates
it, and drops it at the end, so runs never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from core.db import make_engine
from core.schema import upgrade
from tests.factories import Factory

PG_ENV = "YAOLIAN_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True, scope="session")
def _cheap_tender_keys() -> Iterator[None]:
    """Wrap tender keys with scrypt at its lowest accepted cost in tests (production: 2**17); keys record their cost."""
    from procurement import sealing

    production = sealing.SCRYPT_LOG2_N
    sealing.SCRYPT_LOG2_N = 14
    yield
    sealing.SCRYPT_LOG2_N = production


def _admin_url(url: str) -> sa.URL:
    return make_url(url).set(drivername="postgresql+psycopg")


class ThrowawayDatabases:
    """Creates databases for this run on the PostgreSQL server and drops them at the end."""

    def __init__(self, base_url: str) -> None:
        self.base = _admin_url(base_url)
        self.engine = sa.create_engine(self.base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        self.created: list[str] = []

    def create(self, purpose: str) -> str:
        name = f"yaolian_{purpose}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.engine.connect() as conn:
            for name in self.created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.engine.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayDatabases | None]:
    url = os.environ.get(PG_ENV)
    if not url:
        yield None
        return
    dbs = ThrowawayDatabases(url)
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture(scope="session")
def fresh_database_url(tmp_path_factory, pg_server):
    """Return a function making a new, empty database URL of a backend."""

    def make(backend: str, purpose: str) -> str:
        if backend == "sqlite":
            path: Path = tmp_path_factory.mktemp(purpose) / "yaolian.db"
            return f"sqlite:///{path}"
        if pg_server is None:
            pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
        return pg_server.create(purpose)

    return make


@pytest.fixture
def committed_pg(fresh_database_url) -> Iterator[Callable[..., tuple[str, Engine]]]:
    """Return a function making a fresh, migrated PostgreSQL database and an engine on it, for tests that need
    committed data seen by several connections at once (skipped without PostgreSQL); engines are disposed after."""
    engines: list[Engine] = []

    def make(purpose: str, **engine_options) -> tuple[str, Engine]:
        url = fresh_database_url("postgresql", purpose)
        upgrade(url)
        engines.append(make_engine(url, **engine_options))
        return url, engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture(scope="session")
def migrated_engines(fresh_database_url) -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "postgresql" and not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL backend: set {PG_ENV} to run")
    return request.param


@pytest.fixture
def engine(backend, migrated_engines, fresh_database_url) -> Engine:
    """A migrated database of the backend under test (one per backend per run)."""
    if backend not in migrated_engines:
        url = fresh_database_url(backend, "unit")
        upgrade(url)
        migrated_engines[backend] = make_engine(url)
    return migrated_engines[backend]


@pytest.fixture
def connection(engine) -> Iterator[sa.Connection]:
    """One connection per test inside a transaction that is rolled back at the end."""
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        if outer.is_active:
            outer.rollback()
        conn.close()


def _savepoint_session(conn: sa.Connection) -> Session:
    return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def db(connection) -> Iterator[Session]:
    """The test's session; commits inside it only release savepoints."""
    session = _savepoint_session(connection)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def app(connection, engine, tmp_path):
    """The application, whose request sessions join the test's rolled-back transaction."""
    from webui import create_app

    return create_app(
        {
            "YAOLIAN_ENV": "test",
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SIGNING_KEY_PATH": str(tmp_path / "instance" / "ledger-signing-key.pem"),
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "CONNECTION_FACTORY": lambda: connection,
        }
    )


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def factory(db) -> Factory:
    return Factory(db)


class ApiClient:
    """A test client that speaks JSON with a bearer token."""

    def __init__(self, client, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def _headers(self, extra: dict | None) -> dict:
        headers = dict(extra or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def request(self, method: str, path: str, *, json=None, headers: dict | None = None, **kwargs):
        return self.client.open(path, method=method, json=json, headers=self._headers(headers), **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json=None, **kwargs):
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(client, factory):
    """Return a function that gives an API client acting as a user (or anonymous with None)."""

    def as_user(user=None) -> ApiClient:
        return ApiClient(client, factory.token(user) if user is not None else None)

    return as_user


@pytest.fixture
def english_pages(app):
    """Render pages in English (the platform's second language), for tests that read the pages' English wording."""
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    return app
