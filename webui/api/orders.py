"""Orders: what a hospital may buy, purchase orders, confirmation, shipping and receiving with trace codes."""

from __future__ import annotations

import dataclasses
import hashlib
import io

from flask import g, jsonify, request, send_file
from flask_smorest import Blueprint

from core.db import utcnow
from core.errors import invalid, not_found
from core.roles import OrgKind
from procurement.orders import arrangements, documents, fulfilment, ordering, reads, receiving
from procurement.orders.buyable import buyable_products
from procurement.orders.supply import china_today
from procurement.orders.take_back import take_back_refused
from trace.canonical import canonical_bytes
from webui.api import order_schemas as s
from webui.api.common import actor, db, page_items
from webui.db import get_connection

blp = Blueprint("orders_api", __name__, description="Orders: ordering awarded products, fulfilment and receipt")


def _key() -> str | None:
    return request.headers.get("Idempotency-Key")


def _digest() -> str:
    """Digest of the request body: a retry with the same key must carry the same body."""
    return hashlib.sha256(canonical_bytes(request.get_json(silent=True))).hexdigest()


@blp.route("/orders/catalogue", methods=["GET"])
@blp.response(200, s.BuyableOut(many=True))
def buyable():
    """List what the caller's hospital may order today: awarded products at the winning price, listed products."""
    caller = actor()
    caller.require(*ordering.HOSPITAL_ROLES)
    offer = buyable_products(db(), hospital_id=caller.org_id, on=china_today(utcnow()))
    return sorted(offer.values(), key=lambda b: (b.price_basis.value, b.generic_name, b.product_id))


@blp.route("/orders", methods=["GET"])
@blp.arguments(s.OrderQuery(), location="query")
@blp.response(200, s.OrderOut(many=True))
@blp.paginate()
def list_orders(args: dict, pagination_parameters):
    """List orders: a hospital its own, a supplier those addressed to it, auditors all."""
    page = ordering.list_orders(
        db(), actor=actor(), status=args["status"], page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )  # fmt: skip
    page = dataclasses.replace(page, items=reads.describe_orders(db(), page.items))
    return page_items(page, pagination_parameters)


@blp.route("/orders", methods=["POST"])
@blp.arguments(s.OrderIn())
@blp.response(201, s.OrderDetailOut)
@blp.alt_response(200, schema=s.OrderDetailOut, description="a retry with the same Idempotency-Key")
def place_order(data: dict):
    """Place an order at awarded or listed prices (the price is not the client's to set). Honours Idempotency-Key."""
    caller = actor()
    placed = ordering.submit_order(
        get_connection(),  # the order is written on the connection: no ORM session needed unless replaying
        hospital_id=caller.org_id,
        lines=[ordering.OrderLineIn(**line) for line in data["lines"]],
        actor=caller,
        note=data["note"],
        idempotency_key=_key(),
        request_sha256=_digest(),
    )
    if not placed.created:
        return reads.order_detail(db(), order_id=placed.id, actor=caller), 200
    # The caller's organisation is the ordering hospital (authentication loaded it), and the answer is dumped
    # without marshmallow: both cost more than writing the order (scripts/bench/bench_order_placement.py).
    organisation = g.get("organisation")
    name = organisation.name if organisation is not None and organisation.id == caller.org_id else None
    detail = reads.new_order_detail(get_connection(), placed, hospital_name=name)
    return jsonify(s.dump_new_order(detail)), 201


@blp.route("/orders/<int:order_id>", methods=["GET"])
@blp.response(200, s.OrderDetailOut)
def get_order(order_id: int):
    """Return an order with its lines, shipments and receipts."""
    return reads.order_detail(db(), order_id=order_id, actor=actor())


@blp.route("/orders/<int:order_id>/confirm", methods=["POST"])
@blp.response(200, s.OrderOut)
def confirm_order(order_id: int):
    """Accept an order (its supplier)."""
    order = ordering.confirm_order(db(), order_id=order_id, actor=actor())
    return reads.describe_orders(db(), [order])[0]


