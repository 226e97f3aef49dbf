"""Server-rendered pages, one blueprint per area; they call the same services as the API."""

from __future__ import annotations

from flask import Flask, g, request

from webui.auth import page_actor


def init_pages(app: Flask) -> None:
    """Register the page blueprints and the template context every page needs."""
    from webui.pages import auth, home

    for module in (auth, home):
        app.register_blueprint(module.bp)

    @app.before_request
    def _set_actor() -> None:
        if not (request.blueprint or "").endswith("_api"):
            g.actor = page_actor()

    @app.context_processor
    def _inject() -> dict:
        from flask_babel import get_locale

        from webui.i18n import LOCALES
        from webui.pages.nav import navigation

        actor = g.get("actor")
        return {"actor": actor, "nav": navigation(actor), "locales": LOCALES, "get_locale": get_locale}
