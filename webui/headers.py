"""Security headers on every response: no framing (clickjacking), no content sniffing, no referrer to other sites,
and HTTPS pinned in production.

No script policy is set beyond ``frame-ancestors``: pages and charts load every asset from this site already, and a
full Content-Security-Policy would have to follow every template's inline handlers.
"""

from __future__ import annotations

from flask import Flask, Response

HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def init_security_headers(app: Flask) -> None:
    """Add the headers to every response (a view that set one keeps its own)."""
    headers = dict(HEADERS)
    if app.config.get("YAOLIAN_ENV") == "production":
        headers["Strict-Transport-Security"] = HSTS

    @app.after_request
    def _secure(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
