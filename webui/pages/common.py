"""Helpers shared by the page blueprints: role guards, service errors on forms, pagination links."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, g, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlmodel import Session

from core import accounts
from core.actor import Actor
from core.errors import DomainError
from core.models import Organisation
from core.pagination import MAX_PER_PAGE, Page
from core.roles import Role
from webui.pages.labels import service_message

# Form fields whose name differs from the service argument they feed.
_FIELD_ALIASES = {"organisation_id": "organisation", "parent_id": "parent"}


def role_required(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let signed-in users holding one of ``roles`` through; everyone else signed in gets 403."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not g.actor.has(*roles):
                abort(403)
            return view(*args, **kwargs)

        return login_required(guarded)

    return decorate


def show_domain_error(form: FlaskForm, exc: DomainError) -> list[str]:
    """Put a service's field errors next to the form's fields; return the messages that belong to no field."""
    general: list[str] = []
    for name, messages in exc.errors.items():
        field = form._fields.get(_FIELD_ALIASES.get(name, name))
        texts = [service_message(str(m)) for m in (messages if isinstance(messages, list) else [messages])]
        if field is None:
            general.extend(texts)
        else:
            field.errors = [*field.errors, *texts]
    if not exc.errors:
        general.append(service_message(exc.message))
    return general


def all_organisations(session: Session, *, actor: Actor) -> list[Organisation]:
    """Return every organisation by name, page by page (for pickers and name look-ups)."""
    found: list[Organisation] = []
    page = 1
    while True:
        batch = accounts.list_organisations(session, actor=actor, page=page, per_page=MAX_PER_PAGE)
        found.extend(batch.items)
        if page * batch.per_page >= batch.total:
            return found
        page += 1


def page_number() -> int:
    """Return the 1-based page number asked for in the query string."""
    return max(request.args.get("page", 1, type=int) or 1, 1)


def page_count(page: Page[Any]) -> int:
    """Return how many pages a result has (at least one)."""
    return max(math.ceil(page.total / page.per_page), 1)


def page_url(number: int) -> str:
    """Return the current page's URL, same filters, at another page number."""
    args = {key: value for key, value in request.args.items() if key != "page" and value != ""}
    return url_for(request.endpoint, **(request.view_args or {}), **args, page=number)
