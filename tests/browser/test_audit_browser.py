"""In a real browser, the auditor's path: run the period's audit, open a two-invoice alert, follow its evidence to
the invoices and the trace events behind it, and close it with a note; the hospital sees the alert about itself
(its payment is overdue) and answers it, and does not see the alert about its supplier."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from core.db import make_engine, new_session
from core.models import Organisation
from core.roles import OrgKind, Role
from tests.factories import Factory
from tests.procurement.order_world import build_order_world
from tests.procurement.test_reconciliation import Chain

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Case:
    auditor: str
    pharmacist: str
    first_number: str  # the first invoice, issued by a distributor instead of the manufacturer


@pytest.fixture(scope="session")
def case(live_server) -> Case:
    """A shipment received in June 2026 whose first invoice was issued by a second distributor (rulebook 4.2)."""
    engine = make_engine(live_server.database_url)
    try:
        with new_session(engine) as session:
            factory = Factory(session)
            ow = build_order_world(session, factory)
            chain = Chain(ow, hospital_index=1)
            broker = factory.org(OrgKind.DISTRIBUTOR, name="夹带商贸有限公司", region_code="350200")
            number = f"F-BROWSER-{live_server.backend}"
            chain.first(seller=broker.id, number=number)
            chain.second(number=f"S-BROWSER-{live_server.backend}")
            hospital = session.get(Organisation, chain.hospital.org_id)
            pharmacist = factory.user(hospital, roles=(Role.PHARMACIST,), username=f"zhou.{live_server.backend}")
            bureau = factory.org(OrgKind.INSURANCE_BUREAU, name="市医保局稽核科")
            auditor = factory.user(bureau, roles=(Role.AUDITOR,), username=f"liu.{live_server.backend}")
            session.commit()
            return Case(auditor.username, pharmacist.username, number)
    finally:
        engine.dispose()


def test_an_auditor_runs_the_audit_follows_the_evidence_and_closes_the_alert(as_user, case):
    auditor = as_user(case.auditor)
    auditor.goto("/audits/runs")
    form = auditor.get_by_test_id("run-form")
    form.locator("#start").fill("2026-06-01")
    form.locator("#end").fill("2026-09-01")  # received 15 June, due 15 July, never paid: overdue by 31 August
    form.locator("#parts").select_option(["payments", "reconciliation"])
    form.locator("button[type=submit]").click()
    auditor.wait_for_url(re.compile(r".*/audits/runs/\d+$"))
    expect(auditor.get_by_test_id("run-status")).to_have_attribute("data-status", "done")
    part = auditor.get_by_test_id("run-parts").locator("tr[data-part='reconciliation']")
    expect(part).to_have_attribute("data-status", "done")
    assert int(part.get_by_test_id("alerts-raised").inner_text()) >= 1

    # The queue holds the finding; open it.
    auditor.get_by_test_id("to-alerts").click()
    row = auditor.locator("tr[data-code='RECON-FIRST-SELLER-NOT-MANUFACTURER']").first
    row.locator("a").first.click()
    auditor.wait_for_url(re.compile(r".*/alerts/\d+$"))
    alert_url = auditor.url
    links = auditor.get_by_test_id("evidence-links")

    # Evidence → the first invoice itself.
    links.locator("li[data-kind='invoice'] a").filter(has_text=re.compile(r"invoice \d+")).first.click()
    auditor.wait_for_url(re.compile(r".*/money/invoices/\d+$"))
    numbers = {auditor.get_by_test_id("invoice-number").inner_text()}
    auditor.goto(alert_url)
    for link in links.locator("li[data-kind='invoice'] a").filter(has_text=re.compile(r"invoice \d+")).all()[1:]:
        link.click()
        numbers.add(auditor.get_by_test_id("invoice-number").inner_text())
        auditor.goto(alert_url)
    assert case.first_number in numbers

    # Evidence → the three flows of goods, invoices and money → a pack's trace events.
    links.locator("li[data-kind='three_flows'] a").first.click()
    auditor.wait_for_url(re.compile(r".*/reconciliation/invoices/\d+$"))
    expect(auditor.locator("body")).to_contain_text(case.first_number)
    auditor.locator("a[href^='/trace/items/']").first.click()
    auditor.wait_for_url(re.compile(r".*/trace/items/.+"))
    events = auditor.locator("li.event")
    expect(events.first).to_be_visible()
    assert {"commission", "ship", "receive"} <= {
        cls for e in events.all() for cls in (e.get_attribute("class") or "").split()
    }

    # Back on the alert: confirm it with a note; the history keeps it.
    auditor.goto(alert_url)
    review = auditor.get_by_test_id("review-form")
    review.locator("#action").select_option("confirm")
    review.locator("#note").fill("首票由配送企业开具，已核对随货同行单")
    review.locator("button[type=submit]").click()
    auditor.wait_for_url(alert_url)
    expect(auditor.get_by_test_id("alert-status")).to_have_class(re.compile(r"\bconfirmed\b"))
    expect(auditor.get_by_test_id("alert-history")).to_contain_text("首票由配送企业开具")

    # The hospital sees the alert about itself (its overdue payment), not the one about its supplier, and answers.
    pharmacy = as_user(case.pharmacist)
    pharmacy.goto("/alerts")
    expect(pharmacy.locator("tr[data-code='RECON-FIRST-SELLER-NOT-MANUFACTURER']")).to_have_count(0)
    overdue = pharmacy.locator("tr[data-code='ORDERS-PAYMENT-OVERDUE']")
    expect(overdue).to_have_count(1)
    overdue.locator("a").first.click()
    pharmacy.wait_for_url(re.compile(r".*/alerts/\d+$"))
    expect(pharmacy.get_by_test_id("review-form")).to_have_count(0)
    answer = pharmacy.get_by_test_id("answer-form")
    answer.locator("#note").fill("已于9月2日付款，凭证号 2026-0902")
    answer.locator("button[type=submit]").click()
    expect(pharmacy.get_by_test_id("alert-history")).to_contain_text("已于9月2日付款")
    expect(pharmacy.get_by_test_id("alert-history").locator("li[data-action='answer']")).to_have_count(1)
