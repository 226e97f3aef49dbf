"""The alerts workbench and audit-run pages: the queue, an alert's evidence and history, review and answer forms."""

from __future__ import annotations

import pytest

from core.actor import Actor
from core.alerts import Severity, raise_alert
from core.roles import OrgKind, Role
from procurement.orders.supply import china_today as _china_today
from tests.webui.test_pages import post_form, sign_in

# The assertions read the pages' English wording (zh-CN is the default).
pytestmark = pytest.mark.usefixtures("english_pages")

SYSTEM = Actor.system("test")


def china_today():
    from core.db import utcnow

    return _china_today(utcnow())


@pytest.fixture
def cast(factory, db):
    hospital, other = factory.org(OrgKind.HOSPITAL, name="鹭江医院"), factory.org(OrgKind.HOSPITAL, name="海沧医院")
    alert = raise_alert(
        db, actor=SYSTEM, code="RECON-BATCH-MISMATCH", source="reconciliation", severity=Severity.HIGH,
        title="Batch B1 on the second invoice, B2 on the first", object_type="invoice", object_id="41",
        evidence={"first_invoice_id": 40, "second_invoice_id": 41, "item": "01069012345678902100ABC"},
        rule={"name": "two-invoice", "version": "2026.1"}, subject_org_id=hospital.id,
    )  # fmt: skip
    foreign = raise_alert(
        db, actor=SYSTEM, code="RECON-QTY-MISMATCH", source="reconciliation", severity=Severity.LOW,
        title="Quantity 5 invoiced, 4 received", object_type="invoice", object_id="52", evidence={}, rule={},
        subject_org_id=other.id,
    )  # fmt: skip
    return {
        "alert": alert,
        "foreign": foreign,
        "auditor": factory.user(factory.org(OrgKind.INSURANCE_BUREAU), roles=(Role.AUDITOR,)),
        "pharmacist": factory.user(hospital, roles=(Role.PHARMACIST,)),
    }


def test_auditor_reviews_an_alert_from_the_queue(client, cast):
    sign_in(client, cast["auditor"])
    queue = client.get("/alerts?source=reconciliation").get_data(as_text=True)
    assert f'data-alert-id="{cast["alert"].id}"' in queue and f'data-alert-id="{cast["foreign"].id}"' in queue
    url = f"/alerts/{cast['alert'].id}"
    page = client.get(url).get_data(as_text=True)
    assert 'href="/money/invoices/40"' in page and 'href="/money/invoices/41"' in page
    assert 'href="/trace/items/01069012345678902100ABC"' in page
    refused = post_form(client, f"{url}/review", {"action": "dismiss", "note": ""}, form_page=url)
    assert refused.status_code == 422 and "a note is required" in refused.get_data(as_text=True)
    done = post_form(client, f"{url}/review", {"action": "confirm", "note": "first invoice batch wrong"}, form_page=url)
    assert done.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "first invoice batch wrong" in page and 'data-action="confirm"' in page
    export = client.get("/alerts/export.xlsx?source=reconciliation")
    assert export.status_code == 200 and export.data[:2] == b"PK"


def test_hospital_sees_and_answers_only_its_own_alerts(client, cast):
    sign_in(client, cast["pharmacist"])
    queue = client.get("/alerts").get_data(as_text=True)
    assert f'data-alert-id="{cast["alert"].id}"' in queue and f'data-alert-id="{cast["foreign"].id}"' not in queue
    assert client.get(f"/alerts/{cast['foreign'].id}").status_code == 404
    url = f"/alerts/{cast['alert'].id}"
    page = client.get(url).get_data(as_text=True)
    assert 'data-testid="answer-form"' in page and 'data-testid="review-form"' not in page
    answered = post_form(client, f"{url}/answer", {"note": "the first invoice copy is re-uploaded"}, form_page=url)
    assert answered.status_code == 302
    assert "the first invoice copy is re-uploaded" in client.get(url).get_data(as_text=True)
    assert client.get("/audits/runs").status_code == 403


