"""The append-only, hash-chained log of accepted events, its RFC 6962 tree, signed checkpoints and exports.

Every accepted event becomes one entry: canonical JSON (``trace.canonical``) holding its position ``idx``, the item
key ``item`` and ``prev``, the leaf hash of the previous entry of the same item (null for the first), so that an
item's history is a hash chain inside the Merkle tree; and what the event says: ``type``, ``org`` and ``to`` (USCCs),
``at``, the capture ``batch`` id, ``qty``, ``via`` (the case that carried the pack), ``lot`` and ``exp``, ``parent``,
``undoes`` (see ``ENTRY_VERSION``). Appends are serialised by the single ``ledger_head`` row
(locked ``FOR UPDATE`` on PostgreSQL; SQLite transactions take the write lock on BEGIN). Roots and proofs are
computed from stored leaf hashes and complete-subtree hashes with O(log n) look-ups; the log is never loaded whole.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from core.db import driver_executemany, utcnow
from core.errors import CONFLICT, INVALID, NOT_FOUND, DomainError
from trace import merkle
from trace.canonical import canonical_bytes, flat_canonical_bytes, utc_text
from trace.models import Checkpoint, LedgerEntry, LedgerHead, LedgerNode
from trace.signing import key_id, public_pem

# Version 2 (session 6) adds, where they apply: ``lot`` and ``exp`` (commission), ``parent`` (a pack put into or
# taken out of a case), ``undoes`` (the ledger index of the sale an undo reverses). Version 1 entries stay valid.
ENTRY_VERSION = 2
MAX_ENTRIES_PER_PAGE = 1000


@dataclass(frozen=True)
class Appended:
    idx: int
    leaf_hash: bytes


class StoredNodes:
    """A ``merkle.NodeSource`` over the ledger tables of one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def leaf_hash(self, index: int) -> bytes:
        value = self.session.exec(sa.select(LedgerEntry.leaf_hash).where(LedgerEntry.idx == index)).scalar()
        if value is None:
            raise DomainError(NOT_FOUND, f"ledger entry {index} does not exist", code="ledger_entry_not_found")
        return bytes(value)

    def subtree_hash(self, level: int, index: int) -> bytes | None:
        stmt = sa.select(LedgerNode.hash).where(LedgerNode.level == level, LedgerNode.idx == index)
        value = self.session.exec(stmt).scalar()
        return bytes(value) if value is not None else None


def _head(session: Session, *, lock: bool) -> LedgerHead:
    stmt = sa.select(LedgerHead).where(LedgerHead.id == 1)
    if lock:
        stmt = stmt.with_for_update()
    head = session.exec(stmt).scalars().first()
    if head is None:  # the migration inserts it; a concurrent first append is settled by the primary key
        head = LedgerHead(id=1, size=0, border=[])
        session.add(head)
        session.flush()
    return head


def size(session: Session) -> int:
    """Return the number of entries in the log."""
    return _head(session, lock=False).size


def append(session: Session, payloads: Sequence[dict[str, Any]], *, prev: dict[str, bytes | None]) -> list[Appended]:
    """Append entries in order, chaining each to the previous entry of its item; ``prev`` is updated in place.

    Each payload names its item under ``item`` and gains ``v``, ``idx`` and ``prev`` (hex leaf hash, or null).
    """
    if not payloads:
        return []
    head = _head(session, lock=True)
    appender = merkle.CompactRange(head.size, [bytes.fromhex(h) for h in head.border])
    entries, nodes, out = [], [], []
    for offset, payload in enumerate(payloads):
        idx, item = head.size + offset, payload["item"]
        link = prev.get(item)
        entry = {**payload, "v": ENTRY_VERSION, "idx": idx, "prev": link.hex() if link else None}
        data = flat_canonical_bytes(entry)  # built from validated values: strings and integers only
        leaf = merkle.leaf_hash(data)
        prev[item] = leaf
        entries.append({"idx": idx, "item_key": item, "entry": data, "leaf_hash": leaf})
        nodes.extend({"level": n.level, "idx": n.index, "hash": n.hash} for n in appender.append(leaf))
        out.append(Appended(idx, leaf))
    conn = session.connection()  # the driver's executemany: no per-row ORM or Core bookkeeping on the hot path
    driver_executemany(conn, LedgerEntry.__table__, entries)
    if nodes:
        driver_executemany(conn, LedgerNode.__table__, nodes)
    head.size = appender.size
    head.border = [h.hex() for h in appender.border]
    session.flush()
    return out


def tree(session: Session) -> merkle.Tree:
    """Return a tree view over the stored hashes."""
    return merkle.Tree(StoredNodes(session))


def current_root(session: Session) -> tuple[int, bytes]:
    """Return the log's size and root."""
    head = _head(session, lock=False)
    return head.size, merkle.CompactRange(head.size, [bytes.fromhex(h) for h in head.border]).root()


def checkpoint_message(tree_size: int, root: bytes, signed_at: dt.datetime) -> bytes:
    """Return the bytes a checkpoint signature covers."""
    return canonical_bytes({"v": 1, "tree_size": tree_size, "root": root.hex(), "signed_at": utc_text(signed_at)})


