"""Stand-alone verifier of an exported ledger: ``python -m trace.verify EXPORT_DIR``.

Needs only the export (``entries.jsonl``, ``checkpoints.json``, ``public-key.pem``) and this package: no database,
no platform. It checks every checkpoint's Ed25519 signature, re-hashes every entry, recomputes the RFC 6962 root at
every checkpoint, checks each entry's position and each item's hash chain, and names the first entry that was
altered, removed, inserted or reordered. Only what a signed checkpoint covers is attested: an export without a
checkpoint, or with entries after its newest one, does not verify (the platform signs one at export time).

The export carries its own public key; a verifier who got the platform's key, or a checkpoint (size and root), from
elsewhere passes them (``--public-key``, ``--tree-size`` with ``--root``) so that a rewritten export signed with
another key, or cut back to an earlier checkpoint, is caught too.
"""

from __future__ import annotations

import argparse
import binascii
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from trace import merkle
from trace.ledger import checkpoint_message
from trace.signing import key_id, load_public_pem, verify

MAX_PROBLEMS = 50

# An export line exactly as ``trace.ledger`` writes it: ``{"idx", "leaf_hash", "entry"}`` with the entry's canonical
# JSON (keys sorted, no white space) as a string whose only escapes are its quotes. Every string inside holds
# printable ASCII but for quote and backslash, every number is an integer: such a line parses to exactly the groups
# captured (line idx, recorded leaf hash, escaped entry, entry idx, item, prev or None), so it skips the JSON parses.
_TEXT = rb"[\x20\x21\x23-\x5b\x5d-\x7e]*+"
_INT = rb"-?(?:0|[1-9][0-9]{0,17})"


def _field(name: bytes, value: bytes) -> bytes:
    return rb'\\"' + name + rb'\\":' + value


def _text(name: bytes) -> bytes:
    return _field(name, rb'\\"' + _TEXT + rb'\\"')


def _optional(name: bytes, value: bytes | None = None) -> bytes:
    return rb"(?:," + (_text(name) if value is None else _field(name, value)) + rb")?"


_CANONICAL = re.compile(
    rb'\{"idx": (0|[1-9][0-9]{0,17}), "leaf_hash": "([0-9a-f]{64})", "entry": "(\{'
    + _text(b"at") + b"," + _text(b"batch") + _optional(b"exp") + b"," + _field(b"idx", rb"(0|[1-9][0-9]{0,17})")
    + b"," + _field(b"item", rb'\\"(' + _TEXT + rb')\\"') + _optional(b"lot") + b"," + _text(b"org")
    + _optional(b"parent") + b"," + _field(b"prev", rb'(?:null|\\"([0-9a-f]{64})\\")')
    + _optional(b"qty", _INT) + _optional(b"to") + b"," + _text(b"type") + _optional(b"undoes", _INT) + b","
    + _field(b"v", _INT) + _optional(b"via") + rb'\})"\}\n?'
)  # fmt: skip


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_entry: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def flag(self, message: str, entry: int | None = None) -> None:
        if entry is not None and self.first_bad_entry is None:
            self.first_bad_entry = entry
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)


def _parse_time(text: str):
    import datetime as dt

    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def verify_export(
    directory: str | Path,
    *,
    public_key_pem: bytes | None = None,
    expect: tuple[int, str] | None = None,
) -> Report:
    """Verify an exported ledger and report every problem found, the first bad entry named.

    ``public_key_pem``: the platform's key as obtained elsewhere (the export's own must be the same).
    ``expect``: a (tree size, root hex) obtained elsewhere, which the entries must reproduce.
    """
    folder = Path(directory)
    report = Report()
    key = load_public_pem((folder / "public-key.pem").read_bytes())
    kid = key_id(key)
    if public_key_pem is not None and key_id(load_public_pem(public_key_pem)) != kid:
        report.flag(f"the export's public key ({kid[:16]}…) is not the platform key given")
    checkpoints = {int(c["tree_size"]): c for c in json.loads((folder / "checkpoints.json").read_text())}
    if not checkpoints:
        report.flag("no signed checkpoint: nothing in the export is attested by the platform")
    for size, c in sorted(checkpoints.items()):
        message = checkpoint_message(size, bytes.fromhex(c["root"]), _parse_time(c["signed_at"]))
        if c["key_id"] != kid or not verify(key, bytes.fromhex(c["signature"]), message):
            report.flag(f"checkpoint {size}: signature does not verify with the exported public key")
    roots = dict(checkpoints)
    if expect is not None:
        roots.setdefault(expect[0], {"tree_size": expect[0], "root": expect[1].lower(), "given": True})
        if expect[0] in checkpoints and checkpoints[expect[0]]["root"] != expect[1].lower():
            report.flag(f"checkpoint {expect[0]}: its root is not the root given for that size", expect[0] - 1)
    with (folder / "entries.jsonl").open("rb") as handle:
        report.entries = _check_entries(report, handle, roots)
    for size in sorted(roots):
        if size > report.entries:
            missing = f"entries {report.entries}–{size - 1} are missing"
            report.flag(f"checkpoint {size}: {missing} (removed from the end of the log)", report.entries)
        elif size == 0 and roots[0]["root"] != merkle.EMPTY_ROOT.hex():
            report.flag("checkpoint 0: root is not the empty-tree root")
    newest = max(checkpoints, default=0)
    if checkpoints and report.entries > newest:
        report.flag(f"entries {newest}–{report.entries - 1} are not covered by any signed checkpoint (added after "
                    f"the newest, at {newest})", newest)  # fmt: skip
    report.checkpoints = len(checkpoints)
    return report


