"""The circulation page: indicators per hospital-month with the 12 % cap and 5 : 3 : 2, the report form, the export.

A report of 130 yuan outside and 870 inside the catalogue is a 13.0 % share, above the 12 % cap; incomes 400 : 300 +
100 : 200 are 40 % : 40 % : 20 %, off 5 : 3 : 2.
"""

from __future__ import annotations

import io
import json
import re
from html import unescape

import openpyxl
import pytest

from core.roles import OrgKind, Role
from tests.webui.test_pages import post_form, sign_in

# The assertions read the pages' English wording (zh-CN is the default).
pytestmark = pytest.mark.usefixtures("english_pages")

PAGE = "/circulation?start=2025-03-01&end=2025-05-01"
REPORT = {
    "month": "2025-03",
    "service_income": "400",
    "drug_income": "300",
    "consumable_income": "100",
    "test_income": "200",
    "insured_in_catalogue": "870",
    "insured_out_of_catalogue": "130",
}


@pytest.fixture
def hospital(factory):
    return factory.org(OrgKind.HOSPITAL, name="仓山区医院", region_code="350104", hospital_grade="2A")


def _row(html: str, hospital_id: int, month: str) -> str:
    match = re.search(rf'<tr id="[^"]*" data-hospital-id="{hospital_id}" data-month="{month}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {hospital_id} {month}"
    return match.group(1)


def _chart(html: str, element: str) -> dict:
    match = re.search(rf"id=\"{element}\" class=\"chart\" data-chart='([^']*)'", html)
    return json.loads(unescape(match.group(1)))


def test_a_hospital_files_its_report_and_sees_the_indicators(client, factory, hospital):
    sign_in(client, factory.user(hospital, roles=(Role.PHARMACIST,)))
    before = client.get(PAGE).get_data(as_text=True)
    assert "No data" in _row(before, hospital.id, "2025-03") and 'name="hospital"' not in before
    response = post_form(client, "/circulation/reports", REPORT, form_page=PAGE)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    html = client.get(PAGE).get_data(as_text=True)
    march = _row(html, hospital.id, "2025-03")
    assert "13.0%" in march and "12.0%" in march and "Above" in march and "Off target" in march
    assert "No data" in _row(html, hospital.id, "2025-04")
    share = _chart(html, "share-chart")
    assert share["months"] == ["2025-03", "2025-04"] and share["limits"] == [12.0]
    anchors = [f"indicator-{hospital.id}-2025-03", f"indicator-{hospital.id}-2025-04"]
    assert share["series"] == [{"name": "仓山区医院", "y": [13.0, None], "rows": anchors}]
    assert all(f'id="{anchor}"' in html for anchor in anchors)  # a point opens its row
    structure = _chart(html, "structure-chart")
    assert structure["service"] == [50.0, 40.0] and structure["drugs_consumables"] == [30.0, 40.0]
    assert structure["off"] == [False, True] and structure["rows"] == [None, anchors[0]]
    corrected = {**REPORT, "insured_out_of_catalogue": "120", "insured_in_catalogue": "880"}
    again = post_form(client, "/circulation/reports", corrected, form_page=PAGE, follow_redirects=True)
    assert "Finance report replaced." in again.get_data(as_text=True)
    assert "Within" in _row(client.get(PAGE).get_data(as_text=True), hospital.id, "2025-03")  # 12 % exactly


def test_bad_figures_are_shown_next_to_their_fields(client, factory, hospital):
    sign_in(client, factory.user(hospital, roles=(Role.PHARMACY_MANAGER,)))
    response = post_form(client, "/circulation/reports", {**REPORT, "drug_income": "-5"}, form_page=PAGE)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'data-field="drug_income">\s*<li class="field-error">[^<]+', html)
    missing = post_form(client, "/circulation/reports", {**REPORT, "test_income": ""}, form_page=PAGE)
    assert missing.status_code == 422 and 'data-field="test_income"' in missing.get_data(as_text=True)


def test_the_auditor_files_for_a_hospital_and_exports(client, factory, hospital):
    other = factory.org(OrgKind.HOSPITAL, hospital_grade="1A")
    bureau = factory.org(OrgKind.INSURANCE_BUREAU)
    sign_in(client, factory.user(bureau, roles=(Role.AUDITOR,)))
    response = post_form(client, "/circulation/reports", {**REPORT, "hospital": str(hospital.id)}, form_page=PAGE)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    html = client.get(PAGE).get_data(as_text=True)
    assert "13.0%" in _row(html, hospital.id, "2025-03") and "No data" in _row(html, other.id, "2025-03")
    export = client.get(f"/circulation/indicators.xlsx?start=2025-03-01&end=2025-04-01&hospital={hospital.id}")
    assert export.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == "仓山区医院" and rows[1][2] == "2025-03"
    assert float(rows[1][4]) == 0.13 and rows[1][6] is True and rows[1][10] is True


def test_suppliers_do_not_see_the_page(client, factory):
    sign_in(client, factory.user(factory.org(OrgKind.DISTRIBUTOR), roles=(Role.SUPPLIER_REP,)))
    assert client.get("/circulation").status_code == 403
