"""Invoices per shipment, payments and their due dates, overdue lists, on-time rates and insurance prepayments.

Hand-computed figures: hospital 0 orders 5 packs of its awarded product at 14.0000 a pack (70.00 in all). At 13 %
VAT the second invoice bills 5 × 12.3894 = 61.947 → 61.95 with tax 61.95 × 0.13 = 8.0535 → 8.05, total 70.00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.alerts import Alert
from core.models import AuditRecord
from procurement.orders import arrangements
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.invoices import InvoiceLineIn, get_invoice, list_invoices, upload_invoice
from procurement.orders.models import OrderLine
from procurement.orders.money_models import Invoice, InvoiceLine, Payment
from procurement.orders.ordering import OrderLineIn, confirm_order, place_order
from procurement.orders.payments import check_overdue, list_payments, on_time_rate, payables, record_payment
from procurement.orders.prepayments import (
    annual_agreed_amount,
    list_prepayments,
    prepayment_balance,
    record_prepayment,
)
from procurement.orders.receiving import receive_shipment
from procurement.orders.rules import INVOICE_MISMATCH, PAYMENT_OVERDUE
from tests.errors import domain_error as _error
from tests.procurement.order_world import TODAY, build_order_world

D = Decimal
LATER = dt.datetime(2026, 9, 1, 9, 0, tzinfo=dt.UTC)  # "now" for payments made in the summer


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def line(product_id, *, quantity=5, unit_price="12.3894", amount="61.95", tax="8.05", rate="0.13", batch="B2601"):
    return InvoiceLineIn(product_id, batch, quantity, D(unit_price), D(rate), D(amount), D(tax))


def upload(db, ow, shipment, kind="second", *, lines=None, number="00000001", actor=None, seller=None, **totals):
    """Upload an invoice for a shipment; totals default to the sums of the lines."""
    lines = lines or [line(_product(db, shipment))]
    amount = sum((item.amount for item in lines), D(0))
    tax = sum((item.tax for item in lines), D(0))
    buyer = totals.pop("buyer", None)
    if kind == "second":
        seller, buyer = seller or shipment.supplier_id, buyer or shipment.hospital_id
    else:
        seller, buyer = seller or ow.maker_of(_product(db, shipment)).org_id, buyer or shipment.supplier_id
    return upload_invoice(
        db,
        shipment_id=shipment.id,
        kind=kind,
        number=number,
        issued_on=TODAY.date(),
        seller_org_id=seller,
        buyer_org_id=buyer,
        lines=lines,
        amount=totals.get("amount", amount),
        tax=totals.get("tax", tax),
        total=totals.get("total", amount + tax),
        actor=actor or ow.distributor,
        now=TODAY,
    )


def _product(db, shipment) -> int:
    return db.exec(sa.select(OrderLine.product_id).where(OrderLine.order_id == shipment.order_id)).scalars().first()


def _count(db, model) -> int:
    return db.exec(sa.select(sa.func.count()).select_from(model)).one()[0]


def test_a_correct_pair_of_invoices_is_stored_with_its_lines(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, _codes = ow.shipped(hospital, 5)
    product = _product(db, shipment)
    maker = ow.maker_of(product)
    # The manufacturer's invoice to the distributor: 5 × 11.5000 = 57.50, tax 57.50 × 0.13 = 7.475 → 7.48.
    first = upload(
        db, ow, shipment, "first", number="FP-001",
        lines=[line(product, unit_price="11.5000", amount="57.50", tax="7.48")],
    )  # fmt: skip
    second = upload(db, ow, shipment, number="SP-001")
    assert (first.seller_org_id, first.buyer_org_id, first.total) == (maker.org_id, ow.distributor.org_id, D("64.98"))
    assert (second.amount, second.tax, second.total) == (D("61.95"), D("8.05"), D("70.00"))
    assert (second.order_id, second.hospital_id) == (shipment.order_id, hospital.org_id)
    stored = db.exec(sa.select(InvoiceLine).where(InvoiceLine.invoice_id == second.id)).scalars().all()
    assert [(x.line_no, x.batch, x.quantity, x.unit_price, x.tax_rate) for x in stored] == [
        (1, "B2601", 5, D("12.3894"), D("0.13"))
    ]
    audit = db.exec(sa.select(AuditRecord.object_id).where(AuditRecord.action == "invoice.uploaded")).scalars().all()
    assert sorted(audit) == sorted([str(first.id), str(second.id)])
    assert _count(db, Alert) == 0  # 12.3894 × 1.13 = 14.00 at the fen: the order's price
    # The hospital sees both (it keeps the copy of the first, 4.5); the maker only its own; the others nothing.
    assert {i["number"] for i in list_invoices(db, actor=hospital).items} == {"FP-001", "SP-001"}
    mine = list_invoices(db, actor=maker).items
    assert [i["number"] for i in mine] == ["FP-001"] and mine[0][
        "delivery_note_number"
    ] == shipment.delivery_note_number
    assert list_invoices(db, actor=ow.hospital(1)).items == []
    _error(lambda: get_invoice(db, invoice_id=second.id, actor=maker), "invoice_not_found")
    assert len(list_invoices(db, actor=ow.world.auditor, kind="second").items) == 1


def test_the_manufacturer_may_upload_its_own_first_invoice_but_not_the_second(ow, db):
    _order, shipment, _codes = ow.shipped(ow.hospital(0), 5)
    maker = ow.maker_of(_product(db, shipment))
    first = upload(db, ow, shipment, "first", actor=maker, number="M-1")
    assert first.uploaded_by_id == maker.user_id
    _error(lambda: upload(db, ow, shipment, actor=maker, number="M-2"), "not_the_supplier")
    _error(lambda: upload(db, ow, shipment, actor=ow.hospital(0), number="M-3"), "role_required")
    _error(lambda: upload(db, ow, shipment, actor=ow.maker_of(ow.world.products[2].id), number="M-4"),
           "shipment_not_found")  # fmt: skip


def test_a_line_amount_off_by_two_fen_names_the_line_and_nothing_is_saved(ow, db):
    _order, shipment, _codes = ow.shipped(ow.hospital(0), 5)
    product = _product(db, shipment)
    bad = line(product, amount="61.97", tax="8.06")  # 5 × 12.3894 = 61.95
    error = _error(lambda: upload(db, ow, shipment, lines=[bad]), "bad_invoice")
    assert list(error.errors) == ["lines.0.amount"] and "61.95" in error.errors["lines.0.amount"][0]
    assert error.message.startswith("lines.0.amount")
    one_fen = line(product, amount="61.96", tax="8.05")  # within the one-fen tolerance of ORDER_RULES
    assert upload(db, ow, shipment, lines=[one_fen], number="OK-1").amount == D("61.96")
    assert _count(db, Invoice) == 1 and _count(db, InvoiceLine) == 1


def test_wrong_tax_and_unknown_rates_are_refused(ow, db):
    _order, shipment, _codes = ow.shipped(ow.hospital(0), 5)
    product = _product(db, shipment)
    error = _error(lambda: upload(db, ow, shipment, lines=[line(product, tax="8.10")]), "bad_invoice")
    assert list(error.errors) == ["lines.0.tax"] and "8.05" in error.errors["lines.0.tax"][0]
    error = _error(lambda: upload(db, ow, shipment, lines=[line(product, rate="0.12")]), "bad_invoice")
    assert list(error.errors) == ["lines.0.tax_rate"]
    two = [line(product, quantity=2, amount="24.78", tax="3.22"), line(product, quantity=3, amount="37.17", tax="3")]
    error = _error(lambda: upload(db, ow, shipment, lines=two), "bad_invoice")
    assert list(error.errors) == ["lines.1.tax"]  # 37.17 × 0.13 = 4.83
    assert _count(db, Invoice) == 0


def test_totals_must_be_the_sums_of_the_lines(ow, db):
    _order, shipment, _codes = ow.shipped(ow.hospital(0), 5)
    error = _error(lambda: upload(db, ow, shipment, total=D("70.01")), "bad_invoice")
    assert list(error.errors) == ["total"] and "70.00" in error.errors["total"][0]
    error = _error(lambda: upload(db, ow, shipment, amount=D("61.00"), total=D("69.05")), "bad_invoice")
    assert set(error.errors) == {"amount", "total"}
    error = _error(lambda: upload(db, ow, shipment, tax=D("8.005")), "bad_invoice")
    assert "tax" in error.errors  # not to the fen
    assert _count(db, Invoice) == 0


def test_goods_never_shipped_are_refused_by_batch_product_and_quantity(ow, db):
    _order, shipment, _codes = ow.shipped(ow.hospital(0), 5)
    product = _product(db, shipment)
    other = next(p.id for p in ow.world.products if p.id != product)
    error = _error(lambda: upload(db, ow, shipment, lines=[line(product, batch="B9999")]), "bad_invoice")
    assert list(error.errors) == ["lines.0.batch"] and "B2601" in error.errors["lines.0.batch"][0]
    error = _error(lambda: upload(db, ow, shipment, lines=[line(other)]), "bad_invoice")
    assert list(error.errors) == ["lines.0.product_id"]
    six = line(product, quantity=6, amount="74.34", tax="9.66")
    error = _error(lambda: upload(db, ow, shipment, lines=[six]), "bad_invoice")
    assert list(error.errors) == ["lines.0.quantity"] and "5" in error.errors["lines.0.quantity"][0]
    # Invoices of one kind add up across the shipment: 3 packs, then 3 more of the 5 shipped.
    three = line(product, quantity=3, amount="37.17", tax="4.83")
    upload(db, ow, shipment, lines=[three], number="Q-1")
    error = _error(lambda: upload(db, ow, shipment, lines=[three], number="Q-2"), "bad_invoice")
    assert "6 packs" in error.errors["lines.0.quantity"][0]
    assert _count(db, Invoice) == 1


def test_parties_must_be_the_shipments_and_numbers_unique_per_seller(ow, db):
    _order, shipment, _codes = ow.shipped(ow.hospital(0), 5)
    error = _error(lambda: upload(db, ow, shipment, buyer=ow.hospital(1).org_id), "bad_invoice")
    assert list(error.errors) == ["buyer_org_id"]
    error = _error(lambda: upload(db, ow, shipment, "first", buyer=ow.hospital(0).org_id), "bad_invoice")
    assert list(error.errors) == ["buyer_org_id"]
    upload(db, ow, shipment, number="DUP-1")
    _order, other, _codes = ow.shipped(ow.hospital(0), 5)
    error = _error(lambda: upload(db, ow, other, number="DUP-1"), "duplicate_invoice")
    assert list(error.errors) == ["number"]
    upload(db, ow, other, "first", number="DUP-1")  # another seller's number may repeat
    assert _count(db, Invoice) == 2


def test_a_second_invoice_priced_off_the_order_is_stored_and_flagged(ow, db):
    _order, shipment, _codes = ow.shipped(ow.hospital(0), 5)
    product = _product(db, shipment)
    dear = line(product, unit_price="13.0000", amount="65.00", tax="8.45")  # 13.00 × 1.13 = 14.69 a pack, not 14.00
    invoice = upload(db, ow, shipment, lines=[dear])
    alert = db.exec(sa.select(Alert).where(Alert.code == INVOICE_MISMATCH)).scalar_one()
    assert (alert.object_id, alert.subject_org_id) == (str(invoice.id), ow.distributor.org_id)
    assert alert.evidence["lines"][0]["invoiced_price"] == "14.69"
    assert D(alert.evidence["lines"][0]["order_price"]) == D("14")


def _received(ow, db, hospital, quantity=5, *, on=TODAY, invoice=True, number=None):
    _order, shipment, codes = ow.shipped(hospital, quantity)
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=on)
    second = None
    if invoice:
        amount = (D("12.3894") * quantity).quantize(D("0.01"))
        tax = (amount * D("0.13")).quantize(D("0.01"))
        item = line(_product(db, shipment), quantity=quantity, amount=str(amount), tax=str(tax))
        second = upload(db, ow, shipment, lines=[item], number=number or f"R-{shipment.id}")
    return shipment, receipt, second


def test_payments_are_capped_at_what_is_outstanding_and_retries_do_not_duplicate(ow, db):
    hospital = ow.hospital(0)
    _shipment, _receipt, invoice = _received(ow, db, hospital)
    pay = lambda amount, **kw: record_payment(  # noqa: E731
        db, invoice_id=invoice.id, amount=D(amount), paid_on=dt.date(2026, 7, 1), actor=hospital, now=LATER, **kw
    )
    payment, created = pay("50.00", idempotency_key="pay-1", reference="BANK-1")
    again, created_again = pay("50.00", idempotency_key="pay-1", reference="BANK-1")
    assert created and not created_again and again.id == payment.id
    assert (payment.payee_org_id, payment.hospital_id) == (ow.distributor.org_id, hospital.org_id)
    _error(lambda: pay("20.00", idempotency_key="pay-1", reference="BANK-1"), "key_reused")
    error = _error(lambda: pay("20.01"), "above_outstanding")
    assert list(error.errors) == ["amount"] and "20.00" in error.errors["amount"][0]
    _error(lambda: pay("0"), "invalid")
    pay("20.00")
    assert len(list_payments(db, actor=hospital).items) == 2
    assert (
        len(list_payments(db, actor=ow.distributor).items) == 2 and list_payments(db, actor=ow.hospital(1)).items == []
    )
    _error(lambda: record_payment(db, invoice_id=invoice.id, amount=D("1"), paid_on=dt.date(2026, 7, 1),
                                  actor=ow.distributor, now=LATER), "role_required")  # fmt: skip
    assert _count(db, Payment) == 2


def test_only_second_invoices_are_paid(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, _codes = ow.shipped(hospital, 5)
    first = upload(db, ow, shipment, "first", number="F-9")
    error = _error(
        lambda: record_payment(db, invoice_id=first.id, amount=D("1"), paid_on=TODAY.date(), actor=hospital,
                               now=LATER),
        "invalid",
    )  # fmt: skip
    assert list(error.errors) == ["invoice_id"]


def test_due_dates_follow_the_tenders_terms_under_both_rules(ow, db):
    hospital = ow.hospital(0)
    _shipment, receipt, _ = _received(ow, db, hospital, invoice=False)
    assert receipt.due_on == dt.date(2026, 7, 15)  # 30 days from acceptance on 15 June (the platform default)
    ow.tender.payment_terms = {"rule": "end_of_following_month"}
    db.flush()
    _shipment, receipt, _ = _received(ow, db, hospital, invoice=False)
    assert receipt.due_on == dt.date(2026, 7, 31)  # the end of the month after acceptance
    rows = payables(db, actor=hospital, today=dt.date(2026, 7, 20))
    assert [(r["due_on"], r["status"], r["outstanding"]) for r in rows] == [
        (dt.date(2026, 7, 15), "overdue", D("70")),
        (dt.date(2026, 7, 31), "due", D("70")),
    ]


def test_overdue_lists_on_time_rates_and_overdue_alerts(ow, db):
    hospital = ow.hospital(0)
    on_time, _, on_time_invoice = _received(ow, db, hospital)  # due 15 July, paid 10 July
    late, _, late_invoice = _received(ow, db, hospital)  # due 15 July, paid 1 August
    unpaid, _, _ = _received(ow, db, hospital)  # due 15 July, never paid
    for invoice, day in ((on_time_invoice, dt.date(2026, 7, 10)), (late_invoice, dt.date(2026, 8, 1))):
        record_payment(db, invoice_id=invoice.id, amount=invoice.total, paid_on=day, actor=hospital, now=LATER)
    # A part payment of the third, before its due date, leaves it overdue.
    invoice_of = db.exec(sa.select(Invoice).where(Invoice.shipment_id == unpaid.id)).scalar_one()
    record_payment(db, invoice_id=invoice_of.id, amount=D("30.00"), paid_on=dt.date(2026, 7, 1), actor=hospital,
                   now=LATER)  # fmt: skip
    rows = {r["shipment_id"]: r for r in payables(db, actor=hospital, today=dt.date(2026, 8, 10))}
    assert (rows[on_time.id]["status"], rows[on_time.id]["paid_in_full_on"]) == ("paid", dt.date(2026, 7, 10))
    assert (rows[late.id]["status"], rows[late.id]["days_late"]) == ("paid_late", 17)
    assert (rows[unpaid.id]["status"], rows[unpaid.id]["outstanding"], rows[unpaid.id]["days_late"]) == (
        "overdue", D("40.00"), 26,
    )  # fmt: skip
    overdue = payables(db, actor=ow.world.auditor, today=dt.date(2026, 8, 10), status="overdue")
    assert [r["shipment_id"] for r in overdue] == [unpaid.id]
    assert payables(db, actor=ow.distributor, today=dt.date(2026, 8, 10), hospital_id=hospital.org_id, status="overdue")
    # As of 12 July only the first was paid: the other two are still "due" and the late one not yet late.
    early = {r["shipment_id"]: r["status"] for r in payables(db, actor=hospital, today=dt.date(2026, 7, 12))}
    assert early == {on_time.id: "paid", late.id: "due", unpaid.id: "due"}
    rate = on_time_rate(db, hospital_id=hospital.org_id, start=dt.date(2026, 7, 1), end=dt.date(2026, 7, 31),
                        actor=hospital, today=dt.date(2026, 8, 10))  # fmt: skip
    assert (rate["due_count"], rate["on_time_count"], rate["count_rate"]) == (3, 1, D("0.3333"))
    # By amount: 70 paid on time, plus the 30 part payment made before its due date, of 210 due.
    assert (rate["due_amount"], rate["on_time_amount"], rate["amount_rate"]) == (D("210"), D("100"), D("0.4762"))
    _error(lambda: on_time_rate(db, hospital_id=hospital.org_id, start=dt.date(2026, 7, 1),
                                end=dt.date(2026, 7, 31), actor=ow.hospital(1)), "foreign_organisation")  # fmt: skip
    alerts = check_overdue(db, actor=ow.world.auditor, today=dt.date(2026, 8, 10))
    assert [(a.code, a.object_id, a.subject_org_id) for a in alerts] == [
        (PAYMENT_OVERDUE, str(unpaid.id), hospital.org_id)
    ]
    assert alerts[0].evidence["outstanding"] == "40.0000"
    assert check_overdue(db, actor=ow.world.auditor, today=dt.date(2026, 8, 20)) == []  # once per shipment


def test_payments_of_a_shipment_cover_its_receipts_earliest_due_first(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 5)
    receive_shipment(db, shipment_id=shipment.id, codes=codes[:2], actor=hospital, now=TODAY)  # 28.00, due 15 July
    later = TODAY + dt.timedelta(days=10)
    receive_shipment(db, shipment_id=shipment.id, codes=codes[2:], actor=hospital, now=later)  # 42.00, due 25 July
    invoice = upload(db, ow, shipment)
    record_payment(db, invoice_id=invoice.id, amount=D("30.00"), paid_on=dt.date(2026, 7, 14), actor=hospital,
                   now=LATER)  # fmt: skip
    rows = payables(db, actor=hospital, today=dt.date(2026, 7, 30))
    assert [(r["amount"], r["paid"], r["status"]) for r in rows] == [
        (D("28"), D("28"), "paid"),
        (D("42"), D("2"), "overdue"),
    ]


def test_a_prepayment_below_thirty_per_cent_warns_and_payments_are_set_against_it(ow, db):
    hospital, auditor = ow.hospital(0), ow.world.auditor
    # Agreed 7000 tablets a year in 28-tablet packs (spec factor 1) at 14.0000 a pack: 250 packs, 3500.00 a year;
    # 30 % is 1050.00.
    assert annual_agreed_amount(db, hospital_id=hospital.org_id, tender_id=ow.tender.id) == D("3500.00")
    prepay = lambda amount: record_prepayment(  # noqa: E731
        db, hospital_id=hospital.org_id, tender_id=ow.tender.id, amount=D(amount),
        received_on=dt.date(2026, 4, 10), actor=auditor,
    )  # fmt: skip
    low = prepay("500.00")
    assert (low["annual_agreed_amount"], low["minimum_amount"]) == (D("3500.00"), D("1050.00"))
    assert "below 30%" in low["warning"] and "1050.00" in low["warning"]
    enough = prepay("600.00")
    assert enough["warning"] is None and enough["prepaid_total"] == D("1100.00")
    _error(lambda: record_prepayment(db, hospital_id=hospital.org_id, tender_id=ow.tender.id, amount=D("1"),
                                     received_on=dt.date(2026, 4, 10), actor=hospital), "role_required")  # fmt: skip
    stranger = ow.distributor.org_id
    error = _error(lambda: record_prepayment(db, hospital_id=stranger, tender_id=ow.tender.id, amount=D("1"),
                                             received_on=dt.date(2026, 4, 10), actor=auditor), "invalid")  # fmt: skip
    assert list(error.errors) == ["hospital_id"]
    listed = list_prepayments(db, actor=hospital).items
    assert [(p["amount"], p["warning"] is None) for p in listed] == [(D("600"), True), (D("500"), False)]
    assert list_prepayments(db, actor=ow.hospital(1)).items == []
    _shipment, _receipt, invoice = _received(ow, db, hospital)
    record_payment(db, invoice_id=invoice.id, amount=D("70.00"), paid_on=dt.date(2026, 7, 1), actor=hospital,
                   now=LATER)  # fmt: skip
    balance = prepayment_balance(db, hospital_id=hospital.org_id, tender_id=ow.tender.id, actor=hospital)
    assert (balance["prepaid"], balance["payments"], balance["set_against"], balance["balance"]) == (
        D("1100"), D("70"), D("70"), D("1030"),
    )  # fmt: skip
    _error(lambda: prepayment_balance(db, hospital_id=hospital.org_id, tender_id=ow.tender.id,
                                      actor=ow.hospital(1)), "foreign_organisation")  # fmt: skip


def test_an_invoice_a_fen_below_the_receipt_paid_in_full_settles_it(ow, db):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 5)
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)
    assert receipt.amount == D("70.00")  # 5 packs at 14.0000, tax included
    # 5 × 12.3890 = 61.945 → 61.94, tax 8.05: the invoice totals 69.99, a fen below the receipt (tax per line).
    item = line(_product(db, shipment), unit_price="12.3890", amount="61.94", tax="8.05")
    invoice = upload(db, ow, shipment, lines=[item], number="FEN-1")
    record_payment(db, invoice_id=invoice.id, amount=D("69.99"), paid_on=dt.date(2026, 7, 1), actor=hospital,
                   now=LATER)  # fmt: skip
    row = next(r for r in payables(db, actor=hospital, today=dt.date(2026, 9, 1)) if r["receipt_id"] == receipt.id)
    assert (row["status"], row["outstanding"]) == ("paid", D(0))


def test_a_maker_uploading_a_first_invoice_bills_only_its_own_products(ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    other = next(p for p in ow.world.products if ow.maker_of(p.id).org_id != ow.maker_of(award.product_id).org_id)
    arrangements.create_listing(db, product_id=other.id, supplier_id=ow.distributor.org_id, price=D("20.0000"),
                                starts_on=dt.date(2026, 1, 1), actor=ow.world.organiser)  # fmt: skip
    order, _ = place_order(db, hospital_id=hospital.org_id, lines=[OrderLineIn(award.product_id, 2),
                           OrderLineIn(other.id, 2)], actor=hospital, now=TODAY)  # fmt: skip
    confirm_order(db, order_id=order.id, actor=ow.distributor, now=TODAY)
    mine, theirs = ow.commission(award.product_id, 2), ow.commission(other.id, 2)
    shipment, _ = ship_order(db, order_id=order.id, delivery_note_number="D-2", lines=[ShipLineIn(1, mine),
                             ShipLineIn(2, theirs)], actor=ow.distributor, now=TODAY)  # fmt: skip
    maker, rival = ow.maker_of(award.product_id), ow.maker_of(other.id)
    own, foreign = (
        line(p, quantity=2, unit_price="10.0000", amount="20.00", tax="2.60") for p in (award.product_id, other.id)
    )
    error = _error(lambda: upload(db, ow, shipment, "first", lines=[own, foreign], actor=maker, seller=maker.org_id,
                                  number="M-1"), "not_your_product")  # fmt: skip
    assert list(error.errors) == ["lines.1.product_id"] and str(other.id) in error.errors["lines.1.product_id"][0]
    assert error.kind == "forbidden" and _count(db, Invoice) == 0
    upload(db, ow, shipment, "first", lines=[own], actor=maker, seller=maker.org_id, number="M-1")
    # The rival's packs were not billed away by the other maker: it bills them itself.
    upload(db, ow, shipment, "first", lines=[foreign], actor=rival, seller=rival.org_id, number="R-1")
    assert _count(db, Invoice) == 2
