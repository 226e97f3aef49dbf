"""Home pages per user group, and the catalogue browser."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_login import login_required

from core.accounts import get_organisation, get_user
from core.audit import list_audit
from core.roles import UserGroup
from procurement.catalogue import list_products
from webui.db import get_db
from webui.pages.common import page_number

bp = Blueprint("home_pages", __name__)

ACTIVITY_SHOWN = 10
CATALOGUE_PER_PAGE = 25


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
    """Show a group's home page: the organisation's profile, the user's roles, the organisation's recent activity."""
    try:
        wanted = UserGroup(group)
    except ValueError:
        abort(404)
    if wanted not in g.actor.groups:
        abort(403)
    session = get_db()
    org = get_organisation(session, org_id=g.actor.org_id, actor=g.actor)
    parent = get_organisation(session, org_id=org.parent_id, actor=g.actor) if org.parent_id else None
    activity = list_audit(session, actor=g.actor, org_id=g.actor.org_id, per_page=ACTIVITY_SHOWN)
    return render_template(
        f"pages/home_{wanted.value}.html",
        group=wanted,
        user=get_user(session, user_id=g.actor.user_id, actor=g.actor),
        organisation=org,
        parent=parent,
        roles=sorted(g.actor.roles),
        activity=activity,
    )


@bp.route("/catalogue")
@login_required
def catalogue():
    """Browse the product catalogue, searching generic names."""
    q = (request.args.get("q") or "").strip() or None
    session = get_db()
    products = list_products(session, actor=g.actor, q=q, page=page_number(), per_page=CATALOGUE_PER_PAGE)
    maker_ids = {product.manufacturer_id for product in products.items}
    makers = {mid: get_organisation(session, org_id=mid, actor=g.actor).name for mid in maker_ids}
    return render_template("pages/catalogue.html", products=products, makers=makers, q=q or "")
