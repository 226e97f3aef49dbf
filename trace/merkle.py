"""The RFC 6962 / RFC 9162 Merkle tree of the verifiable ledger: roots, inclusion and consistency proofs.

Hand-written in pure Python over ``hashlib`` because no maintained Python library implements RFC 6962 / RFC 9162
Merkle trees; it reproduces the reference tree and passes every upstream probe of transparency-dev/merkle (see
``tests/trace/test_merkle.py``).

Conventions: leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right), the empty tree's root is
SHA-256(""). Hashes are 32-byte ``bytes``; leaf indices are 0-based; proofs are lists of hashes ordered leaf to root
(RFC 9162 PATH and PROOF).

The list functions here take every entry (or leaf hash) in memory. The ledger instead reads stored hashes through a
:class:`NodeSource` with :class:`Tree` and persists what :class:`CompactRange` hands out (``trace.merkle_tree`` and
``trace.merkle_nodes``, re-exported here).

Verifiers never raise: anything malformed or wrong is False. As in the upstream probes they reject a leaf index not
below the tree size; a leaf hash, proof element or (when sizes differ) root that is not exactly 32 bytes; a proof of
any length but the exact RFC 9162 one; any consistency check from size 0 (even 0 -> 0) or to a smaller size; equal
sizes with a non-empty proof or different roots; and differing sizes with an empty proof. A ``None`` proof counts as
empty, as a JSON null does upstream. Two equal sizes with an empty proof hold exactly when the roots are the same
bytes, whatever their length (an upstream probe checks this with 11-byte roots). Proof generators raise ValueError.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from trace.merkle_nodes import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    MemoryNodeSource,
    NodeSource,
    StoredNode,
    is_hash,
    leaf_hash,
    node_hash,
    require_size,
)
from trace.merkle_tree import Tree

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MemoryNodeSource",
    "NodeSource",
    "StoredNode",
    "Tree",
    "consistency_proof",
    "consistency_proof_from_hashes",
    "inclusion_proof",
    "inclusion_proof_from_hashes",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_hashes",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_hash",
]

_BYTES = bytes | bytearray | memoryview


# ---------------------------------------------------------------- generators over lists


def root(entries: Iterable[bytes]) -> bytes:
    """Return the Merkle tree hash of the entries."""
    return root_from_hashes(_hash_entries(entries))


def inclusion_proof(entries: Sequence[bytes], index: int) -> list[bytes]:
    """Return the inclusion proof of entries[index] in the tree of all entries."""
    return inclusion_proof_from_hashes(_hash_entries(entries), index)


def consistency_proof(entries: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return the consistency proof from the tree of the first old_size entries to the tree of all entries."""
    return consistency_proof_from_hashes(_hash_entries(entries), old_size)


def root_from_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """Return the Merkle tree hash over leaf hashes."""
    appender = CompactRange()
    for value in _iterate(leaf_hashes, "leaf hashes"):
        appender.append(value)
    return appender.root()


def inclusion_proof_from_hashes(leaf_hashes: Iterable[bytes], index: int) -> list[bytes]:
    """Return the inclusion proof of leaf index in the tree over leaf hashes."""
    leaves = list(_iterate(leaf_hashes, "leaf hashes"))
    require_size(index, "leaf index")
    if index >= len(leaves):
        raise ValueError(f"leaf index {index} is outside a tree of {len(leaves)} leaves")
    return Tree(MemoryNodeSource.build(leaves)).inclusion_proof(index, len(leaves))


def consistency_proof_from_hashes(leaf_hashes: Iterable[bytes], old_size: int) -> list[bytes]:
    """Return the consistency proof from the first old_size leaf hashes to all of them."""
    leaves = list(_iterate(leaf_hashes, "leaf hashes"))
    require_size(old_size, "old size")
    if old_size > len(leaves):
        raise ValueError(f"old size {old_size} exceeds the tree size {len(leaves)}")
    return Tree(MemoryNodeSource.build(leaves)).consistency_proof(old_size, len(leaves))


