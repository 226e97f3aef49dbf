"""Loading stored prescriptions and received packs into the monitoring frames: the contract's columns and dtypes,
the period's bounds, the hospital filter, the winning product of each line, and packs received from the trace."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from core.actor import Actor
from procurement.audit import rx_frame
from procurement.audit.physician_registry import register_physicians
from procurement.audit.prescription_models import Physician
from procurement.audit.prescriptions import import_prescriptions
from procurement.audit.rx_keys import StoredLabels
from procurement.audit.rx_loader import load_lines, load_received
from procurement.orders.receiving import receive_shipment
from scripts.demo.audit_prescriptions import load_demo_prescriptions
from tests.procurement.order_world import TODAY, build_order_world
from tests.procurement.rx_world import KEY, product


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _row(no: str, product_id: int, on: str, **extra) -> dict:
    return {
        "prescription_no": no,
        "patient_id": f"P-{no}",
        "physician_code": "D1",
        "setting": "门诊",
        "prescribed_on": on,
        "product_id": product_id,
        "quantity": "1.5",
        "days_supply": 7,
        "amount": "21.00",
        **extra,
    }


def _load_rows(db, hospital, rows):
    register_physicians(
        db,
        actor=hospital,
        hospital_id=hospital.org_id,
        physicians=[{"code": "D1", "name": "医生", "department": "心内科"}],
    )
    record, _ = import_prescriptions(db, actor=hospital, hospital_id=hospital.org_id, pseudonym_key=KEY, rows=rows)
    return record


def test_lines_conform_to_the_frame_and_carry_the_winning_product(db, ow):
    first, second = ow.hospital(0), ow.hospital(1)
    winner = ow.award_of(first).product_id
    loser = next(p.id for p in ow.world.products if p.id != winner)
    _load_rows(
        db,
        first,
        [
            _row("W1", winner, "2026-06-01", trace_code="81234560000000011234", chronic="是"),
            _row("N1", loser, "2026-06-10", drug_class="抗菌药物", abnormal="是"),
            _row("B1", loser, "2026-03-15"),  # before the award's cycle: no winner then
            _row("L1", winner, "2026-07-01"),  # the end of the period is excluded
        ],
    )
    _load_rows(db, second, [_row("S1", loser, "2026-06-05")])
    frame = load_lines(db, start=dt.date(2026, 3, 1), end=dt.date(2026, 7, 1))
    assert list(frame.columns) == list(rx_frame.LINE_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == rx_frame.LINE_COLUMNS
    assert len(frame) == 4
    mine = frame[frame["hospital_id"] == first.org_id]
    mine = mine.set_index(mine["prescribed_on"].dt.strftime("%m-%d"))
    assert mine.loc["06-01", "winning_product_id"] == winner and mine.loc["06-10", "winning_product_id"] == winner
    assert pd.isna(mine.loc["03-15", "winning_product_id"])
    stored = StoredLabels(db)
    code = int(mine.loc["06-01", "trace_code_id"])
    assert stored.trace_codes([code]) == {code: "cn20:81234560000000011234"}
    assert pd.isna(mine.loc["06-10", "trace_code_id"]) and pd.isna(mine.loc["06-01", "case_id"])
    assert bool(mine.loc["06-01", "chronic"]) and not bool(mine.loc["06-10", "chronic"])
    assert (mine.loc["06-10", "drug_class"], mine.loc["06-01", "drug_class"]) == ("antimicrobial", "")
    assert bool(mine.loc["06-10", "abnormal"]) and not bool(mine.loc["06-10", "abnormal_justified"])
    assert (mine.loc["06-01", "quantity"], mine.loc["06-01", "amount"], mine.loc["06-01", "days_supply"]) == (
        1.5,
        21.0,
        7.0,
    )
    assert (mine.loc["06-01", "setting"], mine.loc["06-01", "department"]) == ("outpatient", "心内科")
    patient = int(mine.loc["06-01", "patient_id"])
    assert mine.loc["06-01", "generic_name"] == "阿托伐他汀钙片" and len(stored.patients([patient])[patient]) == 64
    theirs = frame[frame["hospital_id"] == second.org_id]
    assert theirs["winning_product_id"].tolist() == [ow.award_of(second).product_id]
    only_second = load_lines(db, start=dt.date(2026, 3, 1), end=dt.date(2026, 7, 1), hospital_id=second.org_id)
    assert only_second["line_id"].tolist() == theirs["line_id"].tolist()


def test_an_empty_period_gives_empty_frames_of_the_contract(db, ow):
    frame = load_lines(db, start=dt.date(2020, 1, 1), end=dt.date(2020, 2, 1))
    assert frame.empty and {c: str(t) for c, t in frame.dtypes.items()} == rx_frame.LINE_COLUMNS
    received = load_received(db, start=dt.date(2020, 1, 1), end=dt.date(2020, 2, 1))
    assert received.empty and list(received.columns) == list(rx_frame.RECEIVED_COLUMNS)


def test_received_packs_come_from_the_trace_record(db, ow):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 5)
    receive_shipment(db, shipment_id=shipment.id, codes=codes[:4], actor=hospital, now=TODAY)
    frame = load_received(db, start=dt.date(2026, 6, 1), end=dt.date(2026, 7, 1))
    assert {c: str(t) for c, t in frame.dtypes.items()} == rx_frame.RECEIVED_COLUMNS
    award = ow.award_of(hospital)
    assert frame.to_dict("records") == [
        {
            "hospital_id": hospital.org_id,
            "product_id": award.product_id,
            "received_packs": 4.0,
            "first_received_on": pd.Timestamp("2026-06-15"),
        }
    ]
    # Received at 17:00 China time on the 15th: a period ending that day has not received it yet.
    assert load_received(db, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 15)).empty
    assert load_received(
        db, start=dt.date(2026, 6, 1), end=dt.date(2026, 7, 1), hospital_id=ow.hospital(1).org_id
    ).empty


def test_the_demo_imports_records_with_every_planted_anomaly(db, ow):
    hospital = ow.hospital(0)
    _order, shipment, codes = ow.shipped(hospital, 6)
    receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)
    stent = product(
        db,
        ow.world.products[0].manufacturer_id,
        9,
        kind="consumable",
        generic_name="药物洗脱冠脉支架系统",
        dosage_form=None,
        pack_quantity=1,
        unit="套",
        insurance_code=None,
        udi_di="06935101009012",
    )
    summary = load_demo_prescriptions(db, Actor.system("demo"), pseudonym_key=KEY, now=TODAY, days=40)
    assert "one trace code dispensed to two patients" in summary and "non-winning" in summary
    lines = load_lines(db, start=dt.date(2026, 5, 1), end=dt.date(2026, 6, 16), hospital_id=hospital.org_id)
    d009 = db.exec(sa.select(Physician.id).where(Physician.hospital_id == hospital.org_id, Physician.code == "D009"))
    theirs = lines[lines["physician_id"] == d009.scalar_one()]
    assert len(theirs) == 5 and theirs["abnormal"].all() and not theirs["abnormal_justified"].any()
    outpatient = lines[lines["setting"] == "outpatient"]
    assert outpatient.groupby("prescription_id").size().max() == 6
    assert ((outpatient["days_supply"] == 10) & ~outpatient["reason_recorded"]).sum() == 1
    assert (lines["days_supply"] == 112).sum() == 1
    assert ((lines["drug_class"] == "antimicrobial") & (lines["days_supply"] == 30)).sum() == 1
    codes_used = lines.dropna(subset=["trace_code_id"])
    repeated = codes_used[codes_used["trace_code_id"].duplicated(keep=False)]
    assert repeated["patient_id"].nunique() == 2 and len(repeated) == 2
    assert ((lines["product_id"] != lines["winning_product_id"]) & lines["winning_product_id"].notna()).any()
    stored = StoredLabels(db)
    cases = lines[lines["product_id"] == stent.id].groupby("case_id")["quantity"].sum()
    cases.index = cases.index.map(stored.cases(cases.index.astype("int64")))
    assert cases["PCI999"] == 6 and (cases.drop("PCI999") == 1).all()
    patients = stored.patients(lines["patient_id"].unique())
    assert len(patients) == lines["patient_id"].nunique() and all(len(key) == 64 for key in patients.values())
    assert "DUP-A" not in set(patients.values())
