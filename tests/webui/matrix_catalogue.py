"""Rows of the authorization matrix for the catalogue's writes, export, template and imports."""

from __future__ import annotations

import itertools

from stdnum import ean

from core.actor import Actor
from core.roles import Role
from procurement.catalogue_io import ImportRejected, import_products

_n = itertools.count(1)
SYSTEM = Actor.system("matrix")


def _new_drug(w, scope: str):
    n = next(_n)
    body = f"0693599{n:06d}"
    return (
        "POST",
        "/api/v1/catalogue/products",
        {
            "generic_name": "阿托伐他汀钙片",
            "dosage_form": "片剂",
            "strength": "10mg",
            "pack_quantity": 28,
            "unit": "片",
            "package_spec": f"10mg×7片×4板 ({n})",
            "manufacturer_id": w.product.manufacturer_id,
            "approval_number": f"国药准字H2099{n % 10000:04d}",
            "gtin": body + ean.calc_check_digit(body),
        },
    )


def _import_id(w) -> int:
    """Keep one refused import per world (its report is what the read routes serve)."""
    if getattr(w, "_import_id", None) is None:
        try:
            import_products(w.factory.db, filename="m.csv", data="通用名\n甲\n".encode(), actor=SYSTEM)
        except ImportRejected as exc:
            w._import_id = exc.record.id
    return w._import_id


def catalogue_rows(Row):
    """Return the matrix rows of the catalogue endpoints added with imports and export."""
    admin_only = {role: ((201, 201) if role == Role.ADMIN else (403, 403)) for role in Role}
    admin_reads = {role: ((200, 200) if role == Role.ADMIN else (403, 403)) for role in Role}
    # The matrix posts JSON: an administrator passes the role check and is told the file is missing.
    upload = {role: ((422, 422) if role == Role.ADMIN else (403, 403)) for role in Role}
    everyone = dict.fromkeys(Role, (200, 200))
    return [
        Row("POST", "/api/v1/catalogue/products", _new_drug, admin_only),
        Row(
            "GET",
            "/api/v1/catalogue/products/export.xlsx",
            lambda w, s: ("GET", "/api/v1/catalogue/products/export.xlsx", None),
            everyone,
        ),
        Row("POST", "/api/v1/catalogue/imports", lambda w, s: ("POST", "/api/v1/catalogue/imports", None), upload),
        Row("GET", "/api/v1/catalogue/imports", lambda w, s: ("GET", "/api/v1/catalogue/imports", None), admin_reads),
        Row(
            "GET",
            "/api/v1/catalogue/imports/template",
            lambda w, s: ("GET", "/api/v1/catalogue/imports/template", None),
            everyone,
        ),
        Row(
            "GET",
            "/api/v1/catalogue/imports/<int:import_id>",
            lambda w, s: ("GET", f"/api/v1/catalogue/imports/{_import_id(w)}", None),
            admin_reads,
        ),
        Row(
            "GET",
            "/api/v1/catalogue/imports/<int:import_id>/report.xlsx",
            lambda w, s: ("GET", f"/api/v1/catalogue/imports/{_import_id(w)}/report.xlsx", None),
            admin_reads,
        ),
    ]
