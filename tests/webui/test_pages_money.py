"""The money and agreement pages: invoices per shipment, payables paid through the form, progress, online share.

Figures as in tests/procurement/test_invoices_payments.py: 5 packs at 14.0000 a pack. The second invoice bills
5 × 12.3894 = 61.95 with 13 % VAT 8.05, total 70.00; the first 5 × 11.5000 = 57.50, tax 7.48, total 64.98.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from core.alerts import Alert
from core.db import utcnow
from core.roles import OrgKind
from procurement.orders.invoices import InvoiceLineIn, upload_invoice
from procurement.orders.models import OfflinePurchase
from procurement.orders.money_models import Invoice, Payment
from procurement.orders.receiving import receive_shipment
from procurement.orders.rules import PROGRESS_BEHIND
from tests.procurement.order_world import TODAY, build_order_world
from tests.webui.test_pages import post_form, sign_in
from tests.webui.test_pages_orders import user_of

D = Decimal


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


class _Form(HTMLParser):
    """Collect one form's fields (by its data-testid, the n-th of them) as a browser would post them."""

    def __init__(self, testid: str, index: int) -> None:
        super().__init__()
        self.testid, self.index, self.seen, self.inside = testid, index, -1, False
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "form" and values.get("data-testid") == self.testid:
            self.seen += 1
            if self.seen == self.index:
                self.inside, self.action = True, values.get("action")
        elif not self.inside:
            return
        elif tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value") or ""
        elif tag == "select":
            self._select = values["name"]
            self.fields[self._select] = ""
        elif tag == "option" and self._select and ("selected" in values or not self.fields[self._select]):
            self.fields[self._select] = values.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None


def form_of(html: str, testid: str, index: int = 0) -> tuple[str, dict[str, str]]:
    """Return the action and current fields of the form marked ``testid`` (a select posts its selected option)."""
    reader = _Form(testid, index)
    reader.feed(html)
    assert reader.action, f"no form {testid}"
    return reader.action, reader.fields


def field_errors(html: str, name: str) -> list[str]:
    """Return the messages shown next to a field."""
    block = re.search(rf'<ul class="field-errors" id="[^"]+" data-field="{re.escape(name)}">(.*?)</ul>', html, re.S)
    return [unescape(m) for m in re.findall(r'<li class="field-error">(.*?)</li>', block[1])] if block else []


def _count(db, model) -> int:
    return db.exec(sa.select(sa.func.count()).select_from(model)).one()[0]


def _fill_line(fields, *, price, amount, tax, totals):
    fields.update({"lines-0-unit_price": price, "lines-0-amount": amount, "lines-0-tax": tax})
    fields.update(dict(zip(("amount", "tax", "total"), totals, strict=True)))


