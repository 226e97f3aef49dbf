"""Surplus retention (结余留用): results with their breakdown, an Excel export, and the bureau's inputs."""

from __future__ import annotations

import io

from flask import send_file
from flask_smorest import Blueprint

from core.pagination import Page
from procurement.audit import surplus, surplus_export, surplus_inputs
from procurement.spreadsheets import XLSX_MIMETYPE
from webui.api import surplus_schemas as s
from webui.api.common import actor, db, page_items

blp = Blueprint("surplus_api", __name__, description="Surplus retention of insurance funds (医保资金结余留用)")


@blp.route("/surplus", methods=["GET"])
@blp.arguments(s.SurplusQuery(), location="query")
@blp.response(200, s.SurplusResultOut(many=True))
@blp.paginate()
def list_surplus(args: dict, pagination_parameters):
    """List surplus-retention results with every term: auditors all; a hospital its own and those it shares in."""
    page = surplus.list_results(
        db(), actor=actor(), page=pagination_parameters.page, per_page=pagination_parameters.page_size, **args
    )
    rows = surplus.result_rows(db(), page.items)
    return page_items(Page(rows, page.total, page.page, page.per_page), pagination_parameters)


@blp.route("/surplus/export.xlsx", methods=["GET"])
@blp.arguments(s.SurplusQuery(), location="query")
@blp.response(200)
@blp.doc(
    responses={
        "200": {
            "description": "Results, breakdown terms, indicators and member splits (.xlsx)",
            "content": {XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    }
)
def export_surplus(args: dict):
    """Download the results the caller may see, with their breakdown, as an Excel workbook."""
    data = surplus_export.results_workbook(db(), actor=actor(), **args)
    return send_file(io.BytesIO(data), mimetype=XLSX_MIMETYPE, as_attachment=True, download_name="surplus.xlsx")


@blp.route("/surplus/inputs", methods=["POST"])
@blp.arguments(s.SurplusInputsIn())
@blp.response(200, s.SurplusInputsOut)
def save_surplus_inputs(data: dict):
    """Set pre-tender prices, insured shares and member-unit shares (auditors); all rows are saved or none."""
    members = [
        surplus_inputs.MemberSharesIn(
            group["general_hospital_id"], tuple((m["hospital_id"], m["share"]) for m in group["members"])
        )
        for group in data["member_shares"]
    ]
    saved = surplus_inputs.save_inputs(
        db(),
        actor=actor(),
        baseline_prices=[surplus_inputs.BaselinePriceIn(**row) for row in data["baseline_prices"]],
        insured_shares=[surplus_inputs.InsuredShareIn(**row) for row in data["insured_shares"]],
        member_shares=members,
    )
    return saved
