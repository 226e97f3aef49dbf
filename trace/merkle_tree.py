"""Roots and proofs of an RFC 9162 Merkle tree read from a :class:`~trace.merkle_nodes.NodeSource`.

The ledger keeps leaf hashes and the complete subtree hashes that :class:`~trace.merkle_nodes.CompactRange` hands
out; from those, every root, inclusion proof and consistency proof below costs O(log n) look-ups and hashes, so a
log of millions of entries never has to be read into memory. Nodes a source does not keep are recomputed from their
children, down to the leaves if need be.

Every range the RFC recursion visits is ``[start, end)`` with ``start`` a multiple of the largest power of two not
above ``end - start``, so it splits into complete subtrees taken left to right by decreasing size.
"""

from __future__ import annotations

from trace.merkle_nodes import EMPTY_ROOT, CompactRange, NodeSource, node_hash, require_size


def split_point(size: int) -> int:
    """Return the largest power of two strictly below size (size >= 2), RFC 6962 section 2.1's k."""
    return 1 << ((size - 1).bit_length() - 1)


class Tree:
    """Compute roots and proofs for any prefix of the log that a node source describes."""

    def __init__(self, source: NodeSource) -> None:
        self._leaf = source.leaf_hash
        self._subtree = getattr(source, "subtree_hash", None)

    def root(self, size: int) -> bytes:
        """Return the Merkle tree hash of the first size leaves."""
        require_size(size, "tree size")
        return self._range(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return the RFC 9162 inclusion proof (leaf to root) of leaf index in the tree of the first size leaves."""
        require_size(index, "leaf index")
        require_size(size, "tree size")
        if index >= size:
            raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            middle = start + split_point(end - start)
            if index < middle:
                path.append(self._range(middle, end))
                end = middle
            else:
                path.append(self._range(start, middle))
                start = middle
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Return the RFC 9162 consistency proof (leaf to root) from the tree of old_size leaves to new_size."""
        require_size(old_size, "old size")
        require_size(new_size, "new size")
        if old_size == 0:
            raise ValueError("old size must be positive: nothing can be proved about the empty tree")
        if old_size > new_size:
            raise ValueError(f"old size {old_size} exceeds new size {new_size}")
        proof: list[bytes] = []
        # SUBPROOF(m, D[start:end], whole) of RFC 9162 section 2.1.4.1, unrolled; siblings are found root first.
        start, end, whole = 0, new_size, True
        while end != old_size:
            middle = start + split_point(end - start)
            if old_size <= middle:
                proof.append(self._range(middle, end))
                end = middle
            else:
                proof.append(self._range(start, middle))
                start, whole = middle, False
        if not whole:
            proof.append(self._range(start, end))
        proof.reverse()
        return proof

    def compact_range(self, size: int) -> CompactRange:
        """Return the appender state after the first size leaves, so appending can resume from storage."""
        require_size(size, "size")
        border, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                border.append(self.subtree(level, start >> level))
                start += 1 << level
        return CompactRange(size, border)

    def subtree(self, level: int, index: int) -> bytes:
        """Return the hash of complete subtree ``(level, index)``, from the source or rebuilt from its children."""
        if level == 0:
            return self._leaf(index)
        if self._subtree is not None:
            stored = self._subtree(level, index)
            if stored is not None:
                return stored
        return node_hash(self.subtree(level - 1, 2 * index), self.subtree(level - 1, 2 * index + 1))

    def _range(self, start: int, end: int) -> bytes:
        """Return MTH(D[start:end]) for a range the RFC recursion visits."""
        hashes = []
        while start < end:
            level = (end - start).bit_length() - 1
            hashes.append(self.subtree(level, start >> level))
            start += 1 << level
        value = hashes.pop()
        while hashes:
            value = node_hash(hashes.pop(), value)
        return value
