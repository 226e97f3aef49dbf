"""What the order pages do between a form and the order services: split a cart, put service errors by their fields."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import abort
from flask_babel import gettext as _
from sqlmodel import Session

from core.actor import Actor
from core.errors import CONFLICT, FORBIDDEN, NOT_FOUND, DomainError
from procurement.orders import fulfilment, ordering, receiving
from procurement.orders.buyable import Buyable
from procurement.orders.models import PriceBasis, PurchaseOrder
from trace.canonical import canonical_bytes
from webui.pages.order_forms import CartForm, ReceiveForm, ShipForm, scan_lines
from webui.pages.order_labels import general_message, order_message
from webui.pages.trace_views import printable

_LINE_FIELD = re.compile(r"^lines\.(\d+)\.(\w+)(?:\.(\d+))?$")
_SCAN_FIELD = re.compile(r"^(codes|refusals)\.(\d+)")
_TRACE_FIELD = re.compile(r"^codes \((.*)\)$", re.DOTALL)  # how the receipt names a code the trace record refused


def digest(value: Any) -> str:
    """Fingerprint what a form asks for: a retry with the same key must ask for the same thing."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def status_of(exc: DomainError) -> int:
    """Return the status a refused form is answered with; not found and forbidden end the request."""
    if exc.kind == NOT_FOUND:
        abort(404)
    if exc.kind == FORBIDDEN:
        abort(403)
    return 409 if exc.kind == CONFLICT else 422


def _add(field: Any, texts: list[str]) -> None:
    field.errors = [*field.errors, *texts]


def code_error(position: int, code: str, message: str) -> str:
    """Say which scan of a box is wrong, the code as it can be shown, and why."""
    problem = order_message(message, scanned=code)
    return _("Scan %(num)s, %(code)s: %(problem)s", num=position + 1, code=printable(code), problem=problem)


# ---------------------------------------------------------------- the cart


def catalogue_order(offer: dict[int, Buyable]) -> list[Buyable]:
    """Return awarded products first (with their tender), then listed ones, each by generic name."""
    return sorted(offer.values(), key=lambda b: (b.price_basis != PriceBasis.AWARDED, b.generic_name, b.product_id))


def cart_rows(form: CartForm, offer: dict[int, Buyable]) -> list[tuple[Any, Buyable | None]]:
    """Pair each cart line with the product it orders (None when it can no longer be ordered)."""
    rows = []
    for entry in form.lines.entries:
        product_id = entry.form.product_id.data or ""
        rows.append((entry.form, offer.get(int(product_id)) if product_id.isdigit() else None))
    return rows


def supplier_name(offer: dict[int, Buyable], order: PurchaseOrder) -> str:
    """Return the name of an order's supplier as the catalogue shows it."""
    return next((item.supplier_name for item in offer.values() if item.supplier_id == order.supplier_id), "")


def place_cart(
    session: Session, *, form: CartForm, offer: dict[int, Buyable], actor: Actor
) -> tuple[list[tuple[PurchaseOrder, bool]], list[str], int]:
    """Place one order per supplier of the cart; return the orders, the general errors and the status to answer."""
    groups: dict[int, list[tuple[Any, ordering.OrderLineIn]]] = {}
    missing = False
    for line_form, item in cart_rows(form, offer):
        if not line_form.quantity.data:
            continue
        if item is None:
            _add(line_form.quantity, [_("This product can no longer be ordered.")])
            missing = True
            continue
        line = ordering.OrderLineIn(item.product_id, line_form.quantity.data)
        groups.setdefault(item.supplier_id, []).append((line_form, line))
    if missing:
        return [], [_("Some lines need correcting; nothing was ordered.")], 422
    if not groups:
        return [], [_("Enter a number of packs for at least one product.")], 422
    placed, general, status = [], [], 200
    note = form.note.data or ""
    for supplier_id, lines in groups.items():
        try:
            placed.append(
                ordering.place_order(
                    session,
                    hospital_id=actor.org_id,
                    lines=[line for _form, line in lines],
                    actor=actor,
                    note=note,
                    # One key per supplier, derived from the form's: a double submit finds each order again.
                    idempotency_key=f"{form.key.data}:{supplier_id}",
                    request_sha256=digest({"lines": [[x.product_id, x.quantity] for _f, x in lines], "note": note}),
                )
            )
        except DomainError as exc:
            status = max(status, status_of(exc))
            general.append(general_message(exc))
            for name, messages in exc.errors.items():
                match = _LINE_FIELD.match(name)
                texts = [order_message(str(m)) for m in messages]
                if match and int(match[1]) < len(lines):
                    _add(lines[int(match[1])][0].quantity, texts)
                else:
                    general.extend(texts)
    return placed, list(dict.fromkeys(general)), status


# ---------------------------------------------------------------- shipping and receiving


def ship_lines(form: ShipForm) -> list[tuple[Any, fulfilment.ShipLineIn]]:
    """Return the lines of the ship form that have codes, with the line each came from."""
    sent = []
    for entry in form.lines.entries:
        codes = scan_lines(entry.form.codes.data)
        if codes:
            line_no, batch, expiry = int(entry.form.line_no.data), entry.form.batch.data or None, entry.form.expiry.data
            sent.append((entry.form, fulfilment.ShipLineIn(line_no, codes, batch, expiry)))
    return sent


def show_ship_errors(form: ShipForm, sent: list[tuple[Any, fulfilment.ShipLineIn]], exc: DomainError) -> list[str]:
    """Put a refused shipment's errors by the line and scan they concern; return those that belong nowhere."""
    general = [general_message(exc)]
    for name, messages in exc.errors.items():
        match = _LINE_FIELD.match(name)
        if name == "delivery_note_number":
            _add(form.delivery_note_number, [order_message(str(m)) for m in messages])
        elif match and int(match[1]) < len(sent):
            line_form, line = sent[int(match[1])]
            position = int(match[3]) if match[3] is not None else None
            if position is not None and position < len(line.codes):
                _add(line_form.codes, [code_error(position, line.codes[position], str(m)) for m in messages])
            else:
                _add(line_form.codes, [order_message(str(m)) for m in messages])
        else:
            general += [order_message(str(m)) for m in messages]
    return general


def show_receive_errors(
    form: ReceiveForm, codes: list[str], refusals: list[receiving.RefusalIn], exc: DomainError
) -> list[str]:
    """Put a refused receipt's errors by the scan they concern; return those that belong nowhere."""
    general = [general_message(exc)]
    for name, messages in exc.errors.items():
        match, traced = _SCAN_FIELD.match(name), _TRACE_FIELD.match(name)
        if match and match[1] == "codes" and int(match[2]) < len(codes):
            _add(form.codes, [code_error(int(match[2]), codes[int(match[2])], str(m)) for m in messages])
        elif match and match[1] == "refusals" and int(match[2]) < len(refusals):
            code = refusals[int(match[2])].code
            _add(form.refusals, [code_error(int(match[2]), code, str(m)) for m in messages])
        elif name == "codes":
            _add(form.codes, [order_message(str(m)) for m in messages])
        elif traced:
            general += [f"{printable(traced[1])}: {order_message(str(m), scanned=traced[1])}" for m in messages]
        else:
            general += [order_message(str(m)) for m in messages]
    return general
