"""Trace capture, verification, item history, and organisations' batch-signing keys."""

from __future__ import annotations

import hashlib

import marshmallow as ma
from flask import request
from flask_smorest import Blueprint

from core.db import utcnow
from trace import capture, keys, verification
from trace.items import get_item
from trace.models import EventType
from trace.transitions import EventIn
from webui.api.common import actor, db, page_items
from webui.db import keep_work, read_only
from webui.errors import error_response
from webui.trace_support import patient_pseudonym, signed_message

blp = Blueprint("trace_api", __name__, description="Traceability: one item, one code")

NEEDS = {EventType.SHIP: "to_org_id", EventType.AGGREGATE: "children"}


class EventInSchema(ma.Schema):
    type = ma.fields.Enum(EventType, by_value=True, required=True)
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    at = ma.fields.AwareDateTime(load_default=None)
    to_org_id = ma.fields.Integer(strict=True, load_default=None)
    quantity = ma.fields.Integer(strict=True, load_default=None, validate=ma.validate.Range(min=1))
    children = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(min=1, max=200)),
        load_default=list,
        validate=ma.validate.Length(max=1000),
    )
    batch = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=20))
    expiry = ma.fields.Date(load_default=None)
    patient_id = ma.fields.String(
        load_default=None,
        load_only=True,
        validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "Pseudonymised with a keyed hash on arrival; never stored"},
    )
    insurance_code = ma.fields.String(load_default=None, validate=ma.validate.Length(max=32))
    reason = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))

    @ma.validates_schema
    def _needs(self, data: dict, **_kwargs) -> None:
        field = NEEDS.get(data["type"])
        if field and not data.get(field):
            raise ma.ValidationError(f"a {data['type'].value} event needs {field}", field)


class BatchInSchema(ma.Schema):
    batch_id = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=100),
        metadata={"description": "The client's id of this batch: a retry returns the first answer"},
    )
    events = ma.fields.List(
        ma.fields.Nested(EventInSchema), required=True, validate=ma.validate.Length(min=1, max=5000)
    )
    signature = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^[0-9a-f]{128}$", error="128 hex"),
        metadata={
            "description": "Ed25519 signature (hex) of `yaolian/trace-batch/v1\\n` followed by the SHA-256 (64 "
            "lower-case hex characters) of the canonical JSON of this body without `signature` (keys sorted, no "
            "spaces, UTF-8). The platform keeps the digest and the signature, so the signature can be checked "
            "again later without the body (which may hold patient identifiers)"
        },
    )


class BatchOut(ma.Schema):
    batch_id = ma.fields.String()
    accepted = ma.fields.Boolean()
    events = ma.fields.Integer()
    entries = ma.fields.Integer(metadata={"description": "Ledger entries written (packs carried in cases included)"})
    ledger = ma.fields.Dict()
    alerts = ma.fields.List(ma.fields.Dict())
    signed = ma.fields.Boolean()


@blp.route("/trace/events", methods=["POST"])
@blp.arguments(BatchInSchema())
@blp.response(201, BatchOut)
@blp.alt_response(422, description="The batch was refused: every refused event by position and reason")
def capture_events(data: dict):
    """Capture a batch of trace events: all accepted or none; a retried batch id returns the first answer."""
    raw = request.get_json()
    message = signed_message(raw)
    events = [
        EventIn(
            type=e["type"],
            code=e["code"],
            at=e["at"],
            to_org_id=e["to_org_id"],
            quantity=e["quantity"],
            children=tuple(e["children"]),
            batch=e["batch"],
            expiry=e["expiry"],
            patient_ref=patient_pseudonym(e["patient_id"]),
            insurance_code=e["insurance_code"],
            reason=e["reason"],
        )
        for e in data["events"]
    ]
    batch = capture.BatchIn(
        client_batch_id=data["batch_id"],
        events=events,
        request_sha256=hashlib.sha256(message).hexdigest(),
        signature=bytes.fromhex(data["signature"]) if data["signature"] else None,
    )
    result = capture.capture(db(), actor=actor(), batch=batch, now=utcnow())
    if result.accepted:
        return result.body, 201, {"Idempotent-Replayed": "true"} if result.replay else {}
    keep_work()  # the refusal record and its alerts are kept
    body = result.body
    refused = len(body["rejected"])
    response = error_response(
        422,
        "batch_rejected",
        f"{refused} of {result.batch.event_count} events were refused; nothing was recorded",
        {
            "json": {"events": {str(r["position"]): [f"{r['code']}: {r['reason']}"] for r in body["rejected"]}},
            "alerts": body["alerts"],
        },
    )
    if result.replay:
        response.headers["Idempotent-Replayed"] = "true"
    return response


