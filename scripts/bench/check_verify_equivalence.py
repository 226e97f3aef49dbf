"""Check that the fast stand-alone verifier answers exactly as the original on thousands of tampered exports.

Run on demand, after changing ``trace/verify.py``::

    .venv/bin/python -m scripts.bench.check_verify_equivalence [--cases 3000] [--reference d63dcb8] [--seed 1]

It loads ``trace/verify.py`` as of ``--reference`` (by default the commit that introduced it, before the fast path)
from git, writes a small synthetic export (``bench_ledger_verify.write_export``, plus entries with the optional
``qty``, ``to``, ``via`` and version-2 ``lot``, ``exp``, ``parent``, ``undoes`` fields), then applies random
tampering — byte flips, inserted quotes, backslashes, escapes, control and non-ASCII characters, white space, CR LF,
other numbers, reordered, deleted or repeated lines, duplicate or nested keys — and compares both verifiers' reports
(or the exceptions they raise). Exit status: 0 when every case agrees, 1 otherwise.

Since session 6 the verifier also refuses entries no signed checkpoint covers and names, instead of crashing on, an
entry whose item is a list: the comparison leaves the first out and counts the second as agreement.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts.bench.bench_ledger_verify import write_export
from scripts.bench.common import PROJECT_ROOT
from trace import verify as fast
from trace.canonical import canonical_bytes
from trace.merkle import leaf_hash

SNIPPETS = ('"', "\\", '\\"', "\\\\", "\\u0022", "\\/", "\t", "\r", "\x1d", "\x7f", "é", "药", " ", "\\n", "{", "}",
            ",", ":", "null", "1.0", "-1", "01", "1e3", '"idx":3,', '\\"idx\\":3,', "\ud800")  # fmt: skip


def load_reference(revision: str):
    """Import trace/verify.py as of a git revision, as a separate module."""
    source = subprocess.run(["git", "show", f"{revision}:trace/verify.py"], cwd=PROJECT_ROOT, check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp(prefix="verify-reference-")) / "verify_reference.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("verify_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["verify_reference"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# Checks added after the reference (session 6): entries no signed checkpoint covers fail. They concern coverage,
# not the reading of lines that the fast path replaced, so they are left out of the comparison.
COVERAGE = ("not covered by any signed checkpoint", "no signed checkpoint")


def outcome(verifier, folder: Path) -> tuple:
    """Return what a verifier reports on an export, or the exception it raises."""
    try:
        r = verifier.verify_export(folder)
    except TypeError as exc:  # the reference crashed on an entry whose item is not a text; now that line is named
        return ("unhashable item", str(exc)) if "unhashable" in str(exc) else ("raised", "TypeError", str(exc))
    except Exception as exc:  # the original raises on some malformed lines; the fast one must raise the same
        return ("raised", type(exc).__name__, str(exc))
    problems = tuple(p for p in r.problems if not any(c in p for c in COVERAGE))
    unreadable_items = [p for p in problems if p.endswith(": unreadable line")]
    return (not problems, r.entries, r.checkpoints, r.first_bad_entry if problems else None, problems,
            bool(unreadable_items))  # fmt: skip


def extra_lines(start: int) -> list[str]:
    """Return canonical lines with the optional fields, continuing an export of ``start`` entries."""
    lines = []
    extras = ({"qty": 3}, {"to": "X", "via": "cn20:1"}, {"qty": -2, "to": "Y"}, {"via": "v"},
              {"lot": "L1", "exp": "2027-01-31", "v": 2}, {"parent": "cn20:c", "v": 2},
              {"undoes": 3, "v": 2})  # fmt: skip
    for n, extra in enumerate(extras):
        body = {"item": f"cn20:extra{n}", "type": "dispense", "org": "O", "at": "t", "batch": "b", "v": 1,
                "idx": start + n, "prev": None, **extra}  # fmt: skip
        data = canonical_bytes(body)
        line = {"idx": start + n, "leaf_hash": leaf_hash(data).hex(), "entry": data.decode()}
        lines.append(json.dumps(line, ensure_ascii=False) + "\n")
    return lines


def tamper(lines: list[str], rng: random.Random) -> list[str]:
    """Return a copy of the lines with one to three random changes."""
    out = list(lines)
    for _ in range(rng.randint(1, 3)):
        n = rng.randrange(len(out))
        line = out[n]
        kind = rng.randrange(9)
        if kind < 3:  # insert a snippet
            at = rng.randrange(len(line))
            out[n] = line[:at] + rng.choice(SNIPPETS) + line[at:]
        elif kind == 3:  # replace a character
            at = rng.randrange(len(line) - 1)
            out[n] = line[:at] + chr(rng.choice((32, 34, 48, 57, 92, 97, 102, 125, 0x4E2D))) + line[at + 1 :]
        elif kind == 4:
            out[n] = line.rstrip("\n") + rng.choice(("\r\n", " \n", "", "\n\n", "x\n"))
        elif kind == 5 and n + 1 < len(out):
            out[n], out[n + 1] = out[n + 1], out[n]
        elif kind == 6:
            del out[n]
        elif kind == 7:
            out.insert(n, out[rng.randrange(len(out))])
        else:  # rewrite the entry through JSON with a twist
            try:
                record = json.loads(line)
                entry = json.loads(record["entry"])
            except ValueError:
                continue
            twist = rng.randrange(5)
            if twist == 0:
                entry["idx"] = rng.choice((entry["idx"] + 1, str(entry["idx"]), [entry["idx"]], None, 1.5))
            elif twist == 1:
                entry["item"] = rng.choice((["a"], 7, None, entry["item"] + "é"))
            elif twist == 2:
                entry["prev"] = rng.choice(("A" * 64, "0" * 64, 5, None))
            elif twist == 3:
                entry["nested"] = {"idx": 1, "item": "x"}
            text = json.dumps(entry, sort_keys=rng.random() < 0.7, separators=rng.choice(((",", ":"), (", ", ": "))),
                              ensure_ascii=rng.random() < 0.5)  # fmt: skip
            if twist == 4:
                text = text[:-1] + ',"idx":0}'  # a duplicate key: the last one counts
            record["entry"] = text
            out[n] = json.dumps(record, ensure_ascii=rng.random() < 0.5) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    """Compare the two verifiers on many tampered exports."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.check_verify_equivalence",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--cases", type=int, default=3000, help="tampered exports to compare (default 3000)")
    parser.add_argument("--reference", default="d63dcb8", help="git revision of the reference verifier")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 1 <= args.cases <= 100_000:
        parser.error("need 1 ≤ cases ≤ 100000")
    reference, rng = load_reference(args.reference), random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="yaolian-verify-equivalence-") as tmp:
        folder = Path(tmp) / "export"
        write_export(folder, 36, 9)
        lines = (folder / "entries.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        if outcome(fast, folder) != outcome(reference, folder):
            print("the untouched export already differs")
            return 1
        lines += extra_lines(len(lines))
        differ = 0
        for case in range(args.cases):
            changed = tamper(lines, rng)
            (folder / "entries.jsonl").write_bytes("".join(changed).encode("utf-8", "surrogatepass"))
            ours, theirs = outcome(fast, folder), outcome(reference, folder)
            if theirs[0] == "unhashable item" and ours[-1]:  # the crash the fast verifier now reports as a line
                continue
            if ours != theirs:
                differ += 1
                if differ <= 5:
                    print(f"case {case} differs:\n  fast:      {ours}\n  reference: {theirs}")
    print(f"{args.cases} tampered exports: {args.cases - differ} agree, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
