"""Bearer tokens: issue with username and password, list one's own, revoke."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from flask_smorest import Blueprint

from core import accounts
from core.db import utcnow
from webui.api.common import actor, db, page_items
from webui.auth import client_ip, login_policy, public, token_policy

blp = Blueprint("tokens_api", __name__, description="Authentication: bearer tokens")


class TokenIn(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=256), load_only=True)
    name = ma.fields.String(load_default="api", validate=ma.validate.Length(min=1, max=100))
    expires_in_days = ma.fields.Integer(strict=True, load_default=None, validate=ma.validate.Range(min=1))


class TokenOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    prefix = ma.fields.String(metadata={"description": "First characters of the secret, to tell tokens apart"})
    created_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime()
    revoked_at = ma.fields.AwareDateTime(allow_none=True)


class IssuedTokenOut(TokenOut):
    token = ma.fields.String(metadata={"description": "The secret; shown once, store it safely"})
    token_type = ma.fields.Constant("Bearer")


@blp.route("/auth/tokens", methods=["POST"])
@blp.arguments(TokenIn())
@blp.response(201, IssuedTokenOut)
@blp.alt_response(401, description="Wrong username or password")
@blp.alt_response(429, description="Too many failed logins")
@blp.doc(security=[])
@public
def issue_token(data: dict) -> dict:
    """Exchange a username and password for a bearer token with an expiry."""
    now = utcnow()
    session = db()
    from flask import g

    user = accounts.authenticate(
        session,
        username=data["username"],
        password=data["password"],
        ip=client_ip(),
        policy=login_policy(),
        now=now,
        request_id=g.request_id,
    )
    ttl = dt.timedelta(days=data["expires_in_days"]) if data["expires_in_days"] else None
    token, secret = accounts.issue_token(
        session, user=user, name=data["name"], now=now, policy=token_policy(), ttl=ttl, request_id=g.request_id
    )
    return {**_token_dict(token), "token": secret}


def _token_dict(token: object) -> dict:
    return {k: getattr(token, k) for k in ("id", "name", "prefix", "created_at", "expires_at", "revoked_at")}


@blp.route("/auth/tokens", methods=["GET"])
@blp.response(200, TokenOut(many=True))
@blp.paginate()
def list_tokens(pagination_parameters) -> list:
    """List the caller's own tokens."""
    page = accounts.list_tokens(
        db(), actor=actor(), page=pagination_parameters.page, per_page=pagination_parameters.page_size
    )
    return page_items(page, pagination_parameters)


@blp.route("/auth/tokens/<int:token_id>", methods=["DELETE"])
@blp.response(200, TokenOut)
def revoke_token(token_id: int):
    """Revoke a token (one's own; administrators any)."""
    return accounts.revoke_token(db(), token_id=token_id, actor=actor(), now=utcnow())
