"""Tables of prescription and dispensing records: each hospital's physician registry, prescriptions, their lines,
and the imports that brought them in (rulebook 0.8, 0.9, 0.17, 7).

Patients appear only as ``patient_key``, the keyed HMAC pseudonym of their identifier (``core.pseudonym``): the
clear identifier is never written to any table, report or audit record (0.17). Pseudonyms, dispensed trace codes and
inpatient case numbers are each stored once (``rx_patients``, ``rx_trace_codes``, ``rx_cases``) and referenced by
integer id, so a monitoring run over millions of lines groups and compares integers, never strings. Quantities are
packs and may be a fraction of a pack (拆零), so they are kept exact to four decimals in the same exact type as money.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import Money, UTCDateTime, utcnow
from core.models import JSONType


def _values(enum: type) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)


class Setting(StrEnum):
    """Where the prescription was written: the 7- and 3-day limits of rulebook 7.4 depend on it."""

    OUTPATIENT = "outpatient"  # 门诊
    EMERGENCY = "emergency"  # 急诊
    INPATIENT = "inpatient"  # 住院 (ward orders, 医嘱)


class PrescribingStatus(StrEnum):
    """A physician's prescribing rights (处方权), rulebook 7.2–7.3."""

    ACTIVE = "active"
    RESTRICTED = "restricted"  # warned and limited after ≥ 3 unjustified abnormal prescriptions (7.2)
    REMOVED = "removed"  # 取消处方权 (7.2 second step, 7.3)


class DrugClass(StrEnum):
    """Classes a long prescription may not hold (7.5) or that are monitored (7.8); stored per line as imported."""

    NARCOTIC = "narcotic"  # 麻醉药品
    PSYCHOTROPIC_1 = "psychotropic_1"  # 第一类精神药品
    PSYCHOTROPIC_2 = "psychotropic_2"  # 第二类精神药品
    TOXIC = "toxic"  # 医疗用毒性药品
    RADIOPHARMACEUTICAL = "radiopharmaceutical"  # 放射性药品
    PRECURSOR = "precursor"  # 药品类易制毒化学品
    ANTIMICROBIAL = "antimicrobial"  # 抗菌药物
    SPECIAL_STORAGE = "special_storage"  # 特殊储存要求


class RxImportStatus(StrEnum):
    ACCEPTED = "accepted"  # every row saved
    REJECTED = "rejected"  # nothing saved; the report names every bad row and column


class Physician(SQLModel, table=True):
    """A physician registered by a hospital (医师), with the prescribing rights the hospital records for them."""

    __tablename__ = "physicians"
    __table_args__ = (
        sa.UniqueConstraint("hospital_id", "code"),
        sa.CheckConstraint(f"prescribing_status IN ({_values(PrescribingStatus)})", name="prescribing_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="organisations.id", nullable=False)
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))  # 医师编码 in the hospital's system
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    department: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False))  # 科室
    title: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False))  # 职称, e.g. 主治医师
    prescribing_status: str = Field(
        default=PrescribingStatus.ACTIVE.value, sa_column=sa.Column(sa.String(16), nullable=False)
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class PrescriptionImport(SQLModel, table=True):
    """One upload (file or API rows) and its row-level report, kept whether its rows were saved or refused.

    ``idempotency_key`` (the SHA-256 of the client's header) is set only on accepted imports: a refused import
    stored nothing, so retrying it with the same key must run again.
    """

    __tablename__ = "prescription_imports"
    __table_args__ = (
        sa.UniqueConstraint("hospital_id", "idempotency_key"),
        sa.CheckConstraint(f"status IN ({_values(RxImportStatus)})", name="status"),
        sa.Index("ix_prescription_imports_hospital_id_sha256", "hospital_id", "sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="organisations.id", nullable=False)
    source: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))  # file | api
    filename: str = Field(default="", sa_column=sa.Column(sa.String(255), nullable=False))
    # HMAC-SHA-256 (pseudonym key) of the file or the JSON rows: finds retries, cannot be reversed to a patient.
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    idempotency_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    row_count: int = Field(default=0, nullable=False)
    prescription_count: int = Field(default=0, nullable=False)
    line_count: int = Field(default=0, nullable=False)
    error_count: int = Field(default=0, nullable=False)
    # {"columns": [...], "mapped": {field: header}, "rows": [[row, [cells]]] (bad rows only, patient cells masked),
    #  "errors": [{row, column, field, code, message, value, params}], "omitted": n}
    report: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_by_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The problems found, each with its row (header = 1), column, field, stable code and message."""
        return list(self.report.get("errors", []))


class RxPatient(SQLModel, table=True):
    """A patient as prescriptions know them: the keyed-hash pseudonym only, shared by every hospital's imports."""

    __tablename__ = "rx_patients"

    id: int | None = Field(default=None, primary_key=True)
    patient_key: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))  # HMAC hex only


