"""Every error leaves the API as one body, ``{"code", "status", "message", "errors"}``; kinds map to statuses here."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from core import errors as kinds
from core.errors import DomainError
from webui.db import keep_work
from webui.requestid import current_request_id

STATUS_OF_KIND = {
    kinds.INVALID: 422,
    kinds.NOT_FOUND: 404,
    kinds.CONFLICT: 409,
    kinds.FORBIDDEN: 403,
    kinds.UNAUTHENTICATED: 401,
    kinds.RATE_LIMITED: 429,
}

CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


class ErrorOut(ma.Schema):
    """The one error body of the API."""

    code = ma.fields.String(metadata={"description": "Stable machine-readable reason, e.g. token_expired"})
    status = ma.fields.Integer(metadata={"description": "HTTP status"})
    message = ma.fields.String(metadata={"description": "What went wrong, for people"})
    errors = ma.fields.Dict(metadata={"description": "Messages per location and field, e.g. {json: {quantity: [..]}}"})
    request_id = ma.fields.String(metadata={"description": "Quote this when reporting a problem"})


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, errors: dict[str, Any] | None = None) -> Response:
    """Build the API error body (or an HTML page for browser routes)."""
    if not _wants_json():
        try:
            html = render_template("error.html", status=status, code=code, message=message, errors=errors or {})
        except Exception:  # the error page itself failed: still answer, plainly
            html = f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{escape(message)}</p>"
        return Response(html, status=status, mimetype="text/html")
    body = {"code": code, "status": status, "message": message, "errors": errors or {}}
    if rid := current_request_id():
        body["request_id"] = rid
    response = jsonify(body)
    response.status_code = status
    return response


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _handle_domain(exc: DomainError) -> Response:
    if exc.keep_work:
        keep_work()
    if exc.kind == kinds.INVALID and exc.errors:  # the fields named are in the body: JSON, or a form with files
        errors = {"form" if request.mimetype in FORM_TYPES else "json": exc.errors}
    else:
        errors = exc.errors
    response = error_response(STATUS_OF_KIND[exc.kind], exc.code, exc.message, errors)
    if exc.retry_after:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _handle_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status >= 500:
        return _handle_internal(exc)
    data = getattr(exc, "data", None) or {}
    errors = data.get("errors") or data.get("messages") or {}
    if status == 400 and "json" in errors:
        message = "the request body is not valid JSON"
    elif status == 422:
        message = "the request has invalid fields; see errors"
    else:
        message = data.get("message") or exc.description or exc.name
    response = error_response(status, CODE_OF_STATUS.get(status, "http_error"), message, errors)
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    if status == 405 and exc.get_headers():
        response.headers.update({k: v for k, v in exc.get_headers() if k == "Allow"})
    return response


def _handle_csrf(exc: CSRFError) -> Response:
    return error_response(
        400, "csrf_failed", "the form's security token is missing or stale; reload the page and retry"
    )


def _handle_internal(exc: Exception) -> Response:
    original = getattr(exc, "original_exception", None) or exc
    if isinstance(original, IntegrityError):
        # A unique or foreign-key constraint caught a race the services could not see.
        return error_response(409, "conflicting_change", "the change conflicts with data saved meanwhile; retry")
    if isinstance(original, OperationalError) and "locked" in str(original).lower():
        return error_response(503, "database_busy", "the database is busy; retry shortly")
    from flask import current_app

    current_app.logger.exception("unhandled error", exc_info=original)
    return error_response(500, "internal_error", "an internal error occurred; quote the request id when reporting it")


def init_errors(app: Flask) -> None:
    """Register the error handlers; call after the smorest Api so these replace its HTTPException handler."""
    app.register_error_handler(DomainError, _handle_domain)
    app.register_error_handler(CSRFError, _handle_csrf)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(InternalServerError, _handle_internal)
    app.register_error_handler(Exception, _handle_internal)
