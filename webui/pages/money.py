"""Money pages: suppliers upload a shipment's invoices, hospitals pay them, auditors follow payables and prepayments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import utcnow
from core.errors import DomainError
from core.pagination import MAX_PER_PAGE
from core.roles import Role
from procurement import catalogue
from procurement.orders import invoices, ordering, payments, prepayments, receiving
from procurement.orders.progress import page_of
from procurement.orders.rules import ORDER_RULES
from procurement.orders.supply import china_today
from webui.db import get_db
from webui.pages.common import page_number, role_required
from webui.pages.money_forms import InvoiceForm, PayablesFilter, PayForm, PrepaymentForm
from webui.pages.money_labels import PAYABLE_STATUS, money_message
from webui.pages.money_views import (
    hospital_choices,
    invoice_lines,
    invoice_sheet,
    org_names,
    published_tenders,
    show_errors,
    show_invoice_errors,
)
from webui.pages.order_forms import new_key
from webui.pages.order_views import status_of

bp = Blueprint("money_pages", __name__, url_prefix="/money")

HOSPITAL_ROLES = ordering.HOSPITAL_ROLES
OVERSEERS = (Role.AUDITOR, Role.ADMIN)
READERS = (*HOSPITAL_ROLES, Role.SUPPLIER_REP, *OVERSEERS)
KINDS = ("first", "second")
PER_PAGE = 50


def _money_today() -> dt.date:
    # The payment services judge dates by the China calendar day (a payment "in the future" is refused by it): so does
    # the page.
    return china_today(utcnow())


# ---------------------------------------------------------------- invoices


@bp.route("/invoices", methods=["GET"])
@role_required(*READERS)
def invoice_list():
    """List the invoices the user may see: a hospital its shipments', a supplier those it issued or received."""
    kind = request.args.get("kind") if request.args.get("kind") in KINDS else None
    filters = {name: request.args.get(name, type=int) for name in ("order_id", "shipment_id")}
    session = get_db()
    page = invoices.list_invoices(session, actor=g.actor, kind=kind, page=page_number(), per_page=20, **filters)
    return render_template(
        "pages/money/invoices.html", invoices=page, kind=kind, filters=filters, names=org_names(session, g.actor)
    )


@bp.route("/invoices/<int:invoice_id>", methods=["GET"])
@role_required(*READERS)
def invoice(invoice_id: int):
    """Show an invoice with its lines and, for a second invoice, the payments made against it."""
    session, actor = get_db(), g.actor
    try:
        found = invoices.get_invoice(session, invoice_id=invoice_id, actor=actor)
    except DomainError as exc:
        status_of(exc)
        raise
    detail = invoices.invoice_details(session, [found])[0]
    products = {
        line.product_id: catalogue.get_product(session, product_id=line.product_id, actor=actor)
        for line in detail["lines"]
    }
    paid = [] if found.kind == "first" else payments.list_payments(session, actor=actor, invoice_id=found.id).items
    return render_template(
        "pages/money/invoice.html",
        inv=detail,
        products=products,
        payments=paid,
        paid=sum((p.amount for p in paid), Decimal(0)),
        names=org_names(session, actor),
    )


@bp.route("/shipments/<int:shipment_id>/invoices/<kind>", methods=["GET", "POST"])
@role_required(Role.SUPPLIER_REP)
def new_invoice(shipment_id: int, kind: str):
    """Upload the first or second invoice of a shipment: lines prefilled per product and batch shipped."""
    if kind not in KINDS:
        abort(404)
    session, actor = get_db(), g.actor
    try:
        shipment = receiving.get_shipment(session, shipment_id=shipment_id, actor=actor)
    except DomainError as exc:
        status_of(exc)
        raise
    if shipment.supplier_id != actor.org_id:
        abort(404)
    sheet = invoice_sheet(session, shipment=shipment, kind=kind, actor=actor)
    form = InvoiceForm() if request.method == "POST" else InvoiceForm(formdata=None, data=sheet.defaults)
    form.seller_org_id.choices, form.buyer_org_id.choices = sheet.sellers, sheet.buyers
    general: list[str] = []
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit() and not sheet.blocked:
            sent = invoice_lines(form)
            try:
                uploaded = invoices.upload_invoice(
                    session,
                    shipment_id=shipment.id,
                    kind=kind,
                    number=form.number.data,
                    issued_on=form.issued_on.data,
                    seller_org_id=form.seller_org_id.data,
                    buyer_org_id=form.buyer_org_id.data,
                    lines=[line for _form, line in sent],
                    amount=form.amount.data,
                    tax=form.tax.data,
                    total=form.total.data,
                    actor=actor,
                    now=utcnow(),
                )
            except DomainError as exc:
                status = status_of(exc)
                general = show_invoice_errors(form, sent, exc)
            else:
                flash(_("Invoice %(number)s uploaded.", number=uploaded.number), "success")
                return redirect(url_for(".invoice", invoice_id=uploaded.id))
    return render_template("pages/money/invoice_form.html", form=form, sheet=sheet, form_errors=general), status