def test_auditor_runs_a_period_from_the_page(client, cast):
    sign_in(client, cast["auditor"])
    response = post_form(client, "/audits/runs", {"start": "2026-08-01", "end": "2026-09-01", "parts": ["supply"]})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-status="done"' in page and 'data-part="supply"' in page
    bad = post_form(client, "/audits/runs", {"start": "2026-09-01", "end": "2026-08-01"})
    assert bad.status_code == 422 and "must come after its start" in bad.get_data(as_text=True)


def _charts(html: str) -> dict[str, dict]:
    import json
    import re
    from html import unescape

    found = re.findall(r'id="chart-([a-z_]+)" class="chart dashboard-chart" data-chart=\'([^\']*)\'', html)
    return {key: json.loads(unescape(data)) for key, data in found}


def test_dashboard_draws_every_section_with_links_and_excel(client, db, factory):
    from core.alerts import Severity, raise_alert
    from tests.procurement.order_world import build_order_world
    from tests.procurement.test_invoices_payments import _received

    ow = build_order_world(db, factory)
    hospital = ow.hospital(0)
    _received(ow, db, hospital)  # received 15 June 2026, due 15 July, never paid
    raise_alert(
        db, actor=SYSTEM, code="RX-PHYSICIAN-OUTLIER", source="monitoring", severity=Severity.HIGH,
        title="outlier", object_type="physician", object_id="77", evidence={"physician_id": 77, "product_id": 5},
        rule={}, subject_org_id=hospital.org_id,
    )  # fmt: skip
    auditor = factory.user(factory.org(OrgKind.INSURANCE_BUREAU), roles=(Role.AUDITOR,))
    sign_in(client, auditor)
    today = china_today()
    page = client.get(f"/audits/dashboard?start=2026-04-01&end={today.isoformat()}").get_data(as_text=True)
    for key in ("completion", "on_time", "online_share", "surplus", "alerts", "anomalous"):
        assert f'data-section="{key}"' in page
    charts = _charts(page)
    assert {"completion", "on_time", "online_share", "alerts", "anomalous"} <= set(charts)
    completion = charts["completion"]
    assert len(completion["rowLinks"]) == len(completion["labels"])
    assert all(link.startswith("/agreements/progress?hospital=") for link in completion["rowLinks"])
    assert charts["on_time"]["rowLinks"] == [
        f"/money/payables?hospital={hospital.org_id}&start=2026-04-01&end={today.isoformat()}"
    ]
    assert charts["on_time"]["series"][0]["values"] == [0.0]  # one receipt due, none paid on time
    share = charts["online_share"]
    at = share["labels"].index(next(n for n in share["labels"]))
    assert all("hospital=" in link for series in share["links"] for link in series if link)
    assert len(share["links"]) == len(share["series"]) and len(share["links"][0]) == len(share["labels"])
    assert at == 0
    alerts = charts["alerts"]
    monitoring = (
        alerts["labels"].index("Prescribing monitoring")
        if "Prescribing monitoring" in alerts["labels"]
        else (alerts["labels"].index("处方监测") if "处方监测" in alerts["labels"] else None)
    )
    assert monitoring is not None, alerts["labels"]
    opened = alerts["links"][0][monitoring]  # the "open" series
    assert opened.startswith("/alerts?source=monitoring&status=open&since=2026-04-01")
    assert 'data-code="RX-PHYSICIAN-OUTLIER"' in client.get(opened).get_data(as_text=True)
    anomalous = charts["anomalous"]
    physician_link = anomalous["rowLinks"][0]
    assert "physician=77" in physician_link
    assert 'data-code="RX-PHYSICIAN-OUTLIER"' in client.get(physician_link).get_data(as_text=True)
    assert 'data-code="RX-PHYSICIAN-OUTLIER"' not in client.get("/alerts?physician=78").get_data(as_text=True)
    export = client.get("/audits/dashboard/on_time.xlsx?start=2026-04-01&end=2026-08-31")
    assert export.status_code == 200 and export.data[:2] == b"PK"
    assert client.get("/audits/dashboard/nothing.xlsx").status_code == 404
