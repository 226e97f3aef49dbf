"""Sign in, sign out, language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from core import accounts
from core.db import utcnow
from core.errors import RATE_LIMITED, DomainError
from webui.auth import SessionUser, client_ip, login_policy
from webui.db import get_db, keep_work
from webui.i18n import LOCALES

bp = Blueprint("auth_pages", __name__)


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=256)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and sign the user in."""
    if g.actor is not None and request.method == "GET":
        return redirect(url_for("home_pages.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        session_db = get_db()
        try:
            user = accounts.authenticate(
                session_db, username=form.username.data, password=form.password.data, ip=client_ip(),
                policy=login_policy(), now=utcnow(), request_id=g.request_id,
            )  # fmt: skip
        except DomainError as exc:
            if exc.keep_work:
                keep_work()
            status = 429 if exc.kind == RATE_LIMITED else 401
            form.password.errors.append(
                _("Too many failed sign-ins; try again later.")
                if exc.kind == RATE_LIMITED
                else _("Wrong username or password.")
            )
        else:
            actor = accounts.actor_for_user(session_db, user.id, request_id=g.request_id)
            session.clear()
            login_user(SessionUser(actor, accounts.session_generation(session_db, user.id)))
            return redirect(_safe_next(request.args.get("next")) or url_for("home_pages.home"))
    elif request.method == "POST":
        status = 422
    return render_template("pages/login.html", form=form), status


def _safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else None (an open redirect otherwise).

    Browsers drop tabs and new lines and read backslashes as slashes, so ``/\t/evil.example`` or ``/\\evil.example``
    would leave the site although they start with one slash: any control character or backslash is refused, and the
    rest must parse with neither scheme nor host.
    """
    if not target or not target.startswith("/") or "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out: this browser session, and any copy of its cookie, stops signing the user in."""
    if current_user.is_authenticated:
        accounts.end_sessions(get_db(), actor=current_user.actor)
    logout_user()
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth_pages.login"))


@bp.route("/locale/<code>", methods=["POST"])
def set_locale(code: str):
    """Switch the interface language."""
    if code in LOCALES:
        session["locale"] = code
    return redirect(_safe_next(request.form.get("next")) or url_for("home_pages.home"))
