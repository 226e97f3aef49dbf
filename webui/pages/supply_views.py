"""What the supply pages show between the services and the templates: the report grid, names, problems, alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_wtf import FlaskForm
from sqlmodel import Session

from core.actor import Actor
from core.alerts import Alert
from core.audit import list_audit
from core.db import utcnow
from core.errors import DomainError
from core.models import AuditRecord, Organisation
from core.pagination import MAX_PER_PAGE, Page
from procurement.catalogue import Product
from procurement.orders import supply
from procurement.orders.models import PurchaseOrder
from procurement.orders.supply_models import SupplyProblem, SupplyReport
from procurement.tenders.models import Award
from webui.pages.supply_forms import ReportForm
from webui.pages.supply_labels import ERROR_CODES, supply_message


@dataclass
class WonProduct:
    """A product the supplier won, with the supply cycles of its awards."""

    id: int
    name: str
    package_spec: str
    cycles: list[tuple[dt.date, dt.date]] = field(default_factory=list)

    def won_in(self, month: dt.date) -> bool:
        """Return whether an award of the product covers any day of ``month``."""
        last = supply.next_month(month) - dt.timedelta(days=1)
        return any(start <= last and end >= month for start, end in self.cycles)

    def won_on_or_after(self, day: dt.date) -> bool:
        """Return whether an award of the product runs on ``day`` or later (a stop may be announced for it)."""
        return any(end >= day for _start, end in self.cycles)


@dataclass
class ReportCell:
    """One product's monthly report in one month: where it stands, the report if filed, and its form."""

    month: dt.date
    due_on: dt.date
    state: str
    report: SupplyReport | None
    form: ReportForm | None
    amendments: list[AuditRecord]


def china_today() -> dt.date:
    """Return today's date in China, the calendar the report deadlines keep."""
    return supply.china_today(utcnow())


def months_shown(today: dt.date) -> list[dt.date]:
    """Return the previous and the current month (first days), the two a supplier reports on."""
    current = supply.first_of_month(today)
    return [supply.first_of_month(current - dt.timedelta(days=1)), current]


def all_items(fetch: Callable[[int], Page[Any]]) -> list[Any]:
    """Return every item of a paginated service call, page by page; ``fetch`` takes the page number."""
    items: list[Any] = []
    page = 1
    while True:
        batch = fetch(page)
        items.extend(batch.items)
        if page * batch.per_page >= batch.total:
            return items
        page += 1


def won_products(session: Session, *, supplier_id: int, since: dt.date) -> list[WonProduct]:
    """Return the products ``supplier_id`` won in supply cycles that end on ``since`` or later, by name."""
    stmt = (
        sa.select(Award.product_id, Award.cycle_start, Award.cycle_end, Product)
        .join(Product, Product.id == Award.product_id)
        .where(Award.supplier_id == supplier_id, Award.cycle_end >= since)
        .order_by(Product.generic_name, Product.id, Award.cycle_start)
    )
    found: dict[int, WonProduct] = {}
    for product_id, start, end, product in session.execute(stmt).all():
        entry = found.get(product_id) or WonProduct(product_id, product_label(product), product.package_spec or "")
        entry.cycles.append((start, end))
        found[product_id] = entry
    return list(found.values())


def product_label(product: Product) -> str:
    """Return a product as the pages name it: generic name, strength and dosage form."""
    return " · ".join(part for part in (product.generic_name, product.strength, product.dosage_form) if part)


def report_prefix(product_id: int, month: dt.date) -> str:
    """Return the prefix that keeps one product-month report form's fields apart from the others on the page."""
    return f"r{product_id}-{month:%Y%m}"


def report_state(report: SupplyReport | None, *, won: bool, due_on: dt.date, today: dt.date) -> str:
    """Return where a month's report stands: filed, late (filed after its due day), missing, due or not_won."""
    if report is not None:
        return "late" if report.late else "filed"
    if not won:
        return "not_won"
    return "missing" if today > due_on else "due"


