"""Navigation by role: each user group sees the areas it works in."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from core.actor import Actor
from core.roles import Role

# The order pages that count as the "Orders" section (the stock page has its own entry).
ORDER_PAGES = tuple(
    f"order_pages.{name}"
    for name in ("new_order", "order", "confirm", "reject", "cancel", "ship", "receive", "report_problem")
)
# The supply pages that count as the "Supply" section, for suppliers and for overseers.
SUPPLY_PAGES = ("supply_pages.file_report", "supply_pages.report_stop", "supply_pages.resolve_problem")
SUPPLY_OVERVIEW_PAGES = ("supply_pages.run_risk_check", "supply_pages.problems")

# The money and agreement pages that count as their sections.
INVOICE_PAGES = ("money_pages.invoice", "money_pages.new_invoice")
PAYMENT_PAGES = ("money_pages.pay", "money_pages.record_prepayment")
AGREEMENT_PAGES = tuple(
    f"agreement_pages.{name}" for name in ("check_progress", "online_share_page", "declare_offline_purchase")
)
# The alerts workbench and audit-run pages.
ALERT_PAGES = ("alert_pages.detail", "alert_pages.review", "alert_pages.answer")
AUDIT_RUN_PAGES = ("audit_pages.start_run", "audit_pages.run")
DASHBOARD_PAGES = ("audit_pages.dashboard_export",)
RX_PAGES = tuple(f"prescription_pages.{name}" for name in ("upload", "report", "physicians", "register_roster"))
CREDIT_PAGES = ("credit_pages.case", "credit_pages.record_case", "credit_pages.report_repair", "credit_pages.approve")


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object
    # Endpoints that count as "this section" for highlighting (a home link is current on every group's home).
    also: tuple[str, ...] = ()

    def is_current(self, endpoint: str | None) -> bool:
        """Return whether the page being shown belongs to this entry."""
        return endpoint == self.endpoint or endpoint in self.also


def navigation(actor: Actor | None) -> list[NavItem]:
    """Return the navigation entries for an actor (empty when signed out)."""
    if actor is None:
        return []
    items = [
        NavItem("home_pages.home", _l("Home"), also=("home_pages.group_home",)),
        NavItem("home_pages.catalogue", _l("Catalogue")),
        NavItem("tender_pages.tenders", _l("Tenders"), also=("tender_pages.tender", "tender_pages.new_tender")),
    ]
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.SUPPLIER_REP, Role.AUDITOR):
        items.append(NavItem("order_pages.orders", _l("Orders"), also=ORDER_PAGES))
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER):
        items.append(NavItem("order_pages.stock", _l("Stock")))
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.SUPPLIER_REP, Role.AUDITOR):
        items += [
            NavItem("money_pages.invoice_list", _l("Invoices"), also=INVOICE_PAGES),
            NavItem("money_pages.payables", _l("Payments"), also=PAYMENT_PAGES),
        ]
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.AUDITOR):
        items.append(NavItem("agreement_pages.progress_page", _l("Agreed volumes"), also=AGREEMENT_PAGES))
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.AUDITOR, Role.ADMIN):
        surplus_pages = tuple(f"surplus_pages.{n}" for n in ("inputs", "save_input", "compute", "export"))
        items.append(NavItem("surplus_pages.results", _l("Surplus retention"), also=surplus_pages))
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.AUDITOR, Role.ADMIN):
        items.append(NavItem("circulation_pages.indicators_page", _l("Circulation")))
    if actor.has(Role.SUPPLIER_REP):
        items.append(NavItem("supply_pages.supplier", _l("Supply"), also=SUPPLY_PAGES))
    elif actor.has(Role.AUDITOR, Role.ORGANISER):
        items.append(NavItem("supply_pages.overview", _l("Supply"), also=SUPPLY_OVERVIEW_PAGES))
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER):
        items.append(NavItem("supply_pages.problems", _l("Supply problems")))
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.SUPPLIER_REP):
        items.append(NavItem("trace_pages.scan", _l("Scan to verify"), also=("trace_pages.check_scan",)))
    if actor.has(Role.AUDITOR, Role.ADMIN):
        items.append(NavItem("trace_pages.find_item", _l("Trace a pack"), also=("trace_pages.item",)))
    items.append(NavItem("trace_pages.ledger_status", _l("Ledger"), also=("trace_pages.verify_now",)))
    items.append(NavItem("alert_pages.queue", _l("Alerts"), also=ALERT_PAGES))
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.AUDITOR):
        items.append(NavItem("prescription_pages.imports", _l("Prescriptions"), also=RX_PAGES))
    if actor.has(Role.AUDITOR, Role.ADMIN, Role.SUPPLIER_REP):
        items.append(NavItem("credit_pages.index", _l("Credit rating"), also=CREDIT_PAGES))
    if actor.has(Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.SUPPLIER_REP, Role.AUDITOR, Role.ADMIN):
        recon = tuple(f"reconciliation_pages.{n}" for n in ("invoice", "registers", "add_equivalent", "add_remote_area",
                                                              "add_group", "export"))  # fmt: skip
        items.append(NavItem("reconciliation_pages.violations", _l("Two-invoice reconciliation"), also=recon))
    if actor.has(Role.AUDITOR, Role.ADMIN):
        items += [
            NavItem("audit_pages.dashboard", _l("Dashboard"), also=DASHBOARD_PAGES),
            NavItem("audit_pages.runs_page", _l("Audit runs"), also=AUDIT_RUN_PAGES),
        ]
    if actor.has(Role.ADMIN):
        items += [
            NavItem("admin_pages.audit", _l("Audit trail")),
            NavItem("admin_pages.organisations", _l("Organisations"), also=("admin_pages.new_organisation",)),
            NavItem("admin_pages.users", _l("Users"), also=("admin_pages.new_user",)),
        ]
    items.append(NavItem("tokens_pages.tokens", _l("API tokens"), also=("tokens_pages.create_token",)))
    return items