def _iterate(values: object, what: str) -> Iterable:
    if isinstance(values, str | bytes | bytearray | memoryview) or not isinstance(values, Iterable):
        raise ValueError(f"{what} must be a list, got {type(values).__name__}")
    return values


def _hash_entries(entries: object) -> list[bytes]:
    hashes = []
    for position, entry in enumerate(_iterate(entries, "entries")):
        if not isinstance(entry, _BYTES):
            raise ValueError(f"entries[{position}] must be bytes, got {type(entry).__name__}")
        hashes.append(leaf_hash(entry))
    return hashes


# ---------------------------------------------------------------- verifiers


def verify_inclusion(entry: bytes, index: int, tree_size: int, proof: Sequence[bytes] | None, root: bytes) -> bool:
    """Tell whether proof shows entry at index in the tree of tree_size entries with this root."""
    try:
        value = leaf_hash(entry) if isinstance(entry, _BYTES) else None
    except Exception:  # a released memoryview, say: still an answer, not an exception
        return False
    return value is not None and verify_inclusion_hash(value, index, tree_size, proof, root)


def verify_inclusion_hash(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes] | None, root: bytes
) -> bool:
    """Tell whether proof shows the leaf hash at index in the tree of tree_size leaves with this root."""
    try:
        path = _proof_hashes(proof)
        if path is None or not (_is_count(index) and _is_count(tree_size) and index < tree_size):
            return False
        if not (is_hash(leaf_hash) and is_hash(root)):
            return False
        inner, border = _decompose(index, tree_size)
        if len(path) != inner + border:
            return False
        value = _chain_inner(bytes(leaf_hash), path[:inner], index)
        return _chain_border(value, path[inner:]) == root
    except Exception:  # a hostile argument (say an int subclass) must still yield False, as promised
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes] | None
) -> bool:
    """Tell whether proof shows the tree of new_size leaves with new_root extends the old_size one with old_root."""
    try:
        path = _proof_hashes(proof)
        if path is None or not (_is_count(old_size) and _is_count(new_size)):
            return False
        if old_size == 0 or old_size > new_size:
            return False
        if old_size == new_size:
            same = isinstance(old_root, bytes | bytearray) and isinstance(new_root, bytes | bytearray)
            return not path and same and old_root == new_root
        if not (path and is_hash(old_root) and is_hash(new_root)):
            return False
        # The old tree's last complete subtree, at this level, is proved included in the new tree at that level.
        level = (old_size & -old_size).bit_length() - 1
        index = (old_size - 1) >> level
        inner, border = _decompose(index, ((new_size - 1) >> level) + 1)
        seed = bytes(old_root)
        if old_size != 1 << level:  # else the old root is that subtree itself and the proof leaves it out
            seed, path = path[0], path[1:]
        if len(path) != inner + border:
            return False
        old = _chain_border(_chain_inner_left(seed, path[:inner], index), path[inner:])
        new = _chain_border(_chain_inner(seed, path[:inner], index), path[inner:])
        return old == old_root and new == new_root
    except Exception:  # a hostile argument (say an int subclass) must still yield False, as promised
        return False


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _proof_hashes(proof: object) -> list[bytes] | None:
    if proof is None:
        return []
    if not isinstance(proof, list | tuple) or not all(is_hash(value) for value in proof):
        return None
    return [bytes(value) for value in proof]


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof's length into siblings below and on the tree's right border."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _chain_inner(value: bytes, siblings: list[bytes], index: int) -> bytes:
    for level, sibling in enumerate(siblings):
        value = node_hash(sibling, value) if index >> level & 1 else node_hash(value, sibling)
    return value


def _chain_inner_left(value: bytes, siblings: list[bytes], index: int) -> bytes:
    """Chain only the left siblings: the right ones lie beyond the old tree."""
    for level, sibling in enumerate(siblings):
        if index >> level & 1:
            value = node_hash(sibling, value)
    return value


def _chain_border(value: bytes, siblings: list[bytes]) -> bytes:
    for sibling in siblings:
        value = node_hash(sibling, value)
    return value
