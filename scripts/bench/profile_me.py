"""Profile GET /api/v1/me in-process: cost per request against the bare hello app, SQL per request, cProfile hotspots.

Run on demand, to see where bench_me's time goes without gunicorn, sockets or the load generator in the way::

    .venv/bin/python -m scripts.bench.profile_me [--requests 3000] [--top 30]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event

from core.schema import upgrade
from scripts.bench.bench_me import HELLO_PATH, ME_PATH, seed
from scripts.bench.hello_app import app as hello_app


def per_request_us(call: Callable[[], object], requests: int, repeats: int = 5) -> float:
    """Return the best of ``repeats`` mean times per call in microseconds (the best run has the least interference)."""
    for _ in range(min(requests, 300)):
        call()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(requests):
            call()
        best = min(best, (time.perf_counter() - began) / requests * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    """Seed a temporary SQLite database, then time and profile /me against the hello app."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.profile_me", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per timing and for the profile")
    parser.add_argument("--top", type=int, default=30, help="functions to list, by cumulative time")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000:
        parser.error("--requests must be between 1 and 100000")
    with tempfile.TemporaryDirectory(prefix="yaolian-profile-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'profile.db'}"
        upgrade(url)
        username, secret = seed(url, extra_users=2, extra_tokens=200)
        os.environ.update(YAOLIAN_DATABASE_URL=url, YAOLIAN_INSTANCE_PATH=str(Path(tmp) / "instance"))
        os.environ.setdefault("YAOLIAN_ENV", "development")
        from webui import create_app  # after the environment is set: the factory reads it

        app = create_app()
        statements: list[str] = []
        event.listen(
            app.extensions["yaolian.engine"], "before_cursor_execute", lambda *a: statements.append(a[2].split()[0])
        )
        headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
        client, hello = app.test_client(), hello_app.test_client()

        def me() -> object:
            return client.get(ME_PATH, headers=headers)

        response = me()
        if response.status_code != 200 or response.get_json()["username"] != username:
            print(f"GET {ME_PATH} answered {response.status_code}: {response.data[:300]!r}", file=sys.stderr)
            return 2
        statements.clear()
        me()
        print(f"SQL statements per {ME_PATH}: {len(statements)} ({', '.join(statements)})")
        me_us = per_request_us(me, args.requests)
        hello_us = per_request_us(lambda: hello.get(HELLO_PATH, headers=headers), args.requests)
        print(f"in-process, Flask test client: {ME_PATH} {me_us:.0f} µs, {HELLO_PATH} {hello_us:.0f} µs per request "
              f"(ratio of rates {hello_us / me_us:.2f})")  # fmt: skip
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            me()
        profile.disable()
        print(f"\ncProfile of {args.requests} × {ME_PATH}, top {args.top} by cumulative time:")
        pstats.Stats(profile).strip_dirs().sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
