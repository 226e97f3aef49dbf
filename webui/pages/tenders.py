"""Tender pages: organisers run batches, suppliers bid sealed, hospitals report demand and see their awards."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from core.errors import NOT_FOUND, DomainError
from core.models import Organisation
from core.roles import Role
from procurement.catalogue import Product
from procurement.rules import rulesets
from procurement.tenders import awarding, bidding, demand, opening, reads, setup
from procurement.tenders import lots as tender_lots
from procurement.tenders.demand import DemandLineIn
from procurement.tenders.models import TenderKind, TenderStatus
from trace.signing import public_raw
from webui.db import get_db, keep_work
from webui.pages.common import page_number, role_required, show_domain_error
from webui.pages.labels import service_message
from webui.pages.tender_forms import (
    DOSAGE_CLASSES,
    LOT_CATEGORIES,
    TENDER_KINDS,
    BidForm,
    DemandForm,
    LotForm,
    PassphraseForm,
    StatusForm,
    TenderForm,
)
from webui.trace_support import platform_key

bp = Blueprint("tender_pages", __name__, url_prefix="/tenders")

NEXT_STATUS = {
    TenderStatus.DRAFT: TenderStatus.DEMAND_COLLECTION,
    TenderStatus.AWARDED: TenderStatus.IN_FORCE,
    TenderStatus.IN_FORCE: TenderStatus.CLOSED,
}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


@bp.route("", methods=["GET"])
@login_required
def tenders():
    """List the tenders the user may see."""
    page = setup.list_tenders(get_db(), actor=g.actor, page=page_number(), per_page=20)
    return render_template("pages/tenders/list.html", tenders=page, kinds=TENDER_KINDS)


def _tender_form() -> TenderForm:
    form = TenderForm()
    form.rule_set.choices = [(name, f"{name} ({rs.version})") for name, rs in rulesets.RULE_SETS.items()]
    return form


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.ORGANISER)
def new_tender():
    """Create a draft tender from a rule set."""
    form = _tender_form()
    general: list[str] = []
    if form.validate_on_submit():
        try:
            tender = setup.create_tender(
                get_db(),
                actor=g.actor,
                title=form.title.data,
                kind=TenderKind(form.kind.data),
                rule_set=form.rule_set.data,
                description=form.description.data or "",
                region_prefix=form.region_prefix.data or "",
                demand_deadline=_utc(form.demand_deadline.data),
                bid_deadline=_utc(form.bid_deadline.data),
            )
        except DomainError as exc:
            general = show_domain_error(form, exc)
        else:
            flash(_("Tender created as a draft. Add its lots next."), "success")
            return redirect(url_for("tender_pages.tender", tender_id=tender.id))
    status = 422 if request.method == "POST" else 200
    return render_template("pages/tenders/new.html", form=form, form_errors=general), status


def _lot_form() -> LotForm:
    form = LotForm()
    pairs = (
        get_db()
        .exec(
            sa.select(Product.generic_name, Product.dosage_form)
            .where(Product.kind == "drug")  # consumables have no dosage form; their lots come by import
            .distinct()
            .order_by(Product.generic_name)
        )
        .all()
    )
    form.generic_name.choices = [(f"{name}|{dosage}", f"{name} · {dosage}") for name, dosage in pairs]
    return form


def _render(tender_id: int, *, status: int = 200, errors: list[str] | None = None, forms: dict | None = None):
    session = get_db()
    actor = g.actor
    detail = reads.tender_detail(session, tender_id=tender_id, actor=actor)
    tender_status = TenderStatus(detail["status"])
    overseer = actor.has(Role.ADMIN, Role.AUDITOR) or actor.org_id == detail["organiser_org_id"]
    organiser = actor.has(Role.ORGANISER) and actor.org_id == detail["organiser_org_id"]
    lot_ids = [lot["id"] for lot in detail["lots"]]
    products = {p.id: p for _, p in tender_lots.lot_products(session, lot_ids)}
    context = {
        "t": detail,
        "status": tender_status,
        "organiser": organiser,
        "overseer": overseer,
        "products": products,
        "kinds": TENDER_KINDS,
        "categories": LOT_CATEGORIES,
        "dosage_classes": DOSAGE_CLASSES,
        "form_errors": errors or [],
        "status_form": StatusForm(),
        "passphrase_form": PassphraseForm(),
        "next_status": NEXT_STATUS.get(tender_status),
        "lot_form": None,
        "outcomes": [],
        "awards": None,
        "my_bids": {},
        "my_demand": {},
        "orgs": {},
        "now": dt.datetime.now(dt.UTC),
    }
    if organiser and tender_status in (TenderStatus.DRAFT, TenderStatus.DEMAND_COLLECTION):
        context["lot_form"] = _lot_form()
    if tender_status.value in reads.OPENED[1:] or (tender_status == TenderStatus.OPENED and overseer):
        try:
            context["outcomes"] = reads.outcome_rows(session, tender_id=tender_id, actor=actor)
        except DomainError:
            context["outcomes"] = []
    if tender_status.value in reads.PUBLISHED:
        context["awards"] = reads.award_view(session, tender_id=tender_id, actor=actor)
    if actor.has(Role.SUPPLIER_REP):
        mine = bidding.bids_of(session, tender=setup.get_tender(session, tender_id=tender_id, actor=actor), actor=actor)
        context["my_bids"] = {bid.lot_id: bid for bid in mine}
        context["bid_forms"] = {}
        for lot in detail["lots"]:
            form = BidForm(prefix=f"lot{lot['id']}")
            form.lot_id.data = str(lot["id"])
            form.product_id.choices = [
                (str(lp.product_id), f"{products[lp.product_id].strength} · {products[lp.product_id].package_spec}")
                for lp in lot["products"]
                if actor.org_id
                in (products[lp.product_id].manufacturer_id, getattr(products[lp.product_id], "mah_id", None))
            ]
            context["bid_forms"][lot["id"]] = form
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER):
        reports = demand.demand_of(session, tender_id=tender_id, actor=actor)
        for report in reports:
            context["my_demand"].setdefault(report.lot_id, []).append(report)
        context["demand_forms"] = {}
        for lot in detail["lots"]:
            form = DemandForm(prefix=f"lot{lot['id']}")
            form.lot_id.data = str(lot["id"])
            form.product_id.choices = [("", _("Any brand (generic name)"))] + [
                (str(lp.product_id), f"{products[lp.product_id].strength} · {products[lp.product_id].package_spec}")
                for lp in lot["products"]
            ]
            context["demand_forms"][lot["id"]] = form
    for name, form in (forms or {}).items():
        if isinstance(context.get(name), dict) and hasattr(form, "lot_id"):
            context[name][int(form.lot_id.data)] = form
        else:
            context[name] = form
    org_ids = {detail["organiser_org_id"]}
    org_ids |= {row["supplier_id"] for row in context["outcomes"]}
    if context["awards"]:
        org_ids |= {a.supplier_id for a in context["awards"]["awards"]}
        org_ids |= {v.hospital_id for v in context["awards"]["agreed_volumes"]}
    if org_ids:
        context["orgs"] = {
            org.id: org for org in session.exec(sa.select(Organisation).where(Organisation.id.in_(org_ids))).scalars()
        }
    return render_template("pages/tenders/detail.html", **context), status


@bp.route("/<int:tender_id>", methods=["GET"])
@login_required
def tender(tender_id: int):
    """Show a tender and the actions the user's role and the tender's stage allow."""
    try:
        return _render(tender_id)
    except DomainError as exc:
        if exc.kind == NOT_FOUND:
            abort(404)
        raise


def _act(tender_id: int, action, success: str, *, forms: dict | None = None):
    try:
        action()
    except DomainError as exc:
        if exc.kind == NOT_FOUND:
            abort(404)
        if exc.keep_work:
            keep_work()
        general = []
        for form in (forms or {}).values():
            general = show_domain_error(form, exc)
        if not forms:
            general = [service_message(exc.message)] + [
                f"{k}: {service_message(str(m))}" for k, v in exc.errors.items() for m in (v or [])
            ]
        return _render(tender_id, status=422 if exc.kind == "invalid" else 409, errors=general, forms=forms)
    flash(success, "success")
    return redirect(url_for("tender_pages.tender", tender_id=tender_id))


@bp.route("/<int:tender_id>/lots", methods=["POST"])
@role_required(Role.ORGANISER)
def add_lot(tender_id: int):
    """Add a lot: every catalogue product of that generic name and form joins it."""
    form = _lot_form()
    if not form.validate_on_submit():
        return _render(tender_id, status=422, forms={"lot_form": form})
    name, _sep, dosage = form.generic_name.data.partition("|")
    return _act(
        tender_id,
        lambda: tender_lots.add_lot(
            get_db(),
            tender_id=tender_id,
            actor=g.actor,
            generic_name=name,
            dosage_form=dosage,
            reference_strength=form.reference_strength.data.strip(),
            ceiling_ucp=form.ceiling_ucp.data,
            category=form.category.data,
            dosage_class=form.dosage_class.data,
        ),
        _("Lot added."),
        forms={"lot_form": form},
    )


@bp.route("/<int:tender_id>/status", methods=["POST"])
@role_required(Role.ORGANISER)
def change_status(tender_id: int):
    """Move the tender to its next stage; opening bidding needs the passphrase."""
    form = StatusForm()
    passphrase = PassphraseForm()
    if not form.validate_on_submit():
        abort(400)
    changes = {"status": form.status.data}
    if form.status.data == TenderStatus.BIDDING.value:
        changes["opening_passphrase"] = passphrase.passphrase.data
    return _act(
        tender_id,
        lambda: setup.update_tender(get_db(), tender_id=tender_id, actor=g.actor, changes=changes),
        _("The tender moved on."),
    )


@bp.route("/<int:tender_id>/open", methods=["POST"])
@role_required(Role.ORGANISER)
def open_bids(tender_id: int):
    """Open the sealed bids with the passphrase."""
    form = PassphraseForm()
    if not form.validate_on_submit():
        return _render(tender_id, status=422, forms={"passphrase_form": form})
    return _act(
        tender_id,
        lambda: opening.open_tender(
            get_db(),
            tender_id=tender_id,
            actor=g.actor,
            passphrase=form.passphrase.data,
            receipt_key=public_raw(platform_key().public_key()),
        ),
        _("Bids opened."),
    )


@bp.route("/<int:tender_id>/evaluate", methods=["POST"])
@role_required(Role.ORGANISER)
def evaluate(tender_id: int):
    """Evaluate the opened bids under the frozen rule set."""
    if not StatusForm().validate_on_submit():
        abort(400)
    return _act(
        tender_id,
        lambda: opening.evaluate_tender(get_db(), tender_id=tender_id, actor=g.actor),
        _("Bids evaluated: every bid has its outcome and reason."),
    )


@bp.route("/<int:tender_id>/award", methods=["POST"])
@role_required(Role.ORGANISER)
def award(tender_id: int):
    """Publish the awards and agreed volumes."""
    if not StatusForm().validate_on_submit():
        abort(400)
    return _act(
        tender_id,
        lambda: awarding.award_tender(get_db(), tender_id=tender_id, actor=g.actor),
        _("Awards published."),
    )


@bp.route("/<int:tender_id>/demand", methods=["POST"])
@role_required(Role.PHARMACIST, Role.PHARMACY_MANAGER)
def report_demand(tender_id: int):
    """Report the hospital's demand for one lot."""
    lot_id = request.form.get("lot_id_prefix", type=int)
    form = DemandForm(prefix=f"lot{lot_id}")
    form.product_id.choices = [(request.form.get(f"lot{lot_id}-product_id", ""), "")]
    if not form.validate_on_submit():
        return _render(tender_id, status=422, forms={"demand_forms": form})
    line = DemandLineIn(
        lot_id=int(form.lot_id.data),
        quantity=form.quantity.data,
        product_id=int(form.product_id.data) if form.product_id.data else None,
        historical_use=form.historical_use.data,
        exception_reason=form.exception_reason.data or None,
    )
    return _act(
        tender_id,
        lambda: demand.report_demand(get_db(), tender_id=tender_id, actor=g.actor, lines=[line]),
        _("Demand reported."),
        forms={"demand_forms": form},
    )