def test_supplier_uploads_both_invoices_through_the_form(app, client, ow, db):
    hospital = ow.hospital(0)
    order, shipment, _codes = ow.shipped(hospital, 5)
    product = ow.award_of(hospital).product_id
    sign_in(client, user_of(db, ow.distributor))
    detail = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert f"/money/shipments/{shipment.id}/invoices/first" in detail
    assert f"/money/shipments/{shipment.id}/invoices/second" in detail

    page = client.get(f"/money/shipments/{shipment.id}/invoices/first").get_data(as_text=True)
    action, fields = form_of(page, "invoice-form")
    assert (fields["lines-0-product_id"], fields["lines-0-batch"], fields["lines-0-quantity"]) == (
        str(product),
        "B2601",
        "5",
    )
    assert fields["lines-0-tax_rate"] == "0.13" and fields["lines-0-unit_price"] == ""  # the maker's price is unknown
    assert fields["seller_org_id"] == str(ow.maker_of(product).org_id)
    assert fields["buyer_org_id"] == str(ow.distributor.org_id)
    fields.update({"number": "FP-001", "issued_on": "2026-06-15"})
    _fill_line(fields, price="11.5000", amount="57.50", tax="7.48", totals=("57.50", "7.48", "64.98"))
    first = client.post(action, data=fields)
    assert first.status_code == 302, first.get_data(as_text=True)
    stored = db.exec(sa.select(Invoice).where(Invoice.number == "FP-001")).scalar_one()
    assert first.headers["Location"] == f"/money/invoices/{stored.id}"
    shown = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "FP-001" in shown and 'data-testid="invoice-total">64.98<' in shown

    # The second invoice starts from the order's price before tax: 14.00 / 1.13 = 12.3894.
    page = client.get(f"/money/shipments/{shipment.id}/invoices/second").get_data(as_text=True)
    action, fields = form_of(page, "invoice-form")
    assert fields["lines-0-unit_price"] == "12.3894" and fields["lines-0-quantity"] == "5"
    assert (fields["seller_org_id"], fields["buyer_org_id"]) == (str(ow.distributor.org_id), str(hospital.org_id))
    fields.update({"number": "SP-001", "issued_on": "2026-06-15"})
    _fill_line(fields, price="12.3894", amount="61.95", tax="8.05", totals=("61.95", "8.05", "70.00"))
    assert client.post(action, data=fields).status_code == 302
    again = client.get(f"/money/shipments/{shipment.id}/invoices/second").get_data(as_text=True)
    assert 'data-testid="fully-invoiced"' in again and "SP-001" in again

    listing = client.get("/money/invoices").get_data(as_text=True)
    assert "FP-001" in listing and "SP-001" in listing
    pharmacist = app.test_client()
    sign_in(pharmacist, user_of(db, hospital))
    assert pharmacist.get(f"/money/shipments/{shipment.id}/invoices/second").status_code == 403
    mine = pharmacist.get("/money/invoices?kind=second").get_data(as_text=True)
    assert "SP-001" in mine and "FP-001" not in mine
    other = app.test_client()
    sign_in(other, user_of(db, ow.hospital(1)))
    assert "SP-001" not in other.get("/money/invoices").get_data(as_text=True)
    assert other.get(f"/money/invoices/{stored.id}").status_code == 404


def test_a_wrong_line_amount_is_shown_next_to_its_field_and_nothing_is_stored(client, ow, db):
    _order, shipment, _codes = ow.shipped(ow.hospital(0), 5)
    sign_in(client, user_of(db, ow.distributor))
    page = client.get(f"/money/shipments/{shipment.id}/invoices/second").get_data(as_text=True)
    action, fields = form_of(page, "invoice-form")
    fields.update({"number": "SP-BAD", "issued_on": "2026-06-15"})
    _fill_line(fields, price="12.3894", amount="60.00", tax="7.80", totals=("60.00", "7.80", "67.80"))
    response = client.post(action, data=fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert any("61.95" in message for message in field_errors(html, "lines-0-amount")), html
    assert 'role="alert"' in html and 'value="SP-BAD"' in html  # the form comes back as typed
    fields.update({"lines-0-amount": "61.95", "lines-0-tax": "8.05", "amount": "61.95", "tax": "8.05"})
    fields["total"] = "70.01"
    response = client.post(action, data=fields)
    assert response.status_code == 422 and field_errors(response.get_data(as_text=True), "total")
    fields["lines-0-amount"] = "sixty"
    response = client.post(action, data=fields)
    assert response.status_code == 422 and field_errors(response.get_data(as_text=True), "lines-0-amount")
    assert _count(db, Invoice) == 0


def _received_and_invoiced(ow, db, hospital):
    """Ship 5 packs, receive them today (due in 30 days) and upload the second invoice of 70.00."""
    _order, shipment, codes = ow.shipped(hospital, 5)
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=utcnow())
    line = InvoiceLineIn(ow.award_of(hospital).product_id, "B2601", 5, D("12.3894"), D("0.13"), D("61.95"), D("8.05"))
    invoice = upload_invoice(
        db, shipment_id=shipment.id, kind="second", number="SP-100", issued_on=TODAY.date(),
        seller_org_id=shipment.supplier_id, buyer_org_id=hospital.org_id, lines=[line], amount=D("61.95"),
        tax=D("8.05"), total=D("70.00"), actor=ow.distributor, now=utcnow(),
    )  # fmt: skip
    db.flush()
    return receipt, invoice


