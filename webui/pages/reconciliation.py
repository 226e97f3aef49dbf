"""Two-invoice reconciliation pages: violations with filters and Excel export, an invoice's three flows, registers.

Auditors see every violation; a hospital those about its receipts, a supplier those about its shipments. The
three-flow view of a second invoice follows the goods (order line → shipment packs → receipt), the invoices (first,
intermediate and second, line by line) and the money (payments), with the verdict explained line by line.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.errors import DomainError
from core.roles import OrgKind, Role
from procurement.audit import reconciliation_reads as reads
from procurement.audit import reconciliation_registry as registry
from procurement.spreadsheets import SheetOut, workbook_bytes
from webui.db import get_db
from webui.pages.catalogue_views import xlsx_download
from webui.pages.common import all_organisations, page_number, role_required, show_domain_error
from webui.pages.order_views import status_of
from webui.pages.reconciliation_forms import (
    CODE_LABELS,
    EQUIVALENT_KINDS,
    EquivalentForm,
    GroupForm,
    RemoteAreaForm,
    ViolationFilter,
)

bp = Blueprint("reconciliation_pages", __name__, url_prefix="/reconciliation")
READERS = (Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.SUPPLIER_REP, Role.AUDITOR, Role.ADMIN)
KEEPERS = (Role.AUDITOR, Role.ADMIN)
PER_PAGE = 50
EXPORT_LIMIT = 50_000


def _names(session, actor) -> dict[int, str]:
    return {org.id: org.name for org in all_organisations(session, actor=actor)}


def _filters(session, actor) -> tuple[ViolationFilter, dict]:
    form = ViolationFilter(formdata=request.args)
    form.code.choices = [("", _("All findings")), *((code, str(label)) for code, label in CODE_LABELS.items())]
    orgs = all_organisations(session, actor=actor)
    hospitals = [(o.id, o.name) for o in orgs if o.kind == OrgKind.HOSPITAL]
    suppliers = [(o.id, o.name) for o in orgs if o.kind in (OrgKind.MANUFACTURER, OrgKind.DISTRIBUTOR)]
    form.hospital.choices = [("", _("All hospitals")), *hospitals]
    form.supplier.choices = [("", _("All suppliers")), *suppliers]
    if not form.validate():
        return form, {}
    overseer = actor.has(*KEEPERS)
    return form, {
        "code": form.code.data or None,
        "hospital_id": form.hospital.data if overseer else None,
        "supplier_id": form.supplier.data if overseer else None,
        "shipment_id": form.shipment.data,
        "state": form.state.data or "open",
    }


@bp.route("/violations", methods=["GET"])
@role_required(*READERS)
def violations():
    """List the violations the user may see, newest first, with filters."""
    session, actor = get_db(), g.actor
    form, filters = _filters(session, actor)
    page = reads.list_violations(session, actor=actor, page=page_number(), per_page=PER_PAGE, **filters)
    return render_template(
        "pages/reconciliation/violations.html", page=page, form=form, labels=CODE_LABELS,
        names=_names(session, actor), overseer=actor.has(*KEEPERS),
    )  # fmt: skip


@bp.route("/violations/export.xlsx", methods=["GET"])
@role_required(*READERS)
def export():
    """The filtered violations as an Excel workbook, one row each with the ids behind it."""
    session, actor = get_db(), g.actor
    _form, filters = _filters(session, actor)
    found = reads.all_violations(session, actor=actor, **filters)[:EXPORT_LIMIT]
    names = _names(session, actor)
    ids = lambda v, key: ", ".join(str(i) for i in v.evidence.get(key, []))  # noqa: E731
    rows = [
        (v.id, v.last_seen_at.strftime("%Y-%m-%d %H:%M"), v.code, str(CODE_LABELS.get(v.code, v.code)), v.severity,
         names.get(v.hospital_id, v.hospital_id), names.get(v.supplier_id, v.supplier_id or ""),
         names.get(v.subject_org_id, v.subject_org_id or ""), v.shipment_id, v.product_id, v.batch or "",
         v.evidence.get("detail", ""), ids(v, "invoice_ids"), ids(v, "invoice_line_ids"), ids(v, "receipt_ids"),
         ids(v, "payment_ids"), v.evidence.get("shipment_pack_count", ""), v.alert_id)
        for v in found
    ]  # fmt: skip
    header = [_("Violation"), _("Last seen"), _("Code"), _("Finding"), _("Severity"), _("Hospital"), _("Supplier"),
              _("At fault"), _("Shipment"), _("Product"), _("Batch"), _("Detail"), _("Invoices"), _("Invoice lines"),
              _("Receipts"), _("Payments"), _("Packs"), _("Alert")]  # fmt: skip
    sheet = SheetOut(_("Violations"), header, rows, widths=(10, 17, 34, 30, 9, 28, 28, 28, 9, 9, 10, 50, 16, 16, 12,
                                                             12, 8, 8))  # fmt: skip
    return xlsx_download(workbook_bytes([sheet]), "reconciliation-violations.xlsx")


@bp.route("/invoices/<int:invoice_id>", methods=["GET"])
@role_required(*READERS)
def invoice(invoice_id: int):
    """Show a second invoice's three flows (goods, invoices, money) and its verdict, line by line."""
    session, actor = get_db(), g.actor
    try:
        flows = reads.three_flows(session, invoice_id=invoice_id, actor=actor)
    except DomainError as exc:
        status_of(exc)
        raise
    return render_template(
        "pages/reconciliation/invoice.html", flows=flows, labels=CODE_LABELS, names=_names(session, actor)
    )


