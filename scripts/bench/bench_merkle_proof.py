"""Benchmark Merkle proofs over a 1,000,000-entry log served from stored subtree hashes, as the ledger will do.

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_merkle_proof [--entries 1000000] [--proofs 2000] [--seed 6962]

It streams synthetic trace events through ``leaf_hash`` and ``CompactRange`` (the entries themselves are never
kept), storing every leaf hash and every complete subtree hash the appender hands out in a dict keyed by
``(level, index)``: a stand-in for the ledger's node table. It then times, one call at a time, inclusion proofs for
random leaves of the whole log and of random earlier checkpoints, consistency proofs from random earlier sizes, and
the verification of each, through ``Tree`` over that dict. Every proof is checked to verify, so a fast wrong answer
cannot pass. It prints median, p99 and max per call against the 5 ms target, and the node look-ups per proof.
Exit status: 0 PASS, 1 MISS.
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable

from trace.merkle import CompactRange, Tree, leaf_hash, verify_consistency, verify_inclusion_hash

TARGET_MS = 5.0  # the ledger's budget for producing one proof


class DictNodeSource:
    """Leaf and complete subtree hashes in one dict keyed by (level, index), counting look-ups."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.lookups = 0

    def leaf_hash(self, index: int) -> bytes:
        """Return the stored leaf hash at index."""
        self.lookups += 1
        return self.nodes[0, index]

    def subtree_hash(self, level: int, index: int) -> bytes | None:
        """Return the stored complete subtree hash, or None."""
        self.lookups += 1
        return self.nodes.get((level, index))


def event(index: int) -> bytes:
    """Return a synthetic trace event of about the ledger's entry size."""
    return b'{"code":"8%019d","event":"dispense","org":%d,"at":"2026-11-22T08:00:00Z"}' % (index, index % 4099)


def build(size: int) -> tuple[DictNodeSource, bytes, float, float]:
    """Store size events' leaf hashes, then append them; return the store, the root and both phases' seconds."""
    source = DictNodeSource()
    nodes = source.nodes
    began = time.perf_counter()
    for index in range(size):
        nodes[0, index] = leaf_hash(event(index))
    hashing = time.perf_counter() - began
    appender = CompactRange()
    began = time.perf_counter()
    for index in range(size):
        for node in appender.append(nodes[0, index]):
            nodes[node.level, node.index] = node.hash
    appending = time.perf_counter() - began
    return source, appender.root(), hashing, appending


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def timed(call: Callable[[], object]) -> tuple[float, object]:
    """Return the milliseconds one call takes and its result."""
    began = time.perf_counter()
    result = call()
    return (time.perf_counter() - began) * 1000, result


def report(label: str, millis: list[float]) -> bool:
    """Print median, p99 and max of a timing series and return whether both median and p99 meet the target."""
    median, p99 = statistics.median(millis), percentile(millis, 0.99)
    verdict = "PASS" if median < TARGET_MS and p99 < TARGET_MS else "MISS"
    print(f"  {label:<50} median {median:7.3f} ms   p99 {p99:7.3f} ms   max {max(millis):7.3f} ms   {verdict}")
    return verdict == "PASS"


def main(argv: list[str] | None = None) -> int:
    """Build the stored tree, time proofs and their verification, print the figures and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2000, help="timed calls per kind of proof")
    parser.add_argument("--seed", type=int, default=6962)
    args = parser.parse_args(argv)
    size, count, rng = args.entries, args.proofs, random.Random(args.seed)
    print(f"Merkle proof benchmark: Python {platform.python_version()} on {platform.machine()}, {size:,} entries")

    print(
        "\nBuilding the stored tree: leaf hashes into a dict, then CompactRange.append over them, nodes into the dict"
    )
    began = time.perf_counter()
    source, root, hashing, appending = build(size)
    total = time.perf_counter() - began
    interior = len(source.nodes) - size
    print(f"  total {total:6.2f} s   leaf hashing {hashing:6.2f} s   appending + storing nodes {appending:6.2f} s")
    print(f"  {total / size * 1e6:.2f} µs per entry; {size:,} leaf hashes and {interior:,} subtree hashes stored")
    tree = Tree(source)
    millis, tree_root = timed(lambda: tree.root(size))
    assert tree_root == root, "the stored tree's root differs from the appender's"
    print(f"  root {root.hex()} (recomputed from the store in {millis:.3f} ms)")
    millis, resumed = timed(lambda: tree.compact_range(size))
    assert resumed.root() == root
    print(f"  appender state rebuilt from the store in {millis:.3f} ms")

    passed = True
    print(f"\nPer call over {count:,} random cases, via Tree over the dict (target: median and p99 < {TARGET_MS} ms)")
    for _ in range(50):  # warm-up
        tree.inclusion_proof(rng.randrange(size), size)

    prove, check, lookups = [], [], []
    for _ in range(count):
        index = rng.randrange(size)
        source.lookups = 0
        millis, proof = timed(lambda index=index: tree.inclusion_proof(index, size))
        lookups.append(source.lookups)
        prove.append(millis)
        millis, ok = timed(
            lambda index=index, proof=proof: verify_inclusion_hash(source.nodes[0, index], index, size, proof, root)
        )
        assert ok, f"the inclusion proof of leaf {index} does not verify"
        check.append(millis)
    passed &= report(f"inclusion proof, tree of {size:,}", prove)
    passed &= report("  its verification", check)
    print(f"  look-ups per inclusion proof: median {statistics.median(lookups):.0f}, max {max(lookups)}")

    checkpoints = sorted({rng.randrange(1, size + 1) for _ in range(64)})
    checkpoint_roots = {checkpoint: tree.root(checkpoint) for checkpoint in checkpoints}
    prove = []
    for _ in range(count):
        checkpoint = rng.choice(checkpoints)
        index = rng.randrange(checkpoint)
        millis, proof = timed(lambda index=index, checkpoint=checkpoint: tree.inclusion_proof(index, checkpoint))
        prove.append(millis)
        leaf = source.nodes[0, index]
        ok = verify_inclusion_hash(leaf, index, checkpoint, proof, checkpoint_roots[checkpoint])
        assert ok, f"the inclusion proof of leaf {index} at size {checkpoint} does not verify"
    passed &= report("inclusion proof, random earlier checkpoint", prove)

    prove, check, lookups = [], [], []
    for _ in range(count):
        old = rng.choice(checkpoints[:-1] or checkpoints)
        source.lookups = 0
        millis, proof = timed(lambda old=old: tree.consistency_proof(old, size))
        lookups.append(source.lookups)
        prove.append(millis)
        millis, ok = timed(
            lambda old=old, proof=proof: verify_consistency(old, size, checkpoint_roots[old], root, proof)
        )
        assert ok, f"the consistency proof from {old} to {size} does not verify"
        check.append(millis)
    passed &= report(f"consistency proof, earlier checkpoint -> {size:,}", prove)
    passed &= report("  its verification", check)
    print(f"  look-ups per consistency proof: median {statistics.median(lookups):.0f}, max {max(lookups)}")

    print(f"\n{'PASS' if passed else 'MISS'}: every proof verified; target {TARGET_MS} ms per proof")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
