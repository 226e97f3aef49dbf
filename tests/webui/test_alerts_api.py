"""The alerts workbench over HTTP: who sees which alert, the review workflow and its history, evidence links."""

from __future__ import annotations

import sqlalchemy as sa

from core.actor import Actor
from core.alerts import Severity, raise_alert, raise_alert_once
from core.audit import AuditRecord
from core.roles import OrgKind, Role
from tests.webui.test_api_conventions import assert_error

SYSTEM = Actor.system("test")


def _alert(db, subject_org_id, *, code="TEST-CODE", evidence=None, dedupe_key=None):
    fields = {
        "actor": SYSTEM, "code": code, "source": "test", "severity": Severity.HIGH, "title": f"{code} finding",
        "object_type": "invoice", "object_id": "7", "evidence": evidence or {}, "rule": {"name": "t"},
        "subject_org_id": subject_org_id,
    }  # fmt: skip
    if dedupe_key:
        return raise_alert_once(db, dedupe_key=dedupe_key, **fields)[0]
    return raise_alert(db, **fields)


def _cast(factory):
    hospital, other = factory.org(OrgKind.HOSPITAL), factory.org(OrgKind.HOSPITAL)
    bureau = factory.org(OrgKind.INSURANCE_BUREAU)
    return {
        "hospital": hospital,
        "other": other,
        "pharmacist": factory.user(hospital, roles=(Role.PHARMACIST,)),
        "stranger": factory.user(other, roles=(Role.PHARMACIST,)),
        "auditor": factory.user(bureau, roles=(Role.AUDITOR,)),
        "auditor2": factory.user(bureau, roles=(Role.AUDITOR,)),
    }


def test_auditor_sees_every_alert_others_only_their_own(db, factory, api):
    c = _cast(factory)
    mine, theirs = _alert(db, c["hospital"].id), _alert(db, c["other"].id)
    ids = lambda response: {row["id"] for row in response.json}  # noqa: E731
    everyone = ids(api(c["auditor"]).get("/api/v1/alerts?source=test&per_page=100"))
    assert {mine.id, theirs.id} <= everyone
    assert ids(api(c["pharmacist"]).get("/api/v1/alerts?per_page=100")) == {mine.id}
    assert api(c["pharmacist"]).get(f"/api/v1/alerts/{mine.id}").status_code == 200
    assert_error(api(c["pharmacist"]).get(f"/api/v1/alerts/{theirs.id}"), 404, "alert_not_found")


def test_review_assign_confirm_reopen_dismiss_keeps_history_and_audit(db, factory, api):
    c = _cast(factory)
    alert = _alert(db, c["hospital"].id)
    url, auditor = f"/api/v1/alerts/{alert.id}", api(c["auditor"])
    body = auditor.patch(url, json={"action": "assign", "assignee_user_id": c["auditor2"].id}).json
    assert (body["status"], body["assignee_user_id"]) == ("assigned", c["auditor2"].id)
    assert_error(auditor.patch(url, json={"action": "confirm"}), 422, "invalid")  # closing needs a note
    body = auditor.patch(url, json={"action": "confirm", "note": "invoice copy missing; supplier warned"}).json
    assert body["status"] == "confirmed"
    assert_error(auditor.patch(url, json={"action": "dismiss", "note": "x"}), 409, "bad_transition")
    assert auditor.patch(url, json={"action": "reopen", "note": "new evidence"}).json["status"] == "open"
    body = auditor.patch(url, json={"action": "dismiss", "note": "copy found in archive"}).json
    assert body["status"] == "dismissed"
    steps = [(h["action"], h["from_status"], h["to_status"]) for h in body["history"]]
    assert steps == [
        ("assign", "open", "assigned"),
        ("confirm", "assigned", "confirmed"),
        ("reopen", "confirmed", "open"),
        ("dismiss", "open", "dismissed"),
    ]
    assert body["history"][1]["note"] == "invoice copy missing; supplier warned"
    actions = db.exec(
        sa.select(AuditRecord.action).where(AuditRecord.object_type == "alert", AuditRecord.object_id == str(alert.id))
    ).scalars().all()  # fmt: skip
    assert {"alert.assign", "alert.confirm", "alert.reopen", "alert.dismiss"} <= set(actions)


