"""In a real browser, an order to payment: a pharmacist orders, the supplier confirms, ships with codes and both
invoices, the pharmacist receives by scanning, and the payment appears as due and then paid."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from core.db import make_engine, new_session, utcnow
from core.models import Organisation, User
from core.roles import Role
from procurement.orders.models import Receipt
from tests.factories import Factory
from tests.procurement.order_world import build_order_world

pytestmark = pytest.mark.browser

PACKS = 3
FEN, PRICE = Decimal("0.01"), Decimal("0.0001")


@dataclass(frozen=True)
class Chain:
    pharmacist: str  # username of a pharmacist of the ordering hospital
    distributor: str  # username of the distributor's representative, which holds the packs
    product_id: int
    codes: list[str]  # loose packs in the distributor's stock, moved there through trace capture
    price: Decimal  # the awarded price per pack, tax included
    maker_price: Decimal  # the manufacturer's price per pack before tax, on the first invoice


@pytest.fixture(scope="session")
def chain(live_server) -> Chain:
    """An awarded tender with a distributor named for each hospital, and packs in the distributor's stock."""
    engine = make_engine(live_server.database_url)
    try:
        with new_session(engine) as session:
            factory = Factory(session)
            ow = build_order_world(session, factory)
            hospital = ow.hospital(0)
            org = session.get(Organisation, hospital.org_id)
            pharmacist = factory.user(org, roles=(Role.PHARMACIST,), username="sun.pharmacist", display_name="孙药师")
            award = ow.award_of(hospital)
            codes = ow.commission(
                award.product_id, PACKS
            )  # made at the maker, shipped to and received by the distributor
            distributor = session.get(User, ow.distributor.user_id).username
            session.commit()
            return Chain(pharmacist.username, distributor, award.product_id, codes, award.unit_price, Decimal("11.5"))
    finally:
        engine.dispose()


def _fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def _scan(tab: Page, box, codes: list[str]) -> None:
    """Type codes into a scan box as a keyboard-wedge scanner does: each code, then Enter."""
    box.click()
    for code in codes:
        tab.keyboard.type(code)
        tab.keyboard.press("Enter")


def _upload_invoice(tab: Page, order_url: str, kind: str, *, number: str, unit_price: Decimal, prefilled: bool):
    """Open an invoice form from the order page, fill its one line and the totals, and upload it."""
    tab.goto(order_url)
    tab.get_by_test_id(f"upload-{kind}-invoice").click()
    form = tab.get_by_test_id("invoice-form")
    expect(form.locator("input[name='lines-0-quantity']")).to_have_value(str(PACKS))
    price = form.locator("input[name='lines-0-unit_price']")
    expect(price).to_have_value(str(unit_price) if prefilled else "")
    amount = _fen(unit_price * PACKS)
    tax = _fen(amount * Decimal("0.13"))
    form.locator("#number").fill(number)
    form.locator("#issued_on").fill(utcnow().date().isoformat())
    price.fill(str(unit_price))
    form.locator("input[name='lines-0-amount']").fill(str(amount))
    form.locator("input[name='lines-0-tax']").fill(str(tax))
    form.locator("#amount").fill(str(amount))
    form.locator("#tax").fill(str(tax))
    form.locator("#total").fill(str(amount + tax))
    tab.get_by_test_id("invoice-submit").click()
    tab.wait_for_url(re.compile(r".*/money/invoices/\d+$"))
    expect(tab.get_by_test_id("invoice-number")).to_have_text(number)
    expect(tab.get_by_test_id("invoice-total")).to_have_text(str(amount + tax))


