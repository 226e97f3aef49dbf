"""The supply pages: a supplier reports, gives stop notices and answers problems; auditors run the risk check."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from core.accounts import actor_for_user
from core.db import utcnow
from core.models import User
from core.roles import OrgKind, Role
from procurement.orders import supply_problems
from procurement.orders.rules import SUPPLY_REPORT_MISSING
from procurement.orders.supply import china_today, first_of_month, submit_supply_report
from procurement.orders.supply_models import ProductionStop, SupplyProblem, SupplyReport
from tests.procurement.supply_world import award_of, order_of, product_of
from tests.webui.test_pages import post_form, sign_in
from tests.webui.test_pages_orders import read_form

TODAY = china_today(utcnow())


def _months_back(n: int) -> dt.date:
    month = first_of_month(TODAY)
    for _ in range(n):
        month = first_of_month(month - dt.timedelta(days=1))
    return month


THIS_MONTH, TWO_AGO = _months_back(0), _months_back(2)  # TWO_AGO's report was due last month: always overdue


@dataclass
class Cast:
    supplier: object
    rep: User
    products: list
    hospital: object
    pharmacist: User
    auditor: User
    organiser: User


@pytest.fixture
def cast(factory) -> Cast:
    supplier = factory.org(OrgKind.MANUFACTURER, name="鹭岛制药有限公司")
    products = [product_of(factory, supplier) for _ in range(2)]
    for product in products:
        award_of(
            factory,
            supplier=supplier,
            product=product,
            cycle_start=_months_back(12),
            cycle_end=THIS_MONTH + dt.timedelta(days=400),
        )
    hospital = factory.org(OrgKind.HOSPITAL)
    return Cast(
        supplier=supplier,
        rep=factory.user(supplier, roles=(Role.SUPPLIER_REP,)),
        products=products,
        hospital=hospital,
        pharmacist=factory.user(hospital, roles=(Role.PHARMACIST,)),
        auditor=factory.user(factory.org(OrgKind.INSURANCE_BUREAU), roles=(Role.AUDITOR,)),
        organiser=factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ORGANISER,)),
    )


def _nav(html: str) -> str:
    return html.split('class="mainnav"')[1].split("</nav>")[0]


def _field_error(html: str, name: str) -> bool:
    pattern = rf'<ul class="field-errors" id="[^"]+" data-field="{re.escape(name)}">\s*<li class="field-error">'
    return re.search(pattern, html) is not None


def _reports(db, product) -> list[SupplyReport]:
    db.expire_all()  # the pages changed the rows in the same transaction
    return list(db.exec(sa.select(SupplyReport).where(SupplyReport.product_id == product.id)).scalars())


def test_supplier_files_and_amends_a_report_and_a_negative_figure_is_refused_at_its_field(client, cast, db):
    sign_in(client, cast.rep)
    page = client.get("/supply")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'href="/supply" aria-current="page"' in _nav(html)
    product = cast.products[0]
    month = f"{THIS_MONTH:%Y-%m}"
    cell = re.search(rf'data-testid="report-cell" data-month="{month}" data-state="(\w+)"', html)
    assert cell and cell[1] == "due"  # the current month's report is due next month
    assert f'data-month="{TWO_AGO:%Y-%m}"' not in html  # only the previous and the current month are shown

    action, fields = read_form(html, f"report-form-{product.id}-{month}")
    prefix = f"r{product.id}-{THIS_MONTH:%Y%m}"
    fields |= {f"{prefix}-produced": "5000", f"{prefix}-inventory": "-5", f"{prefix}-reserve": "800"}
    refused = client.post(action, data=fields)
    assert refused.status_code == 422
    assert _field_error(refused.get_data(as_text=True), f"{prefix}-inventory")
    assert not _field_error(refused.get_data(as_text=True), f"{prefix}-produced")
    assert _reports(db, product) == []

    fields[f"{prefix}-inventory"] = "1200"
    filed = client.post(action, data=fields)
    assert filed.status_code == 302 and filed.headers["Location"].endswith(f"/supply#product-{product.id}")
    [report] = _reports(db, product)
    assert (report.month, report.produced, report.inventory, report.reserve, report.late) == (
        THIS_MONTH,
        5000,
        1200,
        800,
        False,
    )
    html = client.get("/supply").get_data(as_text=True)
    assert f'data-testid="report-cell" data-month="{month}" data-state="filed"' in html
    _action, shown = read_form(html, f"report-form-{product.id}-{month}")
    assert shown[f"{prefix}-inventory"] == "1200"  # the form offers the filed figures for an amendment

    fields[f"{prefix}-inventory"] = "900"
    assert client.post(action, data=fields).status_code == 302
    [amended] = _reports(db, product)
    assert amended.id == report.id and amended.inventory == 900
    html = client.get("/supply").get_data(as_text=True)
    assert 'data-testid="amendments" data-count="1"' in html and "1200 → 900" in html


def test_supplier_gives_a_late_stop_notice_and_is_warned(client, cast, db):
    sign_in(client, cast.rep)
    html = client.get("/supply").get_data(as_text=True)
    assert 'data-testid="notice-rule"' in html
    action, fields = read_form(html, "stop-form")
    product = cast.products[1]
    fields |= {
        "stop-product_id": str(product.id),
        "stop-planned": "unplanned",
        "stop-stops_on": (TODAY - dt.timedelta(days=10)).isoformat(),
        "stop-resumes_on": (TODAY - dt.timedelta(days=20)).isoformat(),
        "stop-reason": "原料药供应中断",
    }
    refused = client.post(action, data=fields)
    assert refused.status_code == 422 and _field_error(refused.get_data(as_text=True), "stop-resumes_on")

    fields["stop-resumes_on"] = (TODAY + dt.timedelta(days=30)).isoformat()
    sent = client.post(action, data=fields)
    assert sent.status_code == 302
    stop = db.exec(sa.select(ProductionStop).where(ProductionStop.product_id == product.id)).scalar_one()
    assert (stop.planned, stop.notice_days, stop.reason) == (False, -10, "原料药供应中断")
    html = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "flash-warning" in html  # reported ten days after the stop, three are allowed
    row = html.split(f'data-stop-id="{stop.id}"')[1].split("</tr>")[0]
    assert 'data-testid="late-notice"' in row and "原料药供应中断" in row


def test_supplier_answers_a_problem_and_the_hospital_reads_the_answer(app, client, cast, db, factory):
    order = order_of(factory, hospital=cast.hospital, supplier=cast.supplier, product=cast.products[0])
    problem = supply_problems.report_supply_problem(
        db,
        order_id=order.id,
        kind="late",
        description="约定三天到货，至今未到",
        actor=actor_for_user(db, cast.pharmacist.id),
    )
    db.flush()
    sign_in(client, cast.rep)
    html = client.get("/supply").get_data(as_text=True)
    assert "约定三天到货，至今未到" in html and order.number in html
    action, fields = read_form(html, f"resolve-form-{problem.id}")
    fields[f"p{problem.id}-resolution"] = "   "
    refused = client.post(action, data=fields)
    assert refused.status_code == 422 and _field_error(refused.get_data(as_text=True), f"p{problem.id}-resolution")
    fields[f"p{problem.id}-resolution"] = "已于今日补发，明日送达"
    assert client.post(action, data=fields).status_code == 302
    db.refresh(problem)
    assert problem.resolved_at is not None and problem.resolution == "已于今日补发，明日送达"
    html = client.get("/supply").get_data(as_text=True)
    assert f'data-testid="resolve-form-{problem.id}"' not in html and 'data-testid="resolved-problem"' in html

    hospital = app.test_client()
    sign_in(hospital, cast.pharmacist)
    page = hospital.get("/supply/problems?status=resolved").get_data(as_text=True)
    assert 'href="/supply/problems" aria-current="page"' in _nav(page)
    assert "已于今日补发，明日送达" in page and f'href="/orders/{order.id}"' in page
    assert "已于今日补发" not in hospital.get("/supply/problems?status=open").get_data(as_text=True)


def test_another_supplier_cannot_answer_the_problem(app, client, cast, db, factory):
    order = order_of(factory, hospital=cast.hospital, supplier=cast.supplier, product=cast.products[0])
    problem = supply_problems.report_supply_problem(
        db, order_id=order.id, kind="short", description="少发20盒", actor=actor_for_user(db, cast.pharmacist.id)
    )
    db.flush()
    rival = factory.user(factory.org(OrgKind.MANUFACTURER), roles=(Role.SUPPLIER_REP,))
    sign_in(client, rival)
    assert "少发20盒" not in client.get("/supply").get_data(as_text=True)
    answer = post_form(
        client, f"/supply/problems/{problem.id}/resolve", {f"p{problem.id}-resolution": "无"}, form_page="/supply"
    )
    assert answer.status_code == 404
    assert db.get(SupplyProblem, problem.id).resolved_at is None


def test_auditor_runs_the_risk_check_and_sees_the_missing_report_alert_once(client, cast, db):
    sign_in(client, cast.auditor)
    page = client.get("/supply/overview")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'href="/supply/overview" aria-current="page"' in _nav(html)
    action, fields = read_form(html, "risk-form")
    assert fields["month"] == f"{_months_back(1):%Y-%m}"  # the month whose report fell due this month

    fields["month"] = f"{first_of_month(TODAY + dt.timedelta(days=40)):%Y-%m}"
    future = client.post(action, data=fields)
    assert future.status_code == 422 and _field_error(future.get_data(as_text=True), "month")

    fields["month"] = f"{TWO_AGO:%Y-%m}"
    checked = client.post(action, data=fields)
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200
    missing = re.findall(rf'data-testid="risk-alert" data-code="{SUPPLY_REPORT_MISSING}"', html)
    assert len(missing) == len(cast.products) and "鹭岛制药有限公司" in html
    again = client.post(action, data=fields).get_data(as_text=True)
    assert 'data-testid="risk-result" data-count="0"' in again  # each alert is raised once


def test_overview_lists_a_month_s_reports_and_filters_the_late_ones(client, cast, db):
    rep = actor_for_user(db, cast.rep.id)
    figures = {"produced": 10, "inventory": 5, "reserve": 2}
    late, _new = submit_supply_report(db, product_id=cast.products[0].id, month=TWO_AGO, actor=rep, **figures)
    on_time, _new = submit_supply_report(db, product_id=cast.products[0].id, month=THIS_MONTH, actor=rep, **figures)
    db.flush()
    assert late.late and not on_time.late
    sign_in(client, cast.organiser)
    html = client.get(f"/supply/overview?month={TWO_AGO:%Y-%m}&late=1").get_data(as_text=True)
    assert f'data-report-id="{late.id}"' in html and 'href="/supply/overview" aria-current="page"' in _nav(html)
    assert f'data-report-id="{on_time.id}"' in client.get(f"/supply/overview?month={THIS_MONTH:%Y-%m}").get_data(
        as_text=True
    )
    filtered = client.get(f"/supply/overview?month={THIS_MONTH:%Y-%m}&late=1").get_data(as_text=True)
    assert f'data-report-id="{on_time.id}"' not in filtered
    assert client.get("/supply").status_code == 403  # the supplier's page is not the organiser's


def test_each_group_opens_only_its_supply_pages(app, client, cast):
    sign_in(client, cast.pharmacist)
    assert client.get("/supply").status_code == 403
    assert client.get("/supply/overview").status_code == 403
    stop = post_form(client, "/supply/stops", {"stop-reason": "x"}, form_page="/supply/problems")
    assert stop.status_code == 403
    html = client.get("/supply/problems").get_data(as_text=True)
    nav = _nav(html)
    assert 'href="/supply/problems"' in nav and 'href="/supply"' not in nav and 'href="/supply/overview"' not in nav

    supplier = app.test_client()
    sign_in(supplier, cast.rep)
    assert supplier.get("/supply/overview").status_code == 403
    assert supplier.get("/supply/problems").status_code == 403