@bp.route("/<int:tender_id>/bids", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def submit_bid(tender_id: int):
    """Submit a sealed bid on one lot."""
    lot_id = request.form.get("lot_id_prefix", type=int)
    form = BidForm(prefix=f"lot{lot_id}")
    form.product_id.choices = [(request.form.get(f"lot{lot_id}-product_id", ""), "")]
    if not form.validate_on_submit():
        return _render(tender_id, status=422, forms={"bid_forms": form})
    return _act(
        tender_id,
        lambda: bidding.submit_bid(
            get_db(),
            tender_id=tender_id,
            lot_id=int(form.lot_id.data),
            actor=g.actor,
            product_id=int(form.product_id.data),
            price=form.price.data,
            signing_key=platform_key(),
        ),
        _("Bid sealed. Keep the receipt: it proves what you submitted."),
        forms={"bid_forms": form},
    )


@bp.route("/<int:tender_id>/bids/<int:bid_id>/revival", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def accept_revival(tender_id: int, bid_id: int):
    """Accept the revival price offered to one of the supplier's bids."""
    if not StatusForm().validate_on_submit():
        abort(400)
    lot_id = request.form.get("lot_id", type=int) or 0
    return _act(
        tender_id,
        lambda: bidding.accept_revival(get_db(), tender_id=tender_id, lot_id=lot_id, bid_id=bid_id, actor=g.actor),
        _("Revival price accepted; the organiser's next evaluation counts it."),
    )
