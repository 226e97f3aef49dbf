"""The auditor workbench's demo: what each part plants, then one audit run over the demo's period.

Each part's loader plants its findings (a serious credit case, prescriptions with planted anomalies, surplus inputs,
an invoice chain with three invoices, finance reports above the caps); the audit run then computes every part for
the months the demo covers, so the alerts queue, the run page and the dashboard open on real findings.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from core.accounts import actor_for_user
from core.models import User
from procurement.audit import runs
from procurement.orders.models import Receipt
from procurement.orders.supply import china_today
from scripts.demo.audit_circulation import load_demo_circulation
from scripts.demo.audit_credit import load_demo_credit
from scripts.demo.audit_prescriptions import load_demo_prescriptions
from scripts.demo.audit_reconciliation import load_demo_reconciliation
from scripts.demo.audit_surplus import load_demo_surplus
from trace import ledger

AUDITOR = "auditor"


def load_demo_audit(
    session: Session,
    *,
    users: dict[str, User],
    pseudonym_key: bytes,
    signing_key: Ed25519PrivateKey,
    now: dt.datetime,
    scale: float = 1.0,
) -> str:
    """Plant every part's demo findings, then run the audit from the first receipt's month to today.

    The planted deliveries are captured in the trace record, so a checkpoint is signed over them at the end.
    """
    auditor = actor_for_user(session, users[AUDITOR].id)
    parts = [
        load_demo_credit(session, auditor, now=now),
        load_demo_prescriptions(session, auditor, pseudonym_key=pseudonym_key, now=now, scale=scale),
        load_demo_reconciliation(session, auditor, users=users, now=now),
        load_demo_circulation(session, auditor, now=now),
        load_demo_surplus(session, auditor, now=now),
    ]
    today = china_today(now)
    first = session.exec(sa.select(sa.func.min(Receipt.received_at))).one()[0]
    start = (first.date() if first else today).replace(day=1)
    run, _created = runs.request_run(session, actor=auditor, start=start, end=today + dt.timedelta(days=1), now=now)
    runs.execute_run(session, actor=auditor, run=run)
    ledger.sign_checkpoint(session, key=signing_key, now=now)
    raised = sum(entry.get("summary", {}).get("alerts_raised", 0) for entry in run.progress.values())
    return " ".join(parts) + f" Audit run {run.id} ({start} to {today}): {run.status}, {raised} new alerts."