def test_an_order_is_shipped_invoiced_received_by_scanning_and_paid(as_user, live_server, chain):
    # The pharmacist orders the awarded product from the catalogue of what the hospital may buy.
    pharmacy = as_user(chain.pharmacist)
    pharmacy.goto("/orders/new")
    row = pharmacy.get_by_test_id("awarded").locator(f"tr[data-product-id='{chain.product_id}']")
    row.locator("input[name$='-quantity']").fill(str(PACKS))
    pharmacy.get_by_test_id("place-order").click()
    pharmacy.wait_for_url(re.compile(r".*/orders/\d+$"))
    order_url = pharmacy.url
    expect(pharmacy.get_by_test_id("order-status")).to_have_class(re.compile(r"\bsubmitted\b"))

    # The distributor confirms, then ships by scanning the packs' codes into the line's box.
    supplier = as_user(chain.distributor)
    supplier.goto(order_url)
    supplier.get_by_test_id("confirm").click()
    expect(supplier.get_by_test_id("order-status")).to_have_class(re.compile(r"\bconfirmed\b"))
    supplier.locator("#delivery_note_number").fill(f"SX-{live_server.backend}-001")
    _scan(supplier, supplier.locator("textarea[name='lines-0-codes']"), chain.codes)
    supplier.get_by_test_id("ship-submit").click()
    expect(supplier.get_by_test_id("shipment-status")).to_have_class(re.compile(r"\bin_transit\b"))
    expect(supplier.get_by_test_id("order-status")).to_have_class(re.compile(r"\bshipped\b"))

    # Both invoices of the shipment: the manufacturer's to the distributor, and the distributor's to the hospital
    # at the order's price before tax (prefilled from the order).
    backend = live_server.backend
    _upload_invoice(
        supplier, order_url, "first", number=f"FP-{backend}-1", unit_price=chain.maker_price, prefilled=False
    )
    before_tax = (chain.price / Decimal("1.13")).quantize(PRICE, rounding=ROUND_HALF_UP)
    _upload_invoice(supplier, order_url, "second", number=f"SP-{backend}-1", unit_price=before_tax, prefilled=True)

    # The pharmacist receives the shipment by scanning each pack as it comes off the lorry.
    pharmacy.reload()
    receive = pharmacy.get_by_test_id("receive-form")
    _scan(pharmacy, receive.locator("textarea[name$='-codes']").first, chain.codes)
    expect(receive.locator(".scan-count").first).to_contain_text(str(PACKS))
    pharmacy.get_by_test_id("receive-submit").click()
    summary = pharmacy.get_by_test_id("receipt-summary")
    expect(summary).to_have_attribute("data-accepted", str(PACKS))
    expect(summary).to_have_attribute("data-refused", "0")

    # The payment is due: the amount of the accepted packs, by the due date the tender's terms give.
    pharmacy.get_by_test_id("payables-link").click()
    pharmacy.wait_for_url("**/money/payables")
    due_on = _due_date(live_server.database_url)
    owed = _fen(chain.price * PACKS)
    payable = pharmacy.get_by_test_id("payables").locator("tbody tr")
    expect(payable).to_have_count(1)
    expect(payable.get_by_test_id("payable-status")).to_have_class(re.compile(r"\bdue\b"))
    expect(payable.get_by_test_id("payable-amount")).to_have_text(str(owed))
    expect(payable.get_by_test_id("payable-due")).to_have_text(due_on)
    expect(payable.get_by_test_id("payable-outstanding")).to_have_text(str(owed))

    # The pharmacist pays the second invoice; the receipt is paid, on time.
    pay = pharmacy.get_by_test_id("pay-form")
    expect(pay.locator("input[name$='-amount']")).to_have_value(str(owed))
    pay.locator("input[name$='-reference']").fill("ICBC-0001")
    pharmacy.get_by_test_id("pay-submit").click()
    expect(payable.get_by_test_id("payable-status")).to_have_class(re.compile(r"\bpaid\b"))
    expect(payable.get_by_test_id("payable-paid")).to_have_text(str(owed))
    expect(payable.get_by_test_id("payable-outstanding")).to_have_text("0.00")
    expect(pharmacy.get_by_test_id("pay-form")).to_have_count(0)
    expect(pharmacy.get_by_test_id("on-time").get_by_test_id("count-rate")).to_have_text("100.0%")

    # The agreed-volume chart is drawn with the locally served Plotly.
    pharmacy.locator("nav.mainnav a[href='/agreements/progress']").click()
    expect(pharmacy.locator("#progress-chart svg.main-svg").first).to_be_attached()
    expect(pharmacy.locator("#progress-chart .bars .point")).to_have_count(1)
    assert as_user.log.foreign() == []


def _due_date(url: str) -> str:
    engine = make_engine(url)
    try:
        with new_session(engine) as session:
            return session.exec(sa.select(Receipt.due_on).order_by(Receipt.id.desc())).first()[0].isoformat()
    finally:
        engine.dispose()