def report_grid(
    session: Session,
    *,
    actor: Actor,
    products: list[WonProduct],
    months: list[dt.date],
    today: dt.date,
    forms: dict[str, ReportForm],
) -> list[tuple[WonProduct, list[ReportCell]]]:
    """Return each won product with a cell per month: state, due day, report, amendments and form."""
    reports: dict[tuple[int, dt.date], SupplyReport] = {}
    for month in months:
        for report in all_items(
            lambda page, month=month: supply.list_supply_reports(
                session, actor=actor, month=month, page=page, per_page=MAX_PER_PAGE
            )
        ):
            reports[(report.product_id, report.month)] = report
    since = dt.datetime.combine(min(months) - dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    amendments = amendments_of(session, actor=actor, report_ids={r.id for r in reports.values()}, since=since)
    grid = []
    for product in products:
        cells = []
        for month in months:
            report, won, due_on = reports.get((product.id, month)), product.won_in(month), supply.report_due_on(month)
            prefix = report_prefix(product.id, month)
            form = None
            if won:
                figures = {name: getattr(report, name) for name in supply.FIGURES} if report else {}
                form = forms.get(prefix) or ReportForm(formdata=None, prefix=prefix, data=figures)
            state = report_state(report, won=won, due_on=due_on, today=today)
            history = amendments.get(report.id, []) if report else []
            cells.append(ReportCell(month, due_on, state, report, form, history))
        grid.append((product, cells))
    return grid


def amendments_of(
    session: Session, *, actor: Actor, report_ids: set[int], since: dt.datetime
) -> dict[int, list[AuditRecord]]:
    """Return the audit records of the amendments of ``report_ids`` made since ``since``, oldest first."""
    if not report_ids:
        return {}
    records = all_items(
        lambda page: list_audit(
            session,
            actor=actor,
            action="supply.report_amended",
            object_type="supply_report",
            since=since,
            page=page,
            per_page=MAX_PER_PAGE,
        )
    )
    found: dict[int, list[AuditRecord]] = {}
    for record in reversed(records):  # newest first from the service
        if record.object_id.isdigit() and int(record.object_id) in report_ids:
            found.setdefault(int(record.object_id), []).append(record)
    return found


# ---------------------------------------------------------------- names and rows


def org_names(session: Session, org_ids: set[int]) -> dict[int, str]:
    """Return the names of organisations by id."""
    if not org_ids:
        return {}
    stmt = sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))
    return dict(session.execute(stmt).all())


def product_labels(session: Session, product_ids: set[int]) -> dict[int, str]:
    """Return the page names of products by id."""
    if not product_ids:
        return {}
    products = session.exec(sa.select(Product).where(Product.id.in_(product_ids))).scalars()
    return {p.id: product_label(p) for p in products}


def problem_rows(session: Session, problems: list[SupplyProblem]) -> list[dict[str, Any]]:
    """Return problems with their order number, the parties' names and how many days they stayed (or are) open."""
    order_ids = {p.order_id for p in problems}
    numbers = {}
    if order_ids:
        stmt = sa.select(PurchaseOrder.id, PurchaseOrder.number).where(PurchaseOrder.id.in_(order_ids))
        numbers = dict(session.execute(stmt).all())
    names = org_names(session, {p.hospital_id for p in problems} | {p.supplier_id for p in problems})
    now = utcnow()
    rows = []
    for problem in problems:
        # 1.8.4 scores how long problems stay open, so the page shows it alongside each one.
        days_open = ((problem.resolved_at or now) - problem.reported_at).days
        rows.append(
            {
                "problem": problem,
                "order_number": numbers.get(problem.order_id, ""),
                "hospital_name": names.get(problem.hospital_id, ""),
                "supplier_name": names.get(problem.supplier_id, ""),
                "days_open": max(days_open, 0),
            }
        )
    return rows


def alert_rows(session: Session, alerts: list[Alert]) -> list[dict[str, Any]]:
    """Return the alerts of a risk check with the names of the supplier and product they concern."""
    names = org_names(session, {a.subject_org_id for a in alerts if a.subject_org_id})
    products = product_labels(session, {int(a.evidence["product_id"]) for a in alerts if a.evidence.get("product_id")})
    return [
        {
            "alert": alert,
            "supplier_name": names.get(alert.subject_org_id or 0, ""),
            "product_name": products.get(int(alert.evidence.get("product_id") or 0), ""),
        }
        for alert in alerts
    ]


def show_supply_errors(form: FlaskForm, exc: DomainError) -> list[str]:
    """Put a refused supply form's errors next to its fields; return the head sentence and the errors of no field."""
    head = ERROR_CODES.get(exc.code or "")
    general = [str(head)] if head is not None else []
    if not exc.errors:
        general.append(supply_message(exc.message))
    for name, messages in exc.errors.items():
        texts = [supply_message(str(m)) for m in (messages if isinstance(messages, list) else [messages])]
        target = form._fields.get(name)
        if target is None:
            general.extend(texts)
        else:
            target.errors = [*target.errors, *texts]
    return list(dict.fromkeys(general))
