"""Benchmark the stand-alone verifier on an exported 1,000,000-entry ledger against a bare chained SHA-256 loop.

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_ledger_verify [--entries 1000000] [--checkpoint-every 100000]

It writes a synthetic export in exactly the format ``trace.ledger.export`` writes: ``entries.jsonl`` lines
``{"idx", "leaf_hash", "entry"}`` made with the same ``json.dumps`` call as ``trace.ledger.iter_entry_lines``, each
entry the canonical JSON (``trace.canonical.canonical_bytes``) of a capture payload as ``trace.ledger.append`` builds
it (item, type, org, at, batch, to / qty where a real event has them, lot and exp at commission, v, idx and prev
chaining the item's entries),
its leaf hash from ``trace.merkle.leaf_hash``; ``checkpoints.json`` with roots every ``--checkpoint-every`` entries
and at the end, each signed with a fresh Ed25519 key over ``trace.ledger.checkpoint_message``; ``public-key.pem``.
The packs live as in the capture benchmark: lots of packs commissioned, shipped to a hospital, received and
dispensed, four entries per pack. The export is first checked to verify and a copy with one altered entry to fail.

Then, with the file in the page cache, it times ``trace.verify.verify_export`` against the baseline, a bare loop
``h = sha256(h + line).digest()`` over the lines of the same ``entries.jsonl`` read the same way (binary, line by
line): the least any verifier that hashes every entry must do. Runs go baseline, verifier, baseline, … and the
ratio is the mean baseline time over the mean verifier time, against the goal of 0.5. Peak memory is reported.
Exit status: 0 PASS, 1 MISS, 2 a failed check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scripts.bench.report import print_ratio, spread
from trace.canonical import canonical_bytes, utc_text
from trace.ledger import ENTRY_VERSION, checkpoint_dict, checkpoint_message
from trace.merkle import CompactRange, leaf_hash
from trace.models import Checkpoint
from trace.signing import key_id, public_pem
from trace.verify import verify_export

TARGET_RATIO = 0.5  # from the issue: the verifier keeps at least half the speed of a bare chained SHA-256
MAX_ENTRIES = 20_000_000
LOT = 1250  # packs per lot: 4 × 1250 = 5000 entries, one capture batch per stage
MAKER_USCC, HOSPITAL_USCC = "91350200MA2Y0B1X8U", "12350200426600123X"
STEPS = ("commission", "ship", "receive", "dispense")


def pack_key(serial: int) -> str:
    """Return the item key of a pack: two 20-digit products in three, one GS1 product, as capture stores them."""
    if serial % 3 == 2:
        return f"gs1:06901234567892S{serial:09d}"
    return f"cn20:8{serial % 7:02d}0001{serial:09d}1234"


def iter_payloads(entries: int, start: dt.datetime):
    """Yield the payloads of ``entries`` ledger entries: lots of packs through four steps, in capture order."""
    emitted = 0
    for lot in range(entries // (4 * LOT) + 1):
        for stage, step in enumerate(STEPS):
            at = utc_text(start + dt.timedelta(hours=lot, minutes=stage * 5))
            batch = f"import-{hashlib.sha256(str(lot).encode()).hexdigest()}-{stage:04d}"
            for pack in range(lot * LOT, (lot + 1) * LOT):
                if emitted == entries:
                    return
                payload = {"item": pack_key(pack), "type": step, "org": MAKER_USCC, "at": at, "batch": batch}
                if step == "commission":  # entry version 2: the lot and expiry a pack is commissioned with
                    payload["lot"], payload["exp"] = f"L{lot:06d}", "2028-06-30"
                elif step == "ship":
                    payload["to"] = HOSPITAL_USCC
                elif step in ("receive", "dispense"):
                    payload["org"] = HOSPITAL_USCC
                yield payload
                emitted += 1


def write_export(folder: Path, entries: int, checkpoint_every: int) -> float:
    """Write a synthetic export of ``entries`` entries into ``folder``; return the seconds it took."""
    began = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    signed_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    appender, prev, checkpoints = CompactRange(), {}, []
    with (folder / "entries.jsonl").open("w", encoding="utf-8") as handle:
        for idx, payload in enumerate(iter_payloads(entries, signed_at)):
            link = prev.get(payload["item"])
            data = canonical_bytes({**payload, "v": ENTRY_VERSION, "idx": idx, "prev": link.hex() if link else None})
            leaf = prev[payload["item"]] = leaf_hash(data)
            appender.append(leaf)
            line = {"idx": idx, "leaf_hash": leaf.hex(), "entry": data.decode("utf-8")}
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")  # as trace.ledger.iter_entry_lines
            if appender.size % checkpoint_every == 0 or appender.size == entries:
                root, when = appender.root(), signed_at + dt.timedelta(minutes=appender.size // checkpoint_every)
                signature = key.sign(checkpoint_message(appender.size, root, when))
                kid = key_id(key.public_key())
                checkpoints.append(Checkpoint(tree_size=appender.size, root=root, signed_at=when, key_id=kid,
                                              signature=signature))  # fmt: skip
    (folder / "checkpoints.json").write_text(json.dumps([checkpoint_dict(c) for c in checkpoints], indent=1))
    (folder / "public-key.pem").write_text(public_pem(key.public_key()))
    return time.perf_counter() - began


def chained_sha256(path: Path) -> tuple[float, bytes]:
    """Run the baseline over a file; return its seconds and the final hash."""
    began = time.perf_counter()
    h, sha256 = b"", hashlib.sha256
    with path.open("rb") as handle:
        for line in handle:
            h = sha256(h + line).digest()
    return time.perf_counter() - began, h


def timed_verify(folder: Path) -> tuple[float, object]:
    """Run the verifier over an export; return its seconds and its report."""
    began = time.perf_counter()
    report = verify_export(folder)
    return time.perf_counter() - began, report


def check_export(folder: Path, entries: int, workdir: Path) -> None:
    """Refuse to measure unless the export verifies and a copy with one altered entry does not."""
    report = verify_export(folder)
    if not report.ok or report.entries != entries:
        raise SystemExit(f"check failed: the synthetic export does not verify: {report.problems[:3]}")
    tampered = workdir / "tampered"
    shutil.copytree(folder, tampered, ignore=shutil.ignore_patterns("entries.jsonl"))
    victim = min(entries - 1, 12_345)
    with (folder / "entries.jsonl").open(encoding="utf-8") as handle:
        lines = list(itertools.islice(handle, victim + 1))  # the rest is left out: the check needs no more
    lines[victim] = lines[victim].replace('\\"type\\":\\"', '\\"type\\":\\"x')
    (tampered / "entries.jsonl").write_text("".join(lines), encoding="utf-8")
    bad = verify_export(tampered)
    if bad.ok or bad.first_bad_entry != victim:
        raise SystemExit(f"check failed: an altered entry {victim} was not named: {bad.first_bad_entry}")
    shutil.rmtree(tampered)
    print(f"check: the export verifies; an altered entry {victim} is named")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.bench_ledger_verify",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in the export (default 1000000)")
    parser.add_argument("--checkpoint-every", type=int, default=100_000, help="entries per checkpoint (100000)")
    parser.add_argument("--rounds", type=int, default=1, help="verifier runs, each between baseline runs (1)")
    parser.add_argument("--keep", type=Path, help="write the export here and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    if not (1 <= args.entries <= MAX_ENTRIES and args.checkpoint_every >= 1 and 1 <= args.rounds <= 10):
        parser.error(f"need 1 ≤ entries ≤ {MAX_ENTRIES}, checkpoint-every ≥ 1 and 1 ≤ rounds ≤ 10")
    return args


def main(argv: list[str] | None = None) -> int:
    """Write the export, check it, and time the verifier against the baseline."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="yaolian-bench-ledger-") as tmp:
        folder = args.keep or Path(tmp) / "export"
        seconds = write_export(folder, args.entries, args.checkpoint_every)
        size = (folder / "entries.jsonl").stat().st_size
        print(f"export: {args.entries} entries, {size / 1e6:.1f} MB, written in {seconds:.1f} s; Python "
              f"{platform.python_version()}")  # fmt: skip
        check_export(folder, args.entries, Path(tmp))
        chained_sha256(folder / "entries.jsonl")  # warm the page cache
        baselines = [chained_sha256(folder / "entries.jsonl")[0]]
        targets = []
        for _ in range(args.rounds):
            spent, report = timed_verify(folder)
            if not report.ok:
                raise SystemExit(f"check failed: the export no longer verifies: {report.problems[:3]}")
            targets.append(spent)
            baselines.append(chained_sha256(folder / "entries.jsonl")[0])
    baseline, target = sum(baselines) / len(baselines), sum(targets) / len(targets)
    n = args.entries
    for name, seconds, runs in (("baseline chained SHA-256", baseline, baselines), ("verify_export", target, targets)):
        print(f"{name:25s} {seconds:7.2f} s  {n / seconds:12,.0f} lines/s  {seconds / n * 1e6:6.2f} µs/line  "
              f"(mean of {len(runs)}, spread {spread(runs):.0%})")  # fmt: skip
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0 if print_ratio("speed ratio verifier ÷ baseline", baseline / target, TARGET_RATIO) else 1


if __name__ == "__main__":
    sys.exit(main())
