"""Links drawn from an alert's evidence: each key links to the row it names, and only when the value can name one."""

from __future__ import annotations

from core.alerts import Alert
from webui.evidence import evidence_links


def _kinds(app, evidence) -> list[tuple[str, str]]:
    alert = Alert(code="X", source="monitoring", severity="low", title="t", evidence=evidence)
    with app.test_request_context():
        return [(link.kind, link.ident) for link in evidence_links(alert)]


def test_a_hospitals_case_number_is_not_taken_for_a_credit_case(app):
    consumable = {"details": {"case_no": "PCI999"}, "line_ids": []}
    assert _kinds(app, consumable) == []
    old_style = {"details": {"case_id": "1234"}}  # alerts raised before case numbers were keyed case_no
    assert _kinds(app, old_style) == []
    credit = {"case_id": 7, "case_ids": [7, 8]}
    assert _kinds(app, credit) == [("credit_case", "7"), ("credit_case", "8")]


def test_trace_codes_and_invoices_in_details_link_to_their_pages(app):
    evidence = {"details": {"trace_code": "cn20:81234560000000011234", "invoice_ids": [3]}}
    assert _kinds(app, evidence) == [("trace_item", "cn20:81234560000000011234"), ("invoice", "3"),
                                     ("three_flows", "3")]  # fmt: skip