def test_the_hospital_pays_through_the_form_and_the_receipt_turns_from_due_to_paid(client, ow, db):
    hospital = ow.hospital(0)
    receipt, invoice = _received_and_invoiced(ow, db, hospital)
    sign_in(client, user_of(db, hospital))
    page = client.get("/money/payables").get_data(as_text=True)
    row = re.search(rf'<tr data-receipt-id="{receipt.id}" data-status="(\w+)">(.*?)</tr>', page, re.S)
    assert row and row[1] == "due"
    assert 'data-testid="payable-amount">70.00<' in row[2] and receipt.due_on.isoformat() in row[2]
    assert "SP-100" in row[2]
    action, fields = form_of(page, "pay-form")
    prefix = f"pay{invoice.id}"
    assert action == f"/money/invoices/{invoice.id}/pay" and fields[f"{prefix}-amount"] == "70.00"
    assert fields[f"{prefix}-paid_on"] == utcnow().date().isoformat() and fields[f"{prefix}-key"]

    fields[f"{prefix}-amount"] = "70.01"
    refused = client.post(action, data=fields)
    assert refused.status_code == 422 and field_errors(refused.get_data(as_text=True), f"{prefix}-amount")
    fields[f"{prefix}-amount"], fields[f"{prefix}-reference"] = "70.00", "ICBC-20261122-001"
    paid = client.post(action, data=fields)
    twice = client.post(action, data=fields)  # a double submit: the same idempotency key records one payment
    assert paid.status_code == twice.status_code == 302
    assert _count(db, Payment) == 1
    page = client.get("/money/payables").get_data(as_text=True)
    row = re.search(rf'<tr data-receipt-id="{receipt.id}" data-status="(\w+)">(.*?)</tr>', page, re.S)
    assert row[1] == "paid" and 'data-testid="payable-outstanding">0.00<' in row[2]
    assert 'data-testid="pay-form"' not in page
    assert 'data-testid="count-rate">100.0%<' in page  # paid before its due date, within this year
    assert 'data-testid="prepayment-balance">0.00<' in page  # its tender, though the fund prepaid nothing yet
    detail = client.get(f"/money/invoices/{invoice.id}").get_data(as_text=True)
    assert "ICBC-20261122-001" in detail and 'data-testid="invoice-outstanding">0.00<' in detail


def test_the_auditor_filters_payables_and_records_a_prepayment_with_its_warning(app, client, ow, db, factory):
    receipt, _invoice = _received_and_invoiced(ow, db, ow.hospital(0))
    auditor = ow.world.auditor
    sign_in(client, user_of(db, auditor))
    page = client.get("/money/payables").get_data(as_text=True)
    assert f'data-receipt-id="{receipt.id}"' in page and 'data-testid="pay-form"' not in page
    other = client.get(f"/money/payables?hospital={ow.hospital(1).org_id}").get_data(as_text=True)
    assert f'data-receipt-id="{receipt.id}"' not in other
    assert f'data-receipt-id="{receipt.id}"' not in client.get("/money/payables?status=paid").get_data(as_text=True)
    assert f'data-receipt-id="{receipt.id}"' in client.get("/money/payables?status=due").get_data(as_text=True)

    action, fields = form_of(page, "prepayment-form")
    fields.update({"hospital_id": str(ow.hospital(0).org_id), "tender_id": str(ow.tender.id), "amount": "1.00"})
    recorded = client.post(action, data=fields)
    assert recorded.status_code == 302, recorded.get_data(as_text=True)
    shown = client.get(recorded.headers["Location"]).get_data(as_text=True)
    assert "flash-warning" in shown and 'data-testid="prepayment-warning"' in shown
    assert 'data-testid="prepayment-balance">1.00<' in shown
    fields["amount"] = "-5"
    refused = client.post(action, data=fields)
    assert refused.status_code == 422 and field_errors(refused.get_data(as_text=True), "amount")

    pharmacist = app.test_client()
    sign_in(pharmacist, user_of(db, ow.hospital(0)))
    mine = pharmacist.get("/money/payables").get_data(as_text=True)
    assert 'data-testid="prepayment-warning"' in mine and 'data-testid="prepayment-form"' not in mine
    assert pharmacist.post("/money/prepayments", data={}).status_code in (400, 403)


