"""The ledger: signed checkpoints, proofs from stored hashes, export, and the stand-alone verifier's tamper checks."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.db import utcnow
from tests.trace.conftest import cn20
from trace import ledger, merkle
from trace.canonical import canonical_bytes
from trace.models import EventType
from trace.transitions import EventIn
from trace.verify import verify_export

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def filled(chain, key):
    """Twelve entries over three packs, with checkpoints at 5 and 12."""
    codes = [cn20(chain.pack.product_id) for _ in range(3)]
    chain.ok("maker", *[EventIn(EventType.COMMISSION, c) for c in codes])
    chain.ok("maker", EventIn(EventType.SHIP, codes[0], to_org_id=chain.distributor.id))
    chain.ok("maker", EventIn(EventType.SHIP, codes[1], to_org_id=chain.distributor.id))
    first = ledger.sign_checkpoint(chain.db, key=key, now=utcnow())
    chain.ok("distributor", EventIn(EventType.RECEIVE, codes[0]), EventIn(EventType.RECEIVE, codes[1]))
    chain.ok("distributor", *[EventIn(EventType.SHIP, c, to_org_id=chain.hospital.id) for c in codes[:2]])
    chain.ok("hospital", *[EventIn(EventType.RECEIVE, c) for c in codes[:2]])
    chain.ok("hospital", EventIn(EventType.DISPENSE, codes[0]))
    second = ledger.sign_checkpoint(chain.db, key=key, now=utcnow())
    assert (first.tree_size, second.tree_size) == (5, 12)
    return chain, first, second


def test_checkpoints_are_signed_tree_heads(filled, key):
    chain, first, second = filled
    message = ledger.checkpoint_message(second.tree_size, second.root, second.signed_at)
    key.public_key().verify(second.signature, message)
    assert ledger.sign_checkpoint(chain.db, key=key, now=utcnow()) is second  # same size: not re-signed
    entries = [bytes(e.entry) for e in ledger.entries(chain.db, start=0, end=12)]
    assert second.root == merkle.root(entries) and first.root == merkle.root(entries[:5])


def test_proofs_from_stored_hashes_verify(filled):
    chain, first, second = filled
    entries = ledger.entries(chain.db, start=0, end=12)
    for e in entries:
        proof = ledger.inclusion_proof(chain.db, index=e.idx, tree_size=12)
        assert merkle.verify_inclusion(bytes(e.entry), e.idx, 12, proof, second.root)
    proof = ledger.consistency_proof(chain.db, first=5, second=12)
    assert merkle.verify_consistency(5, 12, first.root, second.root, proof)


def test_entries_chain_each_item_and_hold_their_position(filled):
    chain, _, _ = filled
    by_item: dict[str, str | None] = {}
    for e in ledger.entries(chain.db, start=0, end=12):
        body = json.loads(bytes(e.entry))
        assert body["idx"] == e.idx and body["v"] == ledger.ENTRY_VERSION == 2
        assert body["prev"] == by_item.get(body["item"])
        by_item[body["item"]] = bytes(e.leaf_hash).hex()
        assert body["org"] and "patient" not in json.dumps(body)


def test_entries_attest_lot_expiry_case_and_the_sale_an_undo_reverses(chain, key, tmp_path):
    """What a pack's history shows is in its ledger entries, and the verifier reads those lines on its fast path."""
    from tests.trace.conftest import gs1
    from trace.verify import _CANONICAL

    case, pack = cn20(chain.case.product_id), gs1(chain.gs1_pack.gtin, expiry="270200", batch="L77")
    chain.ok("maker", EventIn(EventType.COMMISSION, case), EventIn(EventType.COMMISSION, pack),
             EventIn(EventType.AGGREGATE, case, children=(pack,)), EventIn(EventType.DISAGGREGATE, case))  # fmt: skip
    sold = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", EventIn(EventType.DISPENSE, sold))
    chain.ok("hospital", EventIn(EventType.UNDO, sold))
    bodies = [json.loads(bytes(e.entry)) for e in ledger.entries(chain.db, start=0, end=ledger.size(chain.db))]
    commission = next(b for b in bodies if b["type"] == "commission" and b["item"].startswith("gs1:"))
    assert (commission["lot"], commission["exp"]) == ("L77", "2027-02-28")
    packed = [b for b in bodies if b["type"] in ("aggregate", "disaggregate") and b["item"].startswith("gs1:")]
    assert [b["parent"] for b in packed] == [bodies[0]["item"]] * 2
    sale = next(b for b in bodies if b["type"] == "dispense")
    assert next(b for b in bodies if b["type"] == "undo")["undoes"] == sale["idx"]
    ledger.export(chain.db, tmp_path / "export", key=key)
    lines = (tmp_path / "export" / "entries.jsonl").read_bytes().splitlines(keepends=True)
    assert all(_CANONICAL.fullmatch(line) for line in lines)  # every line, new fields included, on the fast path
    assert verify_export(tmp_path / "export").ok


