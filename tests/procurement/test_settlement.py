"""What a hospital owes and when: invoices a few fen below the receipts, China's calendar day, an alert per receipt.

Hand-computed figures, at 13 % VAT:

- 20 packs at 14.0000 (tax included) are received for 280.00. Invoiced at 12.3850 a pack: 20 × 12.3850 = 247.70,
  tax 247.70 × 0.13 = 32.201 → 32.20, total 279.90. 12.3850 × 1.13 = 13.995 → 14.00 at the fen: the price check
  finds nothing, yet the invoice is 0.10 below the receipt, and no payment may exceed the invoice.
- 2,000 packs listed at 15.0000 are received for 30,000.00. Invoiced at 13.2743: 2,000 × 13.2743 = 26,548.60, tax
  3,451.318 → 3,451.32, total 29,999.92 (13.2743 × 1.13 = 14.99996 → 15.00 at the fen).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.alerts import Alert
from procurement.orders import arrangements, payments
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.invoices import upload_invoice
from procurement.orders.ordering import OrderLineIn, confirm_order, place_order
from procurement.orders.payments import check_overdue, on_time_rate, payables, record_payment
from procurement.orders.prepayments import record_prepayment
from procurement.orders.receiving import receive_shipment
from procurement.orders.rules import INVOICE_MISMATCH, PAYMENT_OVERDUE
from tests.errors import domain_error as _error
from tests.procurement.order_world import TODAY, build_order_world
from tests.procurement.test_invoices_payments import LATER, line, upload

D = Decimal
BEIJING_1_JULY = dt.datetime(2026, 6, 30, 17, 0, tzinfo=dt.UTC)  # 01:00 on 1 July in Beijing, 30 June in UTC


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _row(db, hospital, receipt, today=dt.date(2026, 9, 1)) -> dict:
    return next(r for r in payables(db, actor=hospital, today=today) if r["receipt_id"] == receipt.id)


def _pay(db, hospital, invoice, amount, paid_on=dt.date(2026, 7, 1)):
    return record_payment(db, invoice_id=invoice.id, amount=D(amount), paid_on=paid_on, actor=hospital, now=LATER)


def test_invoices_of_every_pack_ten_fen_below_the_receipt_settle_it_when_paid(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 20)
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)
    assert receipt.amount == D("280.00")
    item = line(ow.award_of(hospital).product_id, quantity=20, unit_price="12.3850", amount="247.70", tax="32.20")
    invoice = upload(db, ow, shipment, lines=[item], number="R-20")
    assert invoice.total == D("279.90")
    assert db.exec(sa.select(Alert).where(Alert.code == INVOICE_MISMATCH)).first() is None
    unpaid = _row(db, hospital, receipt, today=dt.date(2026, 7, 20))
    assert (unpaid["status"], unpaid["outstanding"]) == ("overdue", D("279.90"))  # what the invoice asks, no more
    _pay(db, hospital, invoice, "279.90")
    row = _row(db, hospital, receipt)
    assert (row["status"], row["paid"], row["outstanding"], row["paid_in_full_on"]) == (
        "paid", D("279.90"), D(0), dt.date(2026, 7, 1),
    )  # fmt: skip
    assert check_overdue(db, actor=ow.world.auditor, today=dt.date(2026, 9, 1)) == []


def test_two_thousand_packs_invoiced_eight_fen_below_the_receipt_settle_it_when_paid(ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    product = next(p.id for p in ow.world.products if p.id != award.product_id)
    arrangements.create_listing(db, product_id=product, supplier_id=ow.distributor.org_id, price=D("15.0000"),
                                starts_on=dt.date(2026, 1, 1), actor=ow.world.organiser)  # fmt: skip
    order, _ = place_order(db, hospital_id=hospital.org_id, lines=[OrderLineIn(product, 2000)], actor=hospital,
                           now=TODAY)  # fmt: skip
    confirm_order(db, order_id=order.id, actor=ow.distributor, now=TODAY)
    codes = ow.commission(product, 2000)
    shipment, _ = ship_order(db, order_id=order.id, delivery_note_number="D-2000", lines=[ShipLineIn(1, codes)],
                             actor=ow.distributor, now=TODAY)  # fmt: skip
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)
    assert receipt.amount == D("30000.00")
    item = line(product, quantity=2000, unit_price="13.2743", amount="26548.60", tax="3451.32")
    invoice = upload(db, ow, shipment, lines=[item], number="R-2000")
    assert invoice.total == D("29999.92")
    _pay(db, hospital, invoice, "29999.92")
    row = _row(db, hospital, receipt)
    assert (row["status"], row["outstanding"]) == ("paid", D(0))


def test_a_part_of_the_shipment_billed_within_half_a_fen_a_pack_is_settled_a_missing_invoice_is_not(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 40)  # 20 received now, 20 still in transit and not invoiced
    first, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes[:20], actor=hospital, now=TODAY)
    item = line(ow.award_of(hospital).product_id, quantity=20, unit_price="12.3850", amount="247.70", tax="32.20")
    invoice = upload(db, ow, shipment, lines=[item], number="P-20")
    _pay(db, hospital, invoice, "279.90")
    row = _row(db, hospital, first)
    assert (row["status"], row["outstanding"]) == ("paid", D(0))  # 0.10 off over 20 packs: rounding
    # Another shipment: 20 packs received, but an invoice for 10 of them (140.00) paid is not the whole debt.
    _order, other, codes = ow.shipped(hospital, 20)
    receipt, _ = receive_shipment(db, shipment_id=other.id, codes=codes, actor=hospital, now=TODAY)
    half = line(ow.award_of(hospital).product_id, quantity=10, unit_price="12.3894", amount="123.89", tax="16.11")
    _pay(db, hospital, upload(db, ow, other, lines=[half], number="P-10"), "140.00")
    row = _row(db, hospital, receipt)
    assert (row["status"], row["paid"], row["outstanding"]) == ("overdue", D("140.00"), D("140.00"))


def _upload_on(db, ow, shipment, *, issued_on, now):
    """Upload the usual second invoice of five packs (70.00) dated ``issued_on`` at ``now``."""
    item = line(ow.award_of(ow.hospital(0)).product_id)
    return upload_invoice(
        db, shipment_id=shipment.id, kind="second", number="CN-1", issued_on=issued_on,
        seller_org_id=shipment.supplier_id, buyer_org_id=shipment.hospital_id, lines=[item], amount=item.amount,
        tax=item.tax, total=item.amount + item.tax, actor=ow.distributor, now=now,
    )  # fmt: skip


def test_money_dated_today_in_china_before_eight_in_the_morning_is_not_in_the_future(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 5)
    receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)
    july_1 = dt.date(2026, 7, 1)
    invoice = _upload_on(db, ow, shipment, issued_on=july_1, now=BEIJING_1_JULY)
    assert invoice.issued_on == july_1
    pay = lambda day: record_payment(  # noqa: E731
        db, invoice_id=invoice.id, amount=D("10.00"), paid_on=day, actor=hospital, now=BEIJING_1_JULY
    )
    assert pay(july_1)[0].paid_on == july_1
    assert list(_error(lambda: pay(dt.date(2026, 7, 2)), "invalid").errors) == ["paid_on"]
    prepaid = record_prepayment(db, hospital_id=hospital.org_id, tender_id=ow.tender.id, amount=D("1000.00"),
                                received_on=july_1, actor=ow.world.auditor, now=BEIJING_1_JULY)  # fmt: skip
    assert prepaid["received_on"] == july_1


def test_the_on_time_rate_is_judged_on_china_s_date_by_default(ow, db, monkeypatch):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 5)
    receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)  # due 15 July, unpaid
    # 01:00 on 16 July in Beijing: the receipt is a day late, although it is still 15 July in UTC.
    monkeypatch.setattr(payments, "utcnow", lambda: dt.datetime(2026, 7, 15, 17, 0, tzinfo=dt.UTC))
    rate = on_time_rate(db, hospital_id=hospital.org_id, start=dt.date(2026, 7, 1), end=dt.date(2026, 7, 31),
                        actor=hospital)  # fmt: skip
    assert (rate["as_of"], rate["due_count"], rate["pending_count"]) == (dt.date(2026, 7, 16), 1, 0)


def test_a_later_overdue_receipt_of_an_alerted_shipment_gets_its_own_alert(ow, db):
    hospital, auditor = ow.hospital(0), ow.world.auditor
    _order, shipment, codes = ow.shipped(hospital, 5)
    early, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes[:2], actor=hospital, now=TODAY)
    late, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes[2:], actor=hospital,
                               now=TODAY + dt.timedelta(days=20))  # fmt: skip
    assert (early.due_on, late.due_on) == (dt.date(2026, 7, 15), dt.date(2026, 8, 4))
    upload(db, ow, shipment, number="OD-1")
    [first] = check_overdue(db, actor=auditor, today=dt.date(2026, 7, 20))
    assert [r["receipt_id"] for r in first.evidence["receipts"]] == [early.id]
    [second] = check_overdue(db, actor=auditor, today=dt.date(2026, 8, 10))
    assert (second.code, second.object_type, second.object_id) == (PAYMENT_OVERDUE, "shipment", str(shipment.id))
    assert [r["receipt_id"] for r in second.evidence["receipts"]] == [late.id]
    assert second.evidence["outstanding"] == "42.0000"  # 3 packs at 14.00; the first receipt has its alert
    assert check_overdue(db, actor=auditor, today=dt.date(2026, 8, 20)) == []  # once per receipt
    assert db.exec(sa.select(sa.func.count()).select_from(Alert).where(Alert.code == PAYMENT_OVERDUE)).one()[0] == 2
