"""The order page's shipment documents: the supplier attaches the delivery note, the hospital downloads it, a bad
file is refused on the form with the reason, and the hospital has no form to attach one."""

from __future__ import annotations

import io

import pytest

from tests.procurement.order_world import build_order_world
from tests.webui.test_pages import sign_in
from tests.webui.test_pages_orders import read_form, user_of

pytestmark = pytest.mark.usefixtures("english_pages")
PDF = b"%PDF-1.7\n%%EOF\n"


def _attach(client, page: str, data: bytes, name: str, kind: str = "delivery_note"):
    action, fields = read_form(client.get(page).get_data(as_text=True), "document-form")
    prefix = next(key for key in fields if key.endswith("-csrf_token")).removesuffix("csrf_token")
    body = {**fields, f"{prefix}kind": kind, f"{prefix}file": (io.BytesIO(data), name)}
    return client.post(action, data=body, content_type="multipart/form-data")


def test_the_supplier_attaches_the_delivery_note_and_the_hospital_downloads_it(db, factory, app):
    ow = build_order_world(db, factory)
    hospital = ow.hospital(0)
    order, shipment, _codes = ow.shipped(hospital, 3)
    page = f"/orders/{order.id}"
    supplier = app.test_client()
    sign_in(supplier, user_of(db, ow.distributor))
    refused = _attach(supplier, page, b"not a document", "note.pdf")
    assert refused.status_code == 422
    assert "This file is not a PDF, OFD, PNG or JPEG file." in refused.get_data(as_text=True)
    attached = _attach(supplier, page, PDF, "随货同行单.pdf")
    assert attached.status_code == 302 and attached.headers["Location"].endswith(f"#shipment-{shipment.id}")
    html = supplier.get(page).get_data(as_text=True)
    assert "Document attached." in html and "随货同行单.pdf" in html
    assert _attach(supplier, page, PDF, "again.pdf").status_code == 302
    html = supplier.get(page).get_data(as_text=True)
    assert "This file was already attached; nothing added." in html and html.count('data-document-kind="') == 1

    pharmacy = app.test_client()
    sign_in(pharmacy, user_of(db, hospital))
    html = pharmacy.get(page).get_data(as_text=True)
    assert 'data-testid="document-form"' not in html  # the hospital reads, it does not attach
    link = f"/orders/{order.id}/shipments/{shipment.id}/documents/"
    start = html.index(link)
    href = html[start : html.index('"', start)]
    download = pharmacy.get(href)
    assert download.status_code == 200 and download.data == PDF and download.mimetype == "application/pdf"
    stranger = app.test_client()
    sign_in(stranger, user_of(db, ow.hospital(1)))
    assert stranger.get(href).status_code == 404


def test_the_supplier_takes_refused_packs_back_from_the_order_page(db, factory, app):
    from procurement.orders.receiving import RefusalIn, receive_shipment
    from tests.procurement.order_world import TODAY
    from tests.webui.test_pages import post_form

    ow = build_order_world(db, factory)
    hospital = ow.hospital(0)
    order, shipment, codes = ow.shipped(hospital, 3)
    receive_shipment(db, shipment_id=shipment.id, codes=codes[:1], actor=hospital, now=TODAY,
                     refusals=[RefusalIn(c, "破损") for c in codes[1:]])  # fmt: skip
    page = f"/orders/{order.id}"
    pharmacy = app.test_client()
    sign_in(pharmacy, user_of(db, hospital))
    html = pharmacy.get(page).get_data(as_text=True)
    assert "2 refused packs are still with the carrier" in html and 'data-testid="take-back-submit"' not in html
    supplier = app.test_client()
    sign_in(supplier, user_of(db, ow.distributor))
    assert 'data-testid="take-back-submit"' in supplier.get(page).get_data(as_text=True)
    action = f"/orders/{order.id}/shipments/{shipment.id}/take-back"
    response = post_form(supplier, action, {}, form_page=page, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Refused packs taken back into stock." in html and 'data-testid="take-back"' not in html
