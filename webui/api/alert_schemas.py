"""Schemas of the alerts workbench and audit runs."""

from __future__ import annotations

import marshmallow as ma

from core.alert_review import ReviewAction
from core.alerts import AlertStatus, Severity
from webui.api.supply_schemas import RaisedAlertOut


class AlertQuery(ma.Schema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf([s.value for s in AlertStatus]))
    source = ma.fields.String(load_default=None)
    code = ma.fields.String(load_default=None)
    severity = ma.fields.String(load_default=None, validate=ma.validate.OneOf([s.value for s in Severity]))
    subject_org_id = ma.fields.Integer(load_default=None)
    assignee_user_id = ma.fields.Integer(load_default=None)
    object_type = ma.fields.String(load_default=None)
    object_id = ma.fields.String(load_default=None)
    since = ma.fields.AwareDateTime(load_default=None)
    until = ma.fields.AwareDateTime(load_default=None)
    physician_id = ma.fields.Integer(load_default=None, metadata={"description": "findings about this physician"})
    product_id = ma.fields.Integer(load_default=None, metadata={"description": "findings about this product"})


class LinkOut(ma.Schema):
    kind = ma.fields.String()
    ident = ma.fields.String()
    page = ma.fields.String(allow_none=True)
    api = ma.fields.String(allow_none=True)


class AlertEventOut(ma.Schema):
    id = ma.fields.Integer()
    at = ma.fields.AwareDateTime()
    action = ma.fields.String()
    actor_user_id = ma.fields.Integer(allow_none=True)
    actor_name = ma.fields.String()
    actor_org_id = ma.fields.Integer(allow_none=True)
    from_status = ma.fields.String()
    to_status = ma.fields.String()
    assignee_user_id = ma.fields.Integer(allow_none=True)
    note = ma.fields.String()
    shared = ma.fields.Boolean(metadata={"description": "whether the organisation the alert is about sees the note"})


class WorkbenchAlertOut(RaisedAlertOut):
    """An alert in the workbench: what a check returns, plus its source, rule, reviewer and last change."""

    source = ma.fields.String()
    rule = ma.fields.Dict()
    assignee_user_id = ma.fields.Integer(allow_none=True)
    updated_at = ma.fields.AwareDateTime(allow_none=True)


class AlertDetailOut(WorkbenchAlertOut):
    links = ma.fields.List(ma.fields.Nested(LinkOut))
    history = ma.fields.List(ma.fields.Nested(AlertEventOut))


class AlertReviewIn(ma.Schema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf([a.value for a in ReviewAction]))
    note = ma.fields.String(load_default="")
    assignee_user_id = ma.fields.Integer(load_default=None)
    share_with_subject = ma.fields.Boolean(
        load_default=False, metadata={"description": "let the organisation the alert is about read this note"}
    )


class AlertCountOut(ma.Schema):
    source = ma.fields.String()
    code = ma.fields.String()
    status = ma.fields.String()
    count = ma.fields.Integer()


class AuditRunIn(ma.Schema):
    start = ma.fields.Date(required=True)
    end = ma.fields.Date(required=True, metadata={"description": "first day after the period (not included)"})
    parts = ma.fields.List(ma.fields.String(), load_default=None)


class AuditRunOut(ma.Schema):
    id = ma.fields.Integer()
    start = ma.fields.Date(attribute="period_start")
    end = ma.fields.Date(attribute="period_end")
    parts = ma.fields.List(ma.fields.String())
    status = ma.fields.String()
    progress = ma.fields.Dict()
    error = ma.fields.String(allow_none=True)
    requested_by_user_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    started_at = ma.fields.AwareDateTime(allow_none=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True)
    no_data = ma.fields.Boolean()
    alerts_raised = ma.fields.Integer()
