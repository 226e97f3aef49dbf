"""The credit pages: the public list without signing in, recording a case by form, a supplier's repair, approval."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from core.accounts import actor_for_user
from core.roles import OrgKind, Role
from procurement.audit import credit
from procurement.catalogue import Product
from tests.webui.test_pages import post_form, sign_in

# The assertions read the pages' English wording (zh-CN is the default).
pytestmark = pytest.mark.usefixtures("english_pages")


@pytest.fixture
def people(factory, db):
    bureau = factory.org(OrgKind.INSURANCE_BUREAU, region_code="350200", region_name="厦门市")
    serious = factory.org(OrgKind.MANUFACTURER, name="闽严重制药有限公司")
    mild = factory.org(OrgKind.MANUFACTURER, name="鹭轻微制药有限公司")
    product = Product(generic_name="头孢呋辛酯片", dosage_form="片剂", strength="0.25g", pack_quantity=12, unit="片",
                      package_spec="0.25g×12片", manufacturer_id=serious.id)  # fmt: skip
    db.add(product)
    db.flush()
    return {
        "auditor": factory.user(bureau, roles=(Role.AUDITOR,)),
        "serious": serious,
        "mild": mild,
        "rep": factory.user(serious, roles=(Role.SUPPLIER_REP,)),
        "product": product,
        "pharmacist": factory.user(factory.org(OrgKind.HOSPITAL)),
    }


def _record(db, people, org, number: str, amount: str):
    data = credit.CaseIn(
        supplier_id=org.id, category="bribery", conduct_date=dt.date(2024, 5, 1), decision_date=dt.date(2025, 3, 1),
        evidence_source="court_judgment", decision_number=number, single_amount=Decimal(amount),
        product_ids=(people["product"].id,),
    )  # fmt: skip
    return credit.record_case(db, data=data, actor=actor_for_user(db, people["auditor"].id))[0]


def test_the_public_list_shows_serious_ratings_to_anyone(client, db, people):
    _record(db, people, people["serious"], "刑初1号", "300000")
    _record(db, people, people["mild"], "罚2号", "20000")
    page = client.get("/credit/public")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "闽严重制药有限公司" in html and 'data-level="serious"' in html
    assert "鹭轻微制药有限公司" not in html  # 一般 is not published


def test_an_auditor_records_a_case_by_form(client, people):
    sign_in(client, people["auditor"])
    form = {
        "supplier_id": people["serious"].id, "controlling_org_id": "", "category": "bribery", "rule_set_version": "",
        "conduct_date": "2024-05-01", "decision_date": "2025-03-01", "evidence_source": "court_judgment",
        "decision_number": "(2025)闽0203刑初9号", "single_amount": "", "cumulative_amount": "2000000", "level": "",
        "product_ids": str(people["product"].id), "documents": "判决书.pdf", "summary": "",
    }  # fmt: skip
    bad = post_form(client, "/credit/cases", {**form, "evidence_source": "audit_report"}, form_page="/credit/")
    assert bad.status_code == 422
    assert re.search(r'data-field="evidence_source".*2020 rule set', bad.get_data(as_text=True), re.S)
    done = post_form(client, "/credit/cases", form, form_page="/credit/")
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert 'data-level="most_serious"' in page and "2000000" in page
    assert "province 35" in page  # 2020 特别严重: all products in the rating province


def test_a_supplier_reports_repair_and_the_auditor_approves(client, db, people, app):
    case = _record(db, people, people["serious"], "刑初3号", "300000")
    sign_in(client, people["rep"])
    own = client.get("/credit/").get_data(as_text=True)
    assert f'data-case-id="{case.id}"' in own
    path = f"/credit/cases/{case.id}"
    for measure in ("stop_conduct", "discipline_staff", "compliance_report", "remove_inflated_margin", "return_gains"):
        sent = post_form(client, f"{path}/repairs", {"measure": measure, "evidence": "整改证明", "documents": ""},
                         form_page=path)  # fmt: skip
        assert sent.status_code == 302
    assert post_form(client, f"{path}/approval", {"note": ""}, form_page=path).status_code == 403
    client.get("/logout")
    other = app.test_client()
    sign_in(other, people["auditor"])
    approved = post_form(other, f"{path}/approval", {"note": "同意"}, form_page=path)
    assert approved.status_code == 302
    page = other.get(path).get_data(as_text=True)
    assert 'data-testid="repaired-on"' in page and "status repaired" in page


def test_hospitals_cannot_open_the_credit_workbench(client, people):
    sign_in(client, people["pharmacist"])
    assert client.get("/credit/").status_code == 403
    assert client.get("/credit/public").status_code == 200