def test_bad_ranges_are_refused(filled):
    chain, _, _ = filled
    from core.errors import DomainError

    with pytest.raises(DomainError):
        ledger.inclusion_proof(chain.db, index=12, tree_size=12)
    with pytest.raises(DomainError):
        ledger.consistency_proof(chain.db, first=0, second=12)
    with pytest.raises(DomainError):
        ledger.inclusion_proof(chain.db, index=0, tree_size=13)


@pytest.fixture
def exported(filled, key, tmp_path):
    chain, _, _ = filled
    ledger.export(chain.db, tmp_path / "export", key=key)
    return tmp_path / "export"


def test_an_untouched_export_verifies(exported):
    report = verify_export(exported)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints) == (12, 2)


def test_the_cli_verifier_needs_only_the_export(exported, tmp_path):
    alone = tmp_path / "alone"
    shutil.copytree(exported, alone)
    run = subprocess.run([sys.executable, "-m", "trace.verify", str(alone)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and "VERIFIED" in run.stdout


def _lines(folder: Path) -> list[str]:
    return (folder / "entries.jsonl").read_text().splitlines()


def _write(folder: Path, lines: list[str]) -> None:
    (folder / "entries.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("victim", range(12))
def test_altering_any_entry_is_named(exported, victim):
    lines = _lines(exported)
    line = json.loads(lines[victim])
    line["entry"] = line["entry"].replace('"type":"', '"type":"x')
    lines[victim] = json.dumps(line, ensure_ascii=False)
    _write(exported, lines)
    report = verify_export(exported)
    assert not report.ok and report.first_bad_entry == victim


@pytest.mark.parametrize("victim", range(12))
def test_altering_an_entry_and_its_recorded_hash_is_caught_by_the_signed_roots(exported, victim):
    lines = _lines(exported)
    line = json.loads(lines[victim])
    line["entry"] = line["entry"].replace('"type":"', '"type":"x')
    line["leaf_hash"] = merkle.leaf_hash(line["entry"].encode()).hex()
    lines[victim] = json.dumps(line, ensure_ascii=False)
    _write(exported, lines)
    report = verify_export(exported)
    assert not report.ok
    assert any("differs from the signed root" in p or "chain" in p for p in report.problems)


@pytest.mark.parametrize("victim", range(12))
def test_deleting_any_entry_is_named(exported, victim):
    lines = _lines(exported)
    del lines[victim]
    _write(exported, lines)
    report = verify_export(exported)
    assert not report.ok and report.first_bad_entry == victim


@pytest.mark.parametrize("victim", range(11))
def test_reordering_any_two_neighbours_is_named(exported, victim):
    lines = _lines(exported)
    lines[victim], lines[victim + 1] = lines[victim + 1], lines[victim]
    _write(exported, lines)
    report = verify_export(exported)
    assert not report.ok and report.first_bad_entry == victim


def test_inserting_an_entry_is_named(exported):
    lines = _lines(exported)
    lines.insert(4, lines[2])
    _write(exported, lines)
    report = verify_export(exported)
    assert not report.ok and report.first_bad_entry == 4


def test_a_forged_checkpoint_signature_is_caught(exported):
    checkpoints = json.loads((exported / "checkpoints.json").read_text())
    checkpoints[0]["root"] = "00" * 32
    (exported / "checkpoints.json").write_text(json.dumps(checkpoints))
    report = verify_export(exported)
    assert not report.ok and any("signature" in p for p in report.problems)


def _forged_tail(folder: Path) -> None:
    """Append a well-formed entry no checkpoint covers: a fake destruction of the first pack."""
    lines = _lines(folder)
    last = json.loads(lines[-1])
    body = json.loads(last["entry"])
    entry = {**body, "idx": len(lines), "type": "destroy", "prev": last["leaf_hash"]}
    text = canonical_bytes(entry).decode()
    lines.append(json.dumps({"idx": len(lines), "leaf_hash": merkle.leaf_hash(text.encode()).hex(), "entry": text}))
    _write(folder, lines)


def test_entries_no_checkpoint_covers_do_not_verify(exported):
    _forged_tail(exported)
    report = verify_export(exported)
    assert not report.ok and report.first_bad_entry == 12
    assert any("not covered by any signed checkpoint" in p for p in report.problems)


def test_an_export_cut_back_to_an_earlier_checkpoint_is_caught_only_with_a_root_from_elsewhere(exported):
    """Rewriting entry 7 and dropping checkpoint 12 leaves an export whose only checkpoint (5) still verifies:
    nothing in it can tell. The entries after 5 are unattested, and a root obtained elsewhere exposes the rewrite."""
    lines = _lines(exported)
    line = json.loads(lines[7])
    line["entry"] = line["entry"].replace('"type":"', '"type":"x')
    line["leaf_hash"] = merkle.leaf_hash(line["entry"].encode()).hex()
    lines[7] = json.dumps(line, ensure_ascii=False)
    _write(exported, lines)
    checkpoints = json.loads((exported / "checkpoints.json").read_text())
    published = next(c for c in checkpoints if c["tree_size"] == 12)
    (exported / "checkpoints.json").write_text(json.dumps([c for c in checkpoints if c["tree_size"] == 5]))
    report = verify_export(exported)
    assert not report.ok and any("not covered" in p for p in report.problems)
    report = verify_export(exported, expect=(12, published["root"]))
    assert any("differs from the root given" in p for p in report.problems)


def test_an_export_without_checkpoints_attests_nothing(exported):
    (exported / "checkpoints.json").write_text("[]")
    report = verify_export(exported)
    assert not report.ok and any("no signed checkpoint" in p for p in report.problems)


def test_a_key_obtained_elsewhere_must_be_the_exports(exported, tmp_path):
    from trace.signing import public_pem

    own = (exported / "public-key.pem").read_bytes()
    assert verify_export(exported, public_key_pem=own).ok
    other = public_pem(Ed25519PrivateKey.generate().public_key()).encode()
    report = verify_export(exported, public_key_pem=other)
    assert not report.ok and any("not the platform key given" in p for p in report.problems)
    (tmp_path / "platform.pem").write_bytes(other)
    run = subprocess.run([sys.executable, "-m", "trace.verify", str(exported), "--public-key",
                          str(tmp_path / "platform.pem")], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 1 and "NOT VERIFIED" in run.stdout


def test_a_line_whose_item_is_not_a_text_is_named_not_a_crash(exported):
    lines = _lines(exported)
    line = json.loads(lines[3])
    line["entry"] = line["entry"].replace('"item":"', '"item":["', 1).replace('","org"', '"],"org"', 1)
    lines[3] = json.dumps(line, ensure_ascii=False)
    _write(exported, lines)
    report = verify_export(exported)
    assert not report.ok and report.first_bad_entry == 3 and "entry 3: unreadable line" in report.problems


def test_export_signs_a_checkpoint_covering_every_entry(filled, key, tmp_path):
    chain, _, _ = filled
    chain.ok("maker", EventIn(EventType.COMMISSION, cn20(chain.pack.product_id)))
    counts = ledger.export(chain.db, tmp_path / "later", key=key)
    assert counts["entries"] == 13 and counts["signed"] == 13 and counts["checkpoints"] == 3
    assert verify_export(tmp_path / "later").ok
    again = ledger.export(chain.db, tmp_path / "again", key=key)
    assert again["signed"] is None and again["checkpoints"] == 3  # nothing new: no new checkpoint


def test_an_items_history_is_proven_against_the_signed_head(filled, key):
    from trace.item_proof import verify_item
    from trace.models import LedgerEntry

    chain, _, _ = filled
    first_entry = chain.db.get(LedgerEntry, 0)
    item_key = first_entry.item_key
    result = verify_item(chain.db, item_key=item_key, public_key=key.public_key())
    assert result.verified and result.verified_entries == 6 and result.problems == []  # commission … dispense
    first_entry.entry = bytes(first_entry.entry).replace(b'"type":"commission"', b'"type":"commissiox"')
    chain.db.flush()
    tampered = verify_item(chain.db, item_key=item_key, public_key=key.public_key())
    assert not tampered.verified and "entry 0" in tampered.problems[0]
    other = verify_item(chain.db, item_key=item_key, public_key=Ed25519PrivateKey.generate().public_key())
    assert not other.verified and "signature" in other.problems[0]


def test_unreadable_entry_bytes_make_the_badge_fail_not_crash(filled, key):
    from trace.item_proof import verify_item
    from trace.models import LedgerEntry

    chain, _, _ = filled
    entry = chain.db.get(LedgerEntry, 0)
    entry.entry = b"\xff\xfe not json"
    chain.db.flush()
    result = verify_item(chain.db, item_key=entry.item_key, public_key=key.public_key())
    assert not result.verified and any("entry 0" in p for p in result.problems)


def test_the_badge_covers_the_events_shown_and_the_packs_newest_link(filled, key):
    """A stored event altered after the fact (another organisation, another time) no longer matches its entry; an
    entry moved to another pack's key leaves the pack's newest link pointing past what its page can see."""
    import sqlalchemy as sa

    from trace.item_proof import verify_item
    from trace.models import Item, LedgerEntry, TraceEvent

    chain, _, _ = filled
    item_key = chain.db.get(LedgerEntry, 0).item_key
    pack = chain.db.exec(sa.select(Item).where(Item.code_key == item_key)).scalar_one()
    events = chain.db.exec(sa.select(TraceEvent).where(TraceEvent.item_id == pack.id).order_by(TraceEvent.id))
    events = list(events.scalars())

    def check():
        return verify_item(chain.db, item_key=item_key, public_key=key.public_key(), events=events,
                           last_leaf_hash=pack.last_leaf_hash)  # fmt: skip

    assert check().verified
    received = next(e for e in events if e.type == "receive")
    received.org_id, received.at = chain.other_hospital.id, received.at - dt.timedelta(days=3)
    result = check()
    assert not result.verified
    assert any(
        f"entry {received.ledger_index}: the event shown differs" in p and "org, at" in p for p in result.problems
    )
    chain.db.refresh(received)
    last = chain.db.exec(sa.select(LedgerEntry).where(LedgerEntry.item_key == item_key)
                         .order_by(LedgerEntry.idx.desc())).scalars().first()  # fmt: skip
    last.item_key = "cn20:somewhere-else"
    chain.db.flush()
    result = verify_item(chain.db, item_key=item_key, public_key=key.public_key(), last_leaf_hash=pack.last_leaf_hash)
    assert not result.verified and any("newest entry is not its last one" in p for p in result.problems)
    last.item_key = item_key
    other_pack = chain.db.exec(sa.select(LedgerEntry).where(LedgerEntry.item_key != item_key)).scalars().first()
    other_pack.item_key = item_key  # another pack's entry listed under this one
    chain.db.flush()
    assert any("names another pack" in p for p in check().problems)
