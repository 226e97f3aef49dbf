"""Operational commands: migrate, load-demo, demo-logins, ledger-checkpoint, ledger-export, trace-import (--help)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa

from core.db import make_engine, new_session
from core.errors import DomainError
from core.models import Organisation
from core.schema import upgrade
from scripts import trace_import
from webui.config import load_config


def _database_url() -> str:
    config = load_config()
    Path(config["INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    return config["DATABASE_URL"]


def cmd_migrate(_args: argparse.Namespace) -> int:
    url = _database_url()
    upgrade(url)
    print(f"database at the newest schema: {sa.make_url(url).render_as_string(hide_password=True)}")
    return 0


def cmd_load_demo(args: argparse.Namespace) -> int:
    from scripts.demo_data import load_demo

    engine = make_engine(_database_url())
    with new_session(engine) as session:
        if args.if_empty and session.exec(sa.select(sa.func.count()).select_from(Organisation)).one()[0]:
            print("database already has data; demo data not loaded")
            return 0
        try:
            summary = load_demo(session)
        except DomainError as exc:
            print(f"demo data not loaded: {exc.message}", file=sys.stderr)
            return 1
        session.commit()
    print(summary)
    return 0


def cmd_demo_logins(_args: argparse.Namespace) -> int:
    from scripts.demo.tenders import DEMO_OPENING_PASSPHRASE
    from scripts.demo_data import DEMO_USERS, demo_password

    if load_config()["YAOLIAN_ENV"] == "production":
        print("demo logins are shown in development only", file=sys.stderr)
        return 1
    print("\nDemo logins (development only):")
    for user in DEMO_USERS:
        print(f"  {user.username:<22} {demo_password(user.username):<20} {user.role_label}  ·  {user.org_name}")
    print(f"\nOpening passphrase of every demo tender (demo only): {DEMO_OPENING_PASSPHRASE}")
    return 0


def _platform_key():
    from trace.signing import load_or_create_private_key

    return load_or_create_private_key(load_config()["SIGNING_KEY_PATH"])


def cmd_ledger_checkpoint(args: argparse.Namespace) -> int:
    """Sign the ledger's tree head now, or every N seconds (the schedule) until stopped."""
    import time

    from core.actor import Actor
    from core.audit import record_audit
    from core.db import utcnow
    from trace import ledger

    engine, key = make_engine(_database_url()), _platform_key()
    rounds = 0
    while True:
        with new_session(engine) as session:
            checkpoint = ledger.sign_checkpoint(session, key=key, now=utcnow())
            record_audit(
                session,
                actor=Actor.system("ledger-checkpoint"),
                action="ledger.checkpoint_signed",
                object_type="checkpoint",
                object_id=checkpoint.tree_size,
            )
            session.commit()
            print(f"checkpoint: tree size {checkpoint.tree_size}, root {bytes(checkpoint.root).hex()}", flush=True)
        rounds += 1
        if not args.every or (args.rounds and rounds >= args.rounds):
            return 0
        time.sleep(args.every)


def cmd_ledger_export(args: argparse.Namespace) -> int:
    """Export the ledger for the stand-alone verifier (python -m trace.verify DIR)."""
    from core.actor import Actor
    from core.audit import record_audit
    from trace import ledger

    with new_session(make_engine(_database_url())) as session:
        counts = ledger.export(session, args.directory, key=_platform_key())
        if counts["signed"] is not None:  # kept: the export's attestation stays verifiable against the platform
            record_audit(session, actor=Actor.system("ledger-export"), action="ledger.checkpoint_signed",
                         object_type="checkpoint", object_id=counts["signed"])  # fmt: skip
        session.commit()
    print(f"exported {counts['entries']} entries and {counts['checkpoints']} checkpoints to {args.directory}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.manage")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database to the newest schema").set_defaults(func=cmd_migrate)
    demo = sub.add_parser("load-demo", help="load the Fujian demo world")
    demo.add_argument("--if-empty", action="store_true", help="only when the database has no organisations")
    demo.set_defaults(func=cmd_load_demo)
    sub.add_parser("demo-logins", help="print the demo users and passwords").set_defaults(func=cmd_demo_logins)
    checkpoint = sub.add_parser("ledger-checkpoint", help="sign the ledger's tree head (once, or on a schedule)")
    checkpoint.add_argument("--every", type=int, default=0, help="repeat every N seconds")
    checkpoint.add_argument("--rounds", type=int, default=0, help="stop after N rounds (0: run until stopped)")
    checkpoint.set_defaults(func=cmd_ledger_checkpoint)
    export = sub.add_parser("ledger-export", help="export entries, checkpoints and the public key")
    export.add_argument("directory")
    export.set_defaults(func=cmd_ledger_export)
    importing = sub.add_parser("trace-import", help="import a CSV or JSONL file of trace events, all or nothing")
    trace_import.add_arguments(importing).set_defaults(func=trace_import.run)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
