"""Each prescribing-monitoring rule on a small hand-built frame, with the findings worked out by hand (rulebook 7,
5.6.7, 1.7.2), and the refusal of inconsistent parameter sets."""

from __future__ import annotations

import math
import statistics

import pytest

from core.errors import DomainError
from procurement.audit import monitoring_rules as mr
from procurement.audit.monitoring import run_rules
from procurement.audit.monitoring_rules import DEFAULTS, monitoring_params, validate_params
from tests.procurement.rx_builders import labels, lines_frame, received_frame

STOCKED = ({"hospital_id": 1, "product_id": 500, "received_packs": 1000.0, "first_received_on": "2024-01-01"},)


def findings_of(lines, rule, received=None, params=DEFAULTS):
    """Run every rule (receipts cover the default product unless given) and keep one rule's findings by subject."""
    received = received_frame(*STOCKED) if received is None else received
    found = run_rules(lines, received, params, labels())
    return found[found["rule"] == rule].set_index("subject")


# ---------------------------------------------------------------- 7.4 / 7.5 quantity and long prescriptions


def test_quantity_limits_seven_and_three_days_without_a_reason():
    lines = lines_frame(
        {"days_supply": 8},  # 1: outpatient over 7 → flagged
        {"days_supply": 8, "reason_recorded": True},  # 2: reason recorded → fine
        {"days_supply": 7},  # 3: at the limit → fine
        {"setting": "emergency", "days_supply": 4},  # 4: emergency over 3 → flagged
        {"setting": "inpatient", "days_supply": 30},  # 5: no limit for ward orders
        {"days_supply": 20, "chronic": True},  # 6: stable chronic, within 4 weeks → fine
        {"setting": "emergency", "days_supply": 5, "chronic": True},  # 7: chronic excuses outpatient only
    )
    found = findings_of(lines, mr.QTY_OVER_LIMIT)
    assert sorted(found.index) == ["prescription:1", "prescription:4", "prescription:7"]
    assert found.loc["prescription:1", ["value", "threshold"]].tolist() == [8.0, 7.0]
    assert found.loc["prescription:4", ["value", "threshold"]].tolist() == [4.0, 3.0]
    assert found.loc["prescription:4", "line_ids"] == [4]
    assert found.loc["prescription:1", "severity"] == "medium"
    assert found.loc["prescription:1", "params"] == "rx.quantity_limits@2007-05"


def test_one_finding_per_prescription_with_all_its_offending_lines():
    lines = lines_frame(
        {"prescription_id": 9, "days_supply": 10, "product_id": 500},
        {"prescription_id": 9, "days_supply": 12, "product_id": 500, "generic_name": "x"},
        {"prescription_id": 9, "days_supply": 3, "product_id": 500},
    )
    found = findings_of(lines, mr.QTY_OVER_LIMIT)
    assert found.loc["prescription:9", "line_ids"] == [1, 2]
    assert found.loc["prescription:9", "line_count"] == 2
    assert found.loc["prescription:9", "value"] == 12.0  # the longest line


def test_long_prescriptions_national_four_and_twelve_weeks():
    lines = lines_frame(
        {"days_supply": 40, "chronic": True},  # 1: beyond 4 weeks, no assessment recorded
        {"days_supply": 40, "chronic": True, "reason_recorded": True},  # 2: recorded → fine
        {"days_supply": 90, "chronic": True, "reason_recorded": True},  # 3: beyond 12 weeks, even recorded
        {"days_supply": 84, "chronic": True, "reason_recorded": True},  # 4: exactly 12 weeks → fine
        {"days_supply": 20, "chronic": True, "drug_class": "narcotic"},  # 5: excluded class
        {"days_supply": 20, "chronic": True, "drug_class": "antimicrobial", "reason_recorded": True},  # 6: TB-like
        {"days_supply": 20, "chronic": True, "drug_class": "antimicrobial"},  # 7: antimicrobial without reason
    )
    no_reason = findings_of(lines, mr.LONG_NO_REASON)
    assert list(no_reason.index) == ["prescription:1"]
    assert no_reason.loc["prescription:1", ["value", "threshold"]].tolist() == [40.0, 28.0]
    over = findings_of(lines, mr.LONG_OVER_MAX)
    assert list(over.index) == ["prescription:3"]
    assert over.loc["prescription:3", ["value", "threshold", "severity"]].tolist() == [90.0, 84.0, "high"]
    excluded = findings_of(lines, mr.LONG_EXCLUDED_CLASS)
    assert sorted(excluded.index) == ["prescription:5", "prescription:7"]
    assert findings_of(lines, mr.QTY_OVER_LIMIT).empty  # every line here claims the chronic exception


