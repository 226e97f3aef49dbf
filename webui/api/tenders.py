"""Tenders: batches, lots, demand reports, sealed bids, opening, evaluation, awards and the OCDS export."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint

from procurement.rules import rulesets
from procurement.tenders import awarding, bidding, demand, opening, reads, setup
from procurement.tenders import lots as tender_lots
from procurement.tenders.demand import DemandLineIn
from procurement.tenders.lots import LotProductIn
from trace.signing import public_raw
from webui.api import tender_schemas as s
from webui.api.common import actor, db, page_items
from webui.trace_support import platform_key

blp = Blueprint("tenders_api", __name__, description="Tenders: volume-based, alliance and hospital-led procurement")


@blp.route("/tenders/rule-sets", methods=["GET"])
@blp.response(200, s.RuleSetOut(many=True))
def list_rule_sets():
    """List the named, versioned rule sets a tender can be created from."""
    return [rule_set.describe() | {"note": rule_set.note} for rule_set in rulesets.RULE_SETS.values()]


@blp.route("/tenders", methods=["GET"])
@blp.arguments(s.TenderQuery(), location="query")
@blp.response(200, s.TenderOut(many=True))
@blp.paginate()
def list_tenders(args: dict, pagination_parameters):
    """List tenders: drafts only to their organiser."""
    page = setup.list_tenders(
        db(),
        actor=actor(),
        status=args["status"],
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )
    return page_items(page, pagination_parameters)


@blp.route("/tenders", methods=["POST"])
@blp.arguments(s.TenderIn())
@blp.response(201, s.TenderOut)
def create_tender(data: dict):
    """Create a draft tender from a rule set (organisers)."""
    return setup.create_tender(db(), actor=actor(), rule_set=data.pop("rule_set"), **data)


@blp.route("/tenders/<int:tender_id>", methods=["GET"])
@blp.response(200, s.TenderDetailOut)
def get_tender(tender_id: int):
    """Return a tender with its lots and the counts of demand and sealed bids."""
    return reads.tender_detail(db(), tender_id=tender_id, actor=actor())


@blp.route("/tenders/<int:tender_id>", methods=["PATCH"])
@blp.arguments(s.TenderPatch())
@blp.response(200, s.TenderOut)
def update_tender(data: dict, tender_id: int):
    """Edit a tender or move it along: demand_collection, bidding (with the opening passphrase), in_force, closed."""
    return setup.update_tender(db(), tender_id=tender_id, actor=actor(), changes=data)


@blp.route("/tenders/<int:tender_id>/lots", methods=["POST"])
@blp.arguments(s.LotIn())
@blp.response(201, s.LotOut)
def add_lot(data: dict, tender_id: int):
    """Add a product group with its ceiling and specification-difference table."""
    products = [LotProductIn(**item) for item in data.pop("products")]
    lot = tender_lots.add_lot(db(), tender_id=tender_id, actor=actor(), products=products, **data)
    rows = [lp for lp, _ in tender_lots.lot_products(db(), [lot.id])]
    return {**reads._lot_dict(lot), "products": rows, "bid_count": 0, "demand_total": 0, "demand_hospitals": 0}


@blp.route("/tenders/<int:tender_id>/demand", methods=["GET"])
@blp.response(200, s.DemandOut(many=True))
@blp.paginate()
def list_demand(tender_id: int, pagination_parameters):
    """List demand reports: a hospital its own; the organiser, auditors and admins all."""
    page = demand.demand_of(db(), tender_id=tender_id, actor=actor(), **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/tenders/<int:tender_id>/demand", methods=["POST"])
@blp.arguments(s.DemandIn())
@blp.response(201, s.DemandOut(many=True))
def report_demand(data: dict, tender_id: int):
    """Report the hospital's demand (报量) for some lots; all lines or none."""
    lines = [DemandLineIn(**line) for line in data["lines"]]
    return demand.report_demand(db(), tender_id=tender_id, actor=actor(), lines=lines)


