"""Output and input schemas shared by several API areas."""

from __future__ import annotations

import marshmallow as ma

from core.roles import HospitalGrade, OrgKind, Role


class OrganisationOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    name_en = ma.fields.String(allow_none=True)
    kind = ma.fields.String(metadata={"enum": [k.value for k in OrgKind]})
    uscc = ma.fields.String(metadata={"description": "Unified social credit code (统一社会信用代码)"})
    region_code = ma.fields.String()
    region_name = ma.fields.String()
    hospital_grade = ma.fields.String(allow_none=True, metadata={"enum": [g.value for g in HospitalGrade]})
    parent_id = ma.fields.Integer(allow_none=True)
    is_active = ma.fields.Boolean()


class UserOut(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    email = ma.fields.String(allow_none=True)
    organisation_id = ma.fields.Integer()
    is_active = ma.fields.Boolean()
    roles = ma.fields.List(ma.fields.String(metadata={"enum": [r.value for r in Role]}))


class OrganisationIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=200))
    name_en = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    kind = ma.fields.Enum(OrgKind, by_value=True, required=True)
    uscc = ma.fields.String(required=True, validate=ma.validate.Length(equal=18))
    region_code = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^\d{6}$", error="six digits"))
    region_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    hospital_grade = ma.fields.Enum(HospitalGrade, by_value=True, load_default=None)
    parent_id = ma.fields.Integer(strict=True, load_default=None)


class UserIn(ma.Schema):
    username = ma.fields.String(
        required=True, validate=ma.validate.Regexp(r"^[A-Za-z0-9._-]{3,64}$", error="3-64 letters, digits, . _ -")
    )
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(max=256))
    display_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    email = ma.fields.Email(load_default=None)
    organisation_id = ma.fields.Integer(strict=True, required=True)
    roles = ma.fields.List(ma.fields.Enum(Role, by_value=True), required=True, validate=ma.validate.Length(min=1))
