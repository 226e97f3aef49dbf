"""Home pages per user group, and the catalogue: browsing, export, and (administrators) spreadsheet imports."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from core.accounts import get_organisation, get_user
from core.audit import list_audit
from core.models import Organisation
from core.roles import Role, UserGroup
from procurement import catalogue_io, catalogue_template
from procurement.catalogue import ProductKind, list_products
from webui.db import get_db, keep_work
from webui.pages import catalogue_views as views
from webui.pages.common import page_number, role_required

bp = Blueprint("home_pages", __name__)

ACTIVITY_SHOWN = 10
CATALOGUE_PER_PAGE = 25
RECENT_IMPORTS = 5


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


def _catalogue_filters() -> tuple[str | None, str | None]:
    q = (request.args.get("q") or "").strip() or None
    kind = request.args.get("kind") or None
    return q, kind if kind in tuple(ProductKind) else None


def _render_catalogue(form: views.ImportForm | None = None, status: int = 200):
    q, kind = _catalogue_filters()
    session = get_db()
    products = list_products(session, actor=g.actor, q=q, kind=kind, page=page_number(), per_page=CATALOGUE_PER_PAGE)
    org_ids = {p.manufacturer_id for p in products.items} | {p.mah_id for p in products.items if p.mah_id}
    makers = {org.id: org.name for org in session.exec(_orgs(org_ids)).scalars()}
    is_admin = g.actor.has(Role.ADMIN)
    imports = catalogue_io.list_imports(session, actor=g.actor, per_page=RECENT_IMPORTS).items if is_admin else []
    return render_template(
        "pages/catalogue.html",
        products=products,
        makers=makers,
        q=q or "",
        kind=kind,
        kinds=views.KINDS,
        kind_name=views.kind_name,
        gqce_name=views.gqce_name,
        form=(form or views.ImportForm()) if is_admin else None,
        imports=imports,
    ), status


def _orgs(org_ids: set[int]) -> sa.Select:
    return sa.select(Organisation).where(Organisation.id.in_(org_ids))


@bp.route("/catalogue")
@login_required
def catalogue():
    """Browse the product catalogue, searching generic names, drugs or consumables; administrators import here."""
    return _render_catalogue()


@bp.route("/catalogue/export.xlsx")
@login_required
def catalogue_export():
    """Download the products shown (same search and kind) as a workbook in the import template's layout."""
    q, kind = _catalogue_filters()
    return views.xlsx_download(
        catalogue_template.export_products(get_db(), actor=g.actor, q=q, kind=kind), "catalogue.xlsx"
    )


@bp.route("/catalogue/template.xlsx")
@login_required
def catalogue_template_download():
    """Download the import template with its guide to every column."""
    return views.xlsx_download(catalogue_template.template_workbook(), "catalogue-template.xlsx")


@bp.route("/catalogue/imports", methods=["POST"])
@role_required(Role.ADMIN)
def catalogue_import():
    """Import a spreadsheet: every row saved, or none and the report shown on the page with its download."""
    form = views.ImportForm()
    if not form.validate_on_submit():
        return _render_catalogue(form, 422)
    upload = form.file.data
    try:
        record = catalogue_io.import_products(get_db(), filename=upload.filename, data=upload.read(), actor=g.actor)
    except catalogue_io.ImportRejected as exc:
        keep_work()  # the refused import keeps its report; no product was saved
        return _render_import(exc.record, 422)
    message = _("%(count)s products imported from “%(file)s”.", count=record.created_count, file=record.filename)
    flash(message, "success")
    return redirect(url_for(".catalogue_import_report", import_id=record.id), 303)


def _render_import(record, status: int = 200):
    return render_template(
        "pages/catalogue_import.html", record=record, problem_text=views.problem_text, form=views.ImportForm()
    ), status


@bp.route("/catalogue/imports/<int:import_id>")
@role_required(Role.ADMIN)
def catalogue_import_report(import_id: int):
    """Show an import: its counts and every problem by row and column."""
    return _render_import(catalogue_io.get_import(get_db(), import_id=import_id, actor=g.actor))


@bp.route("/catalogue/imports/<int:import_id>/report.xlsx")
@role_required(Role.ADMIN)
def catalogue_import_download(import_id: int):
    """Download an import's report: the rows as uploaded plus their problems, in the reader's language."""
    return views.report_download(catalogue_io.get_import(get_db(), import_id=import_id, actor=g.actor))
