"""Small hand-built prescription frames for the monitoring tests: one dict per line, defaults for the rest.

Rows may name patients, trace codes and cases by string (``patient_key``, ``trace_code``, ``case_id``): the builder
numbers each string as the database would intern it, and :func:`labels` gives the strings back for the findings.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from procurement.audit.rx_frame import LINE_COLUMNS, RECEIVED_COLUMNS, MappedLabels, conform, empty_received

DEFAULT_LINE: dict[str, Any] = {
    "hospital_id": 1,
    "department": "internal",
    "physician_id": 100,
    "patient_id": 1,
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
    "trace_code_id": None,
    "winning_product_id": None,
    "consumable": False,
    "case_id": None,
}


_INTERNED: dict[str, dict[str, int]] = {"patient_key": {"p1": 1}, "trace_code": {}, "case_id": {}}


def _interned(kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    numbers = _INTERNED[kind]
    return numbers.setdefault(value, len(numbers) + 1)


def labels() -> MappedLabels:
    """The trace codes and case numbers behind the ids the builder gave out."""
    return MappedLabels(
        trace_codes={n: code for code, n in _INTERNED["trace_code"].items()},
        cases={n: case for case, n in _INTERNED["case_id"].items()},
    )


def lines_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    """Build a LINE_COLUMNS frame; ``line_id`` defaults to 1, 2, … and ``prescription_id`` to the line id."""
    records = []
    for number, row in enumerate(rows, start=1):
        record = {**DEFAULT_LINE, "line_id": number, "prescription_id": number, **row}
        if "patient_key" in record:
            record["patient_id"] = _interned("patient_key", record.pop("patient_key"))
        if "trace_code" in record:
            record["trace_code_id"] = _interned("trace_code", record.pop("trace_code"))
        record["case_id"] = _interned("case_id", record["case_id"])
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
