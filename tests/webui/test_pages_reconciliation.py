"""The reconciliation pages: violations with filters and Excel export, an invoice's three flows, the registers.

The case (as in test_reconciliation_api): 5 packs reach hospital 0 through three invoices outside a remote area,
one invoice too many; the second invoice is held, line by line.
"""

from __future__ import annotations

import datetime as dt
import io
from html import unescape

import openpyxl
import pytest
import sqlalchemy as sa

from core.roles import OrgKind
from procurement.audit.reconciliation import run_period
from procurement.audit.reconciliation_models import RemoteArea
from tests.procurement.order_world import TODAY, build_order_world
from tests.procurement.test_reconciliation import Chain
from tests.webui.test_pages import post_form, sign_in
from tests.webui.test_pages_orders import user_of

# The assertions read the pages' English wording (zh-CN is the default).
pytestmark = pytest.mark.usefixtures("english_pages")


@pytest.fixture
def case(db, factory):
    ow = build_order_world(db, factory)
    chain = Chain(ow)
    middle = factory.org(OrgKind.DISTRIBUTOR)
    first = chain.first(buyer=middle.id)
    chain.hop("extra", middle.id, ow.distributor.org_id, "X-1")
    second = chain.second()
    run_period(db, ow.world.auditor, start=dt.date(2026, 6, 1), end=dt.date(2026, 7, 1), now=TODAY)
    db.flush()
    return ow, chain, first, second


def test_the_auditor_filters_and_exports_violations(client, case):
    ow, chain, _first, second = case
    sign_in(client, user_of(ow.db, ow.world.auditor))
    html = unescape(client.get("/reconciliation/violations").get_data(as_text=True))
    assert 'data-code="RECON-CHAIN-TOO-LONG"' in html and "3 invoices, 3 counted, 2 allowed" in html
    assert f"/reconciliation/invoices/{second.id}" in html
    empty = client.get("/reconciliation/violations?code=RECON-BATCH-MISMATCH").get_data(as_text=True)
    assert "data-violation-id" not in empty
    export = client.get("/reconciliation/violations/export.xlsx?code=RECON-CHAIN-TOO-LONG")
    assert export.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][2] == "RECON-CHAIN-TOO-LONG" and rows[1][8] == chain.shipment.id


def test_the_hospital_sees_the_three_flows_of_its_held_invoice(client, case):
    ow, chain, first, second = case
    sign_in(client, user_of(ow.db, chain.hospital))
    response = client.get(f"/reconciliation/invoices/{second.id}")
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert 'data-testid="verdict-value">Hold' in html and "chain_too_long" in html
    assert f'data-chain-invoice="{first.id}"' in html and f"/money/invoices/{first.id}" in html
    assert html.count("data-pack-id=") == 5 and f'data-receipt-id="{chain.receipt.id}"' in html
    assert f"/orders/{chain.shipment.order_id}" in html
    mine = client.get("/reconciliation/violations").get_data(as_text=True)
    assert 'data-code="RECON-CHAIN-TOO-LONG"' in mine


def test_another_hospital_sees_neither_the_violation_nor_the_invoice(client, case):
    ow, _chain, _first, second = case
    sign_in(client, user_of(ow.db, ow.hospital(1)))
    assert "data-violation-id" not in client.get("/reconciliation/violations").get_data(as_text=True)
    assert client.get(f"/reconciliation/invoices/{second.id}").status_code == 404


def test_an_upstream_seller_sees_its_own_invoice_but_not_the_hospitals_three_flows(client, case):
    """The manufacturer issued the first invoice: the order prices, the second invoice and the payments are not its."""
    ow, chain, first, second = case
    sign_in(client, user_of(ow.db, ow.maker_of(chain.product)))
    assert client.get(f"/money/invoices/{first.id}").status_code == 200
    assert client.get(f"/reconciliation/invoices/{first.id}").status_code == 404
    assert client.get(f"/reconciliation/invoices/{second.id}").status_code == 404


def test_the_auditor_lists_a_remote_area_and_a_bad_prefix_is_shown_at_its_field(client, case):
    ow, *_ = case
    sign_in(client, user_of(ow.db, ow.world.auditor))
    data = {"region_prefix": "3502", "name": "厦门市", "listed_by": "福建省医保局", "valid_from": "2026-01-01"}
    done = post_form(client, "/reconciliation/registers/remote-areas", data, form_page="/reconciliation/registers")
    assert done.status_code == 302
    assert ow.db.exec(sa.select(RemoteArea.region_prefix)).scalars().all() == ["3502"]
    again = post_form(client, "/reconciliation/registers/remote-areas", {**data, "valid_from": "2026-02-01"},
                      form_page="/reconciliation/registers")  # fmt: skip
    assert again.status_code == 409 and "already listed" in again.get_data(as_text=True)
    bad = post_form(client, "/reconciliation/registers/remote-areas", {**data, "region_prefix": "350"},
                    form_page="/reconciliation/registers")  # fmt: skip
    assert bad.status_code == 422 and "2, 4 or 6 digits" in bad.get_data(as_text=True)


def test_only_auditors_and_admins_keep_the_registers(client, case):
    ow, chain, *_ = case
    sign_in(client, user_of(ow.db, chain.hospital))
    page = client.get("/reconciliation/registers").get_data(as_text=True)
    assert 'data-testid="remote-areas"' in page and "/reconciliation/registers/remote-areas" not in page
    data = {"region_prefix": "3502", "name": "x", "listed_by": "y", "valid_from": "2026-01-01"}
    refused = post_form(client, "/reconciliation/registers/remote-areas", data, form_page="/reconciliation/registers")
    assert refused.status_code == 403