# ---------------------------------------------------------------- payables


def _period(filters: PayablesFilter, today: dt.date) -> tuple[dt.date, dt.date]:
    # By default the calendar year: receipts due later this year and already paid count; open ones are pending.
    start = filters.start.data or today.replace(month=1, day=1)
    return start, filters.end.data or start.replace(month=12, day=31)


def _rates(session, actor, hospital_ids: list[int], start: dt.date, end: dt.date, filters) -> list[dict[str, Any]]:
    rates = []
    for hospital_id in hospital_ids:
        try:
            rates.append(payments.on_time_rate(session, hospital_id=hospital_id, start=start, end=end, actor=actor))
        except DomainError as exc:
            show_errors(filters, exc, ("start", "end"))
            return []
    return rates


def _pay_forms(session, rows: list[dict], today: dt.date, forms: dict) -> tuple[dict[int, dict], dict[int, Any]]:
    """Return the second invoices on the rows still owed, with what is outstanding, and the hospital's pay forms."""
    owed, pay_forms = {}, {}
    for row in rows:
        for inv in row["invoices"]:
            if inv["id"] in owed:
                continue
            outstanding = inv["total"] - payments.paid_on_invoice(session, inv["id"])
            if outstanding <= 0:
                continue  # paid in full: the table links it
            owed[inv["id"]] = {**inv, "outstanding": outstanding, "row": row}
            if g.actor.has(*HOSPITAL_ROLES) and g.actor.org_id == row["hospital_id"]:
                fresh = PayForm(
                    formdata=None,
                    prefix=f"pay{inv['id']}",
                    data={"key": new_key(), "amount": outstanding.quantize(Decimal("0.01")), "paid_on": today},
                )
                pay_forms[inv["id"]] = forms.get(inv["id"]) or fresh
    return owed, pay_forms


def _render_payables(*, status: int = 200, forms: dict | None = None, errors: list[str] | None = None):
    session, actor = get_db(), g.actor
    forms, general = forms or {}, list(errors or [])
    today = _money_today()
    overseer = actor.has(*OVERSEERS)
    hospital_user = actor.has(*HOSPITAL_ROLES)
    hospitals = hospital_choices(session, actor) if overseer else []
    filters = PayablesFilter(formdata=request.args)
    filters.hospital.choices = [("", _("All hospitals")), *hospitals]
    hospital_id, wanted = None, None
    if filters.validate():
        hospital_id = filters.hospital.data if overseer else None
        wanted = filters.status.data if filters.status.data in PAYABLE_STATUS else None
    start, end = _period(filters, today)
    rows = payments.payables(session, actor=actor, today=today, hospital_id=hospital_id, status=wanted)
    shown = page_of(rows, page=page_number(), per_page=PER_PAGE)
    owed, pay_forms = _pay_forms(session, shown.items, today, forms)
    for invoice_id, form in forms.items():
        if isinstance(invoice_id, int) and invoice_id not in pay_forms:  # a form the page no longer shows
            general += [str(e) for f in form for e in f.errors]
    rated = [actor.org_id] if hospital_user else ([hospital_id] if hospital_id else [])
    rated = rated or sorted({row["hospital_id"] for row in rows})
    context: dict[str, Any] = {
        "rows": shown,
        "owed": owed,
        "pay_forms": pay_forms,
        "filters": filters,
        "statuses": PAYABLE_STATUS,
        "overseer": overseer,
        "rates": _rates(session, actor, rated, start, end, filters),
        "start": start,
        "end": end,
        "names": org_names(session, actor),
        "form_errors": general,
        "prepayments": [],
        "balances": [],
        "prepayment_form": None,
        "tenders": {},
        "min_share": ORDER_RULES["prepayment_min_share"],
    }
    if hospital_user or overseer:
        listed = prepayments.list_prepayments(session, actor=actor, hospital_id=hospital_id, per_page=MAX_PER_PAGE)
        context["prepayments"] = listed.items
        context["tenders"] = dict(published_tenders(session, actor))
        context["balances"] = _balances(session, actor, hospital_user, hospital_id, listed.items, context["tenders"])
    if actor.has(Role.AUDITOR):
        form = forms.get("prepayment") or PrepaymentForm(formdata=None, data={"received_on": today})
        _prepayment_choices(form, hospitals, context["tenders"])
        context["prepayment_form"] = form
    return render_template("pages/money/payables.html", **context), status