def test_a_short_prescription_over_the_limit_with_a_reason_is_not_a_long_one():
    lines = lines_frame({"setting": "emergency", "days_supply": 5, "drug_class": "narcotic", "reason_recorded": True})
    assert run_rules(lines, received_frame(*STOCKED)).empty  # 7.4's exception; 7.5 is about chronic patients


def test_cangshan_allows_eight_weeks_at_most():
    lines = lines_frame(
        {"days_supply": 60, "chronic": True, "reason_recorded": True},
        {"days_supply": 56, "chronic": True, "reason_recorded": True},
    )
    cangshan = monitoring_params("cangshan")
    over = findings_of(lines, mr.LONG_OVER_MAX, params=cangshan)
    assert list(over.index) == ["prescription:1"]
    assert over.loc["prescription:1", "threshold"] == 56.0
    assert over.loc["prescription:1", "params"] == "rx.long_prescription.cangshan@2021-08"
    assert findings_of(lines, mr.LONG_OVER_MAX).empty  # nationally both are within 12 weeks


# ---------------------------------------------------------------- 7.7 more than five drugs


def test_more_than_five_distinct_drugs_on_an_outpatient_prescription():
    six = [{"prescription_id": 1, "product_id": 500 + i} for i in range(6)]
    repeated = [{"prescription_id": 2, "product_id": 500 + min(i, 4)} for i in range(6)]  # 5 distinct in 6 lines
    with_consumable = [{"prescription_id": 3, "product_id": 500 + i, "consumable": i == 5} for i in range(6)]
    ward = [{"prescription_id": 4, "product_id": 500 + i, "setting": "inpatient"} for i in range(7)]
    emergency = [{"prescription_id": 5, "product_id": 500 + i, "setting": "emergency"} for i in range(6)]
    found = findings_of(lines_frame(*six, *repeated, *with_consumable, *ward, *emergency), mr.TOO_MANY_DRUGS)
    assert sorted(found.index) == ["prescription:1", "prescription:5"]
    assert found.loc["prescription:1", ["value", "threshold"]].tolist() == [6.0, 5.0]
    assert found.loc["prescription:1", "line_ids"] == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------- 7.2 three, then two consecutive


def _rx(physician, rx_id, day, kind):
    """One line: kind "bad" (unjustified abnormal), "ok" (normal) or "justified" (abnormal with justification)."""
    return {
        "physician_id": physician,
        "prescription_id": rx_id,
        "line_id": rx_id,
        "prescribed_on": f"2025-03-{day:02d}",
        "abnormal": kind != "ok",
        "abnormal_justified": kind == "justified",
    }


