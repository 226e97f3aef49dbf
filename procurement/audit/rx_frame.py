"""The frames prescribing monitoring reads: one row per prescription line, and what each hospital received.

Stored prescriptions (``prescriptions``) are loaded into these frames for a period, and the monitoring rules
(``monitoring``) run over the frames only, so the rules are plain vectorised pandas and the benchmark can feed them
synthetic frames of the same shape. Patient identifiers arrive here already pseudonymised (rulebook 0.17).

Patients, trace codes and cases are integer ids (``prescription_models.RxPatient``, ``RxTraceCode``, ``RxCase``): the
rules group and compare them as numbers, and a finding that must name a code or a case asks a :class:`Labels` for the
strings of its few ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import pandas as pd

# One row per prescription line (处方明细). Dtypes are the pandas dtypes the loader produces.
LINE_COLUMNS: dict[str, str] = {
    "line_id": "int64",  # prescription line primary key (evidence for alerts)
    "prescription_id": "int64",
    "hospital_id": "int64",
    "department": "category",  # 科室 code
    "physician_id": "int64",  # registered physician (主治/处方医师)
    "patient_id": "int64",  # the patient's keyed-hash pseudonym, by id; never the clear identifier
    "prescribed_on": "datetime64[ns]",
    "setting": "category",  # outpatient | emergency | inpatient
    "product_id": "int64",
    "generic_name": "category",
    "drug_class": "category",  # "" or an excluded/monitored class: narcotic, psychotropic_1, antimicrobial, …
    "quantity": "float64",  # packs (or split-pack fraction of a pack)
    "days_supply": "float64",  # days the line covers
    "amount": "float64",  # RMB
    "chronic": "bool",  # stable chronic patient (long prescriptions allowed, 7.5)
    "reason_recorded": "bool",  # a reason for exceeding the normal limit is recorded (7.4)
    "abnormal": "bool",  # judged 超常 by prescription review (7.7)
    "abnormal_justified": "bool",
    "trace_code_id": "Int64",  # the pack's trace code dispensed, by id, or <NA>
    "winning_product_id": "Int64",  # the hospital's winning product of this generic name, or <NA>
    "consumable": "bool",  # a high-value consumable line
    "case_id": "Int64",  # inpatient case (病例) for per-case consumable use, by id, or <NA>
}

# What each hospital received of each product (from receipts / trace receive events), for "dispensed above received"
# and "non-winning chosen where the winning one was stocked".
RECEIVED_COLUMNS: dict[str, str] = {
    "hospital_id": "int64",
    "product_id": "int64",
    "received_packs": "float64",
    "first_received_on": "datetime64[ns]",
}


def empty_lines() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in LINE_COLUMNS.items()})


def empty_received() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in RECEIVED_COLUMNS.items()})


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Return ``frame`` with exactly ``columns`` in order and their dtypes; a missing column is an error."""
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns: {', '.join(missing)}")
    return frame[list(columns)].astype(columns)


class Labels(Protocol):
    """The strings behind the ids of a line frame, asked for only the ids a finding names."""

    def trace_codes(self, ids: Iterable[int]) -> dict[int, str]: ...

    def cases(self, ids: Iterable[int]) -> dict[int, str]: ...


class MappedLabels:
    """Labels from in-memory mappings (tests, the benchmark); an id without a string is shown as ``#<id>``."""

    def __init__(self, trace_codes: Mapping[int, str] | None = None, cases: Mapping[int, str] | None = None) -> None:
        self._codes, self._cases = trace_codes or {}, cases or {}

    def trace_codes(self, ids: Iterable[int]) -> dict[int, str]:
        return {int(i): self._codes.get(int(i), f"#{int(i)}") for i in ids}

    def cases(self, ids: Iterable[int]) -> dict[int, str]:
        return {int(i): self._cases.get(int(i), f"#{int(i)}") for i in ids}


NO_LABELS = MappedLabels()
