"""Server-rendered pages, one blueprint per area; they call the same services as the API."""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import lazy_gettext as _l

from webui.auth import login_manager, page_actor


def init_pages(app: Flask) -> None:
    """Register the page blueprints and the template context every page needs."""
    from webui.pages import (
        admin,
        agreements_pages,
        alerts,
        audit_labels,
        audits,
        auth,
        circulation,
        credit,
        dashboard,  # noqa: F401  (adds the dashboard routes to the audit pages)
        home,
        labels,
        money,
        money_labels,
        order_labels,
        orders,
        prescriptions,
        reconciliation,
        shipment_pages,  # noqa: F401  (adds the shipment document and take-back routes to the order pages)
        supply_labels,
        supply_pages,
        surplus,
        tender_labels,
        tenders,
        tokens,
        trace,
        trace_labels,
        trace_views,
    )
    from webui.pages.common import page_count, page_url

    for module in (
        auth,
        home,
        tokens,
        admin,
        trace,
        tenders,
        orders,
        supply_pages,
        money,
        agreements_pages,
        alerts,
        audits,
        credit,
        prescriptions,
        circulation,
        surplus,
        reconciliation,
    ):
        app.register_blueprint(module.bp)

    # Flask-Login flashes this when a signed-out visitor opens a page; str() renders it in the visitor's language
    # at that moment (the session cookie cannot hold a lazy string).
    login_manager.login_message = _l("Please sign in to open this page.")
    login_manager.login_message_category = "info"
    login_manager.localize_callback = str

    for name in ("kind_label", "grade_label", "role_label", "group_label", "action_label", "object_type_label"):
        app.add_template_filter(getattr(labels, name), name)
    for name in trace_labels.FILTERS:
        app.add_template_filter(getattr(trace_labels, name), name)
    for name in tender_labels.FILTERS:
        app.add_template_filter(getattr(tender_labels, name), name)
    for name in order_labels.FILTERS:
        app.add_template_filter(getattr(order_labels, name), name)
    for name in money_labels.FILTERS:
        app.add_template_filter(getattr(money_labels, name), name)
    for name in supply_labels.FILTERS:
        app.add_template_filter(getattr(supply_labels, name), name)
    for name in audit_labels.FILTERS:
        app.add_template_filter(getattr(audit_labels, name), name)
    app.add_template_filter(trace_views.key_to_code, "code_of_key")
    app.add_template_global(page_url, "page_url")
    app.add_template_global(page_count, "page_count")

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
