"""Months of ordering on the demo's awarded tenders: orders, shipments with codes, invoices, receipts, payments.

Every step goes through the services a user's click would call, on its own date: each month every hospital orders
its awarded products (one orders well behind its agreed volume, one ahead), the manufacturer makes the packs and
moves them to the hospital's distributor, who confirms, ships by trace code and uploads both invoices; the
pharmacy receives by scanning and pays. Planted for the workbench: a few late payments and an unpaid overdue one,
a shipment whose second invoice overcharges (INVOICE_MISMATCH), a refused damaged pack, a non-winning product
bought where a winner exists, a supplier that misses its latest monthly report (SUPPLY-REPORT-MISSING), a late
report, a supply problem, prepayments (one below 30 %) and off-platform purchases.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.accounts import actor_for_user
from core.actor import Actor
from core.models import Organisation, User
from procurement.catalogue import Product
from procurement.orders import arrangements, invoices, payments, prepayments, progress_checks, supply, supply_risks
from procurement.orders.documents import upload_document
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.invoice_checks import InvoiceLineIn
from procurement.orders.ordering import OrderLineIn, confirm_order, place_order
from procurement.orders.receiving import RefusalIn, receive_shipment
from procurement.orders.supply_problems import report_supply_problem
from procurement.orders.take_back import take_back_refused
from procurement.tenders.models import AgreedVolume, Award, LotProduct, Tender, TenderStatus
from scripts.demo.world import BAMIN, LUDAO
from trace import capture, ledger
from trace.canonical import canonical_bytes
from trace.capture import MAX_EVENTS
from trace.items import register_trade_item
from trace.models import EventType, TradeItem
from trace.transitions import EventIn

SEED = 20260701
VAT = Decimal("0.13")
FEN = Decimal("0.01")
MAX_PACKS = 240  # per order at scale 1: keeps the demo load to seconds while the volumes stay plausible
PACE = {"cs.pharmacist": Decimal("0.45"), "xh.pharmacist": Decimal("1.25")}  # one behind (1.7.5), one ahead
LATE_PAYER = "jm2.pharmacist"
_serials = itertools.count(500_000_001)


@dataclass
class OrdersSummary:
    orders: int = 0
    shipments: int = 0
    packs: int = 0
    invoices: int = 0
    payments: int = 0
    alerts: Counter = field(default_factory=Counter)


def _month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour - 8, 0, tzinfo=dt.UTC)  # hour in China time


class _Demo:
    def __init__(self, session: Session, users: dict[str, User], now: dt.datetime, scale: float) -> None:
        self.session, self.users, self.now, self.scale = session, users, now, scale
        self.rng = random.Random(SEED)
        self.summary = OrdersSummary()
        self._actors: dict[str, Actor] = {}
        self.pharmacists = {u.organisation_id: name for name, u in users.items() if name.endswith(".pharmacist")}
        self.reps = {u.organisation_id: name for name, u in users.items() if name.endswith(".rep")}

    def actor(self, username: str) -> Actor:
        if username not in self._actors:
            self._actors[username] = actor_for_user(self.session, self.users[username].id)
        return self._actors[username]

    def org_actor(self, org_id: int) -> Actor:
        return self.actor(self.reps.get(org_id) or self.pharmacists[org_id])

    def capture(self, org_id: int, events: list[EventIn], when: dt.datetime) -> None:
        for start in range(0, len(events), MAX_EVENTS):
            part = events[start : start + MAX_EVENTS]
            batch = capture.BatchIn(
                client_batch_id=f"demo-orders-{next(_serials)}",
                events=part,
                request_sha256=capture.request_digest(canonical_bytes({"n": next(_serials)})),
            )
            result = capture.capture(self.session, actor=self.org_actor(org_id), batch=batch, now=when)
            assert result.accepted, result.body


def _trade_item(demo: _Demo, product: Product) -> TradeItem:
    stmt = sa.select(TradeItem).where(TradeItem.catalogue_ref == product.id, TradeItem.level == 1)
    found = demo.session.exec(stmt).scalars().first()
    if found is not None:
        return found
    return register_trade_item(
        demo.session, actor=Actor.system("demo"), name=f"{product.generic_name} {product.package_spec}",
        holder_org_id=product.manufacturer_id, pack_size=product.pack_quantity, unit=product.unit,
        product_id=product.trace_product_id or f"87{product.id:05d}", catalogue_ref=product.id,
    )  # fmt: skip


def _stock(demo: _Demo, product: Product, distributor_id: int, count: int, day: dt.date) -> list[str]:
    """Make ``count`` packs at the maker and move them to the distributor; return their codes."""
    trade = _trade_item(demo, product)
    codes = [f"{trade.product_id}{next(_serials):09d}{demo.rng.randrange(10**4):04d}" for _ in range(count)]
    batch, expiry = f"B{day:%y%m}{product.id % 100:02d}", day.replace(day=1) + dt.timedelta(days=730)
    made = _at(day - dt.timedelta(days=3), 9)
    commission = [EventIn(EventType.COMMISSION, c, batch=batch, expiry=expiry, at=made) for c in codes]
    demo.capture(product.manufacturer_id, commission, made)
    ship = [EventIn(EventType.SHIP, c, to_org_id=distributor_id, at=made) for c in codes]
    demo.capture(product.manufacturer_id, ship, made)
    arrived = _at(day - dt.timedelta(days=2), 9)
    demo.capture(distributor_id, [EventIn(EventType.RECEIVE, c, at=arrived) for c in codes], arrived)
    return codes


def _excl(price: Decimal) -> Decimal:
    return (price / (1 + VAT)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _invoice(demo: _Demo, shipment, *, kind: str, seller: int, buyer: int, product: Product, batch: str,
             quantity: int, unit_price: Decimal, day: dt.date, actor: Actor) -> object:  # fmt: skip
    amount = (unit_price * quantity).quantize(FEN, ROUND_HALF_UP)
    tax = (amount * VAT).quantize(FEN, ROUND_HALF_UP)
    line = InvoiceLineIn(product.id, batch, quantity, unit_price, VAT, amount, tax)
    demo.summary.invoices += 1
    return invoices.upload_invoice(
        demo.session, shipment_id=shipment.id, kind=kind, number=f"{35_000_000 + next(_serials) % 10**7:020d}",
        issued_on=day, seller_org_id=seller, buyer_org_id=buyer, lines=[line], amount=amount, tax=tax,
        total=amount + tax, actor=actor, now=_at(day, 15),
    )  # fmt: skip


def _awarded(demo: _Demo):
    stmt = (
        sa.select(AgreedVolume, Award, Product, LotProduct.spec_factor)
        .join(Award, Award.id == AgreedVolume.award_id)
        .join(Tender, Tender.id == Award.tender_id)
        .join(Product, Product.id == Award.product_id)
        .join(LotProduct, sa.and_(LotProduct.lot_id == Award.lot_id, LotProduct.product_id == Award.product_id))
        .where(Tender.status.in_([TenderStatus.AWARDED.value, TenderStatus.IN_FORCE.value]))
        .order_by(AgreedVolume.id)
    )
    return demo.session.exec(stmt).all()


def _one_month(demo: _Demo, month: dt.date, rows, distributors: dict[int, int], last: dt.date) -> None:
    for volume, award, product, spec in rows:
        pharmacist = demo.pharmacists.get(volume.hospital_id)
        if pharmacist is None:
            continue
        order_day = month + dt.timedelta(days=2 + volume.hospital_id % 3)
        if order_day + dt.timedelta(days=4) > last:
            continue
        monthly = Decimal(volume.agreed_volume) / 12 / (product.pack_quantity * spec)
        packs = int(monthly * PACE.get(pharmacist, Decimal("0.95")) * Decimal(str(demo.scale)))
        packs = max(2, min(packs, int(MAX_PACKS * demo.scale) or 2))
        _deliver(demo, award.unit_price, product, pharmacist, distributors[volume.hospital_id], packs, order_day, last)


def _deliver(demo, unit_price, product, pharmacist, distributor_id, packs, day, last) -> None:
    session, hospital = demo.session, demo.actor(pharmacist)
    order, _ = place_order(session, hospital_id=hospital.org_id, lines=[OrderLineIn(product.id, packs)],
                           actor=hospital, now=_at(day, 9))  # fmt: skip
    rep = demo.org_actor(distributor_id)
    confirm_order(session, order_id=order.id, actor=rep, now=_at(day, 14))
    codes = _stock(demo, product, distributor_id, packs, day)
    ship_day = day + dt.timedelta(days=1)
    shipment, _ = ship_order(session, order_id=order.id, delivery_note_number=f"SX{ship_day:%Y%m%d}{order.id:04d}",
                             lines=[ShipLineIn(1, codes)], actor=rep, now=_at(ship_day, 8))  # fmt: skip
    batch = f"B{day:%y%m}{product.id % 100:02d}"
    note_pdf = delivery_note_pdf(shipment.delivery_note_number, product.id, batch, packs, ship_day)
    upload_document(session, shipment_id=shipment.id, kind="delivery_note", actor=rep, now=_at(ship_day, 8),
                    filename=f"{shipment.delivery_note_number}.pdf", data=note_pdf)  # fmt: skip
    maker_price = _excl(unit_price * Decimal("0.93"))
    _invoice(demo, shipment, kind="first", seller=product.manufacturer_id, buyer=distributor_id, product=product,
             batch=batch, quantity=packs, unit_price=maker_price, day=ship_day, actor=rep)  # fmt: skip
    overcharged = demo.summary.shipments == 5  # one shipment's second invoice bills more than the award
    price = _excl(unit_price + (Decimal("0.50") if overcharged else 0))
    receive_day = ship_day + dt.timedelta(days=1)
    refuse = codes[-1:] if demo.summary.shipments == 3 else []
    receipt, _ = receive_shipment(session, shipment_id=shipment.id, codes=codes[: len(codes) - len(refuse)],
                                  refusals=[RefusalIn(c, "外包装破损") for c in refuse], actor=hospital,
                                  now=_at(receive_day, 11))  # fmt: skip
    if refuse:  # the damaged pack goes back with the driver; the distributor takes it back into stock
        take_back_refused(session, order_id=order.id, shipment_id=shipment.id, actor=rep, now=_at(receive_day, 17))
    second = _invoice(demo, shipment, kind="second", seller=distributor_id, buyer=hospital.org_id,
                      product=product, batch=batch, quantity=receipt.accepted_count, unit_price=price,
                      day=ship_day, actor=rep)  # fmt: skip
    demo.summary.orders += 1
    demo.summary.shipments += 1
    demo.summary.packs += packs
    if demo.summary.shipments == 4:
        report_supply_problem(session, order_id=order.id, kind="late", actor=hospital, now=_at(receive_day, 16),
                              description="到货比约定晚两天，急诊药房一度缺货。")  # fmt: skip
    lag = 45 if pharmacist == LATE_PAYER else demo.rng.randint(12, 27)
    paid_on = receipt.received_at.date() + dt.timedelta(days=lag)
    if paid_on <= last and not (pharmacist == LATE_PAYER and paid_on > last - dt.timedelta(days=10)):
        payments.record_payment(session, invoice_id=second.id, amount=second.total, paid_on=paid_on,
                                reference=f"CMB{paid_on:%Y%m%d}{second.id:05d}", actor=hospital,
                                now=_at(paid_on, 15))  # fmt: skip
        demo.summary.payments += 1


def delivery_note_pdf(number: str, product_id: int, batch: str, packs: int, day: dt.date) -> bytes:
    """Return a one-page PDF standing for a scanned delivery note (demo data only: ASCII text, built-in font)."""
    text = f"Delivery note {number}   product {product_id}   batch {batch}   {packs} packs   {day.isoformat()}"
    stream = f"BT /F1 11 Tf 40 780 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number_, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number_, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _distributors(demo: _Demo, rows) -> dict[int, int]:
    """Xiamen hospitals are served by Ludao, the rest by Bamin; each winner names them for its award."""
    ludao, bamin = (demo.session.exec(sa.select(Organisation.id).where(Organisation.name == name)).one()[0]
                    for name in (LUDAO, BAMIN))  # fmt: skip
    chosen: dict[int, int] = {}
    for volume, award, _product, _spec in rows:
        hospital = demo.session.get(Organisation, volume.hospital_id)
        chosen[hospital.id] = ludao if hospital.region_code.startswith("3502") else bamin
        arrangements.assign_distributor(
            demo.session,
            award_id=award.id,
            hospital_id=hospital.id,
            distributor_id=chosen[hospital.id],
            actor=demo.org_actor(award.supplier_id),
        )
    return chosen


def _non_winning_purchase(demo: _Demo, rows, distributors: dict[int, int], day: dt.date, last: dt.date) -> None:
    """List a losing product of an awarded lot and let one hospital buy it once (counts against 3.6)."""
    winners = {award.product_id for _v, award, _p, _s in rows}
    lots = {award.lot_id for _v, award, _p, _s in rows}
    stmt = sa.select(Product).join(LotProduct, LotProduct.product_id == Product.id).where(LotProduct.lot_id.in_(lots))
    losers = [p for p in demo.session.exec(stmt).scalars() if p.id not in winners]
    buyer = next((v.hospital_id for v, _a, _p, _s in rows if demo.pharmacists.get(v.hospital_id) == "xm1.pharmacist"),
                 None)  # fmt: skip
    if not losers or buyer is None:
        return
    product, price = losers[0], Decimal("14.8000")
    arrangements.create_listing(
        demo.session,
        product_id=product.id,
        supplier_id=distributors[buyer],
        price=price,
        starts_on=day - dt.timedelta(days=60),
        region_prefix="35",
        actor=demo.actor("admin"),
    )
    _deliver(demo, price, product, "xm1.pharmacist", distributors[buyer], 12, day, last)


def _supply_reports(demo: _Demo, rows, months: list[dt.date], today: dt.date) -> None:
    """Winners file monthly reports by the 10th; one is late once, and one misses the latest month."""
    starts = {(award.supplier_id, award.product_id): award.cycle_start.replace(day=1) for _v, award, _p, _s in rows}
    pairs = sorted(starts)
    missing_supplier = pairs[-1][0] if pairs else None
    due_months = [m for m in months if (m + dt.timedelta(days=32)).replace(day=10) < today]
    for index, month in enumerate(due_months):
        filed = (month + dt.timedelta(days=32)).replace(day=8)
        for supplier_id, product_id in pairs:
            if month < starts[(supplier_id, product_id)]:
                continue  # not a winner yet that month
            if supplier_id == missing_supplier and month == due_months[-1]:
                continue  # the planted missing report (rulebook 8.3)
            late = index == 0 and (supplier_id, product_id) == pairs[0]
            when = filed + dt.timedelta(days=5 if late else 0)
            packs = 20_000 + demo.rng.randrange(20_000)
            supply.submit_supply_report(
                demo.session, product_id=product_id, month=month, produced=packs, inventory=packs // 3,
                reserve=packs // 10, actor=demo.org_actor(supplier_id), now=_at(when, 10),
            )  # fmt: skip
    if due_months:
        found = supply_risks.check_supply_risks(demo.session, month=due_months[-1], actor=demo.actor("auditor"),
                                                now=demo.now)  # fmt: skip
        demo.summary.alerts.update(alert.code for alert in found)


def _prepayments(demo: _Demo, rows) -> None:
    """The bureau prepays 30 % of each hospital's annual agreed amount; one hospital gets only 20 % (a warning)."""
    seen: set[tuple[int, int]] = set()
    for volume, award, _product, _spec in rows:
        key = (volume.hospital_id, award.tender_id)
        if key in seen or volume.hospital_id not in demo.pharmacists:
            continue
        seen.add(key)
        annual = prepayments.annual_agreed_amount(demo.session, hospital_id=key[0], tender_id=key[1])
        share = Decimal("0.20") if demo.pharmacists[key[0]] == "cs.pharmacist" else Decimal("0.30")
        prepayments.record_prepayment(
            demo.session, hospital_id=key[0], tender_id=key[1], amount=(annual * share).quantize(FEN),
            received_on=award.cycle_start + dt.timedelta(days=5), actor=demo.actor("auditor"),
            now=_at(award.cycle_start + dt.timedelta(days=5)),
        )  # fmt: skip


