"""Small supply worlds: awards and orders inserted directly, so supply tests need no tender run."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from core.roles import OrgKind
from procurement.catalogue import Product
from procurement.orders.models import OrderLine, OrderStatus, PriceBasis, PurchaseOrder
from procurement.tenders.models import Award, Bid, Lot, Tender, TenderKind, TenderStatus

_n = itertools.count(1)


def product_of(factory, maker) -> Product:
    """Insert a product made by ``maker``."""
    product = Product(
        generic_name=f"供应药{next(_n)}",
        dosage_form="片剂",
        strength="10mg",
        pack_quantity=28,
        unit="片",
        package_spec="10mg×7片×4板",
        manufacturer_id=maker.id,
        gqce_status="passed",
    )
    factory.db.add(product)
    factory.db.flush()
    return product


def award_of(factory, *, supplier, product, cycle_start: dt.date, cycle_end: dt.date) -> Award:
    """Insert a published award of ``product`` to ``supplier`` for the cycle, with the tender, lot and bid it needs."""
    db = factory.db
    office = factory.org(OrgKind.PROCUREMENT_OFFICE)
    n = next(_n)
    tender = Tender(
        title=f"供应批次{n}",
        kind=TenderKind.NATIONAL_VBP.value,
        status=TenderStatus.AWARDED.value,
        organiser_org_id=office.id,
        rule_set_name="vbp.batch10",
        rule_set_version="test",
        cycle_start=cycle_start,
        cycle_end=cycle_end,
    )
    db.add(tender)
    db.flush()
    lot = Lot(
        tender_id=tender.id,
        number=1,
        generic_name=product.generic_name,
        dosage_form="片剂",
        reference_strength="10mg",
        unit="片",
        ceiling_ucp=Decimal("1"),
        category="chemical",
        dosage_class="oral_solid",
    )
    db.add(lot)
    db.flush()
    bid = Bid(
        tender_id=tender.id,
        lot_id=lot.id,
        supplier_id=supplier.id,
        product_id=product.id,
        status="opened",
        ciphertext=b"x",
        commitment="0" * 64,
        ciphertext_sha256="0" * 64,
        price=Decimal("5.6"),
        ucp=Decimal("0.2"),
    )
    db.add(bid)
    db.flush()
    award = Award(
        tender_id=tender.id,
        lot_id=lot.id,
        bid_id=bid.id,
        supplier_id=supplier.id,
        product_id=product.id,
        rank=1,
        award_ucp=Decimal("0.2"),
        unit_price=Decimal("5.6"),
        ceiling_ucp=Decimal("1"),
        difference_per_unit=Decimal("0.8"),
        cycle_start=cycle_start,
        cycle_end=cycle_end,
    )
    db.add(award)
    db.flush()
    return award


def order_of(
    factory, *, hospital, supplier, product, quantity: int = 100, status: OrderStatus = OrderStatus.SUBMITTED
) -> PurchaseOrder:
    """Insert a one-line order of ``product`` from ``hospital`` to ``supplier`` in ``status``."""
    db = factory.db
    price = Decimal("5.60")
    order = PurchaseOrder(
        number=f"PO-SUPPLY-{next(_n):06d}",
        hospital_id=hospital.id,
        supplier_id=supplier.id,
        status=status.value,
        total_amount=price * quantity,
    )
    db.add(order)
    db.flush()
    db.add(
        OrderLine(
            order_id=order.id,
            line_no=1,
            product_id=product.id,
            quantity=quantity,
            unit_price=price,
            amount=price * quantity,
            price_basis=PriceBasis.AWARDED.value,
        )
    )
    db.flush()
    return order