def test_subject_answers_but_cannot_review_and_others_cannot_answer(db, factory, api):
    c = _cast(factory)
    alert = _alert(db, c["hospital"].id)
    url = f"/api/v1/alerts/{alert.id}"
    assert_error(api(c["pharmacist"]).patch(url, json={"action": "dismiss", "note": "no"}), 403, "role_required")
    body = api(c["pharmacist"]).patch(url, json={"action": "answer", "note": "the copy was uploaded on the 3rd"}).json
    assert body["status"] == "open" and body["history"][-1]["action"] == "answer"
    assert_error(api(c["stranger"]).patch(url, json={"action": "answer", "note": "?"}), 404, "alert_not_found")
    assert_error(api(c["auditor"]).patch(url, json={"action": "answer", "note": "?"}), 403, "not_subject")


def test_assign_only_to_auditors_and_unknown_actions_refused(db, factory, api):
    c = _cast(factory)
    alert = _alert(db, c["hospital"].id)
    url = f"/api/v1/alerts/{alert.id}"
    body = assert_error(
        api(c["auditor"]).patch(url, json={"action": "assign", "assignee_user_id": c["pharmacist"].id}), 422, "invalid"
    )
    assert "assignee_user_id" in body["errors"]["json"] or "assignee_user_id" in body["errors"]
    assert api(c["auditor"]).patch(url, json={"action": "escalate"}).status_code == 422


def test_evidence_becomes_links_to_invoices_orders_and_trace_items(db, factory, api):
    c = _cast(factory)
    evidence = {"invoice_ids": [11, 12], "order_id": 5, "item": "01069012345678902100ABC", "other": {"code": "X9"}}
    alert = _alert(db, c["hospital"].id, evidence=evidence)
    links = api(c["auditor"]).get(f"/api/v1/alerts/{alert.id}").json["links"]
    pages = {(link["kind"], link["ident"]): link["page"] for link in links}
    assert pages[("invoice", "7")] == "/money/invoices/7"  # the alert's own object comes first
    assert pages[("invoice", "11")] == "/money/invoices/11" and ("invoice", "12") in pages
    assert pages[("order", "5")] == "/orders/5"
    assert pages[("trace_item", "01069012345678902100ABC")] == "/trace/items/01069012345678902100ABC"
    assert pages[("trace_item", "X9")] == "/trace/items/X9"
    assert next(link["kind"] for link in links) == "invoice"


def test_summary_counts_visible_alerts(db, factory, api):
    c = _cast(factory)
    _alert(db, c["hospital"].id, code="TEST-A")
    _alert(db, c["hospital"].id, code="TEST-A")
    _alert(db, c["other"].id, code="TEST-B")
    rows = {(r["code"], r["status"]): r["count"] for r in api(c["pharmacist"]).get("/api/v1/alerts/summary").json}
    assert rows == {("TEST-A", "open"): 2}


def test_raise_alert_once_keeps_one_alert_per_finding(db, factory):
    hospital = factory.org(OrgKind.HOSPITAL)
    first = _alert(db, hospital.id, dedupe_key="TEST|invoice:7")
    again = _alert(db, hospital.id, dedupe_key="TEST|invoice:7")
    assert first.id == again.id
    assert _alert(db, hospital.id, dedupe_key="TEST|invoice:8").id != first.id


def test_the_subject_sees_status_changes_but_only_the_notes_shared_with_it(db, factory, api):
    c = _cast(factory)
    alert = _alert(db, c["hospital"].id)
    url, auditor = f"/api/v1/alerts/{alert.id}", api(c["auditor"])
    auditor.patch(url, json={"action": "assign", "assignee_user_id": c["auditor2"].id})
    auditor.patch(url, json={"action": "comment", "note": "suspect kickback: refer to the bureau"})
    auditor.patch(url, json={"action": "comment", "note": "please upload the first invoice copy",
                             "share_with_subject": True})  # fmt: skip
    api(c["pharmacist"]).patch(url, json={"action": "answer", "note": "uploaded today"})
    seen = api(c["pharmacist"]).get(url).json["history"]
    assert [(h["action"], h["note"], h["assignee_user_id"]) for h in seen] == [
        ("assign", "", None),
        ("comment", "", None),
        ("comment", "please upload the first invoice copy", None),
        ("answer", "uploaded today", None),
    ]
    full = auditor.get(url).json["history"]
    assert full[0]["assignee_user_id"] == c["auditor2"].id and full[1]["note"].startswith("suspect kickback")
    assert [h["shared"] for h in full] == [False, False, True, True]