class RxTraceCode(SQLModel, table=True):
    """A trace code dispensed on a prescription line (``<kind>:<key>``, as ``trace.codes`` makes it canonical)."""

    __tablename__ = "rx_trace_codes"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))


class RxCase(SQLModel, table=True):
    """An inpatient case (住院号 / 病例号) as the hospital's system numbers it."""

    __tablename__ = "rx_cases"
    __table_args__ = (sa.UniqueConstraint("hospital_id", "case_no"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="organisations.id", nullable=False)
    case_no: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))


class Prescription(SQLModel, table=True):
    """One prescription (处方) or ward order as the hospital's system numbered it."""

    __tablename__ = "prescriptions"
    __table_args__ = (
        sa.UniqueConstraint("hospital_id", "external_no"),
        sa.CheckConstraint(f"setting IN ({_values(Setting)})", name="setting"),
        sa.Index("ix_prescriptions_prescribed_on_hospital_id", "prescribed_on", "hospital_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="organisations.id", nullable=False)
    import_id: int = Field(foreign_key="prescription_imports.id", index=True, nullable=False)
    external_no: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))  # 处方号
    physician_id: int = Field(foreign_key="physicians.id", index=True, nullable=False)
    department: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False))
    setting: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    prescribed_on: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    patient_id: int = Field(foreign_key="rx_patients.id", index=True, nullable=False)
    chronic: bool = Field(default=False, nullable=False)  # stable chronic patient (7.5)
    diagnosis_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(32)))  # ICD-10
    case_id: int | None = Field(default=None, foreign_key="rx_cases.id", index=True)  # 住院号 / 病例号


class PrescriptionLine(SQLModel, table=True):
    """One drug or consumable on a prescription, with what prescription review (处方点评) found about it."""

    __tablename__ = "prescription_lines"
    __table_args__ = (
        sa.UniqueConstraint("prescription_id", "line_no"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.CheckConstraint("days_supply IS NULL OR days_supply > 0", name="days_supply_positive"),
        sa.CheckConstraint(f"drug_class = '' OR drug_class IN ({_values(DrugClass)})", name="drug_class"),
    )

    id: int | None = Field(default=None, primary_key=True)
    prescription_id: int = Field(foreign_key="prescriptions.id", index=True, nullable=False)
    line_no: int = Field(nullable=False)
    product_id: int = Field(foreign_key="products.id", index=True, nullable=False)
    quantity: Decimal = Field(sa_column=sa.Column(Money, nullable=False))  # packs, exact to 4 decimals
    days_supply: int | None = Field(default=None)
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    drug_class: str = Field(default="", sa_column=sa.Column(sa.String(32), nullable=False))
    reason_recorded: bool = Field(default=False, nullable=False)  # 7.4: a reason for exceeding the limit
    abnormal: bool = Field(default=False, nullable=False)  # judged 超常 by prescription review (7.7)
    abnormal_justified: bool = Field(default=False, nullable=False)
    trace_code_id: int | None = Field(default=None, foreign_key="rx_trace_codes.id", index=True)
    consumable: bool = Field(default=False, nullable=False)  # the product is a high-value consumable
