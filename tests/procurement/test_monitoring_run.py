"""Monitoring over a stored period: prescriptions imported by a hospital, packs received through the trace record,
one alert per finding with the line ids behind it, nothing raised twice on a re-run, and an empty period said so."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from core.accounts import actor_for_user
from core.alerts import Alert
from core.errors import DomainError
from core.models import AuditRecord
from core.roles import OrgKind, Role
from procurement.audit import monitoring_rules as mr
from procurement.audit.monitoring import run_period, top_anomalies, top_anomalous
from procurement.audit.physician_registry import register_physicians
from procurement.audit.prescription_models import PrescriptionLine
from procurement.audit.prescriptions import import_prescriptions
from procurement.orders.receiving import receive_shipment
from tests.procurement.order_world import TODAY, build_order_world
from tests.procurement.rx_world import KEY

JUNE, JULY = dt.date(2026, 6, 1), dt.date(2026, 7, 1)
SHARED_CODE = "81234560000000011234"


def _row(no: str, product_id: int, on: str, **extra) -> dict:
    return {"prescription_no": no, "patient_id": f"P-{no}", "physician_code": "D1", "setting": "门诊",
            "prescribed_on": on, "product_id": product_id, "quantity": "1.5", "days_supply": 5, "amount": "21.00",
            **extra}  # fmt: skip


@pytest.fixture
def world(db, factory):
    ow = build_order_world(db, factory)
    hospital = ow.hospital(0)
    winner = ow.award_of(hospital).product_id
    loser = next(p.id for p in ow.world.products if p.id != winner)
    _order, shipment, codes = ow.shipped(hospital, 5)
    receive_shipment(db, shipment_id=shipment.id, codes=codes[:4], actor=hospital, now=TODAY)  # 4 packs on 15 June
    register_physicians(db, actor=hospital, hospital_id=hospital.org_id,
                        physicians=[{"code": "D1", "name": "医生", "department": "心内科"}])  # fmt: skip
    rows = [
        _row("Q1", winner, "2026-06-16", days_supply=10),  # 10 days outpatient, no reason → 7.4
        _row("T1", winner, "2026-06-17", trace_code=SHARED_CODE),  # one pack …
        _row("T2", winner, "2026-06-18", trace_code=SHARED_CODE),  # … to a second patient → 5.6.7 R7
        _row("N1", loser, "2026-06-20"),  # the loser after the winner arrived → 1.7.2; never received → R6
    ]
    import_prescriptions(db, actor=hospital, hospital_id=hospital.org_id, pseudonym_key=KEY, rows=rows)
    bureau = factory.org(OrgKind.INSURANCE_BUREAU)
    auditor = actor_for_user(db, factory.user(bureau, roles=(Role.AUDITOR,)).id)
    line_of = dict(
        db.execute(
            sa.text(
                "SELECT p.external_no, l.id FROM prescription_lines l JOIN prescriptions p ON p.id = l.prescription_id"
            )
        ).all()
    )
    return ow, hospital, auditor, winner, loser, line_of


def _alerts(db) -> dict[str, list[Alert]]:
    found: dict[str, list[Alert]] = {}
    for alert in db.execute(sa.select(Alert).where(Alert.source == "monitoring")).scalars():
        found.setdefault(alert.code, []).append(alert)
    return found


def test_a_period_raises_one_alert_per_finding_with_its_evidence(db, world):
    _ow, hospital, auditor, winner, loser, line_of = world
    seen = []
    summary = run_period(db, auditor, start=JUNE, end=JULY, progress=lambda done, total: seen.append((done, total)))
    assert summary.rows == 4 and not summary.no_data and summary.notes == []
    assert summary.figures["findings_by_rule"] == {
        mr.DISPENSED_OVER_RECEIVED: 2,  # winner 4.5 packs > 4 received; loser 1.5 > 0
        mr.NON_WINNING_CHOSEN: 1,
        mr.QTY_OVER_LIMIT: 1,
        mr.TRACE_MULTI_PATIENT: 1,
    }
    assert summary.findings == summary.alerts_raised == 5
    assert seen[-1] == (5, 5)

    alerts = _alerts(db)
    assert all(a.subject_org_id == hospital.org_id for group in alerts.values() for a in group)
    (qty,) = alerts[mr.QTY_OVER_LIMIT]
    assert qty.evidence["line_ids"] == [line_of["Q1"]] and qty.evidence["line_count"] == 1
    assert (qty.evidence["value"], qty.evidence["threshold"]) == (10.0, 7.0)
    assert qty.severity == "medium" and qty.object_type == "prescription"
    assert qty.rule["name"] == "rx.quantity_limits" and qty.rule["cites"] == ["7.4", "7.7"]
    (trace,) = alerts[mr.TRACE_MULTI_PATIENT]
    assert trace.evidence["line_ids"] == [line_of["T1"], line_of["T2"]] and trace.evidence["value"] == 2.0
    assert trace.severity == "high"
    (chosen,) = alerts[mr.NON_WINNING_CHOSEN]
    assert chosen.evidence["product_id"] == loser and chosen.evidence["details"]["winning_product_id"] == winner
    assert chosen.evidence["details"]["first_received_on"] == "2026-06-15"
    over = {a.evidence["product_id"]: a.evidence for a in alerts[mr.DISPENSED_OVER_RECEIVED]}
    assert (over[winner]["value"], over[winner]["threshold"]) == (4.5, 4.0)
    assert over[winner]["line_ids"] == [line_of["Q1"], line_of["T1"], line_of["T2"]]
    assert (over[loser]["value"], over[loser]["threshold"]) == (1.5, 0.0)
    assert (
        db.execute(sa.select(sa.func.count()).where(AuditRecord.action == "monitoring.period_checked")).scalar_one()
        == 1
    )


def test_running_the_period_again_raises_nothing_twice(db, world):
    auditor = world[2]
    run_period(db, auditor, start=JUNE, end=JULY)
    again = run_period(db, auditor, start=JUNE, end=JULY)
    assert again.findings == 5 and again.alerts_raised == 0
    assert sum(len(group) for group in _alerts(db).values()) == 5


def test_a_period_cutting_a_month_says_its_monthly_figures_are_partial(db, world):
    summary = run_period(db, world[2], start=dt.date(2026, 6, 10), end=JULY)
    assert summary.rows == 4
    assert summary.notes == ["the period cuts a calendar month: monthly key-drug figures of that month are partial"]


def test_an_empty_period_says_so(db, world):
    summary = run_period(db, world[2], start=dt.date(2020, 1, 1), end=dt.date(2020, 2, 1))
    assert summary.rows == 0 and summary.no_data and summary.alerts_raised == 0
    assert summary.notes == ["no prescription lines in the period"]


def test_only_auditors_and_administrators_run_monitoring(db, world):
    hospital = world[1]
    with pytest.raises(DomainError) as refused:
        run_period(db, hospital, start=JUNE, end=JULY)
    assert refused.value.kind == "forbidden"


def test_top_anomalous_ranks_from_the_alerts(db, world):
    _ow, _hospital, auditor, winner, loser, _lines = world
    run_period(db, auditor, start=JUNE, end=JULY)
    top = top_anomalous(db, auditor, n=5)
    # Physician D1 is named by the 7.4 (medium 2) and trace (high 3) findings; the non-winning and over-received
    # findings are about the hospital's product, not one physician.
    assert [(t["findings"], t["score"]) for t in top["physicians"]] == [(2, 5)]
    # Products: winner — trace (3) + over-received (3) = 6; loser — non-winning (2) + over-received (3) = 5.
    assert [(t["product_id"], t["score"]) for t in top["products"]] == [(winner, 6), (loser, 5)]
    assert db.execute(sa.select(sa.func.count()).select_from(PrescriptionLine)).scalar_one() == 4


def test_top_anomalies_rank_physicians_and_products_by_weighted_findings():
    findings = pd.DataFrame(
        {
            "rule": ["A", "B", "C", "D"],
            "severity": ["low", "critical", "medium", "high"],
            "hospital_id": pd.array([1, 1, 1, 2], dtype="Int64"),
            "physician_id": pd.array([5, 6, 5, pd.NA], dtype="Int64"),
            "product_id": pd.array([pd.NA, 9, 9, 9], dtype="Int64"),
        }
    )
    top = top_anomalies(findings, n=5)
    assert top["physicians"][["physician_id", "score", "findings"]].values.tolist() == [[6, 4, 1], [5, 3, 2]]
    assert top["products"][["product_id", "hospital_id", "score"]].values.tolist() == [[9, 1, 6], [9, 2, 3]]
    assert top["physicians"].iloc[1]["rules"] == ["A", "C"]


def test_a_months_growth_is_judged_against_the_month_before_the_period(db, world):
    """A run over July alone still sees June, so July's growth of a key-monitored drug is found; June's own
    top-N finding is not raised by the July run (it belongs to June's)."""
    from procurement.catalogue import Product

    _ow, hospital, auditor, winner, _loser, _line_of = world
    generic = db.get(Product, winner).generic_name
    july = [_row(f"J{i}", winner, "2026-07-10", amount="40.00") for i in range(3)]  # 120.00 against June's 84.00
    import_prescriptions(db, actor=hospital, hospital_id=hospital.org_id, pseudonym_key=KEY, rows=july)
    params = mr.DEFAULTS.override("key_drugs", "test", drugs=(generic,))
    summary = run_period(db, auditor, start=JULY, end=dt.date(2026, 8, 1), params=params)
    assert summary.figures["key_drug_history_lines"] == 4  # June's four lines, read for the comparison only
    found = _alerts(db)
    [growth] = found[mr.KEY_DRUG_GROWTH]
    details = growth.evidence["details"]
    assert (details["month"], details["amount"], details["previous_month_amount"]) == ("2026-07", 120.0, 84.0)
    assert growth.evidence["value"] == pytest.approx((120 - 84) / 84)  # 4 June lines × 21.00 = 84.00
    months = [a.evidence["details"]["month"] for a in found[mr.KEY_DRUG_TOP]]
    assert months == ["2026-07"]  # June's top-N is June's run's to raise


def test_each_hospital_is_judged_by_its_regions_long_prescription_limits(db, world, factory):
    """Cangshan (350104) allows up to 8 weeks, the national norm 12 (0.12, 7.5): a 10-week chronic prescription
    breaks Cangshan's maximum only."""
    from core.models import Organisation

    _ow, hospital, auditor, winner, _loser, _line_of = world
    long_rx = {"chronic": "是", "days_supply": 70, "reason_recorded": "是"}
    import_prescriptions(db, actor=hospital, hospital_id=hospital.org_id, pseudonym_key=KEY,
                         rows=[_row("L1", winner, "2026-06-25", **long_rx)])  # fmt: skip
    summary = run_period(db, auditor, start=JUNE, end=JULY)
    assert summary.figures["regional_limits"] == {}  # a Xiamen hospital: national limits
    assert mr.LONG_OVER_MAX not in _alerts(db)
    db.get(Organisation, hospital.org_id).region_code = "350104"  # the hospital is in Cangshan
    db.flush()
    summary = run_period(db, auditor, start=JUNE, end=dt.date(2026, 6, 30))
    assert summary.figures["regional_limits"] == {"cangshan": 1}
    [over] = _alerts(db)[mr.LONG_OVER_MAX]
    assert over.evidence["value"] == 70 and over.evidence["threshold"] == 56  # days: 10 weeks against Cangshan's 8
    assert over.rule["values"]["max_weeks"] == 8


def test_dispensing_above_receipts_is_caught_across_periods(db, world):
    """June dispensed 4.5 packs of the winner against 4 received; one more in July is beyond what was received, though
    July's own dispensing (1 pack) is below the 4 packs received."""
    _ow, hospital, auditor, winner, _loser, _line_of = world
    import_prescriptions(db, actor=hospital, hospital_id=hospital.org_id, pseudonym_key=KEY,
                         rows=[_row("A1", winner, "2026-07-03", quantity="1")])  # fmt: skip
    run_period(db, auditor, start=JULY, end=dt.date(2026, 8, 1))
    over = [a for a in _alerts(db).get(mr.DISPENSED_OVER_RECEIVED, []) if a.evidence["product_id"] == winner]
    assert len(over) == 1 and over[0].evidence["period"]["start"] == "2026-07-01"
    assert over[0].evidence["value"] == 1.0 and over[0].evidence["threshold"] == -0.5  # 4 received − 4.5 before


def test_the_abnormal_prescription_count_runs_over_the_assessment_cycle_not_the_run(db, world):
    """7.2 counts a physician's unjustified 超常处方 over the assessment cycle (default: the calendar year): two in
    June and a third in July restrict the physician in the July run, with the June ones as evidence; runs over other
    periods of the cycle raise it no second time."""
    _ow, hospital, auditor, winner, _loser, _line_of = world
    bad = {"abnormal": "是"}
    rows = [_row("A1", winner, "2026-06-21", **bad), _row("A2", winner, "2026-06-22", **bad),
            _row("A3", winner, "2026-07-05", **bad)]  # fmt: skip
    import_prescriptions(db, actor=hospital, hospital_id=hospital.org_id, pseudonym_key=KEY, rows=rows)
    joined = "SELECT p.external_no, l.id FROM prescription_lines l JOIN prescriptions p ON p.id = l.prescription_id"
    line_of = dict(db.execute(sa.text(joined)).all())
    run_period(db, auditor, start=JUNE, end=JULY)
    assert mr.ABNORMAL_RESTRICT not in _alerts(db)  # two so far
    summary = run_period(db, auditor, start=JULY, end=dt.date(2026, 8, 1))
    assert summary.figures["abnormal_cycle_lines"] >= 2  # January to June read for the count
    [restrict] = _alerts(db)[mr.ABNORMAL_RESTRICT]
    assert restrict.evidence["line_ids"] == [line_of["A1"], line_of["A2"], line_of["A3"]]
    assert restrict.evidence["details"]["cycle"] == "2026-01..2027-01"
    assert restrict.evidence["details"]["on"] == "2026-07-05"
    assert restrict.dedupe_key.endswith("|cycle:2026-01..2027-01")
    again = run_period(db, auditor, start=JUNE, end=dt.date(2026, 8, 1))  # the same restriction, another period
    assert mr.ABNORMAL_RESTRICT in again.figures["findings_by_rule"]
    assert len(_alerts(db)[mr.ABNORMAL_RESTRICT]) == 1


def test_the_abnormal_prescription_count_starts_again_with_each_cycle(db, world):
    """With half-year cycles (January–June, July–December) June's two and July's one never make three."""
    _ow, hospital, auditor, winner, _loser, _line_of = world
    bad = {"abnormal": "是"}
    rows = [_row("A1", winner, "2026-06-21", **bad), _row("A2", winner, "2026-06-22", **bad),
            _row("A3", winner, "2026-07-05", **bad)]  # fmt: skip
    import_prescriptions(db, actor=hospital, hospital_id=hospital.org_id, pseudonym_key=KEY, rows=rows)
    half_years = mr.DEFAULTS.override("abnormal", "test", cycle_months=6)
    summary = run_period(db, auditor, start=JUNE, end=dt.date(2026, 8, 1), params=half_years)
    assert mr.ABNORMAL_RESTRICT not in summary.figures["findings_by_rule"]
    summary = run_period(db, auditor, start=JULY, end=dt.date(2026, 8, 1), params=half_years)
    assert summary.figures["abnormal_cycle_lines"] == 0  # July starts a cycle: nothing earlier is read
    assert mr.ABNORMAL_RESTRICT not in _alerts(db)


def test_a_restriction_decided_in_a_month_audited_before_its_lines_arrived_is_raised_by_a_later_run(db, world):
    """June was audited before June's abnormal prescriptions were imported; the July run raises June's restriction
    (once: a later run of the cycle does not raise it again)."""
    _ow, hospital, auditor, winner, _loser, _line_of = world
    run_period(db, auditor, start=JUNE, end=JULY)  # nothing abnormal yet
    bad = {"abnormal": "是"}
    late = [_row(f"L{i}", winner, f"2026-06-2{i}", **bad) for i in range(1, 4)]  # imported after June's run
    july = [_row("J1", winner, "2026-07-02")]  # an ordinary July prescription
    import_prescriptions(db, actor=hospital, hospital_id=hospital.org_id, pseudonym_key=KEY, rows=late + july)
    run_period(db, auditor, start=JULY, end=dt.date(2026, 8, 1))
    [restrict] = _alerts(db)[mr.ABNORMAL_RESTRICT]
    assert restrict.evidence["details"]["on"] == "2026-06-23"  # decided by the third, in June
    run_period(db, auditor, start=JUNE, end=dt.date(2026, 8, 1))  # June and July again
    assert len(_alerts(db)[mr.ABNORMAL_RESTRICT]) == 1
