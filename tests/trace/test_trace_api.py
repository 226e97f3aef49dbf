"""The trace and ledger HTTP API: capture bodies, retries, signatures, verification, item history, proofs."""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.models import User
from tests.trace.conftest import cn20
from trace import capture, merkle
from trace.canonical import canonical_bytes
from trace.models import CaptureBatch, TraceEvent
from trace.signing import public_raw


def count_events(db) -> int:
    return db.exec(sa.select(sa.func.count()).select_from(TraceEvent)).one()[0]


def batch(db, client_batch_id: str) -> CaptureBatch:
    return db.exec(sa.select(CaptureBatch).where(CaptureBatch.client_batch_id == client_batch_id)).scalars().one()


@pytest.fixture
def http(api, chain):
    def as_org(name: str):
        user = chain.db.get(User, chain.actors[name].user_id)
        return api(user)

    return as_org


def post_batch(client, batch_id: str, *events: dict, **extra):
    return client.post("/api/v1/trace/events", json={"batch_id": batch_id, "events": list(events), **extra})


def test_capture_answers_with_ledger_positions_and_replays_retries(http, chain, db):
    code = cn20(chain.pack.product_id)
    maker = http("maker")
    first = post_batch(maker, "erp-1", {"type": "commission", "code": code})
    assert first.status_code == 201, first.json
    assert first.json["accepted"] and first.json["ledger"] == {"first_index": 0, "last_index": 0, "tree_size": 1}
    again = post_batch(maker, "erp-1", {"type": "commission", "code": code})
    assert again.status_code == 201 and again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert count_events(db) == 1
    clash = post_batch(maker, "erp-1", {"type": "commission", "code": cn20(chain.pack.product_id)})
    assert clash.status_code == 409 and clash.json["code"] == "batch_id_reused"


def test_a_refused_batch_names_every_bad_event_and_keeps_nothing(http, chain, db):
    good, bad = cn20(chain.pack.product_id), "8" * 19
    response = post_batch(
        http("maker"), "erp-2", {"type": "commission", "code": good}, {"type": "commission", "code": bad}
    )
    assert response.status_code == 422
    body = response.json
    assert body["code"] == "batch_rejected" and set(body["errors"]["json"]["events"]) == {"1"}
    assert (
        "20 digits" in body["errors"]["json"]["events"]["1"][0] or "length" in body["errors"]["json"]["events"]["1"][0]
    )
    assert count_events(db) == 0
    assert batch(db, "erp-2").accepted is False


def test_shape_errors_are_422_per_field(http):
    response = post_batch(
        http("maker"),
        "erp-3",
        {"type": "ship", "code": "x"},
        {"type": "teleport", "code": "y"},
        {"type": "dispense", "code": "z", "quantity": 2.5},
    )
    assert response.status_code == 422
    events = response.json["errors"]["json"]["events"]
    assert "to_org_id" in events["0"] and "type" in events["1"] and "quantity" in events["2"]


def test_signed_batches_are_verified_and_kept(http, chain, db):
    key = Ed25519PrivateKey.generate()
    maker = http("maker")
    registered = maker.post("/api/v1/trace/keys", json={"public_key": public_raw(key.public_key()).hex()})
    assert registered.status_code == 201
    body = {"batch_id": "signed-1", "events": [{"type": "commission", "code": cn20(chain.pack.product_id)}]}
    digest = hashlib.sha256(canonical_bytes(body)).hexdigest()  # the request's canonical JSON without its signature
    signature = key.sign(b"yaolian/trace-batch/v1\n" + digest.encode()).hex()
    response = maker.post("/api/v1/trace/events", json={**body, "signature": signature})
    assert response.status_code == 201 and response.json["signed"] is True
    stored = batch(db, "signed-1")
    assert stored.signature == signature and stored.request_sha256 == digest
    assert capture.signature_holds(db, stored) is True  # checkable again later from what is kept
    stored.request_sha256 = "0" * 64  # what the proof covers, altered in the database
    assert capture.signature_holds(db, stored) is False
    db.expire(stored)
    whole_body = key.sign(canonical_bytes({**body, "batch_id": "signed-3"})).hex()  # the body itself: not the scheme
    response = maker.post("/api/v1/trace/events", json={**body, "batch_id": "signed-3", "signature": whole_body})
    assert response.status_code == 422 and response.json["code"] == "bad_signature"
    forged = {"batch_id": "signed-2", "events": body["events"]}
    response = maker.post("/api/v1/trace/events", json={**forged, "signature": signature})
    assert response.status_code == 422 and response.json["code"] == "bad_signature"


def test_verify_gives_a_verdict_without_changing_anything(http, chain, db):
    code = chain.delivered(cn20(chain.pack.product_id))
    hospital = http("hospital")
    ok = hospital.post("/api/v1/trace/verify", json={"code": code, "action": "dispense"})
    assert ok.status_code == 200 and ok.json["verdict"] == "ok"
    assert hospital.post("/api/v1/trace/verify", json={"code": code, "action": "dispense"}).json["verdict"] == "ok"
    post_batch(hospital, "his-1", {"type": "dispense", "code": code})
    again = hospital.post("/api/v1/trace/verify", json={"code": code, "action": "dispense"}).json
    assert again["verdict"] == "refuse" and again["alert_codes"] == ["TRACE-R1-DUPLICATE-SALE"]
    unknown = hospital.post("/api/v1/trace/verify", json={"code": cn20(chain.pack.product_id), "action": "dispense"})
    assert unknown.json["code"] == "unknown_code"


def test_item_history_is_for_parties_that_held_it_and_auditors(http, chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    view = http("hospital").get(f"/api/v1/trace/items/{code}")
    assert view.status_code == 200
    assert [e["type"] for e in view.json["events"]] == ["commission", "ship", "receive", "ship", "receive"]
    assert view.json["custodian"]["id"] == chain.hospital.id and view.json["pack_size"] == 28
    assert http("auditor").get(f"/api/v1/trace/items/{code}").status_code == 200
    assert http("other_hospital").get(f"/api/v1/trace/items/{code}").status_code == 404
    assert http("hospital").get("/api/v1/trace/items/12345").status_code == 422


def test_ledger_endpoints_let_anyone_check_inclusion_against_a_signed_head(http, chain):
    for _ in range(5):
        chain.delivered(cn20(chain.pack.product_id))
    auditor = http("auditor")
    assert http("hospital").get("/api/v1/ledger/checkpoints/latest").status_code == 404
    head = auditor.post("/api/v1/ledger/checkpoints")
    assert head.status_code == 201 and head.json["tree_size"] == 25
    latest = http("hospital").get("/api/v1/ledger/checkpoints/latest").json
    assert latest == head.json
    entries = auditor.get("/api/v1/ledger/entries?start=0&end=25").json
    assert len(entries) == 25
    proof = http("hospital").get("/api/v1/ledger/proofs/inclusion?index=7&tree_size=25").json
    assert merkle.verify_inclusion(
        entries[7]["entry"].encode(), 7, 25, [bytes.fromhex(p) for p in proof["proof"]], bytes.fromhex(latest["root"])
    )
    key = http("hospital").get("/api/v1/ledger/public-key").json
    assert key["algorithm"] == "Ed25519" and "BEGIN PUBLIC KEY" in key["pem"]
    assert http("hospital").get("/api/v1/ledger/proofs/inclusion?index=25&tree_size=25").status_code == 422
    assert http("hospital").get("/api/v1/ledger/entries?start=0&end=5").status_code == 403
    body = json.loads(entries[0]["entry"])
    assert body["idx"] == 0 and body["type"] == "commission"
