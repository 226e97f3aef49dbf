"""The ledger's Merkle tree against the RFC 6962 reference tree, the upstream probes and random logs.

The vectors stay in the shared standards folder (transparency-dev/merkle at a pinned commit) and are read in place.
"""

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from trace import merkle
from trace.merkle import CompactRange, MemoryNodeSource, Tree

STANDARDS = Path(__file__).resolve().parents[3] / "shared" / "standards" / "merkle"
REFERENCE = "rfc6962_reference_tree.json"
PROBES = "rfc6962_probes_upstream.json"
MISSING = f"the official Merkle vectors are not in {STANDARDS}"


@cache
def vectors(name: str) -> dict | None:
    path = STANDARDS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def reference() -> dict:
    data = vectors(REFERENCE)
    if data is None:
        pytest.skip(MISSING)
    return data


def probe_params(kind: str) -> list:
    data = vectors(PROBES)
    if data is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING), id="vectors-missing")]
    return [pytest.param(probe, id=probe["file"].removeprefix(f"testdata/{kind}/")) for probe in data[kind]]


def unhex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def unhex_all(values: list[str] | None) -> list[bytes] | None:
    return None if values is None else [bytes.fromhex(value) for value in values]


def reference_entries() -> list[bytes]:
    return [bytes.fromhex(value) for value in reference()["leaf_inputs_hex"]]


class LeafOnlySource:
    """A store that keeps leaf hashes only, so the tree rebuilds every interior node."""

    def __init__(self, leaf_hashes: list[bytes]) -> None:
        self.leaves = leaf_hashes

    def leaf_hash(self, index: int) -> bytes:
        return self.leaves[index]


# ---------------------------------------------------------------- the RFC 6962 reference tree


def test_hasher_cases_match_the_reference():
    for case in reference()["hasher_cases"]:
        if case["op"] == "empty_root":
            got = merkle.root([])
            assert got == merkle.EMPTY_ROOT
        elif case["op"] == "leaf":
            got = merkle.leaf_hash(bytes.fromhex(case["input_hex"]))
        else:
            got = merkle.node_hash(bytes.fromhex(case["left_hex"]), bytes.fromhex(case["right_hex"]))
        assert got.hex() == case["want"], case["desc"]


def test_every_node_hash_by_level_is_reproduced():
    entries = reference_entries()
    levels = reference()["node_hashes_by_level"]
    assert [merkle.leaf_hash(entry).hex() for entry in entries] == levels[0]
    source = MemoryNodeSource.build([merkle.leaf_hash(entry) for entry in entries])
    tree = Tree(LeafOnlySource(list(map(merkle.leaf_hash, entries))))
    for level, hashes in enumerate(levels[1:], start=1):
        assert [source.subtree_hash(level, index).hex() for index in range(len(hashes))] == hashes
        assert [tree.subtree(level, index).hex() for index in range(len(hashes))] == hashes


def test_every_root_by_tree_size_is_reproduced():
    entries = reference_entries()
    roots = {int(size): value for size, value in reference()["root_by_tree_size"].items()}
    appender = CompactRange()
    assert appender.root().hex() == roots[0]
    tree = Tree(MemoryNodeSource.build(map(merkle.leaf_hash, entries)))
    for size in range(1, len(entries) + 1):
        appender.append(merkle.leaf_hash(entries[size - 1]))
        assert merkle.root(entries[:size]).hex() == roots[size]
        assert tree.root(size).hex() == roots[size]
        assert appender.root().hex() == roots[size]
    assert merkle.root([]).hex() == roots[0] == tree.root(0).hex()


def test_every_reference_inclusion_proof_is_reproduced_and_verifies():
    entries = reference_entries()
    for case in reference()["inclusion_proofs"]:
        index, size, root = case["leaf_index"], case["tree_size"], bytes.fromhex(case["root"])
        proof = merkle.inclusion_proof(entries[:size], index)
        assert [node.hex() for node in proof] == case["path"]
        assert entries[index].hex() == case["leaf_input_hex"]
        assert merkle.leaf_hash(entries[index]).hex() == case["leaf_hash"]
        assert merkle.verify_inclusion(entries[index], index, size, proof, root)
        assert merkle.verify_inclusion_hash(bytes.fromhex(case["leaf_hash"]), index, size, proof, root)


