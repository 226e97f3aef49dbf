"""Two-invoice reconciliation (两票制, rulebook 4) of a period: goods, invoices and money, the "three flows".

For every shipment touched in the period (a receipt, an invoice or a payment in it), the invoice chain from the
manufacturer to the hospital is matched against the order, the packs the shipment carried by trace code, what the
hospital accepted, and what it paid (4.6–4.7). The matching itself is vectorised (``reconciliation_frames``); this
module loads the frames, stores one pay / hold verdict per second invoice and one row per violation, and raises
each violation's alert once, so a period can be re-run without duplicates.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alert_review import record_finding_change
from core.alerts import Severity, raise_alert_once
from core.audit import record_audit
from core.db import utcnow
from core.errors import invalid
from core.params import ParameterSet
from core.roles import Role
from procurement.audit import reconciliation_rules as r
from procurement.audit.parts import PartSummary, Progress
from procurement.audit.reconciliation_frames import Frames, reconcile_frames
from procurement.audit.reconciliation_load import load_frames
from procurement.audit.reconciliation_models import ReconciliationVerdict, ReconciliationViolation
from procurement.orders.models import OrderLine, Shipment, ShipmentPack

PART = "reconciliation"
MAX_PACK_IDS = 200  # evidence lists at most this many pack ids per finding, with the full count beside them


def run_period(
    session: Session,
    actor: Actor,
    *,
    start: dt.date,
    end: dt.date,
    progress: Progress | None = None,
    rules: ParameterSet = r.RECONCILIATION_RULES,
    now: dt.datetime | None = None,
) -> PartSummary:
    """Reconcile every shipment touched in [start, end); store verdicts and violations, raise alerts once."""
    actor.require(Role.AUDITOR, Role.ADMIN)
    if end <= start:
        raise invalid("end", f"the period ends ({end.isoformat()}) after it starts ({start.isoformat()})")
    r.check_rules(rules)
    now = now or utcnow()
    report = progress or (lambda _done, _total: None)
    summary = PartSummary(PART, start, end)
    report(0, 3)
    frames = load_frames(session, start=start, end=end)
    summary.rows = len(frames.lines) + len(frames.packs) + len(frames.payments)
    if summary.rows == 0:
        summary.notes.append("no receipts, invoices or payments in the period")
        report(3, 3)
        return summary
    report(1, 3)
    as_of = pd.Timestamp(now).tz_convert("UTC").tz_localize(None)
    verdicts, violations = reconcile_frames(frames, rules=rules, as_of=as_of)
    report(2, 3)
    context = _Context(session, actor, frames, rules, start, end, now)
    counts = _store_verdicts(context, verdicts)
    summary.findings = len(violations)
    summary.alerts_raised = _store_violations(context, violations)
    summary.figures = {
        "shipments": int(frames.shipments["shipment_id"].nunique()),
        "second_invoices": int(verdicts["invoice_id"].nunique()) if len(verdicts) else 0,
        "pay": counts["pay"],
        "hold": counts["hold"],
        "by_code": dict(Counter(violations["code"])),
        "rule": {"name": rules.name, "version": rules.version},
    }
    record_audit(
        session,
        actor=actor,
        action="reconciliation.run",
        object_type="audit_period",
        object_id=f"{start.isoformat()}/{end.isoformat()}",
        details={k: summary.figures[k] for k in ("shipments", "second_invoices", "pay", "hold", "by_code")},
    )
    report(3, 3)
    return summary


class _Context:
    def __init__(self, session, actor, frames: Frames, rules, start, end, now) -> None:
        self.session, self.actor, self.frames, self.rules = session, actor, frames, rules
        self.start, self.end, self.now = start, end, now
        self.shipments = frames.shipments.set_index("shipment_id")


def _jsonable(value: Any) -> Any:
    """Return a frame cell as plain JSON: numpy numbers as Python numbers, missing values as None."""
    if isinstance(value, (list, dict, str)):
        return value
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _line_explanation(row: dict) -> dict[str, Any]:
    fen = lambda v: None if v is None else f"{v / 100:.2f}"  # noqa: E731
    return {
        "line_id": row["line_id"],
        "product_id": row["product_id"],
        "batch": row["batch"],
        "quantity": row["quantity"],
        "received": row["received"],
        "matched_quantity": row["matched"],
        "first_invoiced": row["q_first"],
        "order_line_id": None if row["order_line_id"] is None else int(row["order_line_id"]),
        "price": fen(row["price_fen"]),
        "order_price": fen(row["order_price_fen"]),
        "award_price": fen(row["award_price_fen"]),
        "price_check": row["price_check"],
        "batch_check": row["batch_check"],
        "reasons": [code for code in row["reasons"].split(",") if code],
    }


def _store_verdicts(c: _Context, verdicts: pd.DataFrame) -> Counter:
    counts: Counter = Counter(pay=0, hold=0)
    if not len(verdicts):
        return counts
    records = [{k: _jsonable(v) for k, v in row.items()} for row in verdicts.to_dict("records")]
    by_invoice: dict[int, list[dict]] = {}
    for row in records:
        by_invoice.setdefault(row["invoice_id"], []).append(row)
    existing = {
        v.invoice_id: v
        for v in c.session.exec(
            sa.select(ReconciliationVerdict).where(ReconciliationVerdict.invoice_id.in_(list(by_invoice)))
        ).scalars()
    }
    for invoice_id, rows in by_invoice.items():
        lines = [_line_explanation(row) for row in rows]
        reasons = sorted({code for line in lines for code in line["reasons"]})
        shipment = c.shipments.loc[rows[0]["shipment_id"]]
        verdict = existing.get(invoice_id) or ReconciliationVerdict(invoice_id=invoice_id)
        before = (verdict.verdict, list(verdict.reasons or [])) if invoice_id in existing else None
        verdict.shipment_id = int(rows[0]["shipment_id"])
        verdict.hospital_id = int(shipment["hospital_id"])
        verdict.seller_org_id = int(rows[0]["seller_org_id"])
        verdict.verdict = rows[0]["verdict"]
        verdict.reasons, verdict.lines, verdict.rule = reasons, lines, r.describe(c.rules)
        verdict.period_start, verdict.period_end, verdict.computed_at = c.start, c.end, c.now
        c.session.add(verdict)
        counts[verdict.verdict] += 1
        if before is not None and before != (verdict.verdict, reasons):  # a verdict that changes keeps its history
            details = {"from": before[0], "from_reasons": before[1], "to": verdict.verdict, "to_reasons": reasons,
                       "period": [c.start.isoformat(), c.end.isoformat()]}  # fmt: skip
            record_audit(c.session, actor=c.actor, action="reconciliation.verdict_changed", object_type="invoice",
                         object_id=invoice_id, details=details)  # fmt: skip
    c.session.flush()
    return counts


def _dedupe_key(row: dict) -> str:
    parts = [row["code"]]
    for name in ("shipment_id", "product_id", "batch", "invoice_id", "payment_id"):
        if row.get(name) not in (None, ""):
            parts.append(f"{name.removesuffix('_id')}:{row[name]}")
    return "|".join(parts)[:200]


class _Evidence:
    """The rows behind the findings, indexed by shipment once: each finding then reads only its shipment's rows."""

    def __init__(self, c: _Context, shipment_ids: list[int]) -> None:
        f = c.frames
        self.lines = f.lines
        self.lines_of = f.lines.groupby("shipment_id").indices
        self.packs = _packs_of(c, shipment_ids)
        self.packs_of = self.packs.groupby("shipment_id").indices
        self.paid_on = f.payments.groupby("invoice_id")["payment_id"].apply(list).to_dict()
        self.orders = _orders_of(c, shipment_ids)

    def of(self, row: dict) -> dict[str, Any]:
        """Collect the ids behind a finding: invoices and lines, packs and receipts, order lines and payments."""
        evidence: dict[str, Any] = {"detail": row["detail"], "shipment_id": row["shipment_id"]}
        shipment = row["shipment_id"]
        if shipment is not None:
            lines = self.lines.iloc[self.lines_of.get(shipment, [])]
            chosen = self.packs.iloc[self.packs_of.get(shipment, [])]
            if row["product_id"] is not None:
                lines = lines[lines["product_id"] == row["product_id"]]
                chosen = chosen[chosen["product_id"] == row["product_id"]]
            if row["batch"]:
                lines = lines[lines["batch"] == row["batch"]]
                chosen = chosen[chosen["batch"] == row["batch"]]
            invoice_ids = sorted(int(i) for i in lines["invoice_id"].unique())
            evidence.update(
                invoice_ids=invoice_ids,
                invoice_line_ids=sorted(int(i) for i in lines["line_id"]),
                shipment_pack_ids=sorted(int(i) for i in chosen["pack_id"])[:MAX_PACK_IDS],
                shipment_pack_count=len(chosen),
                receipt_ids=sorted({int(i) for i in chosen["receipt_id"].dropna()}),
                order_line_ids=sorted({int(i) for i in chosen["order_line_id"]}),
                payment_ids=sorted(int(p) for i in invoice_ids for p in self.paid_on.get(i, [])),
            )
            if shipment in self.orders:
                evidence["order_id"] = self.orders[shipment]  # the order page links the rest
        for name in ("product_id", "batch", "invoice_id", "payment_id"):
            if row[name] not in (None, ""):
                evidence[name] = row[name]
        if row["payment_id"] is not None:
            evidence["payment_ids"] = [row["payment_id"]]
        return evidence