def test_three_then_two_consecutive_abnormal_prescriptions():
    lines = lines_frame(
        # Physician 1, by date: bad, ok, bad, justified, bad (3rd → restricted at rx 105), bad, ok, bad, bad (→ removed
        # at rx 109: 108 and 109 are adjacent; 106 alone was broken by 107).
        _rx(1, 101, 1, "bad"), _rx(1, 102, 2, "ok"), _rx(1, 103, 3, "bad"), _rx(1, 104, 4, "justified"),
        _rx(1, 105, 5, "bad"), _rx(1, 106, 6, "bad"), _rx(1, 107, 7, "ok"), _rx(1, 108, 8, "bad"),
        _rx(1, 109, 9, "bad"),
        # Physician 2: two on one day ordered by prescription id (202 before 203 although listed after).
        _rx(2, 201, 1, "bad"), _rx(2, 203, 2, "ok"), _rx(2, 202, 2, "bad"), _rx(2, 204, 3, "bad"),
        _rx(2, 205, 4, "bad"), _rx(2, 206, 5, "bad"),
        # Physician 3: only two → nothing. Physician 4: restricted, then bad, ok, bad → not removed.
        _rx(3, 301, 1, "bad"), _rx(3, 302, 2, "bad"),
        _rx(4, 401, 1, "bad"), _rx(4, 402, 2, "bad"), _rx(4, 403, 3, "bad"), _rx(4, 404, 4, "bad"),
        _rx(4, 405, 5, "ok"), _rx(4, 406, 6, "bad"),
    )  # fmt: skip
    restrict = findings_of(lines, mr.ABNORMAL_RESTRICT)
    revoke = findings_of(lines, mr.ABNORMAL_REVOKE)
    assert sorted(restrict.index) == ["physician:1", "physician:2", "physician:4"]
    assert sorted(revoke.index) == ["physician:1", "physician:2"]

    one = restrict.loc["physician:1"]
    assert one["details"]["prescription_id"] == 105 and one["details"]["on"] == "2025-03-05"
    assert one["line_ids"] == [101, 103, 105]  # the three that made the count
    assert one["value"] == 6.0 and one["threshold"] == 3.0  # six unjustified in the period
    assert revoke.loc["physician:1", "line_ids"] == [108, 109]
    assert revoke.loc["physician:1", "details"]["prescription_id"] == 109
    assert revoke.loc["physician:1", "severity"] == "critical"

    # Physician 2: 201, 202 (same day as 203, lower id), 204 → restricted at 204; then 205, 206 → removed at 206.
    assert restrict.loc["physician:2", "details"]["prescription_id"] == 204
    assert restrict.loc["physician:2", "line_ids"] == [201, 202, 204]
    assert revoke.loc["physician:2", "details"]["prescriptions"] == [205, 206]
    assert restrict.loc["physician:4", "details"]["prescription_id"] == 403


def test_the_count_starts_again_with_each_assessment_cycle():
    """Quarterly cycles: two in March and two in April never reach three; five from April on restrict and remove
    within the second quarter, and the findings name their cycle."""

    def on(rx_id, day, kind):
        return {**_rx(8, rx_id, 1, kind), "prescribed_on": day}

    lines = lines_frame(
        on(801, "2025-03-30", "bad"), on(802, "2025-03-31", "bad"), on(803, "2025-04-01", "bad"),
        on(804, "2025-04-02", "bad"),
    )  # fmt: skip
    quarters = DEFAULTS.override("abnormal", "test", cycle_months=3)
    assert findings_of(lines, mr.ABNORMAL_RESTRICT, params=quarters).empty
    assert list(findings_of(lines, mr.ABNORMAL_RESTRICT).index) == ["physician:8"]  # one year: four in a row
    lines = lines_frame(
        on(801, "2025-03-30", "bad"), on(802, "2025-03-31", "bad"),
        *(on(810 + i, f"2025-04-0{i}", "bad") for i in range(1, 6)),
    )  # fmt: skip
    restrict = findings_of(lines, mr.ABNORMAL_RESTRICT, params=quarters).loc["physician:8"]
    assert restrict["details"]["prescription_id"] == 813 and restrict["details"]["cycle"] == "2025-04..2025-07"
    assert restrict["value"] == 5.0  # unjustified in the cycle, not in the frame
    revoke = findings_of(lines, mr.ABNORMAL_REVOKE, params=quarters).loc["physician:8"]
    assert revoke["details"]["prescriptions"] == [814, 815]


def test_the_restricting_prescription_does_not_start_the_consecutive_run():
    lines = lines_frame(*(_rx(7, 700 + i, i, "bad") for i in range(1, 5)), _rx(7, 705, 5, "ok"))
    assert not findings_of(lines, mr.ABNORMAL_RESTRICT).empty
    assert findings_of(lines, mr.ABNORMAL_REVOKE).empty  # 703 restricts; only 704 follows it


# ---------------------------------------------------------------- 7.9 / 7.10 key-monitored drugs


