"""What the money pages do between a form and the services: prefill an invoice from its shipment, place errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel import Session

from core import accounts
from core.actor import Actor
from core.errors import DomainError
from core.pagination import MAX_PER_PAGE
from core.roles import OrgKind
from procurement import catalogue
from procurement.orders import invoices, reads
from procurement.orders.invoice_checks import PRICE_PLACES, shipped_packs
from procurement.orders.models import Shipment
from procurement.tenders.reads import PUBLISHED
from procurement.tenders.setup import list_tenders
from webui.pages.common import all_organisations
from webui.pages.money_forms import DEFAULT_VAT, InvoiceForm
from webui.pages.money_labels import money_general, money_message

_LINE_FIELD = re.compile(r"^lines\.(\d+)\.(\w+)$")


def org_names(session: Session, actor: Actor) -> dict[int, str]:
    """Return every organisation's name by id (the directory is open to every signed-in user)."""
    return {org.id: org.name for org in all_organisations(session, actor=actor)}


def hospital_choices(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """Return the hospitals as (id, name) choices, by name."""
    return [(org.id, org.name) for org in all_organisations(session, actor=actor) if org.kind == OrgKind.HOSPITAL]


def published_tenders(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """Return the tenders whose awards are published, newest first, as (id, title) choices."""
    found, page = [], 1
    while True:
        batch = list_tenders(session, actor=actor, page=page, per_page=MAX_PER_PAGE)
        found += [(tender.id, tender.title) for tender in batch.items if tender.status in PUBLISHED]
        if page * batch.per_page >= batch.total:
            return found
        page += 1


def add_errors(field_: Any, texts: list[str]) -> None:
    """Show messages next to a form field, after those it already has."""
    field_.errors = [*field_.errors, *texts]


def show_errors(form: Any, exc: DomainError, names: tuple[str, ...]) -> list[str]:
    """Put a service's field errors next to the named fields of a form; return the messages that belong nowhere."""
    general = [money_general(exc)]
    for name, messages in exc.errors.items():
        texts = [money_message(str(m)) for m in (messages if isinstance(messages, list) else [messages])]
        if name in names:
            add_errors(form[name], texts)
        else:
            general += texts
    return list(dict.fromkeys(general))


# ---------------------------------------------------------------- invoices


@dataclass
class InvoiceSheet:
    """What an invoice upload page shows about its shipment, and what its form starts with."""

    shipment: Shipment
    kind: str
    order: dict[str, Any]
    rows: dict[tuple[str, str], dict[str, Any]]  # (product id, batch) → name, packs shipped and already invoiced
    invoices: list[dict[str, Any]]  # invoices of this kind already uploaded for the shipment
    sellers: list[tuple[int, str]]
    buyers: list[tuple[int, str]]
    defaults: dict[str, Any] = field(default_factory=dict)
    blocked: bool = False  # a manufacturer delivering itself issues no first invoice (rulebook 4.1)


def invoice_sheet(session: Session, *, shipment: Shipment, kind: str, actor: Actor) -> InvoiceSheet:
    """Describe a shipment for its invoice: one line per (product, batch) shipped, parties prefilled."""
    order = reads.order_detail(session, order_id=shipment.order_id, actor=actor)
    names = org_names(session, actor)
    products = {line["product_id"]: line for line in order["lines"]}
    earlier = invoices.list_invoices(session, actor=actor, kind=kind, shipment_id=shipment.id, per_page=MAX_PER_PAGE)
    invoiced: dict[tuple[int, str], int] = {}
    for invoice in earlier.items:
        for line in invoice["lines"]:
            invoiced[(line.product_id, line.batch)] = invoiced.get((line.product_id, line.batch), 0) + line.quantity
    rows, lines = {}, []
    for (product_id, batch), shipped in sorted(shipped_packs(session, shipment.id, kind).items()):
        done = invoiced.get((product_id, batch), 0)
        line = products.get(product_id, {})
        rows[(str(product_id), batch)] = {
            "name": f"{line.get('generic_name', product_id)} · {line.get('strength', '')}",
            "package_spec": line.get("package_spec", ""),
            "shipped": shipped.quantity,
            "invoiced": done,
            "order_price": shipped.order_price,
        }
        if shipped.quantity > done:
            lines.append(_line_defaults(product_id, batch, shipped.quantity - done, shipped.order_price, kind))
    supplier = (shipment.supplier_id, names.get(shipment.supplier_id, str(shipment.supplier_id)))
    if kind == "second":
        sellers, buyers = [supplier], [(shipment.hospital_id, names.get(shipment.hospital_id, ""))]
    else:
        sellers, buyers = _makers(session, {p for p, _b in rows}, names, actor), [supplier]
    sheet = InvoiceSheet(shipment, kind, order, rows, earlier.items, sellers, buyers)
    supplier_kind = accounts.get_organisation(session, org_id=shipment.supplier_id, actor=actor).kind
    sheet.blocked = kind == "first" and supplier_kind == OrgKind.MANUFACTURER
    sheet.defaults = {"seller_org_id": sellers[0][0] if sellers else None, "buyer_org_id": buyers[0][0], "lines": lines}
    return sheet


def _line_defaults(product_id: int, batch: str, quantity: int, order_price: Decimal, kind: str) -> dict[str, Any]:
    line: dict[str, Any] = {
        "product_id": str(product_id),
        "batch": batch,
        "quantity": quantity,
        "tax_rate": DEFAULT_VAT,
    }
    if kind == "second":
        # The hospital pays the order's price, tax included: the second invoice's price before tax follows from it.
        line["unit_price"] = (order_price / (1 + Decimal(DEFAULT_VAT))).quantize(PRICE_PLACES, rounding=ROUND_HALF_UP)
    return line


def _makers(session: Session, product_ids: set[str], names: dict[int, str], actor: Actor) -> list[tuple[int, str]]:
    """Return the makers and authorisation holders of the shipped products: the usual sellers of a first invoice."""
    found: dict[int, str] = {}
    for product_id in sorted(product_ids, key=int):
        product = catalogue.get_product(session, product_id=int(product_id), actor=actor)
        for org_id in (product.manufacturer_id, product.mah_id):
            if org_id is not None:
                found.setdefault(org_id, names.get(org_id, str(org_id)))
    return list(found.items())


def invoice_lines(form: InvoiceForm) -> list[tuple[Any, invoices.InvoiceLineIn]]:
    """Return the lines typed on the form (a blank line is not on the invoice), with the form each came from."""
    sent = []
    for entry in form.lines.entries:
        line = entry.form
        if line.is_blank():
            continue
        product_id = int(line.product_id.data) if (line.product_id.data or "").isdigit() else 0
        rate = Decimal(line.tax_rate.data) if line.tax_rate.data else None
        values = (line.quantity.data, line.unit_price.data, rate, line.amount.data, line.tax.data)
        sent.append((line, invoices.InvoiceLineIn(product_id, line.batch.data or "", *values)))
    return sent


def show_invoice_errors(form: InvoiceForm, sent: list[tuple[Any, Any]], exc: DomainError) -> list[str]:
    """Put a refused invoice's errors by the line and field they name; return those that belong nowhere."""
    general = [money_general(exc)]
    for name, messages in exc.errors.items():
        texts = [money_message(str(m)) for m in messages]
        match = _LINE_FIELD.match(name)
        if match and int(match[1]) < len(sent) and match[2] in sent[int(match[1])][0]._fields:
            add_errors(sent[int(match[1])][0][match[2]], texts)
        elif name in ("number", "issued_on", "seller_org_id", "buyer_org_id", "amount", "tax", "total"):
            add_errors(form[name], texts)
        else:
            general += texts
    return list(dict.fromkeys(general))