def _register_forms(session, actor, forms: dict | None = None) -> dict:
    forms = forms or {}
    orgs = all_organisations(session, actor=actor)
    companies = [(o.id, o.name) for o in orgs if o.kind in (OrgKind.MANUFACTURER, OrgKind.DISTRIBUTOR)]
    makers = [(o.id, o.name) for o in orgs if o.kind == OrgKind.MANUFACTURER]
    distributors = [(o.id, o.name) for o in orgs if o.kind == OrgKind.DISTRIBUTOR]
    equivalent = forms.get("equivalent") or EquivalentForm(formdata=None)
    equivalent.org_id.choices = [("", _("Choose a company")), *companies]
    equivalent.principal_org_id.choices = [("", _("Choose a manufacturer")), *makers]
    group = forms.get("group") or GroupForm(formdata=None)
    group.member_org_ids.choices = distributors
    return {"equivalent": equivalent, "remote": forms.get("remote") or RemoteAreaForm(formdata=None), "group": group}


def _render_registers(forms: dict | None = None, errors: list[str] | None = None, status: int = 200):
    session, actor = get_db(), g.actor
    return render_template(
        "pages/reconciliation/registers.html",
        equivalents=registry.list_equivalents(session, actor=actor, per_page=200).items,
        areas=registry.list_remote_areas(session, actor=actor, per_page=200).items,
        groups=registry.list_groups(session, actor=actor, per_page=200).items,
        forms=_register_forms(session, actor, forms) if actor.has(*KEEPERS) else None,
        kinds=EQUIVALENT_KINDS, names=_names(session, actor), form_errors=errors or [],
    ), status  # fmt: skip


@bp.route("/registers", methods=["GET"])
@role_required(*READERS)
def registers():
    """Show the manufacturer equivalents, remote areas and distribution groups; auditors add to them here."""
    return _render_registers()


def _save(name: str, form, call, done: str):
    session, actor = get_db(), g.actor
    forms = _register_forms(session, actor, {name: form})
    if not forms[name].validate_on_submit():
        return _render_registers({name: form}, status=422)
    try:
        call(session, actor, form)
    except DomainError as exc:
        status = status_of(exc)
        return _render_registers({name: form}, show_domain_error(form, exc), status)
    flash(done, "success")
    return redirect(url_for(".registers"))


@bp.route("/registers/equivalents", methods=["POST"])
@role_required(*KEEPERS)
def add_equivalent():
    """Register a company treated as the manufacturer (one nationwide, rulebook 4.2)."""
    return _save("equivalent", EquivalentForm(), lambda s, a, f: registry.register_equivalent(
        s, org_id=f.org_id.data, principal_org_id=f.principal_org_id.data, kind=f.kind.data,
        valid_from=f.valid_from.data, valid_to=f.valid_to.data, note=f.note.data or "", actor=a,
    ), _("Equivalent registered."))  # fmt: skip


@bp.route("/registers/remote-areas", methods=["POST"])
@role_required(*KEEPERS)
def add_remote_area():
    """Put a region on the remote-area list (rulebook 4.4)."""
    return _save("remote", RemoteAreaForm(), lambda s, a, f: registry.add_remote_area(
        s, region_prefix=f.region_prefix.data, name=f.name.data, listed_by=f.listed_by.data,
        valid_from=f.valid_from.data, valid_to=f.valid_to.data, actor=a,
    ), _("Remote area listed."))  # fmt: skip


@bp.route("/registers/groups", methods=["POST"])
@role_required(*KEEPERS)
def add_group():
    """Create a distribution group (rulebook 4.3)."""
    return _save("group", GroupForm(), lambda s, a, f: registry.create_group(
        s, name=f.name.data, member_org_ids=f.member_org_ids.data, actor=a,
    ), _("Distribution group created."))  # fmt: skip
