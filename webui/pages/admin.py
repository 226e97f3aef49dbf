"""Platform administration: the audit trail with its daily chart, organisations and user accounts."""

from __future__ import annotations

import datetime as dt

from babel.lists import format_list
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from core import accounts
from core.audit import daily_counts, list_audit
from core.db import utcnow
from core.errors import CONFLICT, INVALID, DomainError
from core.roles import ROLE_ORG_KINDS, HospitalGrade, OrgKind, Role
from webui.db import get_db
from webui.pages.common import all_organisations, page_number, role_required, show_domain_error
from webui.pages.forms import AuditFilterForm, OrganisationForm, UserForm
from webui.pages.labels import kind_label, role_label

bp = Blueprint("admin_pages", __name__, url_prefix="/admin")

PER_PAGE = 50
CHART_DAYS = 30


def _chart_data(session, *, now: dt.datetime) -> dict:
    """Return the audit records per UTC day over the last ``CHART_DAYS`` days, days without records as zero."""
    first_day = now.astimezone(dt.UTC).date() - dt.timedelta(days=CHART_DAYS - 1)
    since = dt.datetime.combine(first_day, dt.time.min, tzinfo=dt.UTC)
    counts = dict(daily_counts(session, actor=g.actor, since=since))
    days = [first_day + dt.timedelta(days=n) for n in range(CHART_DAYS)]
    return {
        "x": [day.isoformat() for day in days],
        "y": [counts.get(day, 0) for day in days],
        "xTitle": _("Day (UTC)"),
        "yTitle": _("Audit records"),
    }


@bp.route("/audit")
@role_required(Role.ADMIN)
def audit():
    """Show the audit trail of every organisation, filtered and paginated, under a chart of the last 30 days."""
    session = get_db()
    organisations = all_organisations(session, actor=g.actor)
    form = AuditFilterForm(formdata=request.args)
    form.organisation.choices = [("", _("All organisations")), *((org.id, org.name) for org in organisations)]
    filters: dict = {}
    if form.validate():
        filters = {
            "action": form.action.data or None,
            "object_type": form.object_type.data or None,
            "org_id": form.organisation.data,
        }
    records = list_audit(session, actor=g.actor, page=page_number(), per_page=PER_PAGE, **filters)
    return render_template(
        "pages/admin/audit.html",
        form=form,
        records=records,
        org_names={org.id: org.name for org in organisations},
        chart=_chart_data(session, now=utcnow()),
        chart_days=CHART_DAYS,
    )


@bp.route("/organisations")
@role_required(Role.ADMIN)
def organisations():
    """List the registered organisations, optionally of one kind."""
    kind = request.args.get("kind") or None
    if kind not in {k.value for k in OrgKind}:
        kind = None
    session = get_db()
    found = accounts.list_organisations(session, actor=g.actor, page=page_number(), per_page=PER_PAGE, kind=kind)
    parent_ids = {org.parent_id for org in found.items if org.parent_id is not None}
    parents = {pid: accounts.get_organisation(session, org_id=pid, actor=g.actor).name for pid in parent_ids}
    return render_template(
        "pages/admin/organisations.html", organisations=found, parents=parents, kind=kind, kinds=list(OrgKind)
    )


@bp.route("/organisations/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_organisation():
    """Register an organisation; the service checks the credit code, region, grade and uniqueness."""
    session = get_db()
    form = OrganisationForm()
    form.parent.choices = [("", _("None")), *((org.id, org.name) for org in all_organisations(session, actor=g.actor))]
    general: list[str] = []
    status = 200
    if form.validate_on_submit():
        try:
            org = accounts.create_organisation(
                session,
                actor=g.actor,
                name=form.name.data,
                name_en=form.name_en.data or None,
                kind=OrgKind(form.kind.data),
                uscc=form.uscc.data,
                region_code=form.region_code.data,
                region_name=form.region_name.data,
                hospital_grade=HospitalGrade(form.hospital_grade.data) if form.hospital_grade.data else None,
                parent_id=form.parent.data,
            )
        except DomainError as exc:
            if exc.kind not in (INVALID, CONFLICT):
                raise
            general = show_domain_error(form, exc)
            status = 409 if exc.kind == CONFLICT else 422
        else:
            flash(_("Organisation “%(name)s” registered.", name=org.name), "success")
            return redirect(url_for(".organisations"), 303)
    elif form.is_submitted():
        status = 422
    return render_template("pages/admin/organisation_form.html", form=form, form_errors=general), status


def _role_rules() -> list[tuple[str, str]]:
    """Return, per role, the kinds of organisation that may hold it, as translated text."""
    return [
        (role_label(role), format_list([kind_label(kind) for kind in OrgKind if kind in kinds], locale=get_locale()))
        for role, kinds in ROLE_ORG_KINDS.items()
    ]


@bp.route("/users")
@role_required(Role.ADMIN)
def users():
    """List user accounts with their organisation and roles, optionally of one organisation."""
    session = get_db()
    org_id = request.args.get("organisation", type=int)
    names = {org.id: org.name for org in all_organisations(session, actor=g.actor)}
    if org_id not in names:
        org_id = None
    found = accounts.list_users(session, actor=g.actor, page=page_number(), per_page=PER_PAGE, organisation_id=org_id)
    roles = {user.id: sorted(accounts.user_roles(session, user.id)) for user in found.items}
    return render_template("pages/admin/users.html", users=found, roles=roles, org_names=names, organisation_id=org_id)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_user():
    """Create a user account; the service checks roles against the organisation's kind and the password policy."""
    session = get_db()
    form = UserForm()
    form.organisation.choices = [
        ("", _("Choose an organisation")),
        *((org.id, f"{org.name} · {kind_label(org.kind)}") for org in all_organisations(session, actor=g.actor)),
    ]
    if request.method == "GET" and (wanted := request.args.get("organisation", type=int)):
        form.organisation.data = wanted
    general: list[str] = []
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                session,
                actor=g.actor,
                username=form.username.data,
                password=form.password.data,
                display_name=form.display_name.data,
                email=form.email.data or None,
                organisation_id=form.organisation.data,
                roles=[Role(value) for value in form.roles.data or []],
            )
        except DomainError as exc:
            if exc.kind not in (INVALID, CONFLICT):
                raise
            general = show_domain_error(form, exc)
            status = 409 if exc.kind == CONFLICT else 422
        else:
            flash(_("User account “%(username)s” created.", username=user.username), "success")
            return redirect(url_for(".users"), 303)
    elif form.is_submitted():
        status = 422
    return (
        render_template("pages/admin/user_form.html", form=form, form_errors=general, role_rules=_role_rules()),
        status,
    )
