"""The reconciliation API over HTTP: scoped violation lists with filters, verdicts line by line, the registers.

The case: hospital 0 receives 5 packs through three invoices (maker → a second distributor → the platform
distributor → hospital) outside any remote area, so the chain is one invoice too long (rulebook 4.1, 4.8 a).
"""

from __future__ import annotations

import datetime as dt

import pytest

from core.models import User
from core.roles import OrgKind
from procurement.audit.reconciliation import run_period
from procurement.orders.receiving import receive_shipment
from tests.procurement.order_world import TODAY, build_order_world
from tests.procurement.test_reconciliation import Chain

START, END = "2026-06-01", "2026-07-01"


@pytest.fixture
def recon(db, factory, api):
    ow = build_order_world(db, factory)
    chain = Chain(ow)
    middle = factory.org(OrgKind.DISTRIBUTOR)
    chain.first(buyer=middle.id)
    chain.hop("extra", middle.id, ow.distributor.org_id, "X-1")
    second = chain.second()
    clean = Chain(ow, hospital_index=1, receive=False)
    receive_shipment(db, shipment_id=clean.shipment.id, codes=clean.codes, actor=clean.hospital, now=TODAY)
    run_period(db, ow.world.auditor, start=dt.date(2026, 6, 1), end=dt.date(2026, 7, 1), now=TODAY)
    db.flush()
    who = {"hospital": ow.hospital(0), "other": ow.hospital(1), "distributor": ow.distributor,
           "auditor": ow.world.auditor, "maker": ow.maker_of(chain.product)}  # fmt: skip
    clients = {name: api(db.get(User, actor.user_id)) for name, actor in who.items()}
    return ow, chain, second, clients


def test_violations_are_listed_for_the_auditor_the_hospital_and_the_supplier_only(recon):
    ow, chain, _second, c = recon
    found = c["auditor"].get("/api/v1/reconciliation/violations").json
    assert [(v["code"], v["shipment_id"], v["subject_org_id"]) for v in found] == [
        ("RECON-CHAIN-TOO-LONG", chain.shipment.id, ow.distributor.org_id)
    ]
    assert len(found[0]["evidence"]["invoice_ids"]) == 3 and found[0]["rule"]["values"]["max_invoices"] == 2
    assert [v["id"] for v in c["hospital"].get("/api/v1/reconciliation/violations").json] == [found[0]["id"]]
    assert [v["id"] for v in c["distributor"].get("/api/v1/reconciliation/violations").json] == [found[0]["id"]]
    assert c["other"].get("/api/v1/reconciliation/violations").json == []
    assert c["maker"].get("/api/v1/reconciliation/violations").json == []
    filtered = c["auditor"].get("/api/v1/reconciliation/violations?code=RECON-QTY-MISMATCH").json
    assert filtered == []
    by_hospital = f"/api/v1/reconciliation/violations?hospital_id={ow.hospital(1).org_id}"
    assert c["auditor"].get(by_hospital).json == []
    bad = c["auditor"].get("/api/v1/reconciliation/violations?code=NOPE")
    assert bad.status_code == 422 and "code" in bad.json["errors"]["query"]


def test_a_verdict_is_explained_line_by_line(recon):
    _ow, chain, second, c = recon
    body = c["hospital"].get(f"/api/v1/reconciliation/invoices/{second.id}").json
    assert (body["verdict"], body["reasons"], body["number"], body["total"]) == ("hold", ["chain_too_long"], "S-1",
                                                                                  "70.0000")  # fmt: skip
    [line] = body["lines"]
    assert (line["quantity"], line["matched_quantity"], line["price"], line["batch_check"]) == (5, 5, "14.00", "ok")
    assert [v["code"] for v in body["violations"]] == ["RECON-CHAIN-TOO-LONG"]
    assert c["other"].get(f"/api/v1/reconciliation/invoices/{second.id}").status_code == 404
    first_id = chain.shipment.id  # any id that is not a reconciled second invoice
    missing = c["auditor"].get(f"/api/v1/reconciliation/invoices/{first_id + 10_000}")
    assert missing.status_code == 404


def test_registers_are_kept_by_auditors_and_refuse_a_second_nationwide_equivalent(recon, factory):
    ow, chain, _second, c = recon
    sales, other = factory.org(OrgKind.DISTRIBUTOR), factory.org(OrgKind.DISTRIBUTOR)
    body = {"org_id": sales.id, "principal_org_id": chain.maker, "kind": "sales_company", "valid_from": "2026-01-01"}
    created = c["auditor"].post("/api/v1/reconciliation/equivalents", json=body)
    assert created.status_code == 201 and created.json["principal_org_id"] == chain.maker
    again = c["auditor"].post("/api/v1/reconciliation/equivalents", json={**body, "org_id": other.id})
    assert again.status_code == 409 and again.json["code"] == "equivalent_taken"
    assert c["hospital"].post("/api/v1/reconciliation/equivalents", json=body).status_code == 403
    listed = c["distributor"].get(f"/api/v1/reconciliation/equivalents?principal_org_id={chain.maker}").json
    assert [e["org_id"] for e in listed] == [sales.id]
    area = {"region_prefix": "3502", "name": "厦门市", "listed_by": "福建省医保局", "valid_from": "2026-01-01"}
    assert c["auditor"].post("/api/v1/reconciliation/remote-areas", json=area).status_code == 201
    clash = c["auditor"].post("/api/v1/reconciliation/remote-areas", json={**area, "valid_from": "2026-03-01"})
    assert clash.status_code == 409 and list(clash.json["errors"]) == ["region_prefix"]
    group = {"name": "国控", "member_org_ids": [sales.id, other.id]}
    made = c["auditor"].post("/api/v1/reconciliation/groups", json=group)
    assert made.status_code == 201 and made.json["member_org_ids"] == [sales.id, other.id]
    assert [g["name"] for g in c["hospital"].get("/api/v1/reconciliation/groups").json] == ["国控"]
    # With Xiamen on the remote list, re-running the period finds the three-invoice chain allowed.
    summary = run_period(ow.db, ow.world.auditor, start=dt.date(2026, 6, 1), end=dt.date(2026, 7, 1), now=TODAY)
    assert summary.findings == 0 and summary.figures["pay"] == 1
    ow.db.flush()
    assert c["auditor"].get("/api/v1/reconciliation/violations").json == []  # open only, by default
    resolved = c["auditor"].get("/api/v1/reconciliation/violations?state=resolved").json
    assert [(v["code"], v["shipment_id"]) for v in resolved] == [("RECON-CHAIN-TOO-LONG", chain.shipment.id)]
    assert resolved[0]["resolved_at"] is not None
    # The alert says so in its history, for the auditor and the supplier it is about.
    history = c["auditor"].get(f"/api/v1/alerts/{resolved[0]['alert_id']}").json["history"]
    assert history[-1]["action"] == "comment" and history[-1]["note"].startswith("No longer found")
    import sqlalchemy as sa

    from core.models import AuditRecord

    changed = ow.db.exec(sa.select(AuditRecord).where(AuditRecord.action == "reconciliation.verdict_changed")).scalars()
    assert [(a.details["from"], a.details["to"]) for a in changed] == [("hold", "pay")]  # the held invoice is freed