@blp.route("/orders/<int:order_id>/reject", methods=["POST"])
@blp.arguments(s.ReasonIn())
@blp.response(200, s.OrderOut)
def reject_order(data: dict, order_id: int):
    """Refuse an order with a reason (its supplier)."""
    order = ordering.reject_order(db(), order_id=order_id, reason=data["reason"], actor=actor())
    return reads.describe_orders(db(), [order])[0]


@blp.route("/orders/<int:order_id>/cancel", methods=["POST"])
@blp.arguments(s.ReasonIn())
@blp.response(200, s.OrderOut)
def cancel_order(data: dict, order_id: int):
    """Withdraw an order while nothing has shipped (its hospital)."""
    order = ordering.cancel_order(db(), order_id=order_id, reason=data["reason"], actor=actor())
    return reads.describe_orders(db(), [order])[0]


@blp.route("/orders/<int:order_id>/ship", methods=["POST"])
@blp.arguments(s.ShipIn())
@blp.response(201, s.ShipmentOut)
@blp.alt_response(200, schema=s.ShipmentOut, description="a retry with the same Idempotency-Key")
def ship_order(data: dict, order_id: int):
    """Ship packs by their trace codes (cases carry their packs); writes ship events. Honours Idempotency-Key."""
    shipment, created = fulfilment.ship_order(
        db(),
        order_id=order_id,
        delivery_note_number=data["delivery_note_number"],
        lines=[fulfilment.ShipLineIn(**line) for line in data["lines"]],
        actor=actor(),
        idempotency_key=_key(),
        request_sha256=_digest(),
    )
    return shipment, (201 if created else 200)


def _document_out(order_id: int, row) -> dict:
    row = row if isinstance(row, dict) else row.model_dump(exclude={"content"})
    return row | {"url": f"/api/v1/orders/{order_id}/shipments/{row['shipment_id']}/documents/{row['id']}"}


_DOCUMENT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "kind"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "PDF, OFD, PNG or JPEG; ≤ 10 MB"},
                    "kind": {"type": "string", "enum": ["delivery_note", "invoice", "other"]},
                    "invoice_id": {"type": "integer", "description": "for kind invoice: a recorded invoice of it"},
                },
            }
        }
    },
}


@blp.route("/orders/<int:order_id>/shipments/<int:shipment_id>/documents", methods=["POST"])
@blp.doc(requestBody=_DOCUMENT_BODY)
@blp.response(201, s.DocumentOut)
@blp.alt_response(200, schema=s.DocumentOut, description="the same file again: the document already filed")
def file_document(order_id: int, shipment_id: int):
    """File the delivery note (随货同行单) or an invoice's original file with a shipment (its supplier): multipart
    ``file`` (PDF, OFD, PNG or JPEG, at most 10 MB) and ``kind``. The same file again returns the filed document."""
    upload = request.files.get("file")  # the fields are judged after the caller's right to file here
    document, created = documents.upload_document(
        db(),
        order_id=order_id,
        shipment_id=shipment_id,
        kind=request.form.get("kind", ""),
        invoice_id=request.form.get("invoice_id") or None,
        filename=upload.filename if upload else "",
        data=upload.read() if upload else b"",
        actor=actor(),
    )
    return _document_out(order_id, document), (201 if created else 200)


@blp.route("/orders/<int:order_id>/shipments/<int:shipment_id>/documents", methods=["GET"])
@blp.response(200, s.DocumentOut(many=True))
def list_documents(order_id: int, shipment_id: int):
    """The documents filed with a shipment, without their bytes (the order's hospital and supplier, auditors)."""
    rows = documents.list_documents(db(), order_id=order_id, shipment_id=shipment_id, actor=actor())
    return [_document_out(order_id, row) for row in rows]