@blp.route("/tenders/<int:tender_id>/bids", methods=["GET"])
@blp.response(200, s.BidOut(many=True))
@blp.paginate()
def list_bids(tender_id: int, pagination_parameters):
    """List bids: a supplier its own (sealed); the organiser all, after opening."""
    page = reads.visible_bids(db(), tender_id=tender_id, actor=actor(), **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/tenders/<int:tender_id>/lots/<int:lot_id>/bids", methods=["POST"])
@blp.arguments(s.BidIn())
@blp.response(201, s.BidOut)
@blp.alt_response(200, schema=s.BidOut, description="a retry with the same Idempotency-Key")
def submit_bid(data: dict, tender_id: int, lot_id: int):
    """Submit a sealed bid; the answer carries a receipt signed by the platform. Honours ``Idempotency-Key``."""
    bid, created = bidding.submit_bid(
        db(),
        tender_id=tender_id,
        lot_id=lot_id,
        actor=actor(),
        product_id=data["product_id"],
        price=data["price"],
        signing_key=platform_key(),
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return bid, (201 if created else 200)


@blp.route("/tenders/<int:tender_id>/lots/<int:lot_id>/bids/<int:bid_id>/revival", methods=["POST"])
@blp.response(200, s.BidOut)
def accept_revival(tender_id: int, lot_id: int, bid_id: int):
    """Accept the revival (复活) or negotiation price the evaluation offered this bid."""
    return bidding.accept_revival(db(), tender_id=tender_id, lot_id=lot_id, bid_id=bid_id, actor=actor())


@blp.route("/tenders/<int:tender_id>/open", methods=["POST"])
@blp.arguments(s.OpenIn())
@blp.response(200, s.BidOut(many=True))
def open_bids(data: dict, tender_id: int):
    """Open every sealed bid with the opening passphrase, once, after the deadline."""
    return opening.open_tender(
        db(),
        tender_id=tender_id,
        actor=actor(),
        passphrase=data["passphrase"],
        receipt_key=public_raw(platform_key().public_key()),
    )


@blp.route("/tenders/<int:tender_id>/evaluate", methods=["POST"])
@blp.response(200, s.OutcomeOut(many=True))
def evaluate(tender_id: int):
    """Select winners under the frozen rule set: every bid gets one outcome with the rule and reason."""
    opening.evaluate_tender(db(), tender_id=tender_id, actor=actor())
    return reads.outcome_rows(db(), tender_id=tender_id, actor=actor())


@blp.route("/tenders/<int:tender_id>/results", methods=["GET"])
@blp.response(200, s.OutcomeOut(many=True))
@blp.paginate()
def results(tender_id: int, pagination_parameters):
    """Every bid's outcome and reason (a supplier its own until the award is published)."""
    page = reads.outcome_rows(db(), tender_id=tender_id, actor=actor(), **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


def _page(pagination_parameters) -> dict:
    return {"page": pagination_parameters.page, "per_page": pagination_parameters.page_size}


@blp.route("/tenders/<int:tender_id>/award", methods=["POST"])
@blp.arguments(s.AwardIn())
@blp.response(200, s.AwardsOut)
def award(data: dict, tender_id: int):
    """Publish awards: agreed volumes, supply regions with backups, payment standards, the cycle."""
    awarding.award_tender(db(), tender_id=tender_id, actor=actor(), cycle_start=data["cycle_start"])
    return reads.award_view(db(), tender_id=tender_id, actor=actor())


@blp.route("/tenders/<int:tender_id>/awards", methods=["GET"])
@blp.response(200, s.AwardsOut)
def awards(tender_id: int):
    """The published awards; agreed volumes a hospital or supplier is party to (all for overseers)."""
    return reads.award_view(db(), tender_id=tender_id, actor=actor())


@blp.route("/tenders/<int:tender_id>/ocds", methods=["GET"])
@blp.response(200)
def ocds(tender_id: int):
    """The tender as an OCDS 1.1 release package (medicines extension); prices only after opening."""
    from procurement.tenders.ocds_export import tender_package

    return tender_package(
        db(),
        tender_id=tender_id,
        actor=actor(),
        publisher=current_app.config.get("PUBLISHER_NAME", "Yaolian 药联"),
        uri=request.url,
    )
