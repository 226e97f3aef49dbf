"""Rows of the authorization matrix for the reconciliation endpoints.

Violations are a scoped list (auditors all, hospitals and suppliers their own, organisers nothing: 403). A verdict
is read through its invoice, so it follows the invoice's scope (``matrix_money``): "own" is the second invoice of a
shipment the caller's hospital received or its firm supplied. The registers are read by everyone and kept by
auditors and administrators; each POST registers fresh organisations, so "own" and "foreign" both succeed.
"""

from __future__ import annotations

import datetime as dt
import itertools

from core.db import utcnow
from core.roles import OrgKind, Role
from procurement.audit.reconciliation_models import ReconciliationVerdict
from tests.webui.matrix_money import staged_invoice
from tests.webui.matrix_orders import HOSPITAL_ROLES

_prefixes = itertools.count(10)


def _verdict(w, scope: str):
    invoice = staged_invoice(w, scope)
    db = w.factory.db
    today = utcnow().date()
    db.add(
        ReconciliationVerdict(
            invoice_id=invoice.id, shipment_id=invoice.shipment_id, hospital_id=invoice.hospital_id,
            seller_org_id=invoice.seller_org_id, verdict="pay", reasons=[], lines=[], rule={},
            period_start=today, period_end=today + dt.timedelta(days=1),
        )
    )  # fmt: skip
    db.flush()
    return "GET", f"/api/v1/reconciliation/invoices/{invoice.id}", None


def _equivalent(w, _scope: str):
    company, maker = w.factory.org(OrgKind.DISTRIBUTOR), w.factory.org(OrgKind.MANUFACTURER)
    body = {"org_id": company.id, "principal_org_id": maker.id, "kind": "sales_company", "valid_from": "2026-01-01"}
    return "POST", "/api/v1/reconciliation/equivalents", body


def _remote_area(_w, _scope: str):
    body = {"region_prefix": f"{next(_prefixes) % 90 + 10}{next(_prefixes) % 90 + 10}", "name": "偏远地区",
            "listed_by": "省医保局", "valid_from": f"20{next(_prefixes) % 70 + 30}-01-01"}  # fmt: skip
    return "POST", "/api/v1/reconciliation/remote-areas", body


def _group(w, _scope: str):
    members = [w.factory.org(OrgKind.DISTRIBUTOR).id for _ in range(2)]
    return "POST", "/api/v1/reconciliation/groups", {"name": f"集团{members[0]}", "member_org_ids": members}


def reconciliation_rows(Row):
    """Return the matrix rows of the reconciliation endpoints."""
    everyone = dict.fromkeys(Role, (200, 200))
    readers = {**everyone, Role.ORGANISER: (403, 403)}
    verdicts = {
        **dict.fromkeys((*HOSPITAL_ROLES, Role.SUPPLIER_REP), (200, 404)),
        Role.AUDITOR: (200, 200), Role.ADMIN: (200, 200), Role.ORGANISER: (404, 404),
    }  # fmt: skip
    keepers = {role: (201, 201) if role in (Role.AUDITOR, Role.ADMIN) else (403, 403) for role in Role}
    base = "/api/v1/reconciliation"
    return [
        Row("GET", f"{base}/violations", lambda w, s: ("GET", f"{base}/violations", None), readers),
        Row("GET", f"{base}/invoices/<int:invoice_id>", _verdict, verdicts),
        Row("GET", f"{base}/equivalents", lambda w, s: ("GET", f"{base}/equivalents", None), everyone),
        Row("POST", f"{base}/equivalents", _equivalent, keepers),
        Row("GET", f"{base}/remote-areas", lambda w, s: ("GET", f"{base}/remote-areas", None), everyone),
        Row("POST", f"{base}/remote-areas", _remote_area, keepers),
        Row("GET", f"{base}/groups", lambda w, s: ("GET", f"{base}/groups", None), everyone),
        Row("POST", f"{base}/groups", _group, keepers),
    ]