def sign_checkpoint(session: Session, *, key: Ed25519PrivateKey, now: dt.datetime) -> Checkpoint:
    """Sign the current tree head, or return the existing checkpoint of this size."""
    tree_size, root = current_root(session)
    existing = session.get(Checkpoint, tree_size)
    if existing is not None:
        return existing
    signed_at = now.astimezone(dt.UTC)
    signature = key.sign(checkpoint_message(tree_size, root, signed_at))
    checkpoint = Checkpoint(
        tree_size=tree_size, root=root, signed_at=signed_at, key_id=key_id(key.public_key()), signature=signature
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def latest_checkpoint(session: Session) -> Checkpoint:
    """Return the newest signed tree head."""
    checkpoint = session.exec(sa.select(Checkpoint).order_by(Checkpoint.tree_size.desc())).scalars().first()
    if checkpoint is None:
        raise DomainError(NOT_FOUND, "no checkpoint has been signed yet", code="checkpoint_not_found")
    return checkpoint


def get_checkpoint(session: Session, tree_size: int) -> Checkpoint:
    """Return the checkpoint of one tree size."""
    checkpoint = session.get(Checkpoint, tree_size)
    if checkpoint is None:
        raise DomainError(NOT_FOUND, f"no checkpoint for tree size {tree_size}", code="checkpoint_not_found")
    return checkpoint


def entries(session: Session, *, start: int, end: int) -> list[LedgerEntry]:
    """Return entries ``start`` (inclusive) to ``end`` (exclusive), at most MAX_ENTRIES_PER_PAGE."""
    total = size(session)
    if start < 0 or end < start or end - start > MAX_ENTRIES_PER_PAGE:
        raise DomainError(INVALID, f"need 0 ≤ start ≤ end and at most {MAX_ENTRIES_PER_PAGE} entries", code="bad_range")
    stmt = sa.select(LedgerEntry).where(LedgerEntry.idx >= start, LedgerEntry.idx < min(end, total))
    return list(session.exec(stmt.order_by(LedgerEntry.idx)).scalars())


def inclusion_proof(session: Session, *, index: int, tree_size: int) -> list[bytes]:
    """Return the RFC 6962 inclusion proof of entry ``index`` in the tree of ``tree_size``."""
    _check_size(session, tree_size)
    if not 0 <= index < tree_size:
        raise DomainError(INVALID, f"index must be below tree_size {tree_size}", code="bad_index")
    return tree(session).inclusion_proof(index, tree_size)


def consistency_proof(session: Session, *, first: int, second: int) -> list[bytes]:
    """Return the RFC 6962 consistency proof between two tree sizes."""
    _check_size(session, second)
    if not 0 < first <= second:
        raise DomainError(INVALID, "need 0 < first ≤ second", code="bad_range")
    return tree(session).consistency_proof(first, second)


def _check_size(session: Session, tree_size: int) -> None:
    if not 0 < tree_size <= size(session):
        raise DomainError(INVALID, f"tree_size must be between 1 and the log size {size(session)}", code="bad_size")


def conflict_if_exists(session: Session, tree_size: int) -> None:
    """Refuse to overwrite a checkpoint (signed tree heads are immutable)."""
    if session.get(Checkpoint, tree_size) is not None:
        raise DomainError(CONFLICT, f"checkpoint {tree_size} exists", code="checkpoint_exists")


# ---------------------------------------------------------------- export for independent verification


def checkpoint_dict(checkpoint: Checkpoint) -> dict[str, Any]:
    """Return a checkpoint as exported and served."""
    return {
        "tree_size": checkpoint.tree_size,
        "root": bytes(checkpoint.root).hex(),
        "signed_at": utc_text(checkpoint.signed_at),
        "key_id": checkpoint.key_id,
        "signature": bytes(checkpoint.signature).hex(),
    }


def iter_entry_lines(session: Session, batch: int = 10_000) -> Iterator[str]:
    """Yield export lines ``{"idx", "leaf_hash", "entry"}`` in order, reading the log in slices."""
    start = 0
    while True:
        stmt = sa.select(LedgerEntry.idx, LedgerEntry.leaf_hash, LedgerEntry.entry)
        rows = session.exec(stmt.where(LedgerEntry.idx >= start).order_by(LedgerEntry.idx).limit(batch)).all()
        if not rows:
            return
        for idx, leaf, data in rows:
            entry = bytes(data).decode("utf-8")
            yield json.dumps({"idx": idx, "leaf_hash": bytes(leaf).hex(), "entry": entry}, ensure_ascii=False)
        start = rows[-1][0] + 1


def export(
    session: Session, directory: str | Path, *, key: Ed25519PrivateKey, now: dt.datetime | None = None
) -> dict[str, int | None]:
    """Write ``entries.jsonl``, ``checkpoints.json`` and ``public-key.pem`` for the stand-alone verifier.

    A checkpoint is signed at the current size first (on demand; none if the newest already covers it), so that every
    exported entry is attested: the verifier refuses entries no signed checkpoint covers. Returns the counts and the
    size of the checkpoint signed for the export (None when none was needed); the caller records it and commits.
    """
    signed_before = session.get(Checkpoint, size(session)) is not None
    head = sign_checkpoint(session, key=key, now=now or utcnow())
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    with (out / "entries.jsonl").open("w", encoding="utf-8") as handle:
        for line in iter_entry_lines(session):
            handle.write(line + "\n")
            count += 1
    checkpoints = session.exec(sa.select(Checkpoint).order_by(Checkpoint.tree_size)).scalars().all()
    (out / "checkpoints.json").write_text(json.dumps([checkpoint_dict(c) for c in checkpoints], indent=1))
    (out / "public-key.pem").write_text(public_pem(key.public_key()))
    return {"entries": count, "checkpoints": len(checkpoints), "signed": None if signed_before else head.tree_size}
