"""Small hand-built prescription frames for the monitoring tests: one dict per line, defaults for the rest."""

from __future__ import annotations

from typing import Any

import pandas as pd

from procurement.audit.rx_frame import LINE_COLUMNS, RECEIVED_COLUMNS, conform, empty_received

DEFAULT_LINE: dict[str, Any] = {
    "hospital_id": 1,
    "department": "internal",
    "physician_id": 100,
    "patient_key": "p1",
    "prescribed_on": "2025-03-10",
    "setting": "outpatient",
    "product_id": 500,
    "generic_name": "amlodipine",
    "drug_class": "",
    "quantity": 1.0,
    "days_supply": 5.0,
    "amount": 10.0,
    "chronic": False,
    "reason_recorded": False,
    "abnormal": False,
    "abnormal_justified": False,
    "trace_code": None,
    "winning_product_id": None,
    "consumable": False,
    "case_id": None,
}


def lines_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    """Build a LINE_COLUMNS frame; ``line_id`` defaults to 1, 2, … and ``prescription_id`` to the line id."""
    records = []
    for number, row in enumerate(rows, start=1):
        record = {**DEFAULT_LINE, "line_id": number, "prescription_id": number, **row}
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=list(LINE_COLUMNS))
    frame["prescribed_on"] = pd.to_datetime(frame["prescribed_on"], format="ISO8601")
    return conform(frame, LINE_COLUMNS)


def received_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    """Build a RECEIVED_COLUMNS frame from dicts (hospital_id, product_id, received_packs, first_received_on)."""
    if not rows:
        return empty_received()
    frame = pd.DataFrame.from_records(list(rows), columns=list(RECEIVED_COLUMNS))
    frame["first_received_on"] = pd.to_datetime(frame["first_received_on"], format="ISO8601")
    return conform(frame, RECEIVED_COLUMNS)