def test_key_drugs_top_n_persistent_and_growth():
    params = DEFAULTS.override("key_drugs", "test", drugs=("oxiracetam",), top_n=2, persistent_months=3)
    month_amounts = {
        # month: (oxiracetam, aspirin, metformin) in hospital 1
        "2025-01-15": (50.0, 100.0, 10.0),  # ranks 2 → top
        "2025-02-15": (200.0, 100.0, 300.0),  # rank 2 → top; growth 300 %
        "2025-03-15": (230.0, 100.0, 300.0),  # rank 2 → top, third month in a row; growth 15 %
        "2025-04-15": (20.0, 100.0, 300.0),  # rank 3 → out
        "2025-06-15": (60.0, 100.0, 300.0),  # May absent → no growth figure for June
    }
    rows = []
    for day, amounts in month_amounts.items():
        for name, amount in zip(("oxiracetam", "aspirin", "metformin"), amounts, strict=True):
            rows.append({"prescribed_on": day, "generic_name": name, "amount": amount})
    found = run_rules(lines_frame(*rows), received_frame(*STOCKED), params)
    top = found[found["rule"] == mr.KEY_DRUG_TOP].set_index("subject")
    assert sorted(top.index) == [f"hospital:1/oxiracetam/2025-0{m}" for m in (1, 2, 3)]
    assert top["value"].tolist() == [2.0, 2.0, 2.0]
    growth = found[found["rule"] == mr.KEY_DRUG_GROWTH].set_index("subject")
    assert list(growth.index) == ["hospital:1/oxiracetam/2025-02"]
    assert growth["value"].iloc[0] == pytest.approx(3.0)  # (200 − 50) / 50
    assert growth["details"].iloc[0]["previous_month_amount"] == 50.0
    persistent = found[found["rule"] == mr.KEY_DRUG_PERSISTENT].set_index("subject")
    assert list(persistent.index) == ["hospital:1/oxiracetam/2025-03"]
    assert persistent["details"].iloc[0]["first_month"] == "2025-01"
    assert persistent["line_ids"].iloc[0] == [1, 4, 7]  # the oxiracetam lines of January to March


def test_listed_names_match_catalogue_names_with_a_dosage_form_unless_exact():
    rows = [{"generic_name": "奥拉西坦注射液", "amount": 90.0}, {"generic_name": "阿司匹林肠溶片", "amount": 10.0}]
    top = findings_of(lines_frame(*rows), mr.KEY_DRUG_TOP)
    assert list(top.index) == ["hospital:1/奥拉西坦注射液/2025-03"] and top["value"].tolist() == [1.0]
    exact = DEFAULTS.override("key_drugs", "exact", match="exact")
    assert findings_of(lines_frame(*rows), mr.KEY_DRUG_TOP, params=exact).empty


# ---------------------------------------------------------------- 7.10 peers


def test_physician_outlier_by_percentile_and_sample_zscore():
    # Six physicians of hospital 1 / internal, one prescription each: 10, 10, 10, 10, 10, 100 per prescription.
    # Mean 25, sample sd √((5 × 15² + 75²) / 5) = √1350 = 36.742; z(100) = 75 / 36.742 = 2.041 ≥ 2; percentile 100.
    rows = [{"physician_id": 10 + i, "amount": 10.0} for i in range(5)] + [{"physician_id": 15, "amount": 100.0}]
    params = DEFAULTS.override("peers", "test", measures=("amount_per_prescription",))
    found = run_rules(lines_frame(*rows), received_frame(*STOCKED), params)
    outliers = found[found["rule"] == mr.PHYSICIAN_OUTLIER]
    assert outliers["physician_id"].tolist() == [15]
    row = outliers.iloc[0]
    assert row["value"] == 100.0
    assert row["peers"]["zscore"] == pytest.approx(75 / math.sqrt(1350))
    assert row["peers"]["percentile"] == 100.0
    assert row["peers"]["peer_n"] == 6 and row["peers"]["scope"] == "hospital_id+department"
    assert row["threshold"] == pytest.approx(25 + 2 * math.sqrt(1350))
    assert row["line_ids"] == [6]
    # Departments: one department in one hospital has no peers elsewhere.
    assert found[found["rule"] == mr.DEPARTMENT_OUTLIER].empty


