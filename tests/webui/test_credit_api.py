"""The credit-rating API (rulebook 6): record, replay, scope, ratings, repair and approval over HTTP."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from core import accounts
from core.actor import Actor
from core.db import make_engine, new_session, utcnow
from core.roles import OrgKind, Role
from core.schema import upgrade
from procurement.audit.credit_models import CreditCase
from procurement.catalogue import Product
from procurement.orders.supply import china_today
from procurement.tenders.models import SupplierSanction
from tests.factories import PASSWORD, make_uscc

ALL_SIX = ["stop_conduct", "discipline_staff", "public_apology", "compliance_report", "remove_inflated_margin",
           "return_gains"]  # fmt: skip


@pytest.fixture
def parties(factory, db):
    bureau = factory.org(OrgKind.INSURANCE_BUREAU, region_code="350200", region_name="厦门市")
    makers = [factory.org(OrgKind.MANUFACTURER, region_code="350100", region_name="福州市") for _ in range(2)]
    products = []
    for maker in makers:
        product = Product(generic_name="阿莫西林胶囊", dosage_form="胶囊剂", strength="0.25g", pack_quantity=24,
                          unit="粒", package_spec="0.25g×24粒", manufacturer_id=maker.id)  # fmt: skip
        db.add(product)
        products.append(product)
    db.flush()
    return {
        "auditor": factory.user(bureau, roles=(Role.AUDITOR,)),
        "makers": makers,
        "reps": [factory.user(maker, roles=(Role.SUPPLIER_REP,)) for maker in makers],
        "products": products,
        "pharmacist": factory.user(factory.org(OrgKind.HOSPITAL)),
    }


def _body(parties, index: int = 0, **fields) -> dict:
    body = {
        "supplier_id": parties["makers"][index].id,
        "category": "bribery",
        "conduct_date": "2024-05-01",
        "decision_date": "2025-03-01",
        "evidence_source": "court_judgment",
        "decision_number": f"(2025)闽0203刑初{index}号",
        "single_amount": "300000",
        "product_ids": [parties["products"][index].id],
        "documents": ["judgment-2025-0203.pdf"],
    }
    body.update(fields)
    return body


def test_an_auditor_records_a_case_and_a_retry_returns_it(api, parties):
    auditor = api(parties["auditor"])
    response = auditor.post("/api/v1/credit/cases", json=_body(parties))
    assert response.status_code == 201, response.json
    case = response.json
    assert (case["rule_set_version"], case["level"], case["province"], case["public"]) == (
        "2020",
        "serious",
        "35",
        True,
    )
    assert case["basis"] == {"rule": "6.4", "kind": "threshold", "basis": "single", "min": "300000", "max": "2000000",
                             "level": "serious", "amount": "300000.0000"}  # fmt: skip
    assert [(s["product_id"], s["scope"], s["ends_on"]) for s in case["sanctions"]] == [
        (parties["products"][0].id, "case_products", "2028-02-29")
    ]
    assert case["required_measures"] == ["stop_conduct", "discipline_staff", "compliance_report",
                                         "remove_inflated_margin", "return_gains"]  # fmt: skip
    again = auditor.post("/api/v1/credit/cases", json=_body(parties))
    assert again.status_code == 200 and again.json["id"] == case["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = auditor.post("/api/v1/credit/cases", json=_body(parties, single_amount="2000000"))
    assert changed.status_code == 409 and changed.json["code"] == "duplicate_case"


def test_bad_cases_are_refused_naming_the_field(api, parties):
    auditor = api(parties["auditor"])
    unknown = auditor.post("/api/v1/credit/cases", json=_body(parties, category="fraud"))
    assert unknown.status_code == 422 and "category" in unknown.json["errors"]["json"]
    old_source = auditor.post("/api/v1/credit/cases", json=_body(parties, evidence_source="audit_report"))
    assert old_source.status_code == 422 and "evidence_source" in old_source.json["errors"]["json"]
    small = auditor.post("/api/v1/credit/cases", json=_body(parties, single_amount="9999.99"))
    assert small.status_code == 422 and small.json["code"] == "below_threshold"
    donation_case = auditor.post(
        "/api/v1/credit/cases",
        json=_body(parties, 1, decision_date="2025-09-01", single_amount=None, cumulative_amount="20000"),
    ).json
    assert (donation_case["rule_set_version"], donation_case["level"]) == ("2025", "dishonest")
    refused = api(parties["reps"][1]).post(
        f"/api/v1/credit/cases/{donation_case['id']}/repairs",
        json={"measures": [{"measure": "charitable_donation", "evidence": "捐赠 50 万元"}]},
    )
    assert refused.status_code == 422 and refused.json["code"] == "measure_not_accepted"


def test_suppliers_see_only_their_own_cases_and_ratings(api, parties):
    auditor = api(parties["auditor"])
    first = auditor.post("/api/v1/credit/cases", json=_body(parties)).json
    second = auditor.post("/api/v1/credit/cases", json=_body(parties, 1, single_amount="100000")).json
    ratings = auditor.get("/api/v1/credit/ratings").json
    assert [(r["supplier_id"], r["level"], r["case_id"]) for r in ratings] == [
        (parties["makers"][0].id, "serious", first["id"]), (parties["makers"][1].id, "medium", second["id"]),
    ]  # fmt: skip
    rep = api(parties["reps"][1])
    assert [c["id"] for c in rep.get("/api/v1/credit/cases").json] == [second["id"]]
    assert [r["supplier_id"] for r in rep.get("/api/v1/credit/ratings").json] == [parties["makers"][1].id]
    assert rep.get(f"/api/v1/credit/cases/{first['id']}").status_code == 404
    assert api(parties["pharmacist"]).get("/api/v1/credit/cases").status_code == 403


def test_repair_then_approval_clears_the_level_and_ends_the_sanctions(api, parties):
    auditor, rep = api(parties["auditor"]), api(parties["reps"][0])
    case = auditor.post("/api/v1/credit/cases", json=_body(parties)).json
    url = f"/api/v1/credit/cases/{case['id']}"
    report = rep.post(f"{url}/repairs", json={"measures": [{"measure": "stop_conduct", "evidence": "已停止"}]})
    assert report.status_code == 201
    early = auditor.post(f"{url}/approval", json={})
    assert early.status_code == 409 and early.json["code"] == "repair_incomplete"
    assert "discipline_staff" in early.json["message"]
    rest = [{"measure": m, "evidence": f"证明{m}"} for m in ALL_SIX if m not in ("stop_conduct", "public_apology")]
    assert rep.post(f"{url}/repairs", json={"measures": rest, "note": "整改完成"}).status_code == 201
    assert rep.post(f"{url}/approval", json={}).status_code == 403
    approved = auditor.post(f"{url}/approval", json={"note": "同意修复"})
    assert approved.status_code == 200, approved.json
    today = china_today(utcnow()).isoformat()
    assert (approved.json["status"], approved.json["repaired_on"], approved.json["missing_measures"]) == (
        "repaired", today, [],
    )  # fmt: skip
    day_before = (dt.date.fromisoformat(today) - dt.timedelta(days=1)).isoformat()
    assert [s["ends_on"] for s in approved.json["sanctions"]] == [day_before]  # free from the approval day
    assert auditor.get("/api/v1/credit/ratings").json == []
    again = auditor.post(f"{url}/approval", json={})
    assert again.status_code == 409 and again.json["code"] == "case_not_open"


def test_an_approval_at_seven_in_the_morning_in_beijing_is_dated_that_day(api, parties, monkeypatch):
    from webui.api import credit as credit_api

    monkeypatch.setattr(credit_api, "utcnow", lambda: dt.datetime(2026, 3, 4, 23, 0, tzinfo=dt.UTC))
    auditor = api(parties["auditor"])
    case = auditor.post("/api/v1/credit/cases", json=_body(parties)).json
    assert [s["starts_on"] for s in case["sanctions"]] == ["2026-03-05"]
    measures = [{"measure": m, "evidence": f"证明{m}"} for m in ALL_SIX if m != "public_apology"]
    url = f"/api/v1/credit/cases/{case['id']}"
    assert api(parties["reps"][0]).post(f"{url}/repairs", json={"measures": measures}).status_code == 201
    approved = auditor.post(f"{url}/approval", json={})
    assert approved.status_code == 200, approved.json
    assert (approved.json["repaired_on"], [s["ends_on"] for s in approved.json["sanctions"]]) == (
        "2026-03-05", ["2026-03-04"],
    )  # fmt: skip


def test_a_rule_set_not_in_force_on_the_decision_date_is_refused(api, parties):
    body = _body(parties, decision_date="2026-01-10", conduct_date="2025-09-01", single_amount=None,
                 cumulative_amount="1200000", rule_set_version="2020")  # fmt: skip
    response = api(parties["auditor"]).post("/api/v1/credit/cases", json=body)
    assert response.status_code == 422 and response.json["code"] == "rule_set_not_in_force"
    assert list(response.json["errors"]["json"]) == ["rule_set_version"]


def test_simultaneous_retries_record_one_case(fresh_database_url, pg_server):
    """PostgreSQL only: eight identical POSTs at once make one case, one sanction; the others replay it (200)."""
    from webui import create_app  # as the other concurrency tests: the app factory only where it is needed

    if pg_server is None:
        pytest.skip("PostgreSQL-only test: set YAOLIAN_TEST_POSTGRES_URL")
    url = fresh_database_url("postgresql", "credit_concurrency")
    upgrade(url)
    engine, system = make_engine(url), Actor.system("tests")
    with new_session(engine) as session:
        bureau = accounts.create_organisation(
            session, name="厦门市医疗保障局", kind=OrgKind.INSURANCE_BUREAU, uscc=make_uscc(710001),
            region_code="350200", region_name="厦门市", actor=system,
        )  # fmt: skip
        maker = accounts.create_organisation(
            session, name="鹭江药业", kind=OrgKind.MANUFACTURER, uscc=make_uscc(710002), region_code="350200",
            region_name="厦门市", actor=system,
        )  # fmt: skip
        auditor = accounts.create_user(
            session, username="auditor", password=PASSWORD, display_name="审核", organisation_id=bureau.id,
            roles=[Role.AUDITOR], actor=system,
        )  # fmt: skip
        product = Product(generic_name="阿莫西林胶囊", dosage_form="胶囊剂", strength="0.25g", pack_quantity=24,
                          unit="粒", package_spec="0.25g×24粒", manufacturer_id=maker.id)  # fmt: skip
        session.add(product)
        session.flush()
        _, secret = accounts.issue_token(session, user=auditor, name="t", now=utcnow(), policy=accounts.TokenPolicy())
        session.commit()
        body = _body({"makers": [maker], "products": [product]})
    app = create_app({"YAOLIAN_ENV": "test", "DATABASE_URL": url})
    barrier, statuses = threading.Barrier(8), []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/credit/cases", json=body, headers={"Authorization": f"Bearer {secret}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert sorted(statuses) == [200] * 7 + [201]
        with new_session(engine) as session:
            assert session.exec(sa.select(sa.func.count()).select_from(CreditCase)).one()[0] == 1
            assert session.exec(sa.select(sa.func.count()).select_from(SupplierSanction)).one()[0] == 1
    finally:
        app.extensions["yaolian.engine"].dispose()
        engine.dispose()
