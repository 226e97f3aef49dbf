"""Home pages per user group, and the catalogue browser."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_login import login_required

from core.accounts import get_organisation
from core.audit import list_audit
from core.roles import UserGroup
from procurement.catalogue import list_products
from webui.db import get_db

bp = Blueprint("home_pages", __name__)


@bp.route("/")
@login_required
def home():
    """Send the user to the home page of their primary group."""
    groups = g.actor.groups
    if not groups:
        abort(403)
    return redirect(url_for("home_pages.group_home", group=groups[0].value))


@bp.route("/home/<group>")
@login_required
def group_home(group: str):
    """Show a group's home page: organisation, roles, recent activity."""
    try:
        wanted = UserGroup(group)
    except ValueError:
        abort(404)
    if wanted not in g.actor.groups:
        abort(403)
    session = get_db()
    org = get_organisation(session, org_id=g.actor.org_id, actor=g.actor)
    activity = list_audit(session, actor=g.actor, org_id=g.actor.org_id, per_page=10)
    return render_template(f"pages/home_{wanted.value}.html", group=wanted, organisation=org, activity=activity)


@bp.route("/catalogue")
@login_required
def catalogue():
    """Browse the product catalogue."""
    page = request.args.get("page", 1, type=int)
    q = request.args.get("q") or None
    products = list_products(get_db(), actor=g.actor, q=q, page=page, per_page=25)
    return render_template("pages/catalogue.html", products=products, q=q or "")