def test_no_outlier_below_min_peers_or_when_only_the_percentile_is_high():
    few = [{"physician_id": 10 + i, "amount": 10.0} for i in range(3)] + [{"physician_id": 15, "amount": 100.0}]
    params = DEFAULTS.override("peers", "test", measures=("amount_per_prescription",))
    assert run_rules(lines_frame(*few), received_frame(*STOCKED), params).query("rule == @mr.PHYSICIAN_OUTLIER").empty
    spread = [{"physician_id": 10 + i, "amount": float(10 * (i + 1))} for i in range(6)]  # z(60) = 1.34
    assert (
        run_rules(lines_frame(*spread), received_frame(*STOCKED), params).query("rule == @mr.PHYSICIAN_OUTLIER").empty
    )


def test_department_outlier_on_monitored_share_among_hospitals():
    # Department "neuro" in six hospitals; in hospital 6 half the amount is oxiracetam, elsewhere none or little.
    rows = []
    for hospital, share in zip(range(1, 7), (0.0, 0.0, 0.0, 0.0, 0.1, 0.5), strict=True):
        rows.append(
            {"hospital_id": hospital, "department": "neuro", "physician_id": hospital, "amount": 100 - 100 * share}
        )
        if share:
            rows.append({"hospital_id": hospital, "department": "neuro", "physician_id": hospital,
                         "generic_name": "奥拉西坦", "amount": 100 * share})  # fmt: skip
    params = DEFAULTS.override("peers", "test", measures=("monitored_share",))
    found = run_rules(lines_frame(*rows), received_frame(), params)
    departments = found[found["rule"] == mr.DEPARTMENT_OUTLIER]
    # Shares 0, 0, 0, 0, 0.1, 0.5: mean 0.1, sample sd √((4 × 0.01 + 0 + 0.16) / 5) = 0.2; z(0.5) = 2.0.
    assert departments["hospital_id"].tolist() == [6]
    assert departments.iloc[0]["value"] == pytest.approx(0.5)
    assert departments.iloc[0]["peers"]["zscore"] == pytest.approx(2.0)
    assert departments.iloc[0]["line_ids"] == [8]  # hospital 6's monitored line only


# ---------------------------------------------------------------- 1.7.2 winning product, receipts, trace codes


def test_non_winning_product_chosen_after_the_winner_was_received():
    received = received_frame(
        {"hospital_id": 1, "product_id": 7, "received_packs": 10.0, "first_received_on": "2025-03-01 09:00"},
        {"hospital_id": 3, "product_id": 7, "received_packs": 0.0, "first_received_on": "2025-01-01"},
    )
    base = {"product_id": 8, "winning_product_id": 7, "amount": 30.0}
    lines = lines_frame(
        {**base, "prescribed_on": "2025-03-05"},  # 1: winner in stock since 1 March → flagged
        {**base, "prescribed_on": "2025-03-06", "physician_id": 101},  # 2: flagged, same finding
        {**base, "prescribed_on": "2025-03-01"},  # 3: same day as the receipt → benefit of the doubt
        {**base, "hospital_id": 2, "prescribed_on": "2025-03-05"},  # 4: hospital 2 never received the winner
        {**base, "hospital_id": 3, "prescribed_on": "2025-03-05"},  # 5: a zero receipt is not stock
        {"product_id": 7, "winning_product_id": 7, "prescribed_on": "2025-03-05"},  # 6: the winner itself
    )
    found = findings_of(lines, mr.NON_WINNING_CHOSEN, received=received)
    assert list(found.index) == ["hospital:1/product:8"]
    row = found.iloc[0]
    assert row["line_ids"] == [1, 2] and row["value"] == 60.0
    assert row["details"]["winning_product_id"] == 7 and row["details"]["physicians"] == 2


def test_dispensed_above_received_per_hospital_and_product():
    received = received_frame(
        {"hospital_id": 1, "product_id": 500, "received_packs": 4.0, "first_received_on": "2025-01-01"},
        {"hospital_id": 1, "product_id": 600, "received_packs": 5.0, "first_received_on": "2025-01-01"},
    )
    lines = lines_frame(
        {"product_id": 500, "quantity": 3.0}, {"product_id": 500, "quantity": 2.0},  # 5 > 4
        {"product_id": 600, "quantity": 5.0},  # 5 = 5 → fine
        {"product_id": 700, "quantity": 0.5},  # never received
    )  # fmt: skip
    found = findings_of(lines, mr.DISPENSED_OVER_RECEIVED, received=received)
    assert sorted(found.index) == ["hospital:1/product:500", "hospital:1/product:700"]
    assert found.loc["hospital:1/product:500", ["value", "threshold"]].tolist() == [5.0, 4.0]
    assert found.loc["hospital:1/product:500", "line_ids"] == [1, 2]
    assert found.loc["hospital:1/product:700", ["value", "threshold"]].tolist() == [0.5, 0.0]


