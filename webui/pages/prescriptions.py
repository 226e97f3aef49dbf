"""Prescription pages: hospital staff upload dispensing records and read each import's row-level report; auditors
see every hospital's imports. Physicians are listed from the hospital's registry (kept through the API)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.errors import DomainError
from core.models import Organisation
from core.roles import Role
from procurement.audit import physician_registry, prescriptions
from webui.db import get_db, keep_work
from webui.pages.common import page_number, role_required
from webui.pages.prescription_views import (
    RIGHTS,
    STATUSES,
    RosterForm,
    UploadForm,
    accepted_columns,
    problem_text,
    report_download,
)

bp = Blueprint("prescription_pages", __name__, url_prefix="/prescriptions")

HOSPITAL_ROLES = prescriptions.HOSPITAL_ROLES
READERS = prescriptions.READERS
PER_PAGE = 20


def _render_imports(form: UploadForm | None = None, status: int = 200):
    session = get_db()
    page = prescriptions.list_imports(session, actor=g.actor, page=page_number(), per_page=PER_PAGE)
    may_upload = g.actor.has(*HOSPITAL_ROLES)
    return render_template(
        "pages/prescriptions/imports.html",
        imports=page,
        names=_names(session, {r.hospital_id for r in page.items}) if g.actor.has(Role.AUDITOR) else None,
        form=(form or UploadForm()) if may_upload else None,
        columns=accepted_columns(),
        statuses=STATUSES,
    ), status


@bp.route("/", methods=["GET"])
@role_required(*READERS)
def imports():
    """List prescription imports (a hospital its own, auditors all); hospital staff upload a file here."""
    return _render_imports()


@bp.route("/imports", methods=["POST"])
@role_required(*HOSPITAL_ROLES)
def upload():
    """Import a file: every row saved, or none and the row-level report shown with its download."""
    form = UploadForm()
    if not form.validate_on_submit():
        return _render_imports(form, 422)
    upload = form.file.data
    try:
        record, created = prescriptions.import_prescriptions(
            get_db(),
            actor=g.actor,
            hospital_id=g.actor.org_id,
            pseudonym_key=current_app.config["PSEUDONYM_KEY"],
            filename=upload.filename,
            data=upload.read(),
        )
    except prescriptions.RxImportRejected as exc:
        keep_work()  # the refused import keeps its report; no prescription was saved
        return _render_report(exc.record, 422)
    if created:
        message = _(
            "%(count)s prescription lines imported from “%(file)s”.", count=record.line_count, file=record.filename
        )
        flash(message, "success")
    else:
        flash(_("This file was imported before; nothing was added."), "info")
    return redirect(url_for(".report", import_id=record.id), 303)


def _render_report(record, status: int = 200):
    return render_template(
        "pages/prescriptions/report.html",
        record=record,
        problem_text=problem_text,
        statuses=STATUSES,
        form=UploadForm() if g.actor.has(*HOSPITAL_ROLES) else None,
    ), status


@bp.route("/imports/<int:import_id>", methods=["GET"])
@role_required(*READERS)
def report(import_id: int):
    """Show an import: its counts and every problem by row and column."""
    return _render_report(prescriptions.get_import(get_db(), import_id=import_id, actor=g.actor))


@bp.route("/imports/<int:import_id>/report.xlsx", methods=["GET"])
@role_required(*READERS)
def report_xlsx(import_id: int):
    """Download an import's report: the refused rows (patients masked) with their problems, in the reader's words."""
    return report_download(prescriptions.get_import(get_db(), import_id=import_id, actor=g.actor))


@bp.route("/physicians", methods=["GET"])
@role_required(*READERS)
def physicians():
    """List the physicians of the registry: a hospital its own, auditors every hospital's."""
    return _render_physicians()


@bp.route("/physicians", methods=["POST"])
@role_required(*HOSPITAL_ROLES)
def register_roster():
    """Register or update the hospital's physicians from a roster spreadsheet: every row, or none."""
    form = RosterForm()
    if not form.validate_on_submit():
        return _render_physicians(form, status=422)
    upload = form.file.data
    try:
        registered, created = physician_registry.register_roster(
            get_db(), actor=g.actor, hospital_id=g.actor.org_id, filename=upload.filename, data=upload.read()
        )
    except DomainError as exc:
        problems = [f"{where}: {'; '.join(map(str, m))}" for where, m in exc.errors.items()] or [exc.message]
        return _render_physicians(form, problems=problems, status=422)
    flash(_("%(count)s physicians registered, %(new)s of them new.", count=len(registered), new=created), "success")
    return redirect(url_for(".physicians"), 303)


def _render_physicians(form: RosterForm | None = None, *, problems: list[str] | None = None, status: int = 200):
    session = get_db()
    page = physician_registry.list_physicians(session, actor=g.actor, page=page_number(), per_page=50)
    return render_template(
        "pages/prescriptions/physicians.html",
        physicians=page,
        rights=RIGHTS,
        form=(form or RosterForm()) if g.actor.has(*HOSPITAL_ROLES) else None,
        problems=problems or [],
        names=_names(session, {p.hospital_id for p in page.items}),
        is_auditor=g.actor.has(Role.AUDITOR),
    ), status


def _names(session, ids: set[int]) -> dict[int, str]:
    """Return the names of the hospitals shown (auditors see every hospital's rows)."""
    stmt = sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
    return dict(session.execute(stmt).all())


@bp.route("/lines", methods=["GET"])
@role_required(*READERS)
def lines():
    """The prescription lines an alert names (``?ids=1,2,3``): the evidence behind a prescribing finding."""
    from procurement.audit.prescription_reads import lines_by_ids

    ids = [int(part) for part in request.args.get("ids", "").split(",") if part.strip().isdigit()]
    rows = lines_by_ids(get_db(), actor=g.actor, ids=ids)
    return render_template("pages/prescriptions/lines.html", rows=rows, asked=len(set(ids)))
