"""Profile the trace endpoints in-process: verify and capture requests through the Flask test client, SQL per request.

Run on demand, to see where bench_verify's and bench_capture_http's time goes without gunicorn, sockets or the load
generator in the way::

    .venv/bin/python -m scripts.bench.profile_trace [--verify 2000] [--capture-lots 3] [--top 30] [--sort tottime]

The same world as those benchmarks (``scripts.bench.trace_world``, ``scripts.bench.bench_verify.stock_up``) in a
temporary SQLite database. It prints the SQL statements of one verify request of each kind, the time per verify
request and per captured event, and a cProfile of each.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event

from core.schema import upgrade
from scripts.bench.bench_capture_http import EVENTS_PATH, CaptureScript
from scripts.bench.bench_verify import VERIFY_PATH, bodies, stock_up
from scripts.bench.trace_world import STEPS, seed_world


def main(argv: list[str] | None = None) -> int:
    """Seed, stock, then time and profile verify and capture requests in-process."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.profile_trace", description=__doc__.splitlines()[0])
    parser.add_argument("--verify", type=int, default=2000, help="verify requests to time and profile")
    parser.add_argument("--capture-lots", type=int, default=3, help="lots of 500 packs (4 requests each) to profile")
    parser.add_argument("--top", type=int, default=30, help="functions to list")
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"), help="profile order")
    args = parser.parse_args(argv)
    if not (1 <= args.verify <= 100_000 and 1 <= args.capture_lots <= 100):
        parser.error("need 1 ≤ verify ≤ 100000 and 1 ≤ capture lots ≤ 100")
    with tempfile.TemporaryDirectory(prefix="yaolian-profile-trace-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'profile.db'}"
        upgrade(url)
        world = seed_world(url, hospitals=2, tokens_per_user=1)
        requests = bodies(stock_up(world, 2000))
        os.environ.update(YAOLIAN_DATABASE_URL=url, YAOLIAN_INSTANCE_PATH=str(Path(tmp) / "instance"))
        os.environ.setdefault("YAOLIAN_ENV", "development")
        from webui import create_app  # after the environment is set: the factory reads it

        app = create_app()
        statements: list[str] = []
        event.listen(app.extensions["yaolian.engine"], "before_cursor_execute",
                     lambda *a: statements.append(" ".join(a[2].split()[:6])))  # fmt: skip
        client = app.test_client()
        headers = {"Authorization": f"Bearer {world.tokens['hospital0'][0]}", "Content-Type": "application/json"}

        def verify(n: int) -> None:
            response = client.post(VERIFY_PATH, data=requests[n % len(requests)][1], headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"POST {VERIFY_PATH} answered {response.status_code}: {response.data[:300]!r}")

        kinds = {}
        for n, (name, _) in enumerate(requests):
            kinds.setdefault(name, n)
        for name, n in kinds.items():
            statements.clear()
            verify(n)
            print(f"SQL per verify ({name}): {len(statements)}: " + "; ".join(statements))
        began = time.perf_counter()
        for n in range(args.verify):
            verify(n)
        print(f"\nverify: {(time.perf_counter() - began) / args.verify * 1e6:.0f} µs per request in-process")
        profile(lambda: [verify(n) for n in range(args.verify)], f"{args.verify} × verify", args)

        script = CaptureScript(world, client=0, run="profile", first_serial=5_000_000, batch_size=500)
        per_step: Counter[str] = Counter()

        def capture_lots() -> None:
            for _lot in range(args.capture_lots):
                for step in STEPS:
                    _, path, capture_headers, body = script.next_request()
                    statements.clear()
                    began = time.perf_counter()
                    response = client.post(path, data=body, headers=capture_headers)
                    per_step[step.value] += time.perf_counter() - began
                    if response.status_code != 201:
                        raise SystemExit(f"POST {EVENTS_PATH} answered {response.status_code}: {response.data[:300]!r}")
                    script.answered(response.status_code, b"")

        capture_lots()  # warm-up, and the timing per step
        events = args.capture_lots * 500
        print(f"\ncapture: {sum(per_step.values()) / events / len(STEPS) * 1e6:.0f} µs per event in-process; per "
              "step " + ", ".join(f"{k} {v / events * 1e6:.0f} µs/event" for k, v in per_step.items()))  # fmt: skip
        print(f"SQL per capture request (the last, a dispense batch): {len(statements)}")
        profile(capture_lots, f"{args.capture_lots} lots × 4 capture requests of 500 events", args)
    return 0


def profile(work, title: str, args: argparse.Namespace) -> None:
    """Run work under cProfile and print the top functions."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    print(f"\ncProfile of {title}, top {args.top} by {args.sort}:")
    pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    sys.exit(main())
