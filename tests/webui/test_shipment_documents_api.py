"""Shipment documents over HTTP: the supplier files the delivery note (随货同行单) and invoice files; the hospital,
the supplier and auditors read them; others get 404; bad files get a clear error naming the field; the same file
again is the same document."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
import sqlalchemy as sa

from core.models import AuditRecord, User
from procurement.orders.documents import MAX_DOCUMENT_BYTES, sniff
from tests.procurement.order_world import build_order_world
from tests.procurement.test_invoices_payments import _received
from tests.webui.test_api_conventions import assert_error

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _ofd() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("OFD.xml", "<ofd:OFD xmlns:ofd='http://www.ofdspec.org/2016'/>")
        package.writestr("Doc_0/Document.xml", "<ofd:Document/>")
    return buffer.getvalue()


@pytest.fixture
def docs(db, factory, api):
    ow = build_order_world(db, factory)
    hospital = ow.hospital(0)
    shipment, _receipt, invoice = _received(ow, db, hospital)
    client = {
        name: api(db.get(User, who.user_id))
        for name, who in {
            "hospital": hospital,
            "other_hospital": ow.hospital(1),
            "distributor": ow.distributor,
            "auditor": ow.world.auditor,
        }.items()
    }
    base = f"/api/v1/orders/{shipment.order_id}/shipments/{shipment.id}/documents"
    return shipment, invoice, client, base


def _file(client, base, data: bytes, name: str, **form):
    return client.post(base, json=None, data={"file": (io.BytesIO(data), name), **form},
                       content_type="multipart/form-data")  # fmt: skip


def test_the_supplier_files_a_delivery_note_and_the_parties_read_it(docs, db):
    shipment, _invoice, client, base = docs
    response = _file(client["distributor"], base, PDF, "随货同行单.pdf", kind="delivery_note")
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["kind"], body["media_type"], body["size"]) == ("delivery_note", "application/pdf", len(PDF))
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest() and body["filename"] == "随货同行单.pdf"
    assert body["url"] == f"{base}/{body['id']}"
    for reader in ("hospital", "distributor", "auditor"):
        listed = client[reader].get(base)
        assert listed.status_code == 200 and [d["id"] for d in listed.json] == [body["id"]]
        download = client[reader].get(body["url"])
        assert download.status_code == 200 and download.data == PDF
        assert download.mimetype == "application/pdf" and "attachment" in download.headers["Content-Disposition"]
    record = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "shipment.document_filed")).scalar_one()
    assert record.object_id == str(shipment.id) and record.details["sha256"] == body["sha256"]
    # The same file again is the document already filed (a retried upload adds nothing).
    again = _file(client["distributor"], base, PDF, "copy.pdf", kind="delivery_note")
    assert (again.status_code, again.json["id"]) == (200, body["id"])
    assert_error(_file(client["distributor"], base, PDF, "x.pdf", kind="other"), 409, "document_exists")


def test_an_invoice_file_names_an_invoice_of_the_shipment(docs):
    _shipment, invoice, client, base = docs
    response = _file(client["distributor"], base, _ofd(), "fapiao.ofd", kind="invoice", invoice_id=str(invoice.id))
    assert response.status_code == 201, response.json
    assert (response.json["media_type"], response.json["invoice_id"]) == ("application/ofd", invoice.id)
    body = assert_error(_file(client["distributor"], base, PNG, "x.png", kind="invoice", invoice_id="999999"),
                        422, "invalid")  # fmt: skip
    assert "invoice_id" in body["errors"]["form"]
    body = assert_error(_file(client["distributor"], base, PNG, "x.png", kind="delivery_note",
                              invoice_id=str(invoice.id)), 422, "invalid")  # fmt: skip
    assert "invoice_id" in body["errors"]["form"]


def test_bad_files_and_strangers_are_refused(docs):
    _shipment, _invoice, client, base = docs
    body = assert_error(_file(client["distributor"], base, b"hello, world", "note.pdf", kind="delivery_note"),
                        422, "invalid")  # fmt: skip
    assert "not a PDF, OFD, PNG or JPEG" in body["errors"]["form"]["file"][0]
    body = assert_error(_file(client["distributor"], base, b"", "empty.pdf", kind="delivery_note"), 422, "invalid")
    assert "empty" in body["errors"]["form"]["file"][0]
    too_big = PDF + b"0" * MAX_DOCUMENT_BYTES
    body = assert_error(_file(client["distributor"], base, too_big, "big.pdf", kind="delivery_note"), 422, "invalid")
    assert "at most" in body["errors"]["form"]["file"][0]
    body = assert_error(_file(client["distributor"], base, PDF, "x.pdf", kind="receipt"), 422, "invalid")
    assert "unknown document kind 'receipt'" in body["errors"]["form"]["kind"][0]
    body = assert_error(_file(client["distributor"], base, PDF, "x.pdf"), 422, "invalid")
    assert "required" in body["errors"]["form"]["kind"][0]
    body = assert_error(_file(client["distributor"], base, PDF, "x.pdf", kind="invoice", invoice_id="abc"), 422,
                        "invalid")  # fmt: skip
    assert "whole number" in body["errors"]["form"]["invoice_id"][0]
    assert_error(_file(client["hospital"], base, PDF, "x.pdf", kind="delivery_note"), 403, "role_required")
    assert_error(_file(client["other_hospital"], base, PDF, "x.pdf", kind="delivery_note"), 404, "shipment_not_found")
    assert_error(client["other_hospital"].get(base), 404, "shipment_not_found")
    filed = _file(client["distributor"], base, PNG, "scan.png", kind="delivery_note").json
    assert_error(client["other_hospital"].get(filed["url"]), 404, "shipment_not_found")
    wrong_order = base.replace(f"/orders/{base.split('/')[4]}/", "/orders/999999/")
    assert_error(client["distributor"].get(wrong_order), 404, "shipment_not_found")


def test_sniffing_judges_the_content_not_the_name():
    assert sniff(PDF) == "pdf" and sniff(PNG) == "png" and sniff(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert sniff(_ofd()) == "ofd"
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as package:
        package.writestr("readme.txt", "not an OFD package")
    assert sniff(plain_zip.getvalue()) is None and sniff(b"PK\x03\x04broken") is None
    assert sniff(b"<html>") is None


def test_the_supplier_takes_refused_packs_back_over_http(db, factory, api):
    """POST …/take-back puts refused packs back into the supplier's stock; the order shows how many wait."""
    from procurement.orders.receiving import RefusalIn, receive_shipment
    from tests.procurement.order_world import TODAY

    ow = build_order_world(db, factory)
    hospital = ow.hospital(0)
    order, shipment, codes = ow.shipped(hospital, 3)
    receive_shipment(db, shipment_id=shipment.id, codes=codes[:1], actor=hospital, now=TODAY,
                     refusals=[RefusalIn(c, "破损") for c in codes[1:]])  # fmt: skip
    supplier, pharmacy = api(db.get(User, ow.distributor.user_id)), api(db.get(User, hospital.user_id))
    [seen] = pharmacy.get(f"/api/v1/orders/{order.id}").json["shipments"]
    assert seen["refused_not_taken_back"] == 2
    path = f"/api/v1/orders/{order.id}/shipments/{shipment.id}/take-back"
    assert_error(pharmacy.post(path), 403, "role_required")
    response = supplier.post(path)
    assert response.status_code == 200, response.json
    assert (response.json["shipment_id"], response.json["packs"], len(response.json["codes"])) == (shipment.id, 2, 2)
    assert_error(supplier.post(path), 409, "nothing_refused")
    [seen] = pharmacy.get(f"/api/v1/orders/{order.id}").json["shipments"]
    assert seen["refused_not_taken_back"] == 0
