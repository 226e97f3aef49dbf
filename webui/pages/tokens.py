"""Every user's API tokens: list them, create one after re-entering the password, revoke one."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from core import accounts
from core.db import utcnow
from core.errors import CONFLICT, INVALID, RATE_LIMITED, UNAUTHENTICATED, DomainError
from webui.auth import client_ip, login_policy, token_policy
from webui.db import get_db, keep_work
from webui.pages.common import page_number, show_domain_error
from webui.pages.forms import ConfirmForm, TokenForm

bp = Blueprint("tokens_pages", __name__, url_prefix="/account")

PER_PAGE = 20


def _render(form: TokenForm, *, secret: str | None = None, status: int = 200, general: list[str] | None = None):
    tokens = accounts.list_tokens(get_db(), actor=g.actor, page=page_number(), per_page=PER_PAGE)
    return (
        render_template(
            "pages/tokens.html",
            form=form,
            revoke_form=ConfirmForm(),
            tokens=tokens,
            secret=secret,
            now=utcnow(),
            default_days=current_app.config["TOKEN_DEFAULT_TTL_DAYS"],
            max_days=current_app.config["TOKEN_MAX_TTL_DAYS"],
            form_errors=general or [],
        ),
        status,
    )


@bp.route("/tokens", methods=["GET"])
@login_required
def tokens():
    """List the user's own API tokens, with the form to create one."""
    return _render(TokenForm())


@bp.route("/tokens", methods=["POST"])
@login_required
def create_token():
    """Create a token once the password is confirmed, and show its secret this once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _render(form, status=422)
    session = get_db()
    now = utcnow()
    try:
        user = accounts.authenticate(
            session, username=g.actor.username, password=form.password.data, ip=client_ip(), policy=login_policy(),
            now=now, request_id=g.request_id,
        )  # fmt: skip
    except DomainError as exc:
        if exc.kind not in (UNAUTHENTICATED, RATE_LIMITED):
            raise
        if exc.keep_work:
            keep_work()  # the failed attempt counts towards the rate limit, so it must be saved
        form.password.errors.append(
            _("Too many failed attempts; try again later.") if exc.kind == RATE_LIMITED else _("Wrong password.")
        )
        return _render(form, status=429 if exc.kind == RATE_LIMITED else 422)
    days = form.expires_in_days.data
    try:
        token, secret = accounts.issue_token(
            session, user=user, name=form.name.data, now=now, policy=token_policy(),
            ttl=dt.timedelta(days=days) if days else None, request_id=g.request_id,
        )  # fmt: skip
    except DomainError as exc:
        if exc.kind != INVALID:
            raise
        return _render(form, status=422, general=show_domain_error(form, exc))
    flash(_("Token “%(name)s” created. Copy the secret now: it is not shown again.", name=token.name), "success")
    return _render(TokenForm(formdata=None), secret=secret, status=201)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's tokens."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        token = accounts.revoke_token(get_db(), token_id=token_id, actor=g.actor, now=utcnow())
    except DomainError as exc:
        if exc.kind != CONFLICT:
            raise
        flash(_("The token is already revoked."), "error")
    else:
        flash(_("Token “%(name)s” revoked; programs using it can no longer sign in.", name=token.name), "success")
    return redirect(url_for(".tokens"), 303)
