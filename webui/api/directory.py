"""The directory: organisations (public to signed-in users) and users (own organisation; administrators all)."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from core import accounts
from core.roles import OrgKind
from webui.api.common import actor, db, page_items
from webui.api.schemas import OrganisationIn, OrganisationOut, UserIn, UserOut

blp = Blueprint("directory_api", __name__, description="Organisations and users")


class OrganisationQuery(ma.Schema):
    kind = ma.fields.Enum(OrgKind, by_value=True, load_default=None)


class UserQuery(ma.Schema):
    organisation_id = ma.fields.Integer(load_default=None)


def _user_out(user) -> dict:
    out = {k: getattr(user, k) for k in ("id", "username", "display_name", "email", "organisation_id", "is_active")}
    out["roles"] = sorted(role.value for role in accounts.user_roles(db(), user.id))
    return out


@blp.route("/organisations", methods=["GET"])
@blp.arguments(OrganisationQuery(), location="query")
@blp.response(200, OrganisationOut(many=True))
@blp.paginate()
def list_organisations(args: dict, pagination_parameters) -> list:
    """List organisations, optionally of one kind."""
    page = accounts.list_organisations(
        db(),
        actor=actor(),
        kind=args["kind"],
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )
    return page_items(page, pagination_parameters)


@blp.route("/organisations", methods=["POST"])
@blp.arguments(OrganisationIn())
@blp.response(201, OrganisationOut)
def create_organisation(data: dict):
    """Register an organisation (administrators)."""
    return accounts.create_organisation(db(), actor=actor(), **data)


@blp.route("/organisations/<int:org_id>", methods=["GET"])
@blp.response(200, OrganisationOut)
def get_organisation(org_id: int):
    """Return one organisation."""
    return accounts.get_organisation(db(), org_id=org_id, actor=actor())


@blp.route("/users", methods=["GET"])
@blp.arguments(UserQuery(), location="query")
@blp.response(200, UserOut(many=True))
@blp.paginate()
def list_users(args: dict, pagination_parameters) -> list:
    """List users of the caller's organisation (administrators: all)."""
    page = accounts.list_users(
        db(),
        actor=actor(),
        organisation_id=args["organisation_id"],
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )
    return [_user_out(user) for user in page_items(page, pagination_parameters)]


@blp.route("/users", methods=["POST"])
@blp.arguments(UserIn())
@blp.response(201, UserOut)
def create_user(data: dict) -> dict:
    """Create a user with roles (administrators)."""
    return _user_out(accounts.create_user(db(), actor=actor(), **data))


@blp.route("/users/<int:user_id>", methods=["GET"])
@blp.response(200, UserOut)
def get_user(user_id: int) -> dict:
    """Return one user the caller may see."""
    return _user_out(accounts.get_user(db(), user_id=user_id, actor=actor()))
