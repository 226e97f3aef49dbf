"""Stand-alone verifier of an exported ledger: ``python -m trace.verify EXPORT_DIR``.

Needs only the export (``entries.jsonl``, ``checkpoints.json``, ``public-key.pem``) and this package: no database,
no platform. It checks every checkpoint's Ed25519 signature, re-hashes every entry, recomputes the RFC 6962 root at
every checkpoint, checks each entry's position and each item's hash chain, and names the first entry that was
altered, removed, inserted or reordered.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from trace import merkle
from trace.ledger import checkpoint_message
from trace.signing import key_id, load_public_pem, verify

MAX_PROBLEMS = 50


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


def verify_export(directory: str | Path) -> Report:
    """Verify an exported ledger and report every problem found, the first bad entry named."""
    folder = Path(directory)
    report = Report()
    key = load_public_pem((folder / "public-key.pem").read_bytes())
    kid = key_id(key)
    checkpoints = {int(c["tree_size"]): c for c in json.loads((folder / "checkpoints.json").read_text())}
    for size, c in sorted(checkpoints.items()):
        message = checkpoint_message(size, bytes.fromhex(c["root"]), _parse_time(c["signed_at"]))
        if c["key_id"] != kid or not verify(key, bytes.fromhex(c["signature"]), message):
            report.flag(f"checkpoint {size}: signature does not verify with the exported public key")
    appender = merkle.CompactRange()
    last_of_item: dict[str, tuple[int, str]] = {}
    with (folder / "entries.jsonl").open("rb") as handle:
        for position, raw in enumerate(handle):
            _check_entry(report, position, raw, appender, last_of_item)
            report.entries = position + 1
            if report.entries in checkpoints:
                _check_root(report, checkpoints[report.entries], appender.root())
    for size in sorted(checkpoints):
        if size > report.entries:
            missing = f"entries {report.entries}–{size - 1} are missing"
            report.flag(f"checkpoint {size}: {missing} (removed from the end of the log)", report.entries)
        elif size == 0 and checkpoints[0]["root"] != merkle.EMPTY_ROOT.hex():
            report.flag("checkpoint 0: root is not the empty-tree root")
    report.checkpoints = len(checkpoints)
    return report


def _check_entry(report: Report, position: int, raw: bytes, appender, last_of_item) -> None:
    try:
        line = json.loads(raw)
        data = line["entry"].encode("utf-8")
        entry = json.loads(data)
        recorded_idx, signed_idx, item = line["idx"], entry["idx"], entry["item"]
    except (ValueError, KeyError, TypeError, AttributeError):
        report.flag(f"entry {position}: unreadable line", position)
        appender.append(hashlib.sha256(b"\x00" + raw).digest())
        return
    leaf = merkle.leaf_hash(data)
    appender.append(leaf)
    if signed_idx != position:
        what = "removed before it" if signed_idx > position else "inserted or reordered"
        report.flag(f"entry {position}: holds position {signed_idx}: an entry was {what}", position)
    elif recorded_idx != position:
        report.flag(f"entry {position}: listed as {recorded_idx}", position)
    if line.get("leaf_hash") != leaf.hex():
        report.flag(f"entry {position}: altered (its bytes no longer hash to the recorded leaf hash)", position)
    previous = last_of_item.get(item)
    expected_prev = previous[1] if previous else None
    if entry.get("prev") != expected_prev:
        at = f"entry {previous[0]}" if previous else "no earlier entry"
        report.flag(f"entry {position}: chain of {item} broken: prev does not match {at}", position)
    last_of_item[item] = (position, leaf.hex())


def _check_root(report: Report, checkpoint: dict, root: bytes) -> None:
    if checkpoint["root"] != root.hex():
        size = int(checkpoint["tree_size"])
        report.flag(f"checkpoint {size}: recomputed root {root.hex()[:16]}… differs from the signed root", size - 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trace.verify", description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    args = parser.parse_args(argv)
    report = verify_export(args.export_dir)
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