def _balances(session, actor, hospital_user: bool, hospital_id: int | None, listed: list, tenders: dict) -> list:
    """Return the prepayment balance per tender: of one hospital in every tender it has volumes in, else as listed."""
    one = actor.org_id if hospital_user else hospital_id
    if one is None:
        pairs = sorted({(p["hospital_id"], p["tender_id"]) for p in listed})
    else:
        pairs = [(one, tender_id) for tender_id in sorted(tenders)]
    found = [prepayments.prepayment_balance(session, hospital_id=h, tender_id=t, actor=actor) for h, t in pairs]
    return [b for b in found if b["annual_agreed_amount"] is not None or b["prepaid"]]


def _prepayment_choices(form: PrepaymentForm, hospitals: list, tenders: dict[int, str]) -> None:
    form.hospital_id.choices = [("", _("Choose a hospital")), *hospitals]
    form.tender_id.choices = [("", _("Choose a tender")), *tenders.items()]


@bp.route("/payables", methods=["GET"])
@role_required(*READERS)
def payables():
    """Show each receipt's amount, due date, invoices, payments and status; hospitals pay their second invoices here."""
    return _render_payables()


@bp.route("/invoices/<int:invoice_id>/pay", methods=["POST"])
@role_required(*HOSPITAL_ROLES)
def pay(invoice_id: int):
    """Record the hospital's payment of a second invoice; a repeated post of the same form records it once."""
    form = PayForm(prefix=f"pay{invoice_id}")
    if not form.validate_on_submit():
        return _render_payables(status=422, forms={invoice_id: form})
    try:
        payment, created = payments.record_payment(
            get_db(),
            invoice_id=invoice_id,
            amount=form.amount.data,
            paid_on=form.paid_on.data,
            reference=form.reference.data or "",
            actor=g.actor,
            idempotency_key=form.key.data,
            now=utcnow(),
        )
    except DomainError as exc:
        status = status_of(exc)
        general = show_errors(form, exc, ("amount", "paid_on", "reference"))
        return _render_payables(status=status, forms={invoice_id: form}, errors=general)
    if created:
        flash(_("Payment of %(amount)s yuan recorded.", amount=payment.amount.quantize(Decimal("0.01"))), "success")
    else:
        flash(_("This payment was already recorded."), "info")
    return redirect(url_for(".payables", _anchor=f"invoice-{invoice_id}"))


@bp.route("/prepayments", methods=["POST"])
@role_required(Role.AUDITOR)
def record_prepayment():
    """Record the insurance fund's prepayment to a hospital for a tender; warn when it is below the minimum."""
    session, actor = get_db(), g.actor
    form = PrepaymentForm()
    _prepayment_choices(form, hospital_choices(session, actor), dict(published_tenders(session, actor)))
    if not form.validate_on_submit():
        return _render_payables(status=422, forms={"prepayment": form})
    try:
        view = prepayments.record_prepayment(
            session,
            hospital_id=form.hospital_id.data,
            tender_id=form.tender_id.data,
            amount=form.amount.data,
            received_on=form.received_on.data,
            actor=actor,
            now=utcnow(),
        )
    except DomainError as exc:
        status = status_of(exc)
        general = show_errors(form, exc, ("hospital_id", "tender_id", "amount", "received_on"))
        return _render_payables(status=status, forms={"prepayment": form}, errors=general)
    flash(_("Prepayment of %(amount)s yuan recorded.", amount=view["amount"].quantize(Decimal("0.01"))), "success")
    if view["warning"]:
        flash(money_message(view["warning"]), "warning")
    return redirect(url_for(".payables", hospital=view["hospital_id"]))