def test_consumable_lines_are_not_compared_with_trace_receipts():  # consumables carry no trace codes
    received = received_frame({**STOCKED[0], "received_packs": 4.0})
    ward = {"consumable": True, "setting": "inpatient", "case_id": "C1"}
    lines = lines_frame({"quantity": 3.0}, {"quantity": 2.0, **ward}, {"product_id": 900, "quantity": 6.0, **ward})
    assert findings_of(lines, mr.DISPENSED_OVER_RECEIVED, received=received).empty


def test_trace_code_dispensed_to_two_patients():
    lines = lines_frame(
        {"trace_code": "81234567890123456789", "patient_key": "p1", "quantity": 0.5},
        {"trace_code": "81234567890123456789", "patient_key": "p1", "quantity": 0.5},  # split pack, same patient
        {"trace_code": "80000000000000000001", "patient_key": "p1", "prescribed_on": "2025-03-01"},
        {"trace_code": "80000000000000000001", "patient_key": "p2", "hospital_id": 2, "physician_id": 9,
         "prescribed_on": "2025-03-04"},
        {"trace_code": "80000000000000000001", "patient_key": "p3", "prescribed_on": "2025-03-09"},
        {"trace_code": None, "patient_key": "p4"}, {"trace_code": None, "patient_key": "p5"},
    )  # fmt: skip
    found = findings_of(lines, mr.TRACE_MULTI_PATIENT)
    assert list(found.index) == ["trace:80000000000000000001"]
    row = found.iloc[0]
    assert row["value"] == 3.0 and row["line_ids"] == [3, 4, 5]
    assert row["hospital_id"] == 2 and row["physician_id"] == 9  # the second dispensing is the suspect one
    assert row["details"]["hospitals"] == [1, 2] and row["details"]["trace_code"] == "80000000000000000001"


def test_trace_code_ids_sharing_a_bucket_are_told_apart():
    """Codes are found by their ids' low bits first: ids sharing those bits are still different codes, and ids
    whose low bits are zero (like "no code") are still codes."""
    from procurement.audit.monitoring_lines import HASH_BUCKETS

    lines = lines_frame(
        {"trace_code_id": 5, "patient_key": "p1"},
        {"trace_code_id": 5 + HASH_BUCKETS, "patient_key": "p2"},  # same bucket as 5, another code
        {"trace_code_id": HASH_BUCKETS, "patient_key": "p1"},  # bucket 0, shared with the lines without a code
        {"trace_code_id": HASH_BUCKETS, "patient_key": "p2"},
        {"trace_code_id": None, "patient_key": "p3"}, {"trace_code_id": None, "patient_key": "p4"},
    )  # fmt: skip
    found = findings_of(lines, mr.TRACE_MULTI_PATIENT)
    assert list(found.index) == [f"trace:#{HASH_BUCKETS}"]  # an id the labels do not know is shown as #id
    assert found.iloc[0]["line_ids"] == [3, 4]


# ---------------------------------------------------------------- 7.11 consumables


