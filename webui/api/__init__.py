"""The JSON API under /api/v1, documented at /api/openapi.json and /api/docs (Swagger UI served locally)."""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api

from webui.auth import authenticate_api_request
from webui.errors import ErrorOut


class YaolianApi(Api):
    ERROR_SCHEMA = ErrorOut


SWAGGER_ASSETS = "/api/docs/assets/"


def init_api(app: Flask) -> Api:
    """Register every API blueprint; all are bearer-token only (no cookies), so CSRF does not apply."""
    from webui.api import (
        agreements,
        alerts,
        audit,
        catalogue,
        circulation,
        credit,
        directory,
        ledger,
        me,
        money,
        orders,
        prescriptions,
        reconciliation,
        supply,
        surplus,
        tenders,
        tokens,
        trace,
    )

    app.config.update(
        API_TITLE="Yaolian 药联 API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_ASSETS,
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None, "persistAuthorization": True},
        API_SPEC_OPTIONS={
            "security": [{"bearerAuth": []}],
            "info": {
                "description": (
                    "Drug procurement and traceability for Chinese public healthcare. Authenticate with "
                    "`POST /api/v1/auth/tokens`, then send `Authorization: Bearer <token>`. Every list is paginated "
                    "(`page`, `page_size`; totals in the `X-Pagination` header). Every error has the body "
                    "`{code, status, message, errors}`."
                )
            },
        },
    )
    api = YaolianApi(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for module in (
        tokens,
        me,
        directory,
        audit,
        catalogue,
        tenders,
        orders,
        agreements,
        trace,
        ledger,
        supply,
        money,
        alerts,
        circulation,
        credit,
        prescriptions,
        reconciliation,
        surplus,
    ):
        api.register_blueprint(module.blp, url_prefix="/api/v1")

    @app.before_request
    def _authenticate() -> None:
        if request.blueprint and request.blueprint.endswith("_api"):
            authenticate_api_request()

    return api