def _check_entries(report: Report, lines, checkpoints: dict[int, dict]) -> int:
    """Check every line in order, folding the leaf hashes into the tree; return the number of lines."""
    # A line exactly as the ledger writes it is read with one regular expression instead of two JSON parses; any
    # other line takes the general path, _read_line; both answer alike (scripts/bench/check_verify_equivalence).
    sha256, hexlify, canonical = hashlib.sha256, binascii.hexlify, _CANONICAL.fullmatch
    border: list[bytes] = []  # the compact range: one complete subtree hash per set bit of the size
    last_position: dict[str, int] = {}  # per item, its latest entry and that entry's leaf hash (hex, ASCII)
    last_leaf: dict[str, bytes] = {}
    position = -1
    for position, raw in enumerate(lines):
        found = canonical(raw)
        if found is None:
            leaf = _read_line(report, position, raw, last_position, last_leaf)
        else:
            recorded_idx, recorded_leaf, escaped, signed_text, item, prev = found.groups()
            leaf = sha256(b"\x00" + escaped.translate(None, b"\\")).digest()  # its only escapes are \"
            leaf_hex = hexlify(leaf)
            signed_idx = int(signed_text)
            if signed_idx != position:
                what = "removed before it" if signed_idx > position else "inserted or reordered"
                report.flag(f"entry {position}: holds position {signed_idx}: an entry was {what}", position)
            elif recorded_idx != signed_text:  # both digits without leading zeros: equal text, equal number
                report.flag(f"entry {position}: listed as {int(recorded_idx)}", position)
            if recorded_leaf != leaf_hex:
                report.flag(f"entry {position}: altered (its bytes no longer hash to the recorded leaf hash)", position)
            item = item.decode("ascii")
            if prev != last_leaf.get(item):
                at = f"entry {last_position[item]}" if item in last_position else "no earlier entry"
                report.flag(f"entry {position}: chain of {item} broken: prev does not match {at}", position)
            last_position[item], last_leaf[item] = position, leaf_hex
        node, index = leaf, position  # the size before this leaf: each trailing 1 bit is a subtree it completes
        while index & 1:
            node = sha256(b"\x01" + border.pop() + node).digest()
            index >>= 1
        border.append(node)
        if position + 1 in checkpoints:
            _check_root(report, checkpoints[position + 1], merkle.CompactRange(position + 1, border).root())
    return position + 1


def _read_line(report: Report, position: int, raw: bytes, last_position, last_leaf) -> bytes:
    """Check one line of any form with two JSON parses; return the leaf hash to fold into the tree."""
    try:
        line = json.loads(raw)
        data = line["entry"].encode("utf-8")
        entry = json.loads(data)
        recorded_idx, signed_idx, item = line["idx"], entry["idx"], entry["item"]
        if isinstance(item, list | dict):  # cannot name an item's chain (other non-texts still do, as keys)
            raise TypeError("the item is not a text")
    except (ValueError, KeyError, TypeError, AttributeError):
        report.flag(f"entry {position}: unreadable line", position)
        return hashlib.sha256(b"\x00" + raw).digest()
    leaf = merkle.leaf_hash(data)
    if signed_idx != position:
        what = "removed before it" if signed_idx > position else "inserted or reordered"
        report.flag(f"entry {position}: holds position {signed_idx}: an entry was {what}", position)
    elif recorded_idx != position:
        report.flag(f"entry {position}: listed as {recorded_idx}", position)
    if line.get("leaf_hash") != leaf.hex():
        report.flag(f"entry {position}: altered (its bytes no longer hash to the recorded leaf hash)", position)
    expected_prev = last_leaf[item].decode("ascii") if item in last_leaf else None
    if entry.get("prev") != expected_prev:
        at = f"entry {last_position[item]}" if item in last_position else "no earlier entry"
        report.flag(f"entry {position}: chain of {item} broken: prev does not match {at}", position)
    last_position[item], last_leaf[item] = position, leaf.hex().encode("ascii")
    return leaf


def _check_root(report: Report, checkpoint: dict, root: bytes) -> None:
    if checkpoint["root"] != root.hex():
        size = int(checkpoint["tree_size"])
        which = "the root given" if checkpoint.get("given") else "the signed root"
        report.flag(f"checkpoint {size}: recomputed root {root.hex()[:16]}… differs from {which}", size - 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trace.verify", description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--public-key", type=Path, help="the platform's public key (PEM) obtained elsewhere")
    parser.add_argument("--tree-size", type=int, help="a tree size whose root was obtained elsewhere (with --root)")
    parser.add_argument("--root", help="the root (hex) for --tree-size")
    args = parser.parse_args(argv)
    if (args.tree_size is None) != (args.root is None):
        parser.error("--tree-size and --root go together")
    if args.root is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", args.root):
        parser.error("--root must be 64 hexadecimal characters")
    expect = (args.tree_size, args.root) if args.root else None
    pem = args.public_key.read_bytes() if args.public_key else None
    report = verify_export(args.export_dir, public_key_pem=pem, expect=expect)
    print(f"entries: {report.entries}  checkpoints: {report.checkpoints}")
    if report.ok:
        print("VERIFIED: every signature, entry, chain and root checks out")
        return 0
    print(f"NOT VERIFIED: first bad entry {report.first_bad_entry}")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
