"""The reconciliation demo (part of the demo load) plants its three chains and the run finds each of them."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import core.accounts
from core.db import utcnow
from procurement.audit.reconciliation_models import ReconciliationViolation, RemoteArea
from scripts.demo_data import load_demo


def test_the_planted_chains_are_found(db, monkeypatch):
    monkeypatch.setattr(core.accounts, "hash_password", functools.cache(core.accounts.hash_password))
    now = utcnow()
    summary = load_demo(db, signing_key=Ed25519PrivateKey.generate(), pseudonym_key=b"k" * 32, scale=0.05, now=now)
    codes = {v.code for v in db.exec(sa.select(ReconciliationViolation)).scalars()}
    assert {"RECON-CHAIN-TOO-LONG", "RECON-FIRST-SELLER-NOT-MANUFACTURER", "RECON-BATCH-MISMATCH"} <= codes
    assert "to pay" in summary and "RECON-CHAIN-TOO-LONG" in summary
    assert db.exec(sa.select(RemoteArea.region_prefix)).scalars().all() == ["350825"]
