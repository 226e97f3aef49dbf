"""Check one pack's history against the newest signed checkpoint: the verified / not verified badge."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session

from trace import ledger, merkle
from trace.models import Checkpoint, LedgerEntry
from trace.signing import key_id, verify


@dataclass
class ItemVerification:
    item_key: str
    checkpoint_size: int | None
    verified_entries: int = 0
    pending_entries: int = 0  # appended after the newest checkpoint
    problems: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.checkpoint_size is not None and not self.problems and self.verified_entries > 0


def verify_item(session: Session, *, item_key: str, public_key: Ed25519PublicKey) -> ItemVerification:
    """Prove each of the pack's entries is in the newest signed tree and that they form an unbroken chain."""
    checkpoint = session.exec(sa.select(Checkpoint).order_by(Checkpoint.tree_size.desc())).scalars().first()
    result = ItemVerification(item_key, checkpoint.tree_size if checkpoint else None)
    rows = session.exec(sa.select(LedgerEntry).where(LedgerEntry.item_key == item_key).order_by(LedgerEntry.idx))
    entries = list(rows.scalars())
    if checkpoint is None:
        result.pending_entries = len(entries)
        result.problems.append("no checkpoint has been signed yet")
        return result
    root = bytes(checkpoint.root)
    message = ledger.checkpoint_message(checkpoint.tree_size, root, checkpoint.signed_at)
    if checkpoint.key_id != key_id(public_key) or not verify(public_key, bytes(checkpoint.signature), message):
        result.problems.append(f"checkpoint {checkpoint.tree_size}: signature does not verify")
        return result
    tree = ledger.tree(session)
    previous: bytes | None = None
    for entry in entries:
        data = bytes(entry.entry)
        try:
            body = json.loads(data)
        except ValueError:  # not UTF-8 or not JSON: the stored bytes were tampered with
            body = {}
        if not isinstance(body, dict):
            body = {}
        if body.get("prev") != (previous.hex() if previous else None) or body.get("idx") != entry.idx:
            result.problems.append(f"entry {entry.idx}: chain link or position does not match")
        previous = merkle.leaf_hash(data)
        if entry.idx >= checkpoint.tree_size:
            result.pending_entries += 1
            continue
        proof = tree.inclusion_proof(entry.idx, checkpoint.tree_size)
        if merkle.verify_inclusion(data, entry.idx, checkpoint.tree_size, proof, root):
            result.verified_entries += 1
        else:
            result.problems.append(f"entry {entry.idx}: not included in the signed tree (altered?)")
    return result
