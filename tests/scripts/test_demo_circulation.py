"""The demo's circulation inputs: a year of finance reports with two planted hospitals, one off-channel delivery."""

from __future__ import annotations

import datetime as dt
import functools

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import core.accounts
from core.accounts import actor_for_user
from core.alerts import Alert
from core.models import Organisation, User
from procurement.audit.circulation import run_period
from procurement.audit.circulation_models import HospitalFinanceReport
from procurement.audit.circulation_rules import OFF_CHANNEL, OUT_OF_CATALOGUE, REVENUE_STRUCTURE
from scripts.demo.audit_circulation import load_demo_circulation
from scripts.demo.world import BAMIN, FZ_CANGSHAN, XM_JIMEI
from scripts.demo_data import load_demo

NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def test_demo_circulation_plants_what_the_workbench_should_find(db, monkeypatch):
    monkeypatch.setattr(core.accounts, "hash_password", functools.cache(core.accounts.hash_password))
    load_demo(db, signing_key=Ed25519PrivateKey.generate(), pseudonym_key=b"k" * 32, scale=0.05, now=NOW)
    auditor = actor_for_user(db, db.exec(sa.select(User.id).where(User.username == "auditor")).scalar_one())
    summary = load_demo_circulation(db, auditor, now=NOW)
    assert summary.startswith("Circulation: 84 monthly finance reports filed")  # 7 hospitals × 12 months
    months = db.exec(sa.select(sa.func.min(HospitalFinanceReport.month), sa.func.max(HospitalFinanceReport.month)))
    assert months.one() == (dt.date(2025, 11, 1), dt.date(2026, 10, 1))
    run_period(db, auditor, start=dt.date(2025, 11, 1), end=dt.date(2026, 12, 1))
    ids = {name: db.exec(sa.select(Organisation.id).where(Organisation.name == name)).scalar_one()
           for name in (FZ_CANGSHAN, XM_JIMEI, BAMIN)}  # fmt: skip

    def subjects(code: str, kind: str | None = None) -> list[int]:
        alerts = db.exec(sa.select(Alert).where(Alert.code == code)).scalars()
        return [a.subject_org_id for a in alerts if kind is None or a.evidence["kind"] == kind]

    assert subjects(OUT_OF_CATALOGUE) == [ids[FZ_CANGSHAN]] * 12
    assert subjects(REVENUE_STRUCTURE) == [ids[XM_JIMEI]] * 12
    planted = [
        a.evidence
        for a in db.exec(sa.select(Alert).where(Alert.code == OFF_CHANNEL)).scalars()
        if a.evidence.get("receiver_org_id") == ids[XM_JIMEI] and a.subject_org_id == ids[BAMIN]
    ]
    assert sorted(e["kind"] for e in planted) == ["no_order", "not_assigned_distributor"]
    assert all(e["packs"] == 3 for e in planted)
