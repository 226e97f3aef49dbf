"""Hashes, node stores and the incremental appender of the RFC 6962 / RFC 9162 Merkle tree.

A node is addressed by ``(level, index)``: level 0 holds the leaf hashes, and node ``(level, index)`` is the hash of
the complete, power-of-two-aligned subtree over leaves ``[index << level, (index + 1) << level)``. Only complete
subtrees have an address; the ragged right edge of a tree is recomputed from them on demand, so a store that keeps
every node ever returned by :meth:`CompactRange.append` can answer any root or proof in O(log n) look-ups.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || entry)."""
    if not isinstance(entry, bytes | bytearray | memoryview):
        raise TypeError(f"a Merkle entry must be bytes, not {type(entry).__name__}")
    return _sha256(_LEAF_PREFIX + bytes(entry)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def is_hash(value: object) -> bool:
    """Tell whether a value is a byte string of exactly one SHA-256 digest."""
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def require_hash(value: object, what: str) -> bytes:
    """Return a value as bytes, or raise ValueError unless it is a 32-byte hash."""
    if not is_hash(value):
        got = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ValueError(f"{what} must be a {HASH_SIZE}-byte hash, got {got}")
    return bytes(value)  # type: ignore[arg-type]


def require_size(value: object, what: str) -> int:
    """Return a value unchanged, or raise ValueError unless it is a non-negative int."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


class StoredNode(NamedTuple):
    """A complete subtree hash to persist: its level, its index within that level and its hash."""

    level: int
    index: int
    hash: bytes


@runtime_checkable
class NodeSource(Protocol):
    """Where a :class:`~trace.merkle_tree.Tree` reads hashes from (the ledger's tables, or memory).

    ``subtree_hash`` may return None for any node it does not keep (the tree then recomputes the node from its
    children) and may be left out altogether, in which case every node is recomputed from leaf hashes.
    """

    def leaf_hash(self, index: int) -> bytes:
        """Return the leaf hash at a 0-based index of the log."""
        ...

    def subtree_hash(self, level: int, index: int) -> bytes | None:
        """Return the stored hash of complete subtree ``(level, index)`` (level >= 1), or None."""
        ...


class MemoryNodeSource:
    """Keep leaf hashes and complete subtree hashes in memory; the list-based functions and tests use it."""

    def __init__(self, leaf_hashes: Iterable[bytes] = (), nodes: Mapping[tuple[int, int], bytes] | None = None) -> None:
        self._leaves: list[bytes] = []
        self._nodes: dict[tuple[int, int], bytes] = dict(nodes or {})
        for value in leaf_hashes:
            self._leaves.append(require_hash(value, f"leaf hash {len(self._leaves)}"))

    @classmethod
    def build(cls, leaf_hashes: Iterable[bytes]) -> MemoryNodeSource:
        """Return a source holding these leaf hashes and every complete subtree over them."""
        leaves = list(leaf_hashes)
        appender = CompactRange()
        nodes = {(node.level, node.index): node.hash for node in appender.extend(leaves)}
        return cls(leaves, nodes)

    def __len__(self) -> int:
        return len(self._leaves)

    @property
    def nodes(self) -> Mapping[tuple[int, int], bytes]:
        """Return the stored complete subtree hashes keyed by ``(level, index)``."""
        return self._nodes

    def leaf_hash(self, index: int) -> bytes:
        """Return the leaf hash at a 0-based index."""
        if not 0 <= index < len(self._leaves):
            raise IndexError(f"leaf {index} is outside a log of {len(self._leaves)} leaves")
        return self._leaves[index]

    def subtree_hash(self, level: int, index: int) -> bytes | None:
        """Return the stored hash of complete subtree ``(level, index)``, or None."""
        return self._nodes.get((level, index))


class CompactRange:
    """Fold leaf hashes appended in order into the roots of the complete subtrees along the tree's right edge.

    ``border`` holds one hash per set bit of ``size``, largest subtree (leftmost) first. This is all the state an
    appending log needs to hand out the new root and the newly completed subtrees in O(log n) per leaf; the ledger
    can rebuild it from its stored nodes with :meth:`trace.merkle_tree.Tree.compact_range`.
    """

    __slots__ = ("_border", "_size")

    def __init__(self, size: int = 0, border: Sequence[bytes] = ()) -> None:
        require_size(size, "size")
        if len(border) != size.bit_count():
            count = size.bit_count()
            raise ValueError(f"a compact range of size {size} needs {count} border hashes, got {len(border)}")
        self._size = size
        self._border = [require_hash(value, f"border hash {i}") for i, value in enumerate(border)]

    def __len__(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        """Return the number of leaves appended so far."""
        return self._size

    @property
    def border(self) -> tuple[bytes, ...]:
        """Return the complete subtree hashes of the right edge, largest first."""
        return tuple(self._border)

    def border_nodes(self) -> list[StoredNode]:
        """Return the right-edge subtrees with their addresses, largest first."""
        nodes, start = [], 0
        for level in range(self._size.bit_length() - 1, -1, -1):
            if self._size >> level & 1:
                nodes.append(StoredNode(level, start >> level, self._border[len(nodes)]))
                start += 1 << level
        return nodes

    def append(self, leaf_hash: bytes) -> list[StoredNode]:
        """Append one leaf hash and return the complete subtrees (level >= 1) it finishes, lowest first."""
        value = require_hash(leaf_hash, "leaf hash")
        completed: list[StoredNode] = []
        index, level = self._size, 0
        # Each trailing 1 bit of the old size is a complete subtree that the new leaf now pairs up with.
        while index & 1:
            value = node_hash(self._border.pop(), value)
            index >>= 1
            level += 1
            completed.append(StoredNode(level, index, value))
        self._border.append(value)
        self._size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> Iterator[StoredNode]:
        """Append leaf hashes in order, yielding every complete subtree they finish."""
        for value in leaf_hashes:
            yield from self.append(value)

    def root(self) -> bytes:
        """Return the Merkle tree hash of all leaves appended so far."""
        if not self._border:
            return EMPTY_ROOT
        value = self._border[-1]
        for left in reversed(self._border[:-1]):
            value = node_hash(left, value)
        return value
