"""Order pages: hospitals order and receive by scanning, suppliers confirm and ship, auditors read every order."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import utcnow
from core.errors import DomainError
from core.roles import Role
from procurement.orders import arrangements, documents, fulfilment, ordering, reads, receiving, supply_problems
from procurement.orders.buyable import buyable_products
from procurement.orders.models import OrderStatus, ShipmentStatus
from procurement.orders.supply import china_today
from webui.db import get_db
from webui.pages.common import page_number, role_required
from webui.pages.forms import ConfirmForm
from webui.pages.order_forms import (
    DOCUMENT_KINDS,
    CartForm,
    DocumentForm,
    ProblemForm,
    ReasonForm,
    ReceiveForm,
    ShipForm,
    new_key,
    refusal_lines,
    scan_lines,
)
from webui.pages.order_labels import ORDER_STATUS, PROBLEM_KINDS, general_message, order_message
from webui.pages.order_views import (
    cart_rows,
    catalogue_order,
    digest,
    place_cart,
    ship_lines,
    show_receive_errors,
    show_ship_errors,
    status_of,
    supplier_name,
)

bp = Blueprint("order_pages", __name__, url_prefix="/orders")

HOSPITAL_ROLES = ordering.HOSPITAL_ROLES
READERS = (*HOSPITAL_ROLES, Role.SUPPLIER_REP, Role.AUDITOR, Role.ADMIN)
OPEN_SHIPMENTS = (ShipmentStatus.IN_TRANSIT.value, ShipmentStatus.PARTIALLY_RECEIVED.value)


# ---------------------------------------------------------------- ordering


@bp.route("/new", methods=["GET", "POST"])
@role_required(*HOSPITAL_ROLES)
def new_order():
    """Show what the hospital may buy and place the cart as one order per supplier."""
    offer = buyable_products(get_db(), hospital_id=g.actor.org_id, on=china_today(utcnow()))
    if request.method == "GET":
        lines = [{"product_id": str(item.product_id)} for item in catalogue_order(offer)]
        form = CartForm(data={"key": new_key(), "lines": lines})
    else:
        form = CartForm()
    general: list[str] = []
    status = 422 if request.method == "POST" else 200
    if form.validate_on_submit():
        placed, general, status = place_cart(get_db(), form=form, offer=offer, actor=g.actor)
        if status == 200:
            for order, created in placed:
                if created:
                    flash(
                        _(
                            "Order %(number)s sent to %(supplier)s.",
                            number=order.number,
                            supplier=supplier_name(offer, order),
                        ),
                        "success",
                    )
                else:
                    flash(_("Order %(number)s was already placed from this form.", number=order.number), "info")
            if len(placed) == 1:
                return redirect(url_for(".order", order_id=placed[0][0].id))
            return redirect(url_for(".orders"))
    elif request.method == "POST" and form.form_errors:
        general = list(form.form_errors)
    if form.lines.errors:
        general += [str(e) for e in form.lines.errors if isinstance(e, str)]
    names = {item.product_id: item for item in offer.values()}
    return (
        render_template(
            "pages/orders/new.html", form=form, rows=cart_rows(form, offer), names=names, form_errors=general
        ),
        status,
    )


# ---------------------------------------------------------------- reading


@bp.route("", methods=["GET"])
@role_required(*READERS)
def orders():
    """List orders: a hospital its own, a supplier those addressed to it, auditors all."""
    wanted = request.args.get("status") or None
    status = wanted if wanted in ORDER_STATUS else None
    page = ordering.list_orders(get_db(), actor=g.actor, status=status, page=page_number(), per_page=20)
    rows = reads.describe_orders(get_db(), page.items)
    return render_template("pages/orders/list.html", orders=page, rows=rows, status=status, statuses=ORDER_STATUS)


@bp.route("/stock", methods=["GET"])
@role_required(*HOSPITAL_ROLES)
def stock():
    """Show the packs the hospital holds, per product and batch, from the trace record."""
    rows = arrangements.stock_on_hand(get_db(), hospital_id=g.actor.org_id, actor=g.actor)
    return render_template("pages/orders/stock.html", rows=rows, today=china_today(utcnow()))


def _ship_form(detail: dict) -> ShipForm:
    lines = [{"line_no": str(line["line_no"])} for line in detail["lines"] if line["quantity"] > line["shipped_qty"]]
    return ShipForm(formdata=None, data={"key": new_key(), "lines": lines})


def _render(order_id: int, *, status: int = 200, errors: list[str] | None = None, forms: dict | None = None):
    session, actor = get_db(), g.actor
    try:
        detail = reads.order_detail(session, order_id=order_id, actor=actor)
    except DomainError as exc:
        status_of(exc)
        raise
    supplier = actor.has(Role.SUPPLIER_REP) and actor.org_id == detail["supplier_id"]
    hospital = actor.has(*HOSPITAL_ROLES) and actor.org_id == detail["hospital_id"]
    forms = forms or {}
    context: dict[str, Any] = {
        "o": detail,
        "supplier": supplier,
        "hospital": hospital,
        "form_errors": errors or [],
        "confirm_form": ConfirmForm(formdata=None),
        "reject_form": forms.get("reject_form") or ReasonForm(formdata=None, prefix="reject"),
        "cancel_form": forms.get("cancel_form") or ReasonForm(formdata=None, prefix="cancel"),
        "ship_form": None,
        "receive_forms": {},
        "problem_form": None,
        "problems": [],
        "problem_kinds": PROBLEM_KINDS,
        "shown_receipt": request.args.get("receipt", type=int),
        "documents": {
            shipment["id"]: documents.list_documents(session, shipment_id=shipment["id"], actor=actor)
            for shipment in detail["shipments"]
        },
        "document_kinds": DOCUMENT_KINDS,
        "document_forms": {},
    }
    if supplier:
        for shipment in detail["shipments"]:
            fresh = DocumentForm(formdata=None, prefix=f"d{shipment['id']}")
            context["document_forms"][shipment["id"]] = forms.get(("document", shipment["id"])) or fresh
    if supplier and detail["status"] == OrderStatus.CONFIRMED.value:
        context["ship_form"] = forms.get("ship_form") or _ship_form(detail)
    if hospital:
        for shipment in detail["shipments"]:
            if shipment["status"] in OPEN_SHIPMENTS:
                fresh = ReceiveForm(formdata=None, prefix=f"s{shipment['id']}", data={"key": new_key()})
                context["receive_forms"][shipment["id"]] = forms.get(("receive", shipment["id"])) or fresh
        if detail["status"] != OrderStatus.CANCELLED.value:
            context["problem_form"] = forms.get("problem_form") or ProblemForm(formdata=None)
    problems = supply_problems.list_supply_problems(session, actor=actor, order_id=order_id, per_page=100)
    context["problems"] = problems.items
    return render_template("pages/orders/detail.html", **context), status


@bp.route("/<int:order_id>", methods=["GET"])
@role_required(*READERS)
def order(order_id: int):
    """Show an order: lines, shipments, receipts with refusals, and the actions the user's role allows."""
    return _render(order_id)


