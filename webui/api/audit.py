"""The audit trail, read-only."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from core.audit import list_audit
from webui.api.common import actor, db, page_items

blp = Blueprint(
    "audit_api", __name__, description="Audit trail (administrators and auditors: all; others: own organisation)"
)


class AuditQuery(ma.Schema):
    action = ma.fields.String(load_default=None)
    object_type = ma.fields.String(load_default=None)
    object_id = ma.fields.String(load_default=None)
    organisation_id = ma.fields.Integer(load_default=None)
    since = ma.fields.AwareDateTime(load_default=None)
    until = ma.fields.AwareDateTime(load_default=None)


class AuditRecordOut(ma.Schema):
    id = ma.fields.Integer()
    at = ma.fields.AwareDateTime()
    actor_user_id = ma.fields.Integer(allow_none=True)
    actor_name = ma.fields.String()
    actor_org_id = ma.fields.Integer(allow_none=True)
    action = ma.fields.String()
    object_type = ma.fields.String()
    object_id = ma.fields.String()
    request_id = ma.fields.String(allow_none=True)
    details = ma.fields.Dict()


@blp.route("/audit/records", methods=["GET"])
@blp.arguments(AuditQuery(), location="query")
@blp.response(200, AuditRecordOut(many=True))
@blp.paginate()
def list_records(args: dict, pagination_parameters) -> list:
    """List audit records, newest first."""
    page = list_audit(
        db(),
        actor=actor(),
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
        action=args["action"],
        object_type=args["object_type"],
        object_id=args["object_id"],
        org_id=args["organisation_id"],
        since=args["since"],
        until=args["until"],
    )
    return page_items(page, pagination_parameters)
