"""The caller: who am I, in which organisation, with which roles."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from core.accounts import get_organisation, get_user
from webui.api.common import actor, db
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
    who = actor()
    session = db()
    user = get_user(session, user_id=who.user_id, actor=who)
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(role.value for role in who.roles),
        "groups": [group.value for group in who.groups],
        "organisation": get_organisation(session, org_id=who.org_id, actor=who),
    }