CHUNK = 1000  # ids per IN list, so a long period's queries stay bounded


def _packs_of(c: _Context, shipment_ids: list[int]) -> pd.DataFrame:
    frames = []
    for start in range(0, len(shipment_ids), CHUNK):
        stmt = (
            sa.select(
                ShipmentPack.id.label("pack_id"), ShipmentPack.shipment_id, ShipmentPack.order_line_id,
                OrderLine.product_id, sa.func.coalesce(ShipmentPack.batch, "").label("batch"),
                ShipmentPack.receipt_id,
            )
            .join(OrderLine, OrderLine.id == ShipmentPack.order_line_id)
            .where(ShipmentPack.shipment_id.in_(shipment_ids[start : start + CHUNK]))
        )  # fmt: skip
        frames.append(pd.read_sql(stmt, c.session.connection()))
    columns = ["pack_id", "shipment_id", "order_line_id", "product_id", "batch", "receipt_id"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _orders_of(c: _Context, shipment_ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for start in range(0, len(shipment_ids), CHUNK):
        stmt = sa.select(Shipment.id, Shipment.order_id).where(Shipment.id.in_(shipment_ids[start : start + CHUNK]))
        found.update(dict(c.session.exec(stmt).all()))
    return found


def _resolve_unseen(c: _Context, seen: set[str]) -> None:
    """Mark the earlier findings on this run's shipments that it no longer finds as resolved."""
    v = ReconciliationViolation
    shipment_ids = [int(i) for i in c.frames.shipments["shipment_id"]]
    for start in range(0, len(shipment_ids), CHUNK):
        stmt = sa.select(v).where(v.shipment_id.in_(shipment_ids[start : start + CHUNK]), v.resolved_at.is_(None))
        for stale in c.session.exec(stmt).scalars():
            if stale.dedupe_key not in seen:
                stale.resolved_at = c.now
                c.session.add(stale)
                record_audit(c.session, actor=c.actor, action="reconciliation.violation_resolved",
                             object_type="reconciliation_violation", object_id=stale.id,
                             details={"code": stale.code, "shipment_id": stale.shipment_id})  # fmt: skip
                if stale.alert_id:
                    note = f"No longer found by the reconciliation of {c.start} to {c.end}."
                    record_finding_change(c.session, actor=c.actor, alert_id=stale.alert_id, note=note)


def _store_violations(c: _Context, violations: pd.DataFrame) -> int:
    rows = [{k: _jsonable(v) for k, v in row.items()} for row in violations.to_dict("records")]
    _resolve_unseen(c, {_dedupe_key(row) for row in rows})
    if not rows:
        c.session.flush()
        return 0
    behind = _Evidence(c, sorted({row["shipment_id"] for row in rows if row["shipment_id"] is not None}))
    raised = 0
    for row in rows:
        key = _dedupe_key(row)
        shipment = c.shipments.loc[row["shipment_id"]] if row["shipment_id"] is not None else None
        hospital_id = int(shipment["hospital_id"]) if shipment is not None else row["hospital_id"]
        supplier_id = int(shipment["supplier_id"]) if shipment is not None else None
        subject = hospital_id if row["subject"] == "hospital" else supplier_id
        evidence = behind.of(row)
        severity = Severity(c.rules["severities"][row["code"]])
        title = f"{row['code']}: {row['detail']}"[:300]
        alert, created = raise_alert_once(
            c.session,
            dedupe_key=key,
            actor=c.actor,
            code=row["code"],
            source=r.SOURCE,
            severity=severity,
            title=title,
            object_type=_object_type(row),
            object_id=row["payment_id"] or row["invoice_id"] or row["shipment_id"],
            evidence=evidence,
            rule=r.describe(c.rules),
            subject_org_id=subject,
        )
        raised += int(created)
        stored = c.session.exec(
            sa.select(ReconciliationViolation).where(ReconciliationViolation.dedupe_key == key)
        ).scalars().first()  # fmt: skip
        if stored is None:
            stored = ReconciliationViolation(dedupe_key=key, found_at=c.now, period_start=c.start, period_end=c.end)
        elif stored.resolved_at is not None:  # it had gone and is back: say so on the alert, reopening a closed one
            note = f"Found again by the reconciliation of {c.start} to {c.end}."
            record_finding_change(c.session, actor=c.actor, alert_id=alert.id, note=note, reopen=True)
        stored.code, stored.severity, stored.title = row["code"], severity.value, title
        stored.shipment_id, stored.hospital_id, stored.supplier_id = row["shipment_id"], hospital_id, supplier_id
        stored.subject_org_id, stored.product_id = subject, row["product_id"]
        stored.batch, stored.invoice_id = row["batch"] or None, row["invoice_id"]
        stored.evidence, stored.rule, stored.alert_id = evidence, r.describe(c.rules), alert.id
        stored.last_seen_at, stored.resolved_at = c.now, None
        c.session.add(stored)
    c.session.flush()
    return raised


def _object_type(row: dict) -> str:
    if row["payment_id"] is not None:
        return "payment"
    return "invoice" if row["invoice_id"] is not None else "shipment"