def test_every_reference_consistency_proof_is_reproduced_and_verifies():
    entries = reference_entries()
    for case in reference()["consistency_proofs"]:
        old, new = case["size1"], case["size2"]
        proof = merkle.consistency_proof(entries[:new], old)
        assert [node.hex() for node in proof] == case["proof"]
        assert merkle.verify_consistency(old, new, bytes.fromhex(case["root1"]), bytes.fromhex(case["root2"]), proof)


# ---------------------------------------------------------------- the upstream probes


@pytest.mark.parametrize("probe", probe_params("inclusion"))
def test_inclusion_probe(probe):
    proof = unhex_all(probe["proof"])
    args = (unhex(probe["leafHash"]), probe["leafIdx"], probe["treeSize"])
    assert merkle.verify_inclusion_hash(*args, proof, unhex(probe["root"])) is not probe["wantErr"], probe["desc"]
    if proof is None:  # a JSON null proof is the empty proof, as in Go
        assert merkle.verify_inclusion_hash(*args, [], unhex(probe["root"])) is not probe["wantErr"]


@pytest.mark.parametrize("probe", probe_params("consistency"))
def test_consistency_probe(probe):
    args = (probe["size1"], probe["size2"], unhex(probe["root1"]), unhex(probe["root2"]))
    assert merkle.verify_consistency(*args, unhex_all(probe["proof"])) is not probe["wantErr"], probe["desc"]


# ---------------------------------------------------------------- malformed input


HASH = merkle.leaf_hash(b"x")
JUNK = [None, "", "00" * 32, 1.0, -1, True, 2**64, b"", b"\x00" * 31, b"\x00" * 33, [HASH], (HASH,), {0: HASH}]


@given(
    st.sampled_from([*JUNK, HASH, b"x"]),
    st.sampled_from([*JUNK, 0, 1, 7]),
    st.sampled_from([*JUNK, 0, 1, 8]),
    st.sampled_from([*JUNK, [], [HASH, None], [HASH, "ab"], b"\x00" * 64, iter([HASH]), [HASH] * 3]),
    st.sampled_from([*JUNK, HASH]),
)
def test_verifiers_answer_false_rather_than_raise_on_malformed_input(entry, index, size, proof, root):
    for result in (
        merkle.verify_inclusion(entry, index, size, proof, root),
        merkle.verify_inclusion_hash(entry, index, size, proof, root),
        merkle.verify_consistency(index, size, entry, root, proof),
    ):
        assert result is False or result is True


def test_verifiers_reject_wrong_types_even_where_the_values_would_fit():
    entries = [b"a", b"b", b"c"]
    proof, top = merkle.inclusion_proof(entries, 1), merkle.root(entries)
    assert merkle.verify_inclusion(b"b", 1, 3, proof, top)
    assert merkle.verify_inclusion(bytearray(b"b"), 1, 3, tuple(proof), bytearray(top))
    assert not merkle.verify_inclusion("b", 1, 3, proof, top)
    assert not merkle.verify_inclusion(b"b", True, 3, proof, top)
    assert not merkle.verify_inclusion(b"b", 1.0, 3, proof, top)
    assert not merkle.verify_inclusion(b"b", 1, 3, b"".join(proof), top)
    assert not merkle.verify_inclusion(b"b", 1, 3, proof, top.hex())
    assert not merkle.verify_inclusion(b"b", -2, 3, proof, top)
    one, two = merkle.root(entries[:1]), merkle.root(entries)
    good = merkle.consistency_proof(entries, 1)
    assert merkle.verify_consistency(1, 3, one, two, good)
    assert not merkle.verify_consistency(1, 3, one, two, None)
    assert not merkle.verify_consistency(True, 3, one, two, good)
    assert not merkle.verify_consistency(-1, 3, one, two, good)
    assert not merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert not merkle.verify_consistency(3, 3, two.hex(), two.hex(), [])


class HostileInt(int):
    def __lt__(self, other):
        raise RuntimeError("comparisons are off")


