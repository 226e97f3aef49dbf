"""The surplus pages: results with their breakdown and chart, computing a period, the export, and the inputs forms.

The world is ``tests/procurement/surplus_world``: hospital 0 receives 110 packs at 14.00 a pack; budget 3,360.00,
spend 784.00, surplus base 2,576.00, score 70 → tier B (40 %): 1,030.40 retained.
"""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal as D
from html import unescape

import openpyxl
import pytest
import sqlalchemy as sa

from core.models import Organisation
from core.roles import OrgKind, Role
from procurement.audit import surplus
from procurement.audit.surplus_models import SurplusBaselinePrice, SurplusMemberShare, SurplusResult
from tests.procurement.order_world import build_order_world
from tests.procurement.surplus_world import PERIOD, receive, setup_hospital
from tests.webui.test_pages import post_form, sign_in
from tests.webui.test_pages_orders import user_of

# The assertions read the pages' English wording (zh-CN is the default).
pytestmark = pytest.mark.usefixtures("english_pages")


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


@pytest.fixture
def world(ow, db):
    hospital, _award, _volume = setup_hospital(ow, db)
    receive(ow, db, hospital, 110)
    db.flush()
    return ow, hospital


def _compute(client):
    return post_form(client, "/surplus/compute", {"start": PERIOD["start"].isoformat(),
                                                  "end": PERIOD["end"].isoformat()}, form_page="/surplus")  # fmt: skip


def test_an_auditor_computes_a_period_and_reads_the_breakdown(world, db, client):
    ow, hospital = world
    sign_in(client, user_of(db, ow.world.auditor))
    empty = client.get("/surplus").get_data(as_text=True)
    assert "No surplus results to show" in empty and 'data-testid="surplus-compute"' in empty
    response = _compute(client)
    assert response.status_code == 302
    assert "3 results computed" in unescape(client.get("/surplus").get_data(as_text=True))
    page = client.get(f"/surplus?hospital={hospital.org_id}").get_data(as_text=True)
    result = db.exec(sa.select(SurplusResult).where(SurplusResult.hospital_id == hospital.org_id)).scalar_one()
    row = re.search(rf'<tr data-result-id="{result.id}".*?</tr>', page, re.S).group(0)
    assert 'data-testid="retained">1030.40<' in row and "3360.00" in row and "784.00" in row
    assert 'data-term="excluded_above_agreed"' in page and "140.0000" in page
    assert 'data-indicator="on_time_payment"' in page and "2024-shenzhen" in page
    chart = json.loads(unescape(re.search(r"data-chart='([^']*)'", page).group(1)))
    assert chart["final"] == [1030.4] and chart["not_retained"] == [1545.6]  # 2,576.00 − 1,030.40
    assert chart["links"][0].endswith(f"hospital={hospital.org_id}")
    assert "plotly" in page and "surplus-chart.js" in page


def test_a_hospital_sees_its_own_results_only(world, db, client, factory, app):
    ow, hospital = world
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    db.flush()
    sign_in(client, user_of(db, hospital))
    page = client.get("/surplus").get_data(as_text=True)
    assert page.count("data-result-id=") == 1 and 'data-testid="surplus-compute"' not in page
    assert post_form(client, "/surplus/compute", {}, form_page="/surplus").status_code == 403
    export = client.get("/surplus/export.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(export.data))
    names = [row[2] for row in list(book["结余留用 results"].values)[1:]]
    assert names == [db.get(Organisation, hospital.org_id).name]
    supplier = factory.user(factory.org(OrgKind.MANUFACTURER), roles=(Role.SUPPLIER_REP,))
    stranger = app.test_client()
    sign_in(stranger, supplier)
    assert stranger.get("/surplus").status_code == 403


def test_inputs_forms_save_or_show_the_error_by_the_field(world, db, client, factory):
    ow, hospital = world
    sign_in(client, user_of(db, ow.world.auditor))
    saved = post_form(client, "/surplus/inputs/price", {
        "tender": ow.tender.id, "generic_name": ow.lot.generic_name, "unit": ow.lot.unit, "region_code": "3502",
        "price": "1.6000", "source": "厦门市2025年采购数据",
    }, form_page="/surplus/inputs")  # fmt: skip
    assert saved.status_code == 302
    found = db.exec(sa.select(SurplusBaselinePrice).where(SurplusBaselinePrice.region_code == "3502")).scalar_one()
    assert (found.price, found.source) == (D("1.6000"), "厦门市2025年采购数据")
    member = factory.org(parent_id=hospital.org_id)
    refused = post_form(client, "/surplus/inputs/members", {
        "general_hospital": hospital.org_id, "members": f"{hospital.org_id}: 0.5\n{member.id}: 0.4",
    }, form_page="/surplus/inputs")  # fmt: skip
    assert refused.status_code == 422
    html = unescape(refused.get_data(as_text=True))
    assert re.search(r'data-field="members">\s*<li class="field-error">the shares must sum to exactly 100 %', html)
    bad_line = {"general_hospital": hospital.org_id, "members": "abc"}
    unreadable = post_form(client, "/surplus/inputs/members", bad_line, form_page="/surplus/inputs")
    assert unreadable.status_code == 422 and 'Line 1 is not "hospital id: share"' in unescape(
        unreadable.get_data(as_text=True)
    )
    ok = post_form(client, "/surplus/inputs/members", {
        "general_hospital": hospital.org_id, "members": f"{hospital.org_id}: 0.6\n{member.id}：0.4",
    }, form_page="/surplus/inputs")  # fmt: skip
    assert ok.status_code == 302
    shares = db.exec(sa.select(SurplusMemberShare.member_id, SurplusMemberShare.share)).all()
    assert sorted(shares) == sorted([(hospital.org_id, D("0.6")), (member.id, D("0.4"))])
    page = client.get("/surplus/inputs").get_data(as_text=True)
    assert 'data-testid="member-shares"' in page and "厦门市2025年采购数据" in page


def test_only_auditors_write_inputs(world, db, client, factory, app):
    _ow, hospital = world
    admin = factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ADMIN,))
    sign_in(client, admin)
    page = client.get("/surplus/inputs")
    assert page.status_code == 200 and 'data-testid="price-form"' not in page.get_data(as_text=True)
    assert post_form(client, "/surplus/inputs/price", {}, form_page="/surplus/inputs").status_code == 403
    pharmacy = app.test_client()
    sign_in(pharmacy, user_of(db, hospital))
    assert pharmacy.get("/surplus/inputs").status_code == 403
