"""The product catalogue: drugs and high-value consumables that hospitals buy and tenders group into lots.

Every signed-in user reads it; platform administrators add products one by one (:func:`create_product`) or from a
spreadsheet (:mod:`procurement.catalogue_io`). The rules a product obeys live in :mod:`procurement.catalogue_checks`
and the layouts of its codes in :mod:`procurement.catalogue_codes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.errors import CONFLICT, INVALID, DomainError, not_found
from core.models import Organisation
from core.pagination import Page, paginate
from core.roles import Role
from procurement.catalogue_checks import (
    Problem,
    check_product,
    clashes_with_catalogue,
    maker_problem,
)
from procurement.catalogue_models import (
    GQCE_ELIGIBLE,
    CatalogueImport,
    GqceStatus,
    ImportStatus,
    Product,
    ProductKind,
)

__all__ = [
    "GQCE_ELIGIBLE",
    "CatalogueImport",
    "GqceStatus",
    "ImportStatus",
    "Product",
    "ProductKind",
    "create_product",
    "get_product",
    "list_products",
    "product_query",
]

# The columns a product is created from (the API's ProductIn and the import template carry the same).
PRODUCT_FIELDS = (
    "kind", "generic_name", "generic_name_en", "dosage_form", "strength", "pack_quantity", "unit", "package_spec",
    "manufacturer_id", "mah_id", "approval_number", "insurance_code", "trace_product_id", "gtin", "gqce_status",
    "essential", "key_monitored", "udi_di", "category", "registration_number",
)  # fmt: skip


def product_query(*, q: str | None = None, kind: ProductKind | str | None = None) -> sa.Select[Any]:
    """Return the catalogue's select statement in display order, optionally searching names and of one kind."""
    stmt = sa.select(Product).order_by(Product.generic_name, Product.strength, Product.id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(sa.or_(Product.generic_name.ilike(like), Product.generic_name_en.ilike(like)))
    if kind:
        stmt = stmt.where(Product.kind == ProductKind(kind).value)
    return stmt


def list_products(
    session: Session,
    *,
    actor: Actor,
    page: int = 1,
    per_page: int = 50,
    q: str | None = None,
    kind: ProductKind | None = None,
) -> Page[Product]:
    """List catalogue products (readable by every signed-in user), optionally searching names."""
    return paginate(session, product_query(q=q, kind=kind), page=page, per_page=per_page)


def get_product(session: Session, *, product_id: int, actor: Actor) -> Product:
    """Return one catalogue product."""
    product = session.get(Product, product_id)
    if product is None:
        raise not_found("Product", product_id)
    return product


def create_product(session: Session, *, data: Mapping[str, Any], actor: Actor) -> Product:
    """Add one product to the catalogue (administrators only), refusing bad codes and codes already taken."""
    actor.require(Role.ADMIN)
    unknown = set(data) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValueError(f"create_product got unknown fields {sorted(unknown)}")
    values, problems = check_product({field: data.get(field) for field in PRODUCT_FIELDS})
    for field in ("manufacturer_id", "mah_id"):
        if values.get(field) is not None:
            problem = maker_problem(session.get(Organisation, values[field]), field=field, reference=values[field])
            problems += [problem] if problem else []
    if problems:
        raise DomainError(
            INVALID, "the product has invalid fields; see errors", code="invalid_product", errors=_by_field(problems)
        )
    clashes = clashes_with_catalogue(session, [values]).get(0, [])
    if clashes:
        raise DomainError(
            CONFLICT, "the catalogue already has a product with these codes", code="product_exists",
            errors=_by_field(clashes),
        )  # fmt: skip
    if values.get("mah_id") is None:
        values["mah_id"] = values["manufacturer_id"]
    product = Product(**values)
    session.add(product)
    session.flush()  # the audit record names the id
    record_audit(
        session,
        actor=actor,
        action="catalogue.product_created",
        object_type="product",
        object_id=product.id,
        details={
            "kind": product.kind,
            "generic_name": product.generic_name,
            "approval_number": product.approval_number,
            "udi_di": product.udi_di,
        },
    )
    return product


def _by_field(problems: list[Problem]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(problem.field or "product", []).append(problem.message)
    return errors
