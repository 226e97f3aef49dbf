"""The caller: who am I, in which organisation, with which roles."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, g, jsonify
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


_ORG_FIELDS = tuple(OrganisationOut().fields)


@blp.route("/me", methods=["GET"])
@blp.response(200, MeOut)
def me() -> Response:
    """Return the caller, its organisation and roles."""
    # The hottest endpoint: the body is built straight from the values the token look-up loaded (all plain ints,
    # strings and booleans), without a marshmallow pass; MeOut still documents it, and a test checks that this body
    # equals MeOut().dump() of the same data.
    return jsonify(me_body(actor(), g.user, g.organisation))


def me_body(who, user, organisation) -> dict:
    """Return the /me body for an actor and the user and organisation rows the token look-up loaded."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(role.value for role in who.roles),
        "groups": [group.value for group in who.groups],
        "organisation": {name: getattr(organisation, name) for name in _ORG_FIELDS},
    }
