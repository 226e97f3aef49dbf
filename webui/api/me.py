"""The caller: who am I, in which organisation, with which roles."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask_smorest import Blueprint

from webui.api.common import actor
from webui.api.schemas import OrganisationOut

blp = Blueprint("me_api", __name__, description="The caller")


class MeOut(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    groups = ma.fields.List(ma.fields.String(), metadata={"description": "Home-page groups, primary first"})
    organisation = ma.fields.Nested(OrganisationOut)


@blp.route("/me", methods=["GET"])
@blp.response(200, MeOut)
def me() -> dict:
    """Return the caller, its organisation and roles."""
    who, user = actor(), g.user  # the token look-up loaded the user and organisation already
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(role.value for role in who.roles),
        "groups": [group.value for group in who.groups],
        "organisation": g.organisation,
    }
