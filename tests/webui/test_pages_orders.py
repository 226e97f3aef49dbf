"""The order pages: a pharmacist orders from the catalogue and receives by scanning, a supplier confirms and ships."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from core.models import User
from core.roles import OrgKind, Role
from procurement.orders import arrangements
from procurement.orders.models import OrderLine, PurchaseOrder, Receipt
from procurement.orders.ordering import OrderLineIn, place_order
from procurement.orders.supply_models import SupplyProblem
from tests.procurement.order_world import SYSTEM, TODAY, build_order_world
from tests.webui.test_pages import post_form, sign_in

GS = "\x1d"


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


class _FormReader(HTMLParser):
    """Collect the fields of one form (by its data-testid) as a browser would post them."""

    def __init__(self, testid: str) -> None:
        super().__init__()
        self.testid, self.inside, self.fields, self.action = testid, False, {}, None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "form" and values.get("data-testid") == self.testid and self.action is None:
            self.inside, self.action = True, values.get("action")
        elif self.inside and tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value") or ""
        elif self.inside and tag == "textarea":
            self._textarea = values["name"]
            self.fields[self._textarea] = ""
        elif self.inside and tag == "select":
            self.fields[values["name"]] = ""

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data


def read_form(html: str, testid: str) -> tuple[str, dict[str, str]]:
    """Return the action and the fields (with their current values) of the form marked ``testid``."""
    reader = _FormReader(testid)
    reader.feed(html)
    assert reader.action, f"no form {testid}"
    return reader.action, reader.fields


def user_of(db, actor) -> User:
    return db.get(User, actor.user_id)


def _quantity_field(fields: dict[str, str], html: str, product_id: int) -> str:
    """Return the name of the quantity input on the catalogue row of a product."""
    for name, value in fields.items():
        if name.endswith("-product_id") and value == str(product_id):
            return name.replace("-product_id", "-quantity")
    raise AssertionError(f"product {product_id} is not in the cart form")


def test_pharmacist_orders_once_supplier_ships_pharmacist_receives_with_refusals(app, client, ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    sign_in(client, user_of(db, hospital))

    page = client.get("/orders/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="awarded"' in html
    assert ow.tender.title in html and str(award.unit_price) in html
    nav = html.split('class="mainnav"')[1].split("</nav>")[0]
    assert 'href="/orders" aria-current="page"' in nav and 'href="/orders/stock"' in nav
    action, fields = read_form(html, "cart")
    fields[_quantity_field(fields, html, award.product_id)] = "4"
    first = client.post(action, data=fields)
    again = client.post(action, data=fields)  # a double submit: the same idempotency key
    assert first.status_code == again.status_code == 302, first.get_data(as_text=True)
    orders = db.exec(sa.select(PurchaseOrder).where(PurchaseOrder.hospital_id == hospital.org_id)).scalars().all()
    assert len(orders) == 1 and first.headers["Location"] == again.headers["Location"] == f"/orders/{orders[0].id}"
    order = orders[0]
    detail = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert order.number in detail and 'data-testid="order-status"' in detail
    listing = client.get("/orders").get_data(as_text=True)
    assert order.number in listing

    supplier = app.test_client()
    sign_in(supplier, user_of(db, ow.distributor))
    assert order.number in supplier.get("/orders?status=submitted").get_data(as_text=True)
    assert order.number not in supplier.get("/orders?status=confirmed").get_data(as_text=True)
    confirmed = post_form(supplier, f"/orders/{order.id}/confirm", {}, form_page=f"/orders/{order.id}")
    assert confirmed.status_code == 302
    codes = ow.commission(award.product_id, 4)
    page = supplier.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "已确认" in page
    action, fields = read_form(page, "ship-form")
    fields["delivery_note_number"] = "SX-2026-001"
    fields["lines-0-codes"] = "\r\n".join(codes) + "\r\n"  # as a browser sends a textarea: CR LF
    shipped = supplier.post(action, data=fields)
    assert shipped.status_code == 302, shipped.get_data(as_text=True)
    page = supplier.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "SX-2026-001" in page and 'data-testid="ship-form"' not in page  # fully shipped: nothing left to ship

    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    action, fields = read_form(page, "receive-form")
    prefix = action.split("/shipments/")[1].split("/")[0]
    fields[f"s{prefix}-codes"] = f"{codes[0]}\r\n{codes[1]}\r\nNOT-A-CODE\r\n"
    fields[f"s{prefix}-refusals"] = f"{codes[2]} 外包装破损\r\n{codes[3]}\r\n"
    fields[f"s{prefix}-refusal_reason"] = "冷链温度超标"
    received = client.post(action, data=fields)
    assert received.status_code == 302, received.get_data(as_text=True)
    result = client.get(received.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="receipt-result"' in result
    assert 'data-testid="receipt-summary" data-accepted="2" data-refused="3"' in result
    assert "外包装破损" in result and "冷链温度超标" in result and "NOT-A-CODE" in result
    assert 'data-reason="refused_by_pharmacist"' in result and 'data-reason="invalid_code"' in result
    stock = client.get("/orders/stock").get_data(as_text=True)
    assert re.search(r'data-testid="packs">2<', stock)


def test_supplier_of_another_firm_gets_404(client, ow, db, factory):
    hospital = ow.hospital(0)
    order, _award = ow.confirmed_order(hospital, 2)
    stranger = factory.user(factory.org(OrgKind.DISTRIBUTOR), roles=(Role.SUPPLIER_REP,))
    sign_in(client, stranger)
    assert client.get(f"/orders/{order.id}").status_code == 404
    assert order.number not in client.get("/orders").get_data(as_text=True)


def test_bad_quantity_is_shown_next_to_its_field_and_nothing_is_ordered(client, ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    sign_in(client, user_of(db, hospital))
    html = client.get("/orders/new").get_data(as_text=True)
    action, fields = read_form(html, "cart")
    name = _quantity_field(fields, html, award.product_id)
    fields[name] = "1.5"
    response = client.post(action, data=fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(
        rf'<ul class="field-errors" id="[^"]+" data-field="{re.escape(name)}">\s*<li class="field-error">', page
    )
    fields[name] = "-2"
    assert client.post(action, data=fields).status_code == 422
    fields[name], fields[name.replace("-quantity", "-product_id")] = "3", "999999"  # no longer (or never) buyable
    gone = client.post(action, data=fields)
    assert gone.status_code == 422 and f'data-field="{name}"' in gone.get_data(as_text=True)
    assert db.exec(sa.select(sa.func.count()).select_from(PurchaseOrder)).one()[0] == 0


def test_ship_form_keeps_gs_separators_and_shows_the_bad_code_on_its_line(client, ow, db):
    hospital = ow.hospital(0)
    order, _award = ow.confirmed_order(hospital, 2)
    sign_in(client, user_of(db, ow.distributor))
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    action, fields = read_form(page, "ship-form")
    fields["delivery_note_number"] = "SX-9"
    gs1 = f"0106912345678901{GS}2100000001"  # a GS1 code nobody commissioned: refused, but read whole
    fields["lines-0-codes"] = f"{gs1}\r\n"
    response = client.post(action, data=fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-field="lines-0-codes"' in html and "\u241d2100000001" in html  # shown with the visible ␝
    assert gs1 in html  # and the scan box gives back what was scanned, GS included


def test_listed_non_winning_product_is_flagged_and_the_cart_splits_per_supplier(client, ow, db, factory):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    other = next(p for p in ow.world.products if p.id != award.product_id)
    seller = factory.org(OrgKind.DISTRIBUTOR, name="鹭岛医药配送有限公司")
    arrangements.create_listing(
        db, product_id=other.id, supplier_id=seller.id, price=Decimal("3.50"), starts_on=dt.date(2026, 1, 1),
        actor=SYSTEM,
    )  # fmt: skip
    db.flush()
    sign_in(client, user_of(db, hospital))
    html = client.get("/orders/new").get_data(as_text=True)
    assert 'data-testid="non-winning"' in html and "鹭岛医药配送有限公司" in html
    assert html.index('data-testid="awarded"') < html.index('data-testid="listed"')
    action, fields = read_form(html, "cart")
    fields[_quantity_field(fields, html, award.product_id)] = "2"
    fields[_quantity_field(fields, html, other.id)] = "1"
    for _twice in range(2):
        response = client.post(action, data=fields)
        assert response.status_code == 302 and response.headers["Location"] == "/orders"
    orders = db.exec(sa.select(PurchaseOrder).order_by(PurchaseOrder.id)).scalars().all()
    assert len(orders) == 2 and {o.supplier_id for o in orders} == {ow.distributor.org_id, seller.id}
    listed = db.exec(sa.select(OrderLine).where(OrderLine.product_id == other.id)).scalar_one()
    assert (listed.price_basis, listed.winning_product_id, listed.unit_price) == (
        "listed",
        award.product_id,
        Decimal("3.5"),
    )


def test_a_refused_pack_needs_a_reason_and_nothing_is_received_without_one(client, ow, db):
    hospital = ow.hospital(0)
    order, shipment, codes = ow.shipped(hospital, 2)
    sign_in(client, user_of(db, hospital))
    action, fields = read_form(client.get(f"/orders/{order.id}").get_data(as_text=True), "receive-form")
    fields[f"s{shipment.id}-codes"] = codes[0]
    fields[f"s{shipment.id}-refusals"] = codes[1]
    response = client.post(action, data=fields)
    assert response.status_code == 422
    assert f'data-field="s{shipment.id}-refusals"' in response.get_data(as_text=True)
    assert db.exec(sa.select(sa.func.count()).select_from(Receipt)).one()[0] == 0


def test_supplier_rejects_with_a_reason_the_hospital_reads(app, client, ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    order, _new = place_order(
        db, hospital_id=hospital.org_id, lines=[OrderLineIn(award.product_id, 1)], actor=hospital, now=TODAY
    )
    db.flush()
    sign_in(client, user_of(db, ow.distributor))
    page = f"/orders/{order.id}"
    assert post_form(client, f"{page}/reject", {"reject-reason": ""}, form_page=page).status_code == 422
    assert post_form(client, f"{page}/reject", {"reject-reason": "该批次缺货"}, form_page=page).status_code == 302
    pharmacy = app.test_client()
    sign_in(pharmacy, user_of(db, hospital))
    html = pharmacy.get(page).get_data(as_text=True)
    assert "该批次缺货" in html and 'class="status rejected"' in html and 'data-testid="cancel-form"' not in html


def test_auditor_reads_every_order_but_keeps_no_stock_page(client, ow, db, factory):
    first, _award = ow.confirmed_order(ow.hospital(0), 1)
    second, _award = ow.confirmed_order(ow.hospital(1), 1)
    auditor = factory.user(factory.org(OrgKind.INSURANCE_BUREAU), roles=(Role.AUDITOR,))
    sign_in(client, auditor)
    html = client.get("/orders").get_data(as_text=True)
    assert first.number in html and second.number in html
    assert 'href="/orders/stock"' not in html and client.get("/orders/stock").status_code == 403
    detail = client.get(f"/orders/{first.id}").get_data(as_text=True)
    assert first.number in detail and 'data-testid="ship-form"' not in detail and 'data-testid="confirm"' not in detail


def test_pharmacist_reports_a_supply_problem_the_supplier_sees(app, client, ow, db):
    hospital = ow.hospital(0)
    order, _award = ow.confirmed_order(hospital, 1)
    sign_in(client, user_of(db, hospital))
    page = f"/orders/{order.id}"
    assert post_form(client, f"{page}/problems", {"kind": "late", "description": ""}, form_page=page).status_code == 422
    sent = post_form(
        client, f"{page}/problems", {"kind": "late", "description": "超过约定时间三天未到货"}, form_page=page
    )
    assert sent.status_code == 302
    problem = db.exec(sa.select(SupplyProblem).where(SupplyProblem.order_id == order.id)).scalar_one()
    assert (problem.kind, problem.supplier_id) == ("late", ow.distributor.org_id)
    supplier = app.test_client()
    sign_in(supplier, user_of(db, ow.distributor))
    html = supplier.get(page).get_data(as_text=True)
    assert "超过约定时间三天未到货" in html and 'data-testid="problem-form"' not in html
