"""Operational commands: ``python -m scripts.manage migrate | load-demo [--if-empty] | demo-logins``."""

from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa

from core.db import make_engine, new_session
from core.errors import DomainError
from core.models import Organisation
from core.schema import upgrade
from webui.config import load_config


def _database_url() -> str:
    return load_config()["DATABASE_URL"]


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
    from scripts.demo_data import DEMO_USERS, demo_password

    if load_config()["YAOLIAN_ENV"] == "production":
        print("demo logins are shown in development only", file=sys.stderr)
        return 1
    print("\nDemo logins (development only):")
    for user in DEMO_USERS:
        print(f"  {user.username:<22} {demo_password(user.username):<20} {user.role_label}  ·  {user.org_name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.manage")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database to the newest schema").set_defaults(func=cmd_migrate)
    demo = sub.add_parser("load-demo", help="load the Fujian demo world")
    demo.add_argument("--if-empty", action="store_true", help="only when the database has no organisations")
    demo.set_defaults(func=cmd_load_demo)
    sub.add_parser("demo-logins", help="print the demo users and passwords").set_defaults(func=cmd_demo_logins)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