def test_verifiers_answer_false_even_to_hostile_arguments():
    released = memoryview(b"a")
    released.release()
    top = merkle.leaf_hash(b"a")
    assert not merkle.verify_inclusion(released, 0, 1, [], top)
    assert not merkle.verify_inclusion_hash(top, HostileInt(0), 1, [], top)
    assert not merkle.verify_consistency(HostileInt(1), 2, top, top, [top])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: merkle.inclusion_proof([], 0), "outside a tree of 0"),
        (lambda: merkle.inclusion_proof([b"a"], 1), "outside a tree of 1"),
        (lambda: merkle.inclusion_proof([b"a"], -1), "must not be negative"),
        (lambda: merkle.inclusion_proof([b"a"], True), "must be an int"),
        (lambda: merkle.inclusion_proof([b"a", "b"], 0), r"entries\[1\] must be bytes"),
        (lambda: merkle.inclusion_proof(b"ab", 0), "must be a list"),
        (lambda: merkle.consistency_proof([b"a"], 0), "nothing can be proved about the empty tree"),
        (lambda: merkle.consistency_proof([b"a"], 2), "exceeds the tree size"),
        (lambda: merkle.consistency_proof([b"a"], None), "must be an int"),
        (lambda: merkle.root("abc"), "must be a list"),
        (lambda: merkle.root_from_hashes([b"short"]), "must be a 32-byte hash, got 5 bytes"),
        (lambda: merkle.inclusion_proof_from_hashes([HASH], 3), "outside a tree of 1"),
        (lambda: Tree(MemoryNodeSource([HASH])).consistency_proof(2, 1), "exceeds new size"),
        (lambda: CompactRange(3, [HASH]), "needs 2 border hashes"),
    ],
)
def test_generators_refuse_bad_arguments_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_tree_size_is_bound_by_the_signed_checkpoint_not_by_the_proof():
    # RFC 6962 proofs do not encode the tree size: the proof for leaf 0 of 5 also chains to the 5-leaf root under a
    # claimed size of 6. The ledger must therefore sign (size, root) together and verify against a signed pair.
    entries = [bytes([i]) for i in range(6)]
    proof = merkle.inclusion_proof(entries[:5], 0)
    assert merkle.verify_inclusion(entries[0], 0, 6, proof, merkle.root(entries[:5]))
    assert not merkle.verify_inclusion(entries[0], 0, 6, proof, merkle.root(entries))


def test_the_module_imports_nothing_from_the_web_or_procurement_layers():
    code = "import json, sys, trace.merkle; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert not {"flask", "webui", "procurement"} & set(json.loads(result.stdout))


# ---------------------------------------------------------------- random logs


def split(size: int) -> int:
    return 1 << ((size - 1).bit_length() - 1)


def rfc_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 section 2.1.1, as a yardstick."""
    if len(leaves) <= 1:
        return leaves[0] if leaves else merkle.EMPTY_ROOT
    k = split(len(leaves))
    return merkle.node_hash(rfc_root(leaves[:k]), rfc_root(leaves[k:]))


def rfc_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH from RFC 9162 section 2.1.3.1."""
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*rfc_path(m, leaves[:k]), rfc_root(leaves[k:])]
    return [*rfc_path(m - k, leaves[k:]), rfc_root(leaves[:k])]


