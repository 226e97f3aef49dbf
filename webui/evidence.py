"""Links from an alert's evidence to the pages and API resources behind it (invoices, orders, trace items, …).

Every source writes the ids of the rows behind a finding into the alert's evidence under conventional keys
(``invoice_id``/``invoice_ids``, ``order_id``, ``item``/``code``/``trace_code``, …). This module turns those into
links; keys it does not know stay visible as raw evidence on the alert page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import url_for
from werkzeug.routing import BuildError

from core.alerts import Alert

MAX_LINKS_PER_KIND = 50


@dataclass(frozen=True)
class Link:
    kind: str  # invoice, order, trace_item, credit_case, audit_run, …
    ident: str
    page: str | None  # a page URL, when there is a page for it
    api: str | None  # the API resource, when there is one


# Evidence key (singular; the plural "<key>s" holds a list) → the links it makes: (kind, page endpoint, page arg,
# API path template). An invoice links to its page and to its three-flow reconciliation (goods, invoices, money).
_INVOICE = (
    ("invoice", "money_pages.invoice", "invoice_id", "/api/v1/invoices/{}"),
    ("three_flows", "reconciliation_pages.invoice", "invoice_id", "/api/v1/reconciliation/invoices/{}"),
)
_ITEM = (("trace_item", "trace_pages.item", "code", "/api/v1/trace/items/{}"),)
KEYS: dict[str, tuple[tuple[str, str | None, str, str | None], ...]] = {
    "invoice_id": _INVOICE,
    "first_invoice_id": _INVOICE,
    "second_invoice_id": _INVOICE,
    "order_id": (("order", "order_pages.order", "order_id", "/api/v1/orders/{}"),),
    "item": _ITEM,
    "code": _ITEM,
    "trace_code": _ITEM,
    "pack_key": _ITEM,
    "item_key": _ITEM,
    "case_id": (("credit_case", "credit_pages.case", "case_id", "/api/v1/credit/cases/{}"),),
    "audit_run_id": (("audit_run", "audit_pages.run", "run_id", "/api/v1/audits/runs/{}"),),
}
# Keys whose values are row ids: a string under one of them is something else and links nowhere.
INTEGER_KEYS = frozenset({"case_id"})  # credit cases; consumable findings name the hospital's case as case_no
# An alert's own object, when it names a row with a page.
OBJECT_TYPES: dict[str, str] = {"invoice": "invoice_id", "order": "order_id", "trace_item": "item", "item": "item"}


def _values(evidence: Any) -> Iterator[tuple[str, Any]]:
    """Yield (key, value) for every known key anywhere in the evidence, lists unrolled."""
    if isinstance(evidence, dict):
        for key, value in evidence.items():
            singular = key[:-1] if key.endswith("s") and key[:-1] in KEYS else key
            if singular in KEYS:
                for one in value if isinstance(value, list) else [value]:
                    if singular in INTEGER_KEYS and (not isinstance(one, int) or isinstance(one, bool)):
                        continue  # e.g. a hospital's case number is no credit case id
                    if isinstance(one, (str, int)) and not isinstance(one, bool):
                        yield singular, one
                    elif isinstance(one, dict):
                        yield from _values(one)
            elif isinstance(value, (dict, list)):
                yield from _values(value)
    elif isinstance(evidence, list):
        for value in evidence:
            yield from _values(value)


def _page(endpoint: str | None, arg: str, ident: Any) -> str | None:
    if endpoint is None:
        return None
    if arg == "code" and isinstance(ident, str) and ":" in ident:  # a stored pack key (cn20:… / gs1:…)
        from webui.pages.trace_views import key_to_code

        ident = key_to_code(ident)
    try:
        return url_for(endpoint, **{arg: ident})
    except (BuildError, ValueError):  # the page does not exist in this build, or the id is not of its type
        return None


def _line_links(evidence: Any) -> list[Link]:
    """One link to the prescription lines a prescribing finding names (``line_ids``), if any."""
    ids = evidence.get("line_ids") if isinstance(evidence, dict) else None
    if not isinstance(ids, list) or not ids:
        return []
    wanted = ",".join(str(int(i)) for i in ids[:MAX_LINKS_PER_KIND] if isinstance(i, int) and not isinstance(i, bool))
    if not wanted:
        return []
    try:
        page = url_for("prescription_pages.lines", ids=wanted)
    except BuildError:
        page = None
    return [Link("prescription_lines", wanted, page, None)]


def evidence_links(alert: Alert) -> list[Link]:
    """Return one link per distinct row named in the alert's evidence (and its own object), in order of mention."""
    seen: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    links: list[Link] = _line_links(alert.evidence or {})
    pairs = list(_values(alert.evidence or {}))
    if alert.object_type in OBJECT_TYPES:
        pairs.insert(0, (OBJECT_TYPES[alert.object_type], alert.object_id))
    for key, ident in pairs:
        for kind, endpoint, arg, api in KEYS[key]:
            if (kind, str(ident)) in seen or counts.get(kind, 0) >= MAX_LINKS_PER_KIND:
                continue
            seen.add((kind, str(ident)))
            counts[kind] = counts.get(kind, 0) + 1
            links.append(Link(kind, str(ident), _page(endpoint, arg, ident), api.format(ident) if api else None))
    return links
