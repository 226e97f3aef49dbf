"""Prescription lines named by an alert's evidence, for the auditor (any hospital) or the prescribing hospital."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.roles import Role
from procurement.audit.prescription_models import Physician, Prescription, PrescriptionLine, RxPatient, RxTraceCode
from procurement.catalogue import Product

MAX_LINES = 200
READERS = (Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.AUDITOR, Role.ADMIN)


def lines_by_ids(session: Session, *, actor: Actor, ids: list[int]) -> list[dict[str, Any]]:
    """Return the lines with these ids that the actor may see (a hospital only its own), in prescription order.

    The patient appears only as the first characters of the keyed pseudonym: enough to see that two lines are
    the same patient, never the identifier.
    """
    actor.require(*READERS)
    wanted = sorted(set(ids))[:MAX_LINES]
    if not wanted:
        return []
    stmt = (
        sa.select(PrescriptionLine, Prescription, Physician.code, Physician.name, Product.generic_name,
                  Product.strength, Product.package_spec, RxPatient.patient_key, RxTraceCode.code)
        .join(Prescription, Prescription.id == PrescriptionLine.prescription_id)
        .join(RxPatient, RxPatient.id == Prescription.patient_id)
        .outerjoin(RxTraceCode, RxTraceCode.id == PrescriptionLine.trace_code_id)
        .join(Physician, Physician.id == Prescription.physician_id)
        .join(Product, Product.id == PrescriptionLine.product_id)
        .where(PrescriptionLine.id.in_(wanted))
        .order_by(Prescription.prescribed_on, Prescription.id, PrescriptionLine.line_no)
    )  # fmt: skip
    if not (actor.is_system or actor.has(Role.AUDITOR, Role.ADMIN)):
        stmt = stmt.where(Prescription.hospital_id == actor.org_id)
    rows = []
    for line, rx, code, name, generic, strength, spec, patient, trace_code in session.exec(stmt).all():
        rows.append(
            {
                "line_id": line.id, "prescription_id": rx.id, "external_no": rx.external_no, "line_no": line.line_no,
                "hospital_id": rx.hospital_id, "prescribed_on": rx.prescribed_on, "setting": rx.setting,
                "department": rx.department, "physician": f"{name} ({code})", "physician_id": rx.physician_id,
                "patient": patient[:8], "chronic": rx.chronic, "product_id": line.product_id,
                "product": f"{generic} {strength} {spec}", "quantity": line.quantity, "days_supply": line.days_supply,
                "amount": line.amount, "drug_class": line.drug_class, "reason_recorded": line.reason_recorded,
                "abnormal": line.abnormal, "abnormal_justified": line.abnormal_justified,
                "trace_code": trace_code, "consumable": line.consumable,
            }
        )  # fmt: skip
    return rows
