"""Supply guarantee: winners' monthly reports, production stops, hospitals' supply problems and risk checks."""

from __future__ import annotations

from flask_smorest import Blueprint

from procurement.orders import supply, supply_problems, supply_risks
from webui.api import supply_schemas as s
from webui.api.common import actor, db, page_items

blp = Blueprint("supply_api", __name__, description="Supply guarantee: monthly reports, stops, problems, risk checks")


def _page(pagination_parameters) -> dict:
    return {"page": pagination_parameters.page, "per_page": pagination_parameters.page_size}


@blp.route("/supply/reports", methods=["GET"])
@blp.arguments(s.SupplyReportQuery(), location="query")
@blp.response(200, s.SupplyReportOut(many=True))
@blp.paginate()
def list_reports(args: dict, pagination_parameters):
    """List monthly supply reports: a supplier its own; auditors, organisers and admins all."""
    page = supply.list_supply_reports(db(), actor=actor(), **args, **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/supply/reports", methods=["POST"])
@blp.arguments(s.SupplyReportIn())
@blp.response(201, s.SupplyReportOut)
@blp.alt_response(200, schema=s.SupplyReportOut, description="an amendment of the month's report already filed")
def submit_report(data: dict):
    """File the month's production, inventory and reserve for a winning product; filing the month again amends it."""
    report, created = supply.submit_supply_report(db(), actor=actor(), **data)
    return report, (201 if created else 200)


@blp.route("/supply/stops", methods=["GET"])
@blp.arguments(s.ProductionStopQuery(), location="query")
@blp.response(200, s.ProductionStopOut(many=True))
@blp.paginate()
def list_stops(args: dict, pagination_parameters):
    """List production stops: a supplier its own; hospitals and overseers all."""
    page = supply.list_production_stops(db(), actor=actor(), **args, **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/supply/stops", methods=["POST"])
@blp.arguments(s.ProductionStopIn())
@blp.response(201, s.ProductionStopOut)
def report_stop(data: dict):
    """Report a planned or unplanned production stop of a winning product; short notice raises an alert."""
    return supply.report_production_stop(db(), actor=actor(), **data)


@blp.route("/supply/problems", methods=["GET"])
@blp.arguments(s.SupplyProblemQuery(), location="query")
@blp.response(200, s.SupplyProblemOut(many=True))
@blp.paginate()
def list_problems(args: dict, pagination_parameters):
    """List supply problems: a hospital its own, a supplier those against it, overseers all."""
    page = supply_problems.list_supply_problems(db(), actor=actor(), **args, **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/supply/problems", methods=["POST"])
@blp.arguments(s.SupplyProblemIn())
@blp.response(201, s.SupplyProblemOut)
def report_problem(data: dict):
    """Report a supply problem against one of the hospital's orders; the supplier is alerted."""
    return supply_problems.report_supply_problem(db(), actor=actor(), **data)


@blp.route("/supply/problems/<int:problem_id>/resolve", methods=["POST"])
@blp.arguments(s.ResolutionIn())
@blp.response(200, s.SupplyProblemOut)
def resolve_problem(data: dict, problem_id: int):
    """Answer a supply problem reported against the supplier; the problem is then resolved."""
    return supply_problems.resolve_supply_problem(db(), problem_id=problem_id, actor=actor(), **data)


@blp.route("/supply/risk-checks", methods=["POST"])
@blp.arguments(s.RiskCheckIn())
@blp.response(200, s.RiskCheckOut)
def check_risks(data: dict):
    """Raise alerts for a month's missing reports and stock-outs against open orders; each is raised once."""
    alerts = supply_risks.check_supply_risks(db(), actor=actor(), month=data["month"])
    return {"month": data["month"], "alerts": alerts}