class VerifyIn(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    action = ma.fields.Enum(
        EventType, by_value=True, required=True, validate=ma.validate.OneOf([EventType.RECEIVE, EventType.DISPENSE])
    )
    quantity = ma.fields.Integer(strict=True, load_default=None, validate=ma.validate.Range(min=1))
    insurance_code = ma.fields.String(load_default=None, validate=ma.validate.Length(max=32))


class VerifyOut(ma.Schema):
    verdict = ma.fields.String(metadata={"enum": ["ok", "refuse"]})
    code = ma.fields.String()
    reason = ma.fields.String()
    alert_codes = ma.fields.List(ma.fields.String())
    status = ma.fields.String(allow_none=True)
    expiry = ma.fields.Date(allow_none=True)
    batch = ma.fields.String(allow_none=True)


@blp.route("/trace/verify", methods=["POST"])
@blp.arguments(VerifyIn())
@blp.response(200, VerifyOut)
@read_only
def verify_pack(data: dict) -> dict:
    """May this pack be received or dispensed here? A verdict and alert codes, without changing anything."""
    verdict = verification.check(
        db(),
        actor=actor(),
        code_text=data["code"],
        action=data["action"],
        now=utcnow(),
        quantity=data["quantity"],
        insurance_code=data["insurance_code"],
    )
    item = verdict.item
    return {
        "verdict": "ok" if verdict.allowed else "refuse",
        "code": verdict.code,
        "reason": verdict.reason,
        "alert_codes": list(verdict.alert_codes),
        "status": item.status if item else None,
        "expiry": item.expiry if item else None,
        "batch": item.batch if item else None,
    }


class EventOut(ma.Schema):
    id = ma.fields.Integer()
    type = ma.fields.String()
    org_id = ma.fields.Integer()
    at = ma.fields.AwareDateTime()
    to_org_id = ma.fields.Integer(allow_none=True)
    quantity = ma.fields.Integer(allow_none=True)
    details = ma.fields.Dict()
    ledger_index = ma.fields.Integer()


class AlertOut(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    severity = ma.fields.String()
    status = ma.fields.String()
    title = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    evidence = ma.fields.Dict()


class ItemOut(ma.Schema):
    key = ma.fields.String()
    code = ma.fields.String()
    product = ma.fields.String()
    level = ma.fields.Integer()
    pack_size = ma.fields.Integer()
    unit = ma.fields.String()
    batch = ma.fields.String(allow_none=True)
    expiry = ma.fields.Date(allow_none=True)
    status = ma.fields.String()
    recalled = ma.fields.Boolean()
    dispensed_units = ma.fields.Integer()
    custodian = ma.fields.Dict()
    parent = ma.fields.String(allow_none=True)
    children = ma.fields.List(ma.fields.String())
    events = ma.fields.List(ma.fields.Nested(EventOut))
    alerts = ma.fields.List(ma.fields.Nested(AlertOut))


@blp.route("/trace/items/<path:code>", methods=["GET"])
@blp.response(200, ItemOut)
def get_trace_item(code: str) -> dict:
    """Return a pack's history, custodian, status and alerts (parties that held it; auditors)."""
    view = get_item(db(), code_text=code, actor=actor())
    item, trade = view.item, view.trade_item
    return {
        "key": item.code_key,
        "code": item.code_text,
        "product": trade.name,
        "level": trade.level,
        "pack_size": trade.pack_size,
        "unit": trade.unit,
        "batch": item.batch,
        "expiry": item.expiry,
        "status": item.status,
        "recalled": item.recalled,
        "dispensed_units": item.dispensed_units,
        "custodian": {"id": view.custodian.id, "name": view.custodian.name},
        "parent": view.parent_key,
        "children": view.children,
        "events": view.events,
        "alerts": view.alerts,
    }


class KeyIn(ma.Schema):
    public_key = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[0-9a-f]{64}$", error="64 hex"),
        metadata={"description": "Raw Ed25519 public key, hex"},
    )


class KeyOut(ma.Schema):
    id = ma.fields.Integer()
    org_id = ma.fields.Integer()
    public_key = ma.fields.String()
    registered_at = ma.fields.AwareDateTime()
    revoked_at = ma.fields.AwareDateTime(allow_none=True)


@blp.route("/trace/keys", methods=["POST"])
@blp.arguments(KeyIn())
@blp.response(201, KeyOut)
def register_key(data: dict):
    """Register an Ed25519 public key with which your organisation signs capture batches."""
    return keys.register_key(db(), actor=actor(), public_key_hex=data["public_key"], now=utcnow())


@blp.route("/trace/keys", methods=["GET"])
@blp.response(200, KeyOut(many=True))
@blp.paginate()
def list_keys(pagination_parameters) -> list:
    """List your organisation's signing keys."""
    page = keys.list_keys(
        db(), actor=actor(), page=pagination_parameters.page, per_page=pagination_parameters.page_size
    )
    return page_items(page, pagination_parameters)


@blp.route("/trace/keys/<int:key_id>", methods=["DELETE"])
@blp.response(200, KeyOut)
def revoke_key(key_id: int):
    """Revoke one of your organisation's signing keys."""
    return keys.revoke_key(db(), actor=actor(), key_id=key_id, now=utcnow())


class EpcisDocumentOut(ma.Schema):
    context = ma.fields.List(ma.fields.Raw(), data_key="@context")
    type = ma.fields.String(metadata={"enum": ["EPCISDocument"]})
    schema_version = ma.fields.String(data_key="schemaVersion")
    creation_date = ma.fields.String(data_key="creationDate")
    epcis_body = ma.fields.Dict(
        data_key="epcisBody",
        metadata={"description": "eventList: ObjectEvent and AggregationEvent with CBV 2.0 steps and dispositions"},
    )


@blp.route("/trace/items/<path:code>/epcis", methods=["GET"])
@blp.response(200, EpcisDocumentOut, content_type="application/ld+json")
def get_trace_item_epcis(code: str):
    """Return a pack's history as a GS1 EPCIS 2.0 JSON-LD document (parties that held it; auditors)."""
    from flask import jsonify  # local: this route was appended without touching the shared module head

    from trace.epcis import export_item_epcis

    response = jsonify(export_item_epcis(db(), code_text=code, actor=actor(), now=utcnow()))
    response.mimetype = "application/ld+json"
    return response