def _offline(demo: _Demo, month: dt.date, today: dt.date) -> None:
    """Two hospitals declare purchases made outside the platform (rulebook 0.2)."""
    for username, kind, amount, what in (
        ("xm1.pharmacist", "drug", "18600.00", "急诊临时采购：注射用头孢曲松钠（平台断货期间）"),
        ("sm1.pharmacist", "consumable", "42300.00", "介入导管（线下议价采购，未上平台）"),
    ):
        hospital = demo.actor(username)
        arrangements.declare_offline_purchase(
            demo.session, hospital_id=hospital.org_id, month=month, product_kind=kind, description=what,
            amount=Decimal(amount), reason="平台供应商缺货或未挂网", actor=hospital, today=today,
        )  # fmt: skip


def load_demo_orders(
    session: Session, *, users: dict[str, User], signing_key, now: dt.datetime, scale: float = 1.0
) -> str:
    """Run months of ordering, delivery, invoicing, receiving and paying up to ``now``; return a summary."""
    demo = _Demo(session, users, now, scale)
    rows = [row for row in _awarded(demo) if row[0].hospital_id in demo.pharmacists]
    if not rows:
        return "Orders: no awarded tender to order from."
    distributors = _distributors(demo, rows)
    today = (now + dt.timedelta(hours=8)).date()
    start = min(award.cycle_start for _v, award, _p, _s in rows)
    months = _month_starts(start, today)
    for month in months:
        _one_month(demo, month, [r for r in rows if r[1].cycle_start <= month], distributors, today)
    if len(months) > 1:
        _non_winning_purchase(demo, rows, distributors, months[-2] + dt.timedelta(days=12), today)
        _offline(demo, months[-2], today)
    _prepayments(demo, rows)
    _supply_reports(demo, rows, months, today)
    auditor = demo.actor("auditor")
    demo.summary.alerts.update(a.code for a in payments.check_overdue(session, actor=auditor, today=today))
    demo.summary.alerts.update(a.code for a in progress_checks.check_progress(session, actor=auditor, on=today))
    ledger.sign_checkpoint(session, key=signing_key, now=now)
    s = demo.summary
    alerts = ", ".join(f"{n} {code}" for code, n in sorted(s.alerts.items())) or "none"
    return (
        f"Orders: {s.orders} orders, {s.shipments} shipments ({s.packs} packs), {s.invoices} invoices, "
        f"{s.payments} payments since {start.isoformat()}; alerts raised: {alerts}."
    )
