"""One database connection and transaction per request, committed once on success and rolled back on any error.

The request opens a Core connection on first use and begins its transaction; the ORM session, when a view needs
one, joins that transaction (services never commit). Token authentication runs on the connection alone, so a
request such as ``GET /api/v1/me`` never pays for an ORM session. Tests hand in ``CONNECTION_FACTORY`` (their own
connection, already inside a transaction); each request then runs in a savepoint of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request
from sqlmodel import Session

from core.db import READ_ONLY, make_engine

_CONNECT = "yaolian.connect"
_ENGINE = "yaolian.engine"


def init_db(app: Flask) -> None:
    """Create the engine (unless a test hands in its connection) and hook the unit of work into requests."""
    connect: Callable[[], sa.Connection] | None = app.config.get("CONNECTION_FACTORY")
    owned = connect is None
    if connect is None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions[_ENGINE] = engine
        connect = engine.connect
    app.extensions[_CONNECT] = (connect, owned)
    app.after_request(_finish_unit_of_work)
    app.teardown_request(_close)


def get_connection() -> sa.Connection:
    """Return the request's connection, beginning the request's transaction on first use."""
    conn = g.get("_conn")
    if conn is None:
        connect, owned = current_app.extensions[_CONNECT]
        conn = connect()
        g._conn, g._conn_owned = conn, owned
        if conn.in_transaction():
            g._txn = conn.begin_nested()
        else:
            # GET and HEAD only read (HTTP's safe methods; no view writes on them), nor do views marked read_only
            # (a POST that only answers a question): they need no write lock.
            view = current_app.view_functions.get(request.endpoint or "")
            conn.info[READ_ONLY] = request.method in ("GET", "HEAD") or getattr(view, "_yaolian_read_only", False)
            g._txn = conn.begin()
    return conn


def get_db() -> Session:
    """Return the request's ORM session, joined to the request's transaction."""
    session = g.get("_db")
    if session is None:
        session = g._db = Session(bind=get_connection(), expire_on_commit=False)
    return session


def keep_work() -> None:
    """Ask the unit of work to commit although the response is an error (e.g. a recorded failed login)."""
    g._db_keep_work = True


def _finish_unit_of_work(response: Response) -> Response:
    txn: sa.Transaction | None = g.get("_txn")
    if txn is None or not txn.is_active:
        return response
    session: Session | None = g.get("_db")
    if response.status_code < 400 or g.get("_db_keep_work"):
        try:
            if session is not None:
                session.commit()  # flushes; the request's transaction stays open until the next line
            txn.commit()
        except Exception as exc:  # the change did not land: answer with the error, never a false success
            _roll_back(session, txn)
            return current_app.make_response(current_app.handle_user_exception(exc))
    else:
        _roll_back(session, txn)
    return response


def _roll_back(session: Session | None, txn: sa.Transaction) -> None:
    if session is not None:
        session.close()  # the session's own savepoint (in tests) goes first, then the request's transaction
        g.pop("_db", None)
    if txn.is_active:
        txn.rollback()


def _close(exc: BaseException | None) -> None:
    session: Session | None = g.pop("_db", None)
    txn: sa.Transaction | None = g.pop("_txn", None)
    conn: sa.Connection | None = g.pop("_conn", None)
    if session is not None:
        session.close()
    if txn is not None and txn.is_active:
        txn.rollback()
    if conn is not None and g.pop("_conn_owned", False):
        conn.close()


def read_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view that never writes (e.g. a POST that only answers a question): its transaction takes no lock."""
    view._yaolian_read_only = True  # type: ignore[attr-defined]
    return view
