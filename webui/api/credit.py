"""Credit rating: misconduct cases, repairs and their approval, suppliers' current levels (rulebook 6)."""

from __future__ import annotations

from flask_smorest import Blueprint

from core.db import utcnow
from core.pagination import MAX_PER_PAGE, Page
from procurement.audit import credit, credit_disposal
from procurement.orders.supply import china_today
from webui.api import credit_schemas as s
from webui.api.common import actor, db, page_items

blp = Blueprint(
    "credit_api", __name__, description="Price and procurement credit rating: cases, repairs, ratings (rulebook 6)"
)


def _today():
    return china_today(utcnow())  # cases, repairs and approvals are dated by the Chinese calendar day


@blp.route("/credit/cases", methods=["GET"])
@blp.arguments(s.CreditCaseQuery(), location="query")
@blp.response(200, s.CreditCaseOut(many=True))
@blp.paginate()
def list_cases(args: dict, pagination_parameters):
    """List cases, newest decision first: auditors all, a supplier those about itself."""
    page = credit.list_cases(
        db(), actor=actor(), page=pagination_parameters.page, per_page=pagination_parameters.page_size, **args
    )
    views = [credit.case_view(db(), case, on=_today()) for case in page.items]
    return page_items(Page(views, page.total, page.page, page.per_page), pagination_parameters)


@blp.route("/credit/cases", methods=["POST"])
@blp.arguments(s.CreditCaseIn())
@blp.response(201, s.CreditCaseOut)
@blp.alt_response(200, schema=s.CreditCaseOut, description="the same decision recorded before (a retry)")
def record_case(data: dict):
    """Record a misconduct case: it is rated by its rule set and its consequences applied (sanctions, alerts)."""
    for name in ("flags", "product_ids", "documents"):
        data[name] = tuple(data[name])
    case, created = credit.record_case(db(), data=credit.CaseIn(**data), actor=actor(), today=_today())
    view = credit.case_view(db(), case, on=_today())
    return (view, 201) if created else (view, 200, {"Idempotent-Replayed": "true"})


@blp.route("/credit/cases/<int:case_id>", methods=["GET"])
@blp.response(200, s.CreditCaseOut)
def get_case(case_id: int):
    """Return a case with its basis, products, sanctions, required and reported repair measures."""
    return credit.case_view(db(), credit.get_case(db(), case_id=case_id, actor=actor()), on=_today())


@blp.route("/credit/cases/<int:case_id>/repairs", methods=["POST"])
@blp.arguments(s.CreditRepairIn())
@blp.response(201, s.CreditRepairOut)
@blp.alt_response(200, schema=s.CreditRepairOut, description="the same report sent again")
def report_repair(data: dict, case_id: int):
    """Report corrective measures taken (信用修复, 6.8), each with its evidence."""
    case = credit.get_case(db(), case_id=case_id, actor=actor())
    repair, created = credit_disposal.record_repair(db(), case=case, actor=actor(), on=_today(), **data)
    return (repair, 201) if created else (repair, 200, {"Idempotent-Replayed": "true"})


@blp.route("/credit/cases/<int:case_id>/approval", methods=["POST"])
@blp.arguments(s.CreditApprovalIn())
@blp.response(200, s.CreditCaseOut)
def approve_repair(data: dict, case_id: int):
    """Approve a completed repair: the level clears and the case's sanctions end today."""
    case = credit.get_case(db(), case_id=case_id, actor=actor())
    credit_disposal.approve_repair(db(), case=case, actor=actor(), on=_today(), note=data["note"])
    return credit.case_view(db(), case, on=_today())


@blp.route("/credit/ratings", methods=["GET"])
@blp.arguments(s.CreditRatingQuery(), location="query")
@blp.response(200, s.CreditRatingOut(many=True))
@blp.paginate()
def list_ratings(args: dict, pagination_parameters):
    """Each rated supplier's current level with the cases behind it: auditors all, a supplier its own."""
    rows = credit.ratings(db(), actor=actor(), on=args["as_of"] or _today(), supplier_id=args["supplier_id"])
    size = min(max(pagination_parameters.page_size, 1), MAX_PER_PAGE)
    start = (max(pagination_parameters.page, 1) - 1) * size
    return page_items(
        Page(rows[start : start + size], len(rows), pagination_parameters.page, size), pagination_parameters
    )
