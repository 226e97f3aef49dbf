"""Request and response schemas of the prescription API: imports with their row-level reports, and physicians."""

from __future__ import annotations

import marshmallow as ma
from flask import url_for

from procurement.audit.prescription_models import PrescribingStatus, RxImportStatus
from procurement.audit.prescriptions import MAX_ROWS


class RowsIn(ma.Schema):
    rows = ma.fields.List(
        ma.fields.Dict(keys=ma.fields.String()),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_ROWS),
        metadata={
            "description": (
                "One object per prescription line, keyed like the file's columns (English names: prescription_no, "
                "line_no, patient_id, physician_code, department, setting, prescribed_on, product_code or "
                "product_id, quantity, days_supply, amount, chronic, diagnosis_code, case_id, reason, "
                "reason_recorded, abnormal, abnormal_justified, trace_code, drug_class). Row n of the report is the "
                "n-th object. patient_id is pseudonymised on arrival and never stored."
            )
        },
    )


class RxImportQuery(ma.Schema):
    hospital_id = ma.fields.Integer(load_default=None, metadata={"description": "auditors: one hospital's imports"})


class RxImportSummaryOut(ma.Schema):
    id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    source = ma.fields.String(metadata={"enum": ["file", "api"]})
    filename = ma.fields.String()
    sha256 = ma.fields.String(
        metadata={"description": "keyed HMAC-SHA-256 of the file or the canonical JSON rows (finds retries)"}
    )
    status = ma.fields.String(metadata={"enum": [s.value for s in RxImportStatus]})
    row_count = ma.fields.Integer()
    prescription_count = ma.fields.Integer()
    line_count = ma.fields.Integer()
    error_count = ma.fields.Integer()
    created_by_name = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    report_url = ma.fields.Method("_report_url", metadata={"type": "string"})

    def _report_url(self, record) -> str:
        return url_for("prescriptions_api.import_report", import_id=record.id)


class RxImportOut(RxImportSummaryOut):
    errors = ma.fields.List(
        ma.fields.Dict(),
        metadata={
            "description": "Each problem: row (header = 1; API rows from 1), column as sent, field, stable code, "
            "message, value (patient identifiers masked), params"
        },
    )
    ignored_columns = ma.fields.Method(
        "_ignored", metadata={"type": "array", "items": {"type": "string"}, "description": "not read, not stored"}
    )

    def _ignored(self, record) -> list[str]:
        return list(record.report.get("ignored", []))


class PhysicianIn(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    department = ma.fields.String(load_default="", validate=ma.validate.Length(max=64))
    title = ma.fields.String(load_default="", validate=ma.validate.Length(max=64), metadata={"description": "职称"})
    prescribing_status = ma.fields.Enum(PrescribingStatus, by_value=True, load_default=PrescribingStatus.ACTIVE)


class PhysiciansIn(ma.Schema):
    physicians = ma.fields.List(ma.fields.Nested(PhysicianIn), required=True, validate=ma.validate.Length(min=1))


class PhysicianQuery(ma.Schema):
    hospital_id = ma.fields.Integer(load_default=None, metadata={"description": "auditors: one hospital's registry"})


class PhysicianOut(ma.Schema):
    id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    department = ma.fields.String()
    title = ma.fields.String()
    prescribing_status = ma.fields.String(metadata={"enum": [s.value for s in PrescribingStatus]})
    updated_at = ma.fields.AwareDateTime()


class RegisteredOut(ma.Schema):
    created = ma.fields.Integer(metadata={"description": "physicians new to the registry"})
    physicians = ma.fields.List(ma.fields.Nested(PhysicianOut), metadata={"description": "in the order sent"})
