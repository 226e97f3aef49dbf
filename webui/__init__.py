"""The only door to HTTP: the application factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from webui.config import load_config

csrf = CSRFProtect()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: configuration from ``YAOLIAN_*`` variables, then ``config`` overrides on top."""
    settings = load_config()
    if config:
        settings.update(config)
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"], instance_relative_config=False)
    app.config.update(settings)
    if app.config.get("PROXY_HOPS"):  # the client's own address for sign-in limits and logs, not the proxy's
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.json.sort_keys = False  # keys in schema order; sorting every response costs time for nothing
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from webui.api import init_api
    from webui.assets import init_assets
    from webui.auth import init_auth
    from webui.db import init_db
    from webui.errors import init_errors
    from webui.headers import init_security_headers
    from webui.i18n import init_i18n
    from webui.pages import init_pages
    from webui.requestid import init_request_ids

    init_request_ids(app)
    init_security_headers(app)
    init_db(app)
    init_auth(app)
    init_i18n(app)
    csrf.init_app(app)
    api = init_api(app)
    for name in api._app.blueprints:  # bearer-token API: no cookies, hence no CSRF
        if name.endswith("_api"):
            csrf.exempt(app.blueprints[name])
    init_assets(app)
    init_pages(app)
    init_errors(app)
    return app