def test_progress_page_shows_rows_and_chart_and_the_auditor_runs_the_check(app, client, ow, db):
    hospital = ow.hospital(0)
    sign_in(client, user_of(db, hospital))
    page = client.get("/agreements/progress").get_data(as_text=True)
    rows = re.findall(r'<tr data-hospital-id="(\d+)" data-lot-id="\d+" data-status="(\w+)">', page)
    assert rows == [(str(hospital.org_id), "behind")]  # nothing bought, months into the agreement year
    chart = json.loads(unescape(re.search(r"data-chart='([^']*)'", page)[1]))
    assert len(chart["labels"]) == 1 and chart["completion"] == [0.0] and 0 < chart["time"][0] <= 100
    assert chart["warning"][0] == pytest.approx(chart["time"][0] * 0.8, abs=0.01)
    assert 'src="/assets/vendor/plotly.min.js"' in page and "progress-chart.js" in page
    assert 'data-testid="progress-check"' not in page
    nav = page.split('class="mainnav"')[1].split("</nav>")[0]
    assert 'href="/agreements/progress" aria-current="page"' in nav and 'href="/money/payables"' in nav

    auditor = app.test_client()
    sign_in(auditor, user_of(db, ow.world.auditor))
    everyone = auditor.get("/agreements/progress").get_data(as_text=True)
    assert len(re.findall(r'<tr data-hospital-id="\d+" data-lot-id', everyone)) == len(ow.world.hospitals)
    one = auditor.get(f"/agreements/progress?hospital={hospital.org_id}&tender={ow.tender.id}").get_data(as_text=True)
    assert re.findall(r'<tr data-hospital-id="(\d+)"', one) == [str(hospital.org_id)]
    checked = post_form(auditor, "/agreements/progress/check", {}, form_page="/agreements/progress")
    assert checked.status_code == 302
    assert db.exec(sa.select(sa.func.count()).select_from(Alert).where(Alert.code == PROGRESS_BEHIND)).one()[0] == 3
    assert client.post("/agreements/progress/check", data={}).status_code in (400, 403)


def test_the_hospital_declares_an_offline_purchase_and_its_share_counts_it(client, ow, db):
    hospital = ow.hospital(0)
    _received_and_invoiced(ow, db, hospital)
    sign_in(client, user_of(db, hospital))
    page = client.get("/agreements/online-share").get_data(as_text=True)
    assert 'data-kind="drug"' in page and 'data-testid="share">100.0%<' in page
    action, fields = form_of(page, "offline-form")
    month = utcnow().date().replace(day=1)
    fields.update({"month": f"{month:%Y-%m}", "product_kind": "drug", "description": "阿托伐他汀钙片 急采"})
    fields.update({"amount": "30.00", "reason": "平台断供期间应急采购"})
    declared = client.post(action, data=fields)
    assert declared.status_code == 302, declared.get_data(as_text=True)
    page = client.get("/agreements/online-share").get_data(as_text=True)
    assert 'data-testid="offline-amount">30.00<' in page and 'data-testid="share">70.0%<' in page  # 70 of 100
    assert "平台断供期间应急采购" in page and 'id="share-chart"' in page
    future = month.replace(year=month.year + 1)
    fields["month"] = f"{future:%Y-%m}"
    refused = client.post(action, data=fields)
    assert refused.status_code == 422 and field_errors(refused.get_data(as_text=True), "month")
    fields.update({"month": f"{month:%Y-%m}", "amount": "lots"})
    refused = client.post(action, data=fields)
    assert refused.status_code == 422 and field_errors(refused.get_data(as_text=True), "amount")
    assert _count(db, OfflinePurchase) == 1


def test_money_pages_need_the_right_role(app, client, ow, db, factory):
    _order, shipment, _codes = ow.shipped(ow.hospital(0), 2)
    sign_in(client, factory.user(factory.org(OrgKind.HOSPITAL)))  # a pharmacist of another hospital
    assert client.get("/money/payables").status_code == 200
    assert client.get(f"/money/shipments/{shipment.id}/invoices/second").status_code == 403
    assert client.get("/agreements/progress").status_code == 200
    supplier = app.test_client()
    sign_in(supplier, factory.user(factory.org(OrgKind.DISTRIBUTOR)))  # not this shipment's supplier
    assert supplier.get(f"/money/shipments/{shipment.id}/invoices/second").status_code == 404
    assert supplier.get(f"/money/shipments/{shipment.id}/invoices/third").status_code == 404
    assert supplier.get("/agreements/progress").status_code == 403
    assert supplier.get("/money/invoices").status_code == 200
