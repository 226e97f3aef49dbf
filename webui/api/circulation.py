"""Circulation: hospitals' monthly finance reports, and the out-of-catalogue share and revenue structure."""

from __future__ import annotations

from flask_smorest import Blueprint

from core.db import utcnow
from core.errors import invalid
from core.roles import OrgKind
from procurement.audit import circulation_finance
from procurement.audit.circulation_models import AMOUNT_FIELDS
from procurement.orders.progress import page_of
from webui.api import circulation_schemas as s
from webui.api.common import actor, db, page_items

blp = Blueprint(
    "circulation_api", __name__, description="Circulation: finance reports, out-of-catalogue share, revenue structure"
)


def _page(pagination_parameters) -> dict:
    return {"page": pagination_parameters.page, "per_page": pagination_parameters.page_size}


@blp.route("/hospital-finance/reports", methods=["POST"])
@blp.arguments(s.FinanceReportIn())
@blp.response(201, s.FinanceReportOut)
@blp.alt_response(200, schema=s.FinanceReportOut, description="the month's report replaced (or resent unchanged)")
def submit_report(data: dict):
    """File a hospital's income and insured spending for a month; filing the month again replaces the figures."""
    hospital_id = data.pop("hospital_id")
    if hospital_id is None:
        if actor().org_kind != OrgKind.HOSPITAL:
            raise invalid("hospital_id", "name the hospital")
        hospital_id = actor().org_id
    amounts = {name: data.pop(name) for name in AMOUNT_FIELDS}
    report, created = circulation_finance.submit_report(
        db(), actor=actor(), hospital_id=hospital_id, amounts=amounts, now=utcnow(), **data
    )
    return report, (201 if created else 200)


@blp.route("/hospital-finance/reports", methods=["GET"])
@blp.arguments(s.FinanceReportQuery(), location="query")
@blp.response(200, s.FinanceReportOut(many=True))
@blp.paginate()
def list_reports(args: dict, pagination_parameters):
    """List finance reports, newest month first: a hospital its own, auditors and administrators any."""
    page = circulation_finance.list_reports(db(), actor=actor(), **args, **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/circulation/indicators", methods=["GET"])
@blp.arguments(s.IndicatorQuery(), location="query")
@blp.response(200, s.IndicatorOut(many=True))
@blp.paginate()
def list_indicators(args: dict, pagination_parameters):
    """Each hospital × month of [start, end): out-of-catalogue share against its cap, revenue structure, or no_data."""
    rows = circulation_finance.indicators(db(), actor=actor(), **args)
    return page_items(page_of(rows, **_page(pagination_parameters)), pagination_parameters)