# ---------------------------------------------------------------- confirming, rejecting, cancelling


def _act(order_id: int, action, success: str, *, form_name: str | None = None, form=None):
    try:
        action()
    except DomainError as exc:
        status = status_of(exc)
        if form is not None:
            for name, messages in exc.errors.items():
                field = getattr(form, name, None)
                if field is not None:
                    field.errors = [*field.errors, *(order_message(str(m)) for m in messages)]
        return _render(
            order_id, status=status, errors=[general_message(exc)], forms={form_name: form} if form else None
        )
    flash(success, "success")
    return redirect(url_for(".order", order_id=order_id))


@bp.route("/<int:order_id>/confirm", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def confirm(order_id: int):
    """Accept the order as its supplier."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return _act(
        order_id,
        lambda: ordering.confirm_order(get_db(), order_id=order_id, actor=g.actor),
        _("Order confirmed. Ship it when the packs are ready."),
    )


@bp.route("/<int:order_id>/reject", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def reject(order_id: int):
    """Refuse the order as its supplier, with a reason the hospital sees."""
    form = ReasonForm(prefix="reject")
    if not form.validate_on_submit():
        return _render(order_id, status=422, forms={"reject_form": form})
    return _act(
        order_id,
        lambda: ordering.reject_order(get_db(), order_id=order_id, reason=form.reason.data, actor=g.actor),
        _("Order rejected; the hospital sees your reason."),
        form_name="reject_form",
        form=form,
    )


@bp.route("/<int:order_id>/cancel", methods=["POST"])
@role_required(*HOSPITAL_ROLES)
def cancel(order_id: int):
    """Withdraw the order as its hospital, while nothing of it has shipped."""
    form = ReasonForm(prefix="cancel")
    if not form.validate_on_submit():
        return _render(order_id, status=422, forms={"cancel_form": form})
    return _act(
        order_id,
        lambda: ordering.cancel_order(get_db(), order_id=order_id, reason=form.reason.data, actor=g.actor),
        _("Order cancelled."),
        form_name="cancel_form",
        form=form,
    )


@bp.route("/<int:order_id>/problems", methods=["POST"])
@role_required(*HOSPITAL_ROLES)
def report_problem(order_id: int):
    """Report a supply problem with this order; the supplier is alerted."""
    form = ProblemForm()
    if not form.validate_on_submit():
        return _render(order_id, status=422, forms={"problem_form": form})
    return _act(
        order_id,
        lambda: supply_problems.report_supply_problem(
            get_db(), order_id=order_id, kind=form.kind.data, description=form.description.data, actor=g.actor
        ),
        _("Problem reported; the supplier has been alerted."),
        form_name="problem_form",
        form=form,
    )


# ---------------------------------------------------------------- shipping and receiving


@bp.route("/<int:order_id>/ship", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def ship(order_id: int):
    """Ship packs against the order by their scanned trace codes, with the delivery note number."""
    form = ShipForm()
    if not form.validate_on_submit():
        general = [str(e) for e in form.lines.errors if isinstance(e, str)]
        return _render(order_id, status=422, errors=general, forms={"ship_form": form})
    sent = ship_lines(form)
    body = {
        "note": form.delivery_note_number.data,
        "lines": [[x.line_no, list(x.codes), x.batch, x.expiry.isoformat() if x.expiry else None] for _f, x in sent],
    }
    try:
        shipment, created = fulfilment.ship_order(
            get_db(),
            order_id=order_id,
            delivery_note_number=form.delivery_note_number.data,
            lines=[line for _form, line in sent],
            actor=g.actor,
            idempotency_key=form.key.data,
            request_sha256=digest(body),
        )
    except DomainError as exc:
        status = status_of(exc)
        general = show_ship_errors(form, sent, exc)
        return _render(order_id, status=status, errors=general, forms={"ship_form": form})
    if created:
        flash(
            _(
                "Shipment sent: %(num)s packs on delivery note %(note)s.",
                num=shipment.pack_count,
                note=shipment.delivery_note_number,
            ),
            "success",
        )
    else:
        flash(_("This shipment was already recorded."), "info")
    return redirect(url_for(".order", order_id=order_id))


@bp.route("/<int:order_id>/shipments/<int:shipment_id>/receive", methods=["POST"])
@role_required(*HOSPITAL_ROLES)
def receive(order_id: int, shipment_id: int):
    """Receive a shipment by its scanned codes; each pack is accepted or refused with its reason."""
    session, actor = get_db(), g.actor
    try:
        ordering.get_order(session, order_id=order_id, actor=actor)
        shipment = receiving.get_shipment(session, shipment_id=shipment_id, actor=actor)
    except DomainError as exc:
        status_of(exc)
        raise
    if shipment.order_id != order_id:
        abort(404)
    form = ReceiveForm(prefix=f"s{shipment_id}")
    forms = {("receive", shipment_id): form}
    if not form.validate_on_submit():
        return _render(order_id, status=422, forms=forms)
    codes = scan_lines(form.codes.data)
    refusals = [
        receiving.RefusalIn(code, reason)
        for code, reason in refusal_lines(form.refusals.data, form.refusal_reason.data or "")
    ]
    try:
        receipt, created = receiving.receive_shipment(
            session,
            shipment_id=shipment_id,
            codes=codes,
            refusals=refusals,
            actor=actor,
            idempotency_key=form.key.data,
            request_sha256=digest({"codes": codes, "refusals": [[r.code, r.reason] for r in refusals]}),
        )
    except DomainError as exc:
        status = status_of(exc)
        general = show_receive_errors(form, codes, refusals, exc)
        return _render(order_id, status=status, errors=general, forms=forms)
    if created:
        message = _(
            "Receipt recorded: %(accepted)s packs accepted, %(refused)s refused.",
            accepted=receipt.accepted_count,
            refused=receipt.refused_count,
        )
        flash(message, "success")
    else:
        flash(_("This receipt was already recorded."), "info")
    return redirect(url_for(".order", order_id=order_id, receipt=receipt.id, _anchor=f"receipt-{receipt.id}"))
