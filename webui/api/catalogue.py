"""The product catalogue, readable by every signed-in user."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from procurement import catalogue
from webui.api.common import actor, db, page_items

blp = Blueprint("catalogue_api", __name__, description="Catalogue of drugs and consumables")


class ProductQuery(ma.Schema):
    q = ma.fields.String(load_default=None, metadata={"description": "Search in generic names (Chinese or English)"})
    kind = ma.fields.Enum(catalogue.ProductKind, by_value=True, load_default=None)


class ProductOut(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    generic_name = ma.fields.String()
    generic_name_en = ma.fields.String(allow_none=True)
    dosage_form = ma.fields.String()
    strength = ma.fields.String()
    pack_quantity = ma.fields.Integer()
    unit = ma.fields.String()
    package_spec = ma.fields.String()
    manufacturer_id = ma.fields.Integer()
    approval_number = ma.fields.String(allow_none=True)
    insurance_code = ma.fields.String(allow_none=True)
    trace_product_id = ma.fields.String(allow_none=True)
    gtin = ma.fields.String(allow_none=True)
    gqce_passed = ma.fields.Boolean()
    essential = ma.fields.Boolean()
    key_monitored = ma.fields.Boolean()


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


@blp.route("/catalogue/products/<int:product_id>", methods=["GET"])
@blp.response(200, ProductOut)
def get_product(product_id: int):
    """Return one catalogue product."""
    return catalogue.get_product(db(), product_id=product_id, actor=actor())