def test_consumable_use_per_case_far_above_the_peer_median():
    amounts = (100.0, 100.0, 100.0, 100.0, 100.0, 1000.0)
    rows = [
        {"consumable": True, "setting": "inpatient", "case_id": f"C{i}", "amount": amount, "product_id": 900}
        for i, amount in enumerate(amounts)
    ]
    rows.append({"consumable": True, "setting": "inpatient", "case_id": "C5", "amount": 50.0, "product_id": 901})
    received = received_frame(
        *({"hospital_id": 1, "product_id": p, "received_packs": 99.0, "first_received_on": "2025-01-01"}
          for p in (900, 901))
    )  # fmt: skip
    found = findings_of(lines_frame(*rows), mr.CONSUMABLE_OUTLIER, received=received)
    assert list(found.index) == ["hospital:1/case:C5"]
    row = found.iloc[0]
    assert row["details"] == {"case_no": "C5"}  # the hospital's case number (a credit case is a case_id)
    # Case C5: 1,050; peers' median 100 → 10.5 × ≥ 3 ×. Mean 1,550 / 6 = 258.33, sample sd 387.83, z = 2.04 < 3:
    # the median multiple decides. Threshold: the lower bar, 3 × 100 = 300 (the z bar is 258.33 + 3 × 387.83).
    assert row["value"] == 1050.0 and row["line_ids"] == [6, 7]
    assert row["peers"]["median_multiple"] == pytest.approx(10.5)
    assert row["peers"]["zscore"] == pytest.approx((1050 - 1550 / 6) / statistics.stdev([100.0] * 5 + [1050.0]))
    assert row["peers"]["zscore"] == pytest.approx(2.0412, abs=1e-4)
    assert row["threshold"] == 300.0


# ---------------------------------------------------------------- frames, parameter sets, dashboard


def test_an_empty_period_has_no_findings_and_a_missing_column_is_refused():
    assert run_rules(lines_frame().iloc[0:0], received_frame()).empty
    with pytest.raises(ValueError, match="trace_code_id"):
        run_rules(lines_frame({}).drop(columns=["trace_code_id"]), received_frame())


@pytest.mark.parametrize(
    ("part", "values", "field"),
    [
        ("long_rx", {"normal_weeks": 13}, "rx.long_prescription.national.max_weeks"),
        ("long_rx", {"max_weeks": -1}, "rx.long_prescription.national.max_weeks"),
        ("quantity", {"days_by_setting": {"outpatient": -7}}, "rx.quantity_limits.days_by_setting"),
        ("peers", {"percentile_threshold": 101.0}, "rx.peer_outliers.percentile_threshold"),
        ("peers", {"min_peers": 1}, "rx.peer_outliers.min_peers"),
        ("peers", {"physician_scope": "city"}, "rx.peer_outliers.physician_scope"),
        ("key_drugs", {"growth_threshold": 0.0}, "rx.key_monitored_drugs.growth_threshold"),
        ("key_drugs", {"top_n": 0}, "rx.key_monitored_drugs.top_n"),
        ("key_drugs", {"match": "fuzzy"}, "rx.key_monitored_drugs.match"),
        ("consumables", {"z_threshold": None, "median_multiple": None}, "rx.consumables_per_case.median_multiple"),
        ("consumables", {"median_multiple": 0.5}, "rx.consumables_per_case.median_multiple"),
        ("abnormal", {"restrict_after": 0}, "rx.abnormal_prescriptions.restrict_after"),
        ("abnormal", {"cycle_months": 5}, "rx.abnormal_prescriptions.cycle_months"),
        ("received", {"tolerance_packs": -1.0}, "rx.dispensed_within_received.tolerance_packs"),
        ("long_rx", {"exempt_with_reason": ("vitamin",)}, "rx.long_prescription.national.exempt_with_reason"),
    ],
)
def test_inconsistent_parameter_sets_are_refused(part, values, field):
    params = DEFAULTS.override(part, "bad", **values)
    with pytest.raises(DomainError) as refused:
        validate_params(params)
    assert refused.value.kind == "invalid" and field in refused.value.errors
    with pytest.raises(DomainError):
        run_rules(lines_frame({}), received_frame(), params)


def test_regions_and_overrides():
    assert validate_params(monitoring_params("cangshan")).long_rx["max_weeks"] == 8
    assert DEFAULTS.long_rx["max_weeks"] == 12 and DEFAULTS.long_rx["normal_weeks"] == 4
    with pytest.raises(DomainError):
        monitoring_params("atlantis")
    with pytest.raises(KeyError):
        DEFAULTS.override("long_rx", "x", max_days=3)
    assert DEFAULTS.describe()["sets"]["long_rx"]["cites"] == ["7.5", "0.12"]


