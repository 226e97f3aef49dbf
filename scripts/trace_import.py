"""Import a CSV or JSONL file of trace events as one user, all or nothing: ``python -m scripts.trace_import``.

Also ``python -m scripts.manage trace-import FILE --as USERNAME``. Exit status 0 when the whole file was captured
(or had been already), 1 with a row-level report when any row is bad or refused, 2 when the command cannot run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trace.importer import RowProblem

MAX_REPORTED = 200


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare the command's arguments on a parser."""
    parser.add_argument("file", type=Path, help="CSV (with a header) or JSONL file of events")
    parser.add_argument("--as", dest="username", required=True, metavar="USERNAME", help="the acting user")
    parser.add_argument("--format", choices=("csv", "jsonl"), help="default: by the file's extension")
    return parser


def _report(problems: list[RowProblem], headline: str) -> None:
    print(headline, file=sys.stderr)
    for problem in problems[:MAX_REPORTED]:
        print(f"  {problem}", file=sys.stderr)
    if len(problems) > MAX_REPORTED:
        print(f"  … and {len(problems) - MAX_REPORTED} more", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Read, check and capture the file; commit only if every chunk was accepted."""
    # Imported here so that ``scripts.manage`` stays quick to start for its other commands.
    import sqlalchemy as sa
    from tqdm import tqdm

    from core.accounts import actor_for_user
    from core.db import make_engine, new_session, utcnow
    from core.errors import DomainError
    from core.models import User
    from trace import importer
    from webui.config import load_config

    config = load_config()
    try:
        fmt = importer.format_of(args.file, args.format)
        data = args.file.read_bytes()
    except (ValueError, OSError) as exc:
        print(f"trace-import: {exc}", file=sys.stderr)
        return 2
    with new_session(make_engine(config["DATABASE_URL"])) as session:
        user_id = session.exec(sa.select(User.id).where(User.username == args.username)).scalars().first()
        actor = actor_for_user(session, user_id) if user_id is not None else None
        if actor is None:
            print(f"trace-import: no active user {args.username!r}", file=sys.stderr)
            return 2
        with tqdm(total=data.count(b"\n") - (fmt == "csv") or 1, desc="reading", unit="row", file=sys.stderr) as bar:
            parsed = importer.read_events(
                session, data=data, fmt=fmt, pseudonym_key=config["PSEUDONYM_KEY"], progress=bar.update
            )
        if parsed.problems:
            _report(parsed.problems, f"{args.file}: {len(parsed.problems)} bad rows; nothing was recorded")
            return 1
        try:
            with tqdm(total=len(parsed.events), desc="capturing", unit="event", file=sys.stderr) as bar:
                result = importer.import_events(session, parsed=parsed, actor=actor, now=utcnow(), progress=bar.update)
        except DomainError as exc:
            session.rollback()
            print(f"trace-import: {exc.message}; nothing was recorded", file=sys.stderr)
            return 1
        if not result.accepted:
            session.rollback()
            _report(result.problems, f"{args.file}: {len(result.problems)} events refused; nothing was recorded")
            return 1
        session.commit()
    print(result.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the import."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m scripts.trace_import", description=__doc__))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
