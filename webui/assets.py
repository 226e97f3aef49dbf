"""Front-end assets served from installed Python packages, never a CDN: Swagger UI and the Plotly chart library."""

from __future__ import annotations

from pathlib import Path

import plotly
import swagger_ui_bundle
from flask import Flask, abort, send_from_directory

SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
PLOTLY_DIR = Path(plotly.__file__).parent / "package_data"
_SWAGGER_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}


def init_assets(app: Flask) -> None:
    """Serve the vendored files that the docs and dashboards load."""

    @app.get("/api/docs/assets/<path:filename>")
    def swagger_asset(filename: str):
        if filename not in _SWAGGER_FILES:
            abort(404)
        return send_from_directory(SWAGGER_DIR, filename, max_age=86400)

    @app.get("/assets/vendor/plotly.min.js")
    def plotly_js():
        return send_from_directory(PLOTLY_DIR, "plotly.min.js", max_age=86400)
