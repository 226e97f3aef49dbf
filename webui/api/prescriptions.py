"""Prescriptions: hospitals import prescription and dispensing records and keep their physician registry.

``POST /prescriptions/imports`` takes a multipart ``file`` (.csv or .xlsx) or a JSON body ``{"rows": [...]}``. Every
row is saved or none: a refused import answers 422 with the row-level report (also kept, and downloadable).
A retry with the same ``Idempotency-Key`` — or without one, of the same content — answers 200 with the import
accepted before. Patient identifiers are pseudonymised on arrival with the platform's key (rulebook 0.17).
"""

from __future__ import annotations

import io

import marshmallow as ma
from flask import current_app, request, send_file, url_for
from flask_smorest import Blueprint, abort

from procurement.audit import physician_registry, prescriptions
from procurement.spreadsheets import XLSX_MIMETYPE
from webui.api import prescription_schemas as s
from webui.api.common import actor, db, page_items
from webui.db import keep_work
from webui.errors import error_response

blp = Blueprint("prescriptions_api", __name__, description="Prescriptions: dispensing records and physicians")

_IMPORT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["rows"],
                "properties": {"rows": {"type": "array", "items": {"type": "object"}, "minItems": 1}},
            }
        },
    },
}


@blp.route("/prescriptions/imports", methods=["POST"])
@blp.doc(
    requestBody=_IMPORT_BODY, parameters=[{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}}]
)
@blp.response(201, s.RxImportOut)
@blp.alt_response(200, schema=s.RxImportOut, description="a retry: the import accepted before, nothing written")
@blp.alt_response(422, description="Rejected: errors.rows lists every problem; nothing was saved; report_url")
def import_prescriptions():
    """Import prescription lines from a .csv/.xlsx file or JSON rows (hospital staff): all rows saved, or none."""
    caller = actor()
    source: dict = {}
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        source = {"filename": upload.filename if upload else "", "data": upload.read() if upload else b""}
    else:
        try:
            source = {"rows": s.RowsIn().load(request.get_json(silent=True) or {})["rows"]}
        except ma.ValidationError as exc:
            abort(422, errors={"json": exc.messages})
    try:
        record, created = prescriptions.import_prescriptions(
            db(),
            actor=caller,
            hospital_id=caller.org_id,
            pseudonym_key=current_app.config["PSEUDONYM_KEY"],
            idempotency_key=request.headers.get("Idempotency-Key"),
            **source,
        )
    except prescriptions.RxImportRejected as exc:
        keep_work()  # the refused import keeps its report; no prescription was saved
        report_url = url_for("prescriptions_api.import_report", import_id=exc.record.id)
        errors = {"rows": exc.errors["rows"], "import_id": exc.record.id, "report_url": report_url}
        return error_response(422, exc.code, exc.message, errors)
    return (record, 201) if created else (record, 200, {"Idempotent-Replayed": "true"})


@blp.route("/prescriptions/imports", methods=["GET"])
@blp.arguments(s.RxImportQuery(), location="query")
@blp.response(200, s.RxImportSummaryOut(many=True))
@blp.paginate()
def list_imports(args: dict, pagination_parameters):
    """List prescription imports, newest first: a hospital its own, auditors every hospital's."""
    page = prescriptions.list_imports(
        db(),
        actor=actor(),
        hospital_id=args["hospital_id"],
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )
    return page_items(page, pagination_parameters)


@blp.route("/prescriptions/imports/<int:import_id>", methods=["GET"])
@blp.response(200, s.RxImportOut)
def get_import(import_id: int):
    """Return one import with its row-level report (its hospital, auditors)."""
    return prescriptions.get_import(db(), import_id=import_id, actor=actor())


@blp.route("/prescriptions/imports/<int:import_id>/report.xlsx", methods=["GET"])
@blp.response(200)
@blp.doc(responses={"200": {"description": "The report (.xlsx)", "content": {XLSX_MIMETYPE: {"schema": {}}}}})
def import_report(import_id: int):
    """Download an import's report: the refused rows as sent (patients masked) and every problem."""
    record = prescriptions.get_import(db(), import_id=import_id, actor=actor())
    data = prescriptions.report_workbook(record)
    name = f"prescription-import-{record.id}-report.xlsx"
    return send_file(io.BytesIO(data), mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=name)


@blp.route("/physicians", methods=["GET"])
@blp.arguments(s.PhysicianQuery(), location="query")
@blp.response(200, s.PhysicianOut(many=True))
@blp.paginate()
def list_physicians(args: dict, pagination_parameters):
    """List physicians by code: a hospital its own registry, auditors every hospital's."""
    page = physician_registry.list_physicians(
        db(),
        actor=actor(),
        hospital_id=args["hospital_id"],
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )
    return page_items(page, pagination_parameters)


@blp.route("/physicians", methods=["POST"])
@blp.arguments(s.PhysiciansIn())
@blp.response(201, s.RegisteredOut)
@blp.alt_response(200, schema=s.RegisteredOut, description="every physician sent was registered already")
def register_physicians(data: dict):
    """Register or update the caller's hospital's physicians by code (hospital staff); the roster may be resent."""
    caller = actor()
    rows = [{**p, "prescribing_status": p["prescribing_status"].value} for p in data["physicians"]]
    physicians, created = physician_registry.register_physicians(
        db(), actor=caller, hospital_id=caller.org_id, physicians=rows
    )
    return {"created": created, "physicians": physicians}, (201 if created else 200)