def test_the_garbage_collector_is_paused_only_while_the_rules_run(monkeypatch):
    import gc

    from procurement.audit import monitoring

    seen = []
    real = monitoring.LINE_RULES[0]
    monkeypatch.setattr(monitoring, "LINE_RULES", (lambda *a: seen.append(gc.isenabled()) or real(*a),))
    assert gc.isenabled()
    run_rules(lines_frame({}), received_frame())
    assert seen == [False] and gc.isenabled()  # paused during the rules, back on after
    gc.disable()
    try:
        run_rules(lines_frame({}), received_frame())
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_non_winning_choice_with_ids_beyond_32_bits():
    """Ids are database keys and may be large: a non-winning choice is found (not refused) with ids past 2**31."""
    big = 2**33 + 5
    received = received_frame(
        {"hospital_id": big, "product_id": big, "received_packs": 10.0, "first_received_on": "2025-03-01"}
    )
    lines = lines_frame(
        {"hospital_id": big, "product_id": big + 1, "winning_product_id": big, "prescribed_on": "2025-03-05"}
    )
    found = findings_of(lines, mr.NON_WINNING_CHOSEN, received=received)
    assert list(found.index) == [f"hospital:{big}/product:{big + 1}"]
    assert found.iloc[0]["line_ids"] == [1] and found.iloc[0]["details"]["winning_product_id"] == big


def test_over_limit_block_by_block_matches_a_plain_comparison(monkeypatch):
    """The days-supply comparison runs block by block: with blocks of a few lines (so a frame spans many), lines
    over their setting's limit are those a plain per-line comparison finds; NaN days, missing settings and settings
    without a limit are never over."""
    import numpy as np
    import pandas as pd

    from procurement.audit import monitoring_lines as ml

    monkeypatch.setattr(ml, "BLOCK", 7)
    rng = np.random.default_rng(3)
    categories = ["outpatient", "emergency", "inpatient", "other"]
    for n in (0, 1, 7, 8, 50, 301):
        codes = rng.integers(-1, len(categories), n)
        days = rng.integers(0, 12, n).astype(float)
        days[rng.random(n) < 0.1] = np.nan
        lines = pd.DataFrame({"setting": pd.Categorical.from_codes(codes, categories=categories), "days_supply": days})
        for limits in ({}, {"outpatient": 7, "emergency": 3}, {"outpatient": 3, "emergency": 3, "other": 9}):
            limit = np.array([limits.get(c, np.nan) for c in categories] + [np.nan])[codes]
            with np.errstate(invalid="ignore"):
                expected = np.flatnonzero(days > limit)
            assert ml._over_limit(lines, limits).tolist() == expected.tolist()


def test_cut_into_evidence_lists():
    import numpy as np

    from procurement.audit.monitoring_lines import _cut

    assert _cut(np.arange(10), np.array([1, 3, 0, 1, 5])) == [[0], [1, 2, 3], [], [4], [5, 6, 7, 8, 9]]
    assert _cut(np.arange(3), np.array([1, 1, 1])) == [[0], [1], [2]]
    assert _cut(np.arange(0), np.array([0, 0])) == [[], []]
    assert _cut(np.arange(0), np.array([], dtype=np.int64)) == []


def test_quantity_evidence_capped_per_prescription():
    """Evidence is capped per prescription even when the prescriptions' lines in all fit the cap many times over:
    one prescription of five lines over the limit with a cap of three next to many single-line prescriptions."""
    import numpy as np
    import pandas as pd

    from procurement.audit import monitoring_lines as ml

    lines = pd.DataFrame(
        {
            "line_id": np.arange(1, 11),
            "prescription_id": [1, 1, 1, 1, 1, 2, 3, 4, 5, 6],
            "prescribed_on": pd.to_datetime(["2025-03-01"] * 10),
            "hospital_id": 1,
            "physician_id": 2,
            "department": pd.Categorical(["a"] * 10),
        }
    )
    rows = np.arange(10)
    table, _, _ = ml._per_prescription(lines, rows, ml._evidence_order(lines, rows), 3)
    assert table["line_ids"].tolist() == [[1, 2, 3], [6], [7], [8], [9], [10]]
    assert table["line_count"].tolist() == [5, 1, 1, 1, 1, 1]
