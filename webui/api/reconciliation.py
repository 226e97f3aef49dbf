"""Two-invoice reconciliation: violations, pay / hold verdicts per second invoice, and the registers they use."""

from __future__ import annotations

from flask_smorest import Blueprint

from procurement.audit import reconciliation_reads as reads
from procurement.audit import reconciliation_registry as registry
from webui.api import reconciliation_schemas as s
from webui.api.common import actor, db, page_items

blp = Blueprint(
    "reconciliation_api",
    __name__,
    description="Two-invoice reconciliation (两票制): violations with evidence, verdicts, equivalents, remote areas",
)


def _page(pagination_parameters) -> dict:
    return {"page": pagination_parameters.page, "per_page": pagination_parameters.page_size}


@blp.route("/reconciliation/violations", methods=["GET"])
@blp.arguments(s.ViolationQuery(), location="query")
@blp.response(200, s.ViolationOut(many=True))
@blp.paginate()
def list_violations(args: dict, pagination_parameters):
    """List violations, newest first: auditors all, a hospital its own receipts', a supplier its own shipments'."""
    page = reads.list_violations(db(), actor=actor(), **args, **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/reconciliation/invoices/<int:invoice_id>", methods=["GET"])
@blp.response(200, s.VerdictOut)
def get_verdict(invoice_id: int):
    """Return a second invoice's pay / hold verdict, explained line by line, with its shipment's violations."""
    return reads.get_verdict(db(), invoice_id=invoice_id, actor=actor())


@blp.route("/reconciliation/equivalents", methods=["GET"])
@blp.arguments(s.EquivalentQuery(), location="query")
@blp.response(200, s.EquivalentOut(many=True))
@blp.paginate()
def list_equivalents(args: dict, pagination_parameters):
    """List the companies treated as the manufacturer (视同生产企业, rulebook 4.2)."""
    page = registry.list_equivalents(db(), actor=actor(), **args, **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/reconciliation/equivalents", methods=["POST"])
@blp.arguments(s.EquivalentIn())
@blp.response(201, s.EquivalentOut)
def register_equivalent(data: dict):
    """Register a manufacturer's sales company or an import's general agent; one nationwide (auditors, admins)."""
    data["kind"] = data["kind"].value
    return registry.register_equivalent(db(), actor=actor(), **data)


@blp.route("/reconciliation/remote-areas", methods=["GET"])
@blp.response(200, s.RemoteAreaOut(many=True))
@blp.paginate()
def list_remote_areas(pagination_parameters):
    """List the remote areas where one more invoice is allowed (rulebook 4.4)."""
    page = registry.list_remote_areas(db(), actor=actor(), **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/reconciliation/remote-areas", methods=["POST"])
@blp.arguments(s.RemoteAreaIn())
@blp.response(201, s.RemoteAreaOut)
def add_remote_area(data: dict):
    """Put a region on the remote-area list by its region-code prefix (auditors, admins)."""
    return registry.add_remote_area(db(), actor=actor(), **data)


@blp.route("/reconciliation/groups", methods=["GET"])
@blp.response(200, s.GroupOut(many=True))
@blp.paginate()
def list_groups(pagination_parameters):
    """List the distribution groups whose members may transfer goods once (rulebook 4.3)."""
    page = registry.list_groups(db(), actor=actor(), **_page(pagination_parameters))
    return page_items(page, pagination_parameters)


@blp.route("/reconciliation/groups", methods=["POST"])
@blp.arguments(s.GroupIn())
@blp.response(201, s.GroupOut)
def create_group(data: dict):
    """Create a distribution group with its member distributors (auditors, admins)."""
    return registry.create_group(db(), actor=actor(), **data)
