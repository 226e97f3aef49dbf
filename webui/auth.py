"""Who is asking: bearer tokens for the API, Flask-Login sessions for pages; both become a ``core.actor.Actor``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user

from core import accounts
from core.actor import Actor
from core.db import utcnow
from core.errors import UNAUTHENTICATED, DomainError
from webui.db import get_connection, get_db

login_manager = LoginManager()


class ApiAwareSessionInterface(SecureCookieSessionInterface):
    """No cookie session for the API: it authenticates by bearer token only (and skips signing a cookie)."""

    def open_session(self, app: Flask, request):  # type: ignore[override]
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


class SessionUser(UserMixin):
    """The signed-in web user, carrying the actor the services need."""

    def __init__(self, actor: Actor, generation: int = 0) -> None:
        self.actor = actor
        self.generation = generation

    def get_id(self) -> str:
        # "<user id>.<generation>": signing out raises the user's generation, so this cookie stops working (Flask
        # keeps the session in the cookie itself: without this a copy taken before sign-out would stay valid).
        return f"{self.actor.user_id}.{self.generation}"


@login_manager.user_loader
def _load_user(session_id: str) -> SessionUser | None:
    user_id, _, generation = session_id.partition(".")
    if not user_id.isdigit() or not generation.isdigit():
        return None
    actor = accounts.actor_for_user(get_db(), int(user_id), request_id=g.get("request_id"), generation=int(generation))
    return SessionUser(actor, int(generation)) if actor else None


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an API view as reachable without a bearer token."""
    view._yaolian_public = True  # type: ignore[attr-defined]
    return view


def login_policy() -> accounts.LoginPolicy:
    """Return the login rate-limit policy from configuration."""
    cfg = current_app.config
    return accounts.LoginPolicy(
        max_failures_per_user=cfg["LOGIN_MAX_FAILURES_PER_USER"],
        max_failures_per_ip=cfg["LOGIN_MAX_FAILURES_PER_IP"],
        window=dt.timedelta(seconds=cfg["LOGIN_WINDOW_SECONDS"]),
    )


def token_policy() -> accounts.TokenPolicy:
    """Return the token lifetime policy from configuration."""
    cfg = current_app.config
    return accounts.TokenPolicy(
        default_ttl=dt.timedelta(days=cfg["TOKEN_DEFAULT_TTL_DAYS"]),
        max_ttl=dt.timedelta(days=cfg["TOKEN_MAX_TTL_DAYS"]),
    )


def client_ip() -> str:
    """Return the client address (behind a proxy, configure ProxyFix so this is the real one)."""
    return request.remote_addr or "unknown"


def authenticate_api_request() -> None:
    """Resolve the bearer token of an API request into ``g.actor``; refuse protected endpoints without one."""
    g.actor = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise DomainError(UNAUTHENTICATED, "use 'Authorization: Bearer <token>'", code="token_invalid")
        principal = accounts.principal_for_token(
            get_connection(), secret=secret.strip(), now=utcnow(), request_id=g.request_id
        )
        g.actor, g.user, g.organisation = principal.actor, principal.user, principal.organisation
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and not getattr(view, "_yaolian_public", False):
        raise DomainError(UNAUTHENTICATED, "this endpoint needs a bearer token", code="authentication_required")


def page_actor() -> Actor | None:
    """Return the actor of the signed-in web user, or None."""
    if current_user.is_authenticated:
        return current_user.actor.with_request(g.get("request_id"))
    return None


def init_auth(app: Flask) -> None:
    """Set up Flask-Login for pages."""
    app.session_interface = ApiAwareSessionInterface()
    login_manager.init_app(app)
    login_manager.login_view = "auth_pages.login"
    login_manager.session_protection = "strong"
