"""Check one pack's history against the newest signed checkpoint: the verified / not verified badge.

The badge covers what the history shows: each stored event a page displays is compared with its ledger entry
(type, organisation, time, destination, quantity, carrying case, and where the entry has them lot, expiry, case and
the sale an undo reverses), each entry must name this pack, and the pack's newest entry must be the one its row links
to, so an entry moved to another pack's key is noticed. Known limit: which entries belong to a pack is read from the
entries' ``item_key`` column, which no signature covers; an entry re-keyed away from a pack whose newest link was
re-pointed as well is beyond what one pack's page can tell (the full export's verifier checks every chain).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session

from core.models import Organisation
from trace import ledger, merkle
from trace.canonical import utc_text
from trace.models import Checkpoint, LedgerEntry, TraceEvent
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


def verify_item(
    session: Session,
    *,
    item_key: str,
    public_key: Ed25519PublicKey,
    events: Sequence[TraceEvent] = (),
    last_leaf_hash: bytes | None = None,
) -> ItemVerification:
    """Prove each of the pack's entries is in the newest signed tree and that they form an unbroken chain; with
    ``events`` (the rows a page shows) and ``last_leaf_hash`` (the pack row's newest link), that they say what the
    entries say."""
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
    shown = {event.ledger_index: event for event in events}
    usccs = _usccs(session, events)
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
        if body.get("item") != item_key:
            result.problems.append(f"entry {entry.idx}: names another pack ({str(body.get('item'))[:40]})")
        if entry.idx in shown:
            differs = _differences(shown[entry.idx], body, usccs)
            if differs:
                result.problems.append(
                    f"entry {entry.idx}: the event shown differs from its entry ({', '.join(differs)})"
                )
        previous = merkle.leaf_hash(data)
        if entry.idx >= checkpoint.tree_size:
            result.pending_entries += 1
            continue
        proof = tree.inclusion_proof(entry.idx, checkpoint.tree_size)
        if merkle.verify_inclusion(data, entry.idx, checkpoint.tree_size, proof, root):
            result.verified_entries += 1
        else:
            result.problems.append(f"entry {entry.idx}: not included in the signed tree (altered?)")
    if last_leaf_hash is not None and previous is not None and bytes(last_leaf_hash) != previous:
        result.problems.append(f"entry {entries[-1].idx}: the pack's newest entry is not its last one here (hidden?)")
    return result


def _usccs(session: Session, events: Sequence[TraceEvent]) -> dict[int, str]:
    ids = {e.org_id for e in events} | {e.to_org_id for e in events if e.to_org_id is not None}
    if not ids:
        return {}
    return dict(session.exec(sa.select(Organisation.id, Organisation.uscc).where(Organisation.id.in_(ids))).all())


def _differences(event: TraceEvent, body: dict[str, Any], usccs: dict[int, str]) -> list[str]:
    """Name the fields in which a stored event and its ledger entry disagree."""
    details = event.details or {}
    said = {
        "type": event.type,
        "org": usccs.get(event.org_id),
        "at": utc_text(event.at),
        "to": usccs.get(event.to_org_id) if event.to_org_id is not None else None,
        "qty": event.quantity,
        "via": details.get("via"),
    }
    if body.get("v", 1) >= 2 and event.type in ("aggregate", "disaggregate"):
        said["parent"] = details.get("parent")
    return [name for name, value in said.items() if body.get(name) != value]
