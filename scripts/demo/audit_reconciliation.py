"""Demo data for two-invoice reconciliation: three planted chains and a reconciliation run over the demo's months.

Runs after ``scripts.demo.orders`` (it orders on the same awarded tenders, through the same services). Planted, on
one Xiamen hospital's awarded product, each on its own order and shipment:

- a three-invoice chain outside any remote area: maker → Bamin (first) → Ludao (extra) → hospital (second);
- a first invoice issued by a distributor (Bamin), not by the maker or a registered equivalent;
- a batch mismatch: packs of two batches shipped and received, the first invoice listing only one of them.

A remote-area list entry (连城县, Longyan) is registered so the auditor's register is not empty; no demo hospital
is there, so the planted three-invoice chain stays a violation. Then the whole demo period is reconciled.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.models import Organisation, User
from procurement.audit import reconciliation_registry
from procurement.audit.reconciliation import run_period
from procurement.orders.documents import upload_document
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.ordering import OrderLineIn, confirm_order, place_order
from procurement.orders.receiving import receive_shipment
from scripts.demo.orders import _at, _awarded, _Demo, _excl, _invoice, _stock, delivery_note_pdf
from scripts.demo.world import BAMIN, LUDAO

REMOTE = ("350825", "连城县", "龙岩市医疗保障局 偏远地区药品配送目录 (demo)")


def _org(session: Session, name: str) -> int:
    return session.exec(sa.select(Organisation.id).where(Organisation.name == name)).one()[0]


def _shipped(demo: _Demo, row, pharmacist: str, distributor: int, day: dt.date, packs: int, batches: int = 1):
    """Order, confirm and ship ``packs`` packs (of one or two batches); receive them all the next day."""
    _volume, award, product, _spec = row
    hospital = demo.actor(pharmacist)
    order, _ = place_order(demo.session, hospital_id=hospital.org_id, lines=[OrderLineIn(product.id, packs)],
                           actor=hospital, now=_at(day, 9))  # fmt: skip
    rep = demo.org_actor(distributor)
    confirm_order(demo.session, order_id=order.id, actor=rep, now=_at(day, 14))
    # Stock made in two different months carries two batch numbers (see scripts.demo.orders._stock).
    earlier = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=min(day.day, 28))
    days = [day] if batches == 1 else [earlier, day]
    codes = {d: _stock(demo, product, distributor, packs // len(days), d) for d in days}
    ship_day = day + dt.timedelta(days=1)
    every = [c for cs in codes.values() for c in cs]
    note = f"SXR{ship_day:%Y%m%d}{order.id:04d}"
    shipment, _ = ship_order(demo.session, order_id=order.id, delivery_note_number=note,
                             lines=[ShipLineIn(1, every)], actor=rep, now=_at(ship_day, 8))  # fmt: skip
    note_pdf = delivery_note_pdf(note, product.id, f"B{day:%y%m}{product.id % 100:02d}", len(every), ship_day)
    upload_document(demo.session, shipment_id=shipment.id, kind="delivery_note", actor=rep, now=_at(ship_day, 8),
                    filename=f"{note}.pdf", data=note_pdf)  # fmt: skip
    receive_shipment(demo.session, shipment_id=shipment.id, codes=every, actor=hospital, now=_at(ship_day, 16))
    batches_of = {f"B{d:%y%m}{product.id % 100:02d}": len(cs) for d, cs in codes.items()}
    return shipment, award, product, hospital, rep, batches_of, ship_day


def load_demo_reconciliation(
    session: Session, actor: Actor, *, users: dict[str, User], now: dt.datetime, start: dt.date | None = None
) -> str:
    """Plant the three chains, list a remote area, reconcile [start, today]; return a one-line summary.

    ``actor`` is the auditor (or a system actor) who keeps the registers and runs reconciliation; ``users`` are the
    demo's users by username (as ``load_demo_orders`` takes them); ``start`` defaults to the earliest award's cycle.
    """
    demo = _Demo(session, users, now, 1.0)
    ludao, bamin = _org(session, LUDAO), _org(session, BAMIN)
    rows = [row for row in _awarded(demo) if row[0].hospital_id in demo.pharmacists]
    xiamen = [row for row in rows if session.get(Organisation, row[0].hospital_id).region_code.startswith("3502")]
    if not xiamen:
        return "Reconciliation: no awarded Xiamen hospital to plant chains on."
    row = xiamen[0]
    pharmacist = demo.pharmacists[row[0].hospital_id]
    today = (now + dt.timedelta(hours=8)).date()
    day = today - dt.timedelta(days=12)

    def invoice(shipment, kind, seller, buyer, product, batch, quantity, price, rep):
        return _invoice(demo, shipment, kind=kind, seller=seller, buyer=buyer, product=product, batch=batch,
                        quantity=quantity, unit_price=price, day=shipment.shipped_at.date(), actor=rep)  # fmt: skip

    # 1. Three invoices outside a remote area (rulebook 4.1, 4.8 a).
    shipment, award, product, hospital, rep, batches, _ = _shipped(demo, row, pharmacist, ludao, day, 6)
    [(batch, n)] = batches.items()
    invoice(
        shipment,
        "first",
        product.manufacturer_id,
        bamin,
        product,
        batch,
        n,
        _excl(award.unit_price * Decimal("0.90")),
        rep,
    )
    invoice(shipment, "extra", bamin, ludao, product, batch, n, _excl(award.unit_price * Decimal("0.94")), rep)
    invoice(shipment, "second", ludao, hospital.org_id, product, batch, n, _excl(award.unit_price), rep)
    # 2. A distributor issues the first invoice (4.2, 4.8 b).
    shipment, award, product, hospital, rep, batches, _ = _shipped(demo, row, pharmacist, ludao, day, 4)
    [(batch, n)] = batches.items()
    invoice(shipment, "first", bamin, ludao, product, batch, n, _excl(award.unit_price * Decimal("0.92")), rep)
    invoice(shipment, "second", ludao, hospital.org_id, product, batch, n, _excl(award.unit_price), rep)
    # 3. Two batches shipped, the first invoice lists one of them only (4.5, 4.8 c).
    shipment, award, product, hospital, rep, batches, _ = _shipped(demo, row, pharmacist, ludao, day, 8, batches=2)
    (old, n_old), (new, n_new) = batches.items()
    invoice(shipment, "first", product.manufacturer_id, ludao, product, old, n_old,
            _excl(award.unit_price * Decimal("0.93")), rep)  # fmt: skip
    for batch, n in ((old, n_old), (new, n_new)):
        invoice(shipment, "second", ludao, hospital.org_id, product, batch, n, _excl(award.unit_price), rep)
    code, name, listed_by = REMOTE
    reconciliation_registry.add_remote_area(session, region_prefix=code, name=name, listed_by=listed_by,
                                            valid_from=dt.date(2024, 1, 1), actor=actor)  # fmt: skip
    start = start or min(r[1].cycle_start for r in rows)
    summary = run_period(session, actor, start=start, end=today + dt.timedelta(days=1), now=now)
    found = ", ".join(f"{n} {c}" for c, n in sorted(summary.figures.get("by_code", {}).items())) or "none"
    return (
        f"Reconciliation: {summary.figures.get('second_invoices', 0)} second invoices "
        f"({summary.figures.get('pay', 0)} to pay, {summary.figures.get('hold', 0)} on hold); violations: {found}."
    )
