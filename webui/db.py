"""One database session per request: committed once on success, rolled back on any error."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from flask import Flask, Response, current_app, g
from sqlmodel import Session

from core.db import make_engine, new_session

_FACTORY = "yaolian.session_factory"
_ENGINE = "yaolian.engine"


def init_db(app: Flask) -> None:
    """Create the engine (unless a test hands in a session factory) and hook the unit of work into requests."""
    factory: Callable[[], Session] | None = app.config.get("SESSION_FACTORY")
    if factory is None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions[_ENGINE] = engine
        factory = partial(new_session, engine)
    app.extensions[_FACTORY] = factory
    app.after_request(_finish_unit_of_work)
    app.teardown_request(_close_session)


def get_db() -> Session:
    """Return the request's session, opening it on first use."""
    session = g.get("_db")
    if session is None:
        session = g._db = current_app.extensions[_FACTORY]()
    return session


def keep_work() -> None:
    """Ask the unit of work to commit although the response is an error (e.g. a recorded failed login)."""
    g._db_keep_work = True


def _finish_unit_of_work(response: Response) -> Response:
    session: Session | None = g.get("_db")
    if session is not None:
        if response.status_code < 400 or g.get("_db_keep_work"):
            try:
                session.commit()
            except Exception as exc:  # the change did not land: answer with the error, never a false success
                session.rollback()
                return current_app.make_response(current_app.handle_user_exception(exc))
        else:
            session.rollback()
    return response


def _close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop("_db", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()