def rfc_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF from RFC 9162 section 2.1.4.1."""
    if m == len(leaves):
        return [] if whole else [rfc_root(leaves)]
    k = split(len(leaves))
    if m <= k:
        return [*rfc_subproof(m, leaves[:k], whole), rfc_root(leaves[k:])]
    return [*rfc_subproof(m - k, leaves[k:], False), rfc_root(leaves[:k])]


def flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


logs = st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True)
bits = st.integers(0, 255)


@given(logs, st.data())
def test_generated_inclusion_proofs_verify_and_follow_the_rfc(entries, data):
    index = data.draw(st.integers(0, len(entries) - 1))
    proof = merkle.inclusion_proof(entries, index)
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    assert proof == rfc_path(index, leaves) == merkle.inclusion_proof_from_hashes(leaves, index)
    top = merkle.root(entries)
    assert top == rfc_root(leaves) == merkle.root_from_hashes(leaves)
    assert merkle.verify_inclusion(entries[index], index, len(entries), proof, top)


@given(logs, st.data())
def test_generated_consistency_proofs_verify_and_follow_the_rfc(entries, data):
    old = data.draw(st.integers(1, len(entries)))
    proof = merkle.consistency_proof(entries, old)
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    assert proof == rfc_subproof(old, leaves, True) == merkle.consistency_proof_from_hashes(leaves, old)
    assert merkle.verify_consistency(old, len(entries), merkle.root(entries[:old]), merkle.root(entries), proof)


@given(logs, st.data(), bits)
def test_any_flipped_bit_breaks_an_inclusion_proof(entries, data, bit):
    index = data.draw(st.integers(0, len(entries) - 1))
    entry, size, proof, top = entries[index], len(entries), merkle.inclusion_proof(entries, index), merkle.root(entries)
    assert not merkle.verify_inclusion(entry, index, size, proof, flip(top, bit))
    assert not merkle.verify_inclusion(flip(entry, bit) if entry else b"\x00", index, size, proof, top)
    for position in range(len(proof)):
        broken = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
        assert not merkle.verify_inclusion(entry, index, size, broken, top)


@given(logs, st.data())
def test_another_index_or_size_breaks_an_inclusion_proof(entries, data):
    index = data.draw(st.integers(0, len(entries) - 1))
    size = data.draw(st.integers(index + 1, len(entries)))
    proof = merkle.inclusion_proof(entries[:size], index)
    other = data.draw(st.integers(0, len(entries) - 1))
    if other != index:
        assert not merkle.verify_inclusion(entries[index], other, size, proof, merkle.root(entries[:size]))
    claimed = data.draw(st.integers(index + 1, len(entries)))
    if claimed != size:
        assert not merkle.verify_inclusion(entries[index], index, claimed, proof, merkle.root(entries[:claimed]))


@given(st.lists(st.binary(max_size=12), min_size=2, max_size=70, unique=True), st.data(), bits)
def test_any_flipped_bit_or_other_size_breaks_a_consistency_proof(entries, data, bit):
    old = data.draw(st.integers(1, len(entries) - 1))
    new = data.draw(st.integers(old + 1, len(entries)))
    proof, old_root, new_root = (
        merkle.consistency_proof(entries[:new], old),
        *map(merkle.root, (entries[:old], entries[:new])),
    )
    assert not merkle.verify_consistency(old, new, flip(old_root, bit), new_root, proof)
    assert not merkle.verify_consistency(old, new, old_root, flip(new_root, bit), proof)
    for position in range(len(proof)):
        broken = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
        assert not merkle.verify_consistency(old, new, old_root, new_root, broken)
    other_old = data.draw(st.integers(1, len(entries)))
    assume(other_old != old)
    assert not merkle.verify_consistency(other_old, new, merkle.root(entries[:other_old]), new_root, proof)
    other_new = data.draw(st.integers(old, len(entries)))
    if other_new != new:
        assert not merkle.verify_consistency(old, other_new, old_root, merkle.root(entries[:other_new]), proof)


@given(logs, st.data())
def test_the_storage_backed_tree_matches_the_list_functions(entries, data):
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    full = MemoryNodeSource.build(leaves)
    kept = data.draw(st.sets(st.sampled_from(sorted(full.nodes))) if full.nodes else st.just(set()))
    trees = [
        Tree(full),
        Tree(MemoryNodeSource(leaves, {key: full.nodes[key] for key in kept})),
        Tree(LeafOnlySource(leaves)),
    ]
    size = data.draw(st.integers(1, len(entries)))  # a past checkpoint of a log that has grown since
    prefix = entries[:size]
    for tree in trees:
        assert tree.root(size) == merkle.root(prefix)
        assert [tree.inclusion_proof(i, size) for i in range(size)] == [
            merkle.inclusion_proof(prefix, i) for i in range(size)
        ]
        assert [tree.consistency_proof(m, size) for m in range(1, size + 1)] == [
            merkle.consistency_proof(prefix, m) for m in range(1, size + 1)
        ]


@given(logs, st.data())
def test_the_appender_yields_every_complete_subtree_and_every_prefix_root(entries, data):
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    appender, stored = CompactRange(), {}
    for size, leaf in enumerate(leaves, start=1):
        for node in appender.append(leaf):
            assert (node.level, node.index) not in stored
            stored[node.level, node.index] = node.hash
        assert appender.root() == merkle.root(entries[:size])
        assert len(appender) == size
    rebuilt = Tree(LeafOnlySource(leaves))
    expected = {(level, i) for level in range(1, len(leaves).bit_length()) for i in range(len(leaves) >> level)}
    assert set(stored) == expected
    assert all(rebuilt.subtree(level, i) == value for (level, i), value in stored.items())
    # Resuming from the store after any prefix continues exactly as if the appender had never stopped.
    resume_at = data.draw(st.integers(0, len(leaves)))
    resumed = Tree(MemoryNodeSource(leaves, stored)).compact_range(resume_at)
    assert [node.hash for node in resumed.border_nodes()] == list(resumed.border)
    assert all(rebuilt.subtree(n.level, n.index) == n.hash for n in resumed.border_nodes())
    later = {(node.level, node.index): node.hash for node in resumed.extend(leaves[resume_at:])}
    assert later == {key: value for key, value in stored.items() if (key[1] + 1) << key[0] > resume_at}
    assert resumed.root() == appender.root()
