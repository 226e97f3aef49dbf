"""Request ids: taken from a well-formed ``X-Request-ID`` header or made up, echoed back and put in every log line."""

from __future__ import annotations

import logging
import os
import re

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
_SAFE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current_request_id() -> str | None:
    """Return the id of the request being served, if any."""
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


def init_request_ids(app: Flask) -> None:
    """Assign each request an id and log with it."""

    @app.before_request
    def _assign() -> None:
        given = request.headers.get(HEADER)
        g.request_id = given if given and _SAFE.match(given) else os.urandom(16).hex()

    @app.after_request
    def _echo(response: Response) -> Response:
        if "request_id" in g:
            response.headers[HEADER] = g.request_id
        return response

    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(logging.INFO)
    app.logger.propagate = False