@blp.route("/orders/<int:order_id>/shipments/<int:shipment_id>/documents/<int:document_id>", methods=["GET"])
@blp.response(200, description="the file as filed, with its media type")
def download_document(order_id: int, shipment_id: int, document_id: int):
    """Download one filed document (the order's hospital and supplier, auditors)."""
    document = documents.get_document(
        db(), order_id=order_id, shipment_id=shipment_id, document_id=document_id, actor=actor()
    )
    return send_file(
        io.BytesIO(document.content),
        mimetype=document.media_type,
        as_attachment=True,
        download_name=document.filename,
        etag=document.sha256,
        max_age=0,
    )


@blp.route("/orders/<int:order_id>/shipments/<int:shipment_id>/take-back", methods=["POST"])
@blp.response(200, s.TakeBackOut)
def take_back(order_id: int, shipment_id: int):
    """The supplier takes the shipment's refused packs back into its stock (拒收退回): each gets a receive event at
    the supplier in the trace record. 409 ``nothing_refused`` when none is waiting."""
    result = take_back_refused(db(), order_id=order_id, shipment_id=shipment_id, actor=actor())
    return dataclasses.asdict(result)


@blp.route("/orders/<int:order_id>/receive", methods=["POST"])
@blp.arguments(s.ReceiveIn())
@blp.response(201, s.ReceiptOut)
@blp.alt_response(200, schema=s.ReceiptOut, description="a retry with the same Idempotency-Key")
def receive(data: dict, order_id: int):
    """Receive a shipment of this order by scanned codes; each pack accepted or refused with its reason."""
    caller = actor()
    ordering.get_order(db(), order_id=order_id, actor=caller)  # not found unless the caller may see the order
    shipment = receiving.get_shipment(db(), shipment_id=data["shipment_id"], actor=caller)
    if shipment.order_id != order_id:
        raise not_found("Shipment", data["shipment_id"])
    receipt, created = receiving.receive_shipment(
        db(),
        shipment_id=shipment.id,
        codes=data["codes"],
        refusals=[receiving.RefusalIn(**r) for r in data["refusals"]],
        actor=caller,
        idempotency_key=_key(),
        request_sha256=_digest(),
    )
    return receipt, (201 if created else 200)


@blp.route("/catalogue/listings", methods=["GET"])
@blp.response(200, s.ListingOut(many=True))
def list_listings():
    """List products listed for sale (挂网) with their prices per pack."""
    return arrangements.list_listings(db())


@blp.route("/catalogue/listings", methods=["POST"])
@blp.arguments(s.ListingIn())
@blp.response(201, s.ListingOut)
def create_listing(data: dict):
    """List a product at a price for a region, delivered by a supplier (administrators, organisers)."""
    return arrangements.create_listing(db(), actor=actor(), **data)


@blp.route("/awards/<int:award_id>/distributors", methods=["GET"])
@blp.response(200, s.DistributorOut(many=True))
def list_distributors(award_id: int):
    """List the distributors a winner named to deliver its award, per hospital."""
    return arrangements.list_assignments(db(), award_id=award_id, actor=actor())


@blp.route("/awards/<int:award_id>/distributors", methods=["POST"])
@blp.arguments(s.DistributorIn())
@blp.response(200, s.DistributorOut)
def assign_distributor(data: dict, award_id: int):
    """Name the distributor (配送企业) that delivers the award to a hospital (the winning supplier)."""
    return arrangements.assign_distributor(db(), award_id=award_id, actor=actor(), **data)


@blp.route("/stock", methods=["GET"])
@blp.arguments(s.StockQuery(), location="query")
@blp.response(200, s.StockOut(many=True))
def stock(args: dict):
    """Return stock on hand per product and batch, from the trace record (a hospital its own; auditors any)."""
    caller = actor()
    hospital_id = args["hospital_id"] if args["hospital_id"] is not None else caller.org_id
    if caller.org_kind != OrgKind.HOSPITAL and args["hospital_id"] is None:
        raise invalid("hospital_id", "name the hospital whose stock to show")
    return arrangements.stock_on_hand(db(), hospital_id=hospital_id, actor=caller)
