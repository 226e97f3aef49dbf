"""The product catalogue: every signed-in user reads it; administrators add products, one by one or from a file."""

from __future__ import annotations

import io

import marshmallow as ma
from flask import send_file, url_for
from flask_smorest import Blueprint
from flask_smorest.fields import Upload

from procurement import catalogue, catalogue_io, catalogue_template
from procurement.catalogue import GqceStatus, ProductKind
from procurement.spreadsheets import XLSX_MIMETYPE
from webui.api.common import actor, db, page_items
from webui.db import keep_work
from webui.errors import error_response

blp = Blueprint("catalogue_api", __name__, description="Catalogue of drugs and consumables")


def xlsx_response(description: str):
    """Document a 200 answer that is an Excel workbook rather than JSON."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return blp.doc(responses={"200": {"description": description, "content": {XLSX_MIMETYPE: binary}}})


class ProductQuery(ma.Schema):
    q = ma.fields.String(load_default=None, metadata={"description": "Search in generic names (Chinese or English)"})
    kind = ma.fields.Enum(ProductKind, by_value=True, load_default=None)


def _text(limit: int, **kwargs) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(max=limit), **kwargs)


class ProductIn(ma.Schema):
    kind = ma.fields.Enum(ProductKind, by_value=True, load_default=ProductKind.DRUG)
    generic_name = _text(200, required=True, metadata={"description": "通用名 (consumables: product name)"})
    generic_name_en = _text(200, load_default=None)
    dosage_form = _text(50, load_default=None, metadata={"description": "剂型; required for drugs"})
    strength = _text(100, required=True, metadata={"description": "规格 (consumables: 规格型号)"})
    pack_quantity = ma.fields.Integer(
        strict=True, required=True, metadata={"description": "Smallest units per pack (转换比), a whole number ≥ 1"}
    )
    unit = _text(16, required=True)
    package_spec = _text(100, required=True, metadata={"description": "包装规格, e.g. 10mg×7片×4板"})
    manufacturer_id = ma.fields.Integer(strict=True, required=True)
    mah_id = ma.fields.Integer(
        strict=True, load_default=None, metadata={"description": "上市许可持有人 / 注册人; default: the manufacturer"}
    )
    approval_number = _text(
        32, load_default=None, metadata={"description": "国药准字 + H/Z/S/J/B/F (or HC/ZC/SC, HJ/ZJ/SJ) + 8 digits"}
    )
    insurance_code = _text(32, load_default=None, metadata={"description": "National insurance code (医保编码)"})
    trace_product_id = _text(7, load_default=None, metadata={"description": "7-digit trace-code product identifier"})
    gtin = _text(14, load_default=None, metadata={"description": "GTIN with a valid GS1 check digit"})
    gqce_status = ma.fields.Enum(GqceStatus, by_value=True, load_default=None)
    essential = ma.fields.Boolean(load_default=False)
    key_monitored = ma.fields.Boolean(load_default=False)
    udi_di = _text(64, load_default=None, metadata={"description": "Device identifier; required for consumables"})
    category = _text(100, load_default=None, metadata={"description": "Consumable class, e.g. 血管介入类"})
    registration_number = _text(32, load_default=None, metadata={"description": "e.g. 国械注准20153130456"})


class ProductOut(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": [k.value for k in ProductKind]})
    generic_name = ma.fields.String()
    generic_name_en = ma.fields.String(allow_none=True)
    dosage_form = ma.fields.String(allow_none=True)
    strength = ma.fields.String()
    pack_quantity = ma.fields.Integer()
    unit = ma.fields.String()
    package_spec = ma.fields.String()
    manufacturer_id = ma.fields.Integer()
    mah_id = ma.fields.Integer(allow_none=True)
    approval_number = ma.fields.String(allow_none=True)
    insurance_code = ma.fields.String(allow_none=True)
    trace_product_id = ma.fields.String(allow_none=True)
    gtin = ma.fields.String(allow_none=True)
    gqce_status = ma.fields.String(metadata={"enum": [s.value for s in GqceStatus]})
    gqce_passed = ma.fields.Boolean(metadata={"description": "GQCE passed, or the reference drug / originator"})
    essential = ma.fields.Boolean()
    key_monitored = ma.fields.Boolean()
    udi_di = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True)
    registration_number = ma.fields.String(allow_none=True)


class ImportIn(ma.Schema):
    file = Upload(load_default=None, metadata={"description": ".xlsx workbook or .csv file in the template's layout"})


class ImportSummaryOut(ma.Schema):
    id = ma.fields.Integer()
    filename = ma.fields.String()
    sha256 = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["accepted", "rejected"]})
    row_count = ma.fields.Integer()
    created_count = ma.fields.Integer()
    error_count = ma.fields.Integer()
    created_by_name = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    report_url = ma.fields.Method("_report_url", metadata={"type": "string"})

    def _report_url(self, record) -> str:
        return url_for("catalogue_api.import_report", import_id=record.id)


class ImportOut(ImportSummaryOut):
    errors = ma.fields.List(
        ma.fields.Dict(),
        metadata={"description": "Each problem: row (header = 1), column as in the file, field, code, message"},
    )
    product_ids = ma.fields.Method(
        "_product_ids", metadata={"type": "array", "items": {"type": "integer"}, "description": "In row order"}
    )

    def _product_ids(self, record) -> list[int]:
        return list(record.report.get("product_ids", []))


@blp.route("/catalogue/products", methods=["GET"])
@blp.arguments(ProductQuery(), location="query")
@blp.response(200, ProductOut(many=True))
@blp.paginate()
def list_products(args: dict, pagination_parameters) -> list:
    """List catalogue products."""
    page = catalogue.list_products(
        db(),
        actor=actor(),
        q=args["q"],
        kind=args["kind"],
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )
    return page_items(page, pagination_parameters)


@blp.route("/catalogue/products", methods=["POST"])
@blp.arguments(ProductIn())
@blp.response(201, ProductOut)
def create_product(data: dict):
    """Add a product to the catalogue (administrators); codes are checked and must be new to the catalogue."""
    return catalogue.create_product(db(), data=data, actor=actor())


@blp.route("/catalogue/products/export.xlsx", methods=["GET"])
@blp.arguments(ProductQuery(), location="query")
@blp.response(200)
@xlsx_response("The products in the import template's layout (.xlsx)")
def export_products(args: dict):
    """Download the catalogue (or the products matching the filters) as an Excel workbook that imports again."""
    data = catalogue_template.export_products(db(), actor=actor(), q=args["q"], kind=args["kind"])
    return _xlsx(data, "catalogue.xlsx")


@blp.route("/catalogue/products/<int:product_id>", methods=["GET"])
@blp.response(200, ProductOut)
def get_product(product_id: int):
    """Return one catalogue product."""
    return catalogue.get_product(db(), product_id=product_id, actor=actor())


@blp.route("/catalogue/imports", methods=["POST"])
@blp.arguments(ImportIn(), location="files")
@blp.response(201, ImportOut)
@blp.alt_response(422, description="Rejected: errors.rows lists every problem; nothing was saved; report_url")
def import_products(files: dict):
    """Import products from an .xlsx or .csv file (administrators): every row saved, or none and a row report."""
    upload = files["file"]
    try:
        return catalogue_io.import_products(
            db(),
            filename=upload.filename if upload else "",
            data=upload.read() if upload else b"",
            actor=actor(),
        )
    except catalogue_io.ImportRejected as exc:
        keep_work()  # the import and its report are kept; no product was saved
        record = exc.record
        return error_response(
            422,
            exc.code,
            exc.message,
            {
                "rows": exc.errors["rows"],
                "import_id": record.id,
                "report_url": url_for("catalogue_api.import_report", import_id=record.id),
            },
        )


@blp.route("/catalogue/imports", methods=["GET"])
@blp.response(200, ImportSummaryOut(many=True))
@blp.paginate()
def list_imports(pagination_parameters) -> list:
    """List catalogue imports, newest first (administrators)."""
    page = catalogue_io.list_imports(
        db(), actor=actor(), page=pagination_parameters.page, per_page=pagination_parameters.page_size
    )
    return page_items(page, pagination_parameters)


@blp.route("/catalogue/imports/template", methods=["GET"])
@blp.response(200)
@xlsx_response("The import template: headers, and a guide to each column (.xlsx)")
def import_template():
    """Download the import template."""
    return _xlsx(catalogue_template.template_workbook(), "catalogue-template.xlsx")


@blp.route("/catalogue/imports/<int:import_id>", methods=["GET"])
@blp.response(200, ImportOut)
def get_import(import_id: int):
    """Return one import with its problems (administrators)."""
    return catalogue_io.get_import(db(), import_id=import_id, actor=actor())


@blp.route("/catalogue/imports/<int:import_id>/report.xlsx", methods=["GET"])
@blp.response(200)
@xlsx_response("The rows as uploaded plus a column of their problems (.xlsx)")
def import_report(import_id: int):
    """Download an import's report (administrators)."""
    record = catalogue_io.get_import(db(), import_id=import_id, actor=actor())
    return _xlsx(catalogue_io.report_workbook(record), f"catalogue-import-{record.id}-report.xlsx")


def _xlsx(data: bytes, name: str):
    return send_file(io.BytesIO(data), mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=name)
