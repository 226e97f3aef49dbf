"""Benchmark POST /api/v1/trace/verify (may this pack be received or dispensed here?) against a bare hello endpoint.

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_verify [--seconds 10] [--clients 4] [--rounds 1] [--packs 2000]

The database (a temporary SQLite file, or a throwaway PostgreSQL database with ``--database-url``) is migrated and
seeded with a maker, two hospitals, their users, a bearer token per client (``core.accounts.issue_token``) and six
products (``scripts.bench.trace_world``). Through ``trace.capture`` the maker commissions ``--packs`` packs and
ships them to the first hospital, which receives most and dispenses some. The hospital's pharmacist then asks, in
this mix: may I dispense a pack in stock (70 %, verdict ok), receive a pack on its way to me (15 %, ok), dispense a
pack already sold (10 %, refused: duplicate sale, reading its dispensings) or dispense a code never commissioned
(5 %, refused: unknown code); the bodies rotate, each client from its own offset, and each answer must be a 200.

``wsgi:app`` and ``scripts.bench.hello_app:app`` run under the same gunicorn configuration; the baseline is GET
/hello with the same headers. Runs go baseline, target, baseline, … (``--rounds``); it prints requests/s and
p50/p95/p99 of each run, and the ratio of the means against the goal of 0.5. Exit status: 0 PASS, 1 MISS, 2 a
failed check.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import sqlalchemy as sa

from core.db import make_engine, new_session, utcnow
from core.schema import upgrade
from scripts.bench.bench_me import HELLO_PATH, bench_database, check_hello, fail
from scripts.bench.common import HOST, GunicornServer, ServerConfig, run_load
from scripts.bench.post_load import run_scripts
from scripts.bench.report import mean_cpu_us, mean_rps, print_errors, print_ratio, print_results, spread
from scripts.bench.trace_world import World, lot_events, seed_world
from trace import capture
from trace.canonical import canonical_bytes
from trace.models import EventType

VERIFY_PATH = "/api/v1/trace/verify"
TARGET_RATIO = 0.5  # from the issue: verify keeps at least half the throughput of a bare Flask endpoint
MIX = (("stock", 14), ("in_transit", 3), ("dispensed", 2), ("unknown", 1))  # weights out of 20
EXPECTED = {"stock": "ok", "in_transit": "ok", "dispensed": "duplicate_sale", "unknown": "unknown_code"}


def stock_up(world: World, packs: int) -> dict[str, list[str]]:
    """Capture packs into their states at the first hospital; return the trace codes of each state."""
    actors = world.actors()
    share = {name: packs * weight // 20 for name, weight in MIX}
    groups, first = {}, 1
    for name, count in share.items():
        groups[name], first = range(first, first + max(1, count)), first + max(1, count)
    steps = {"stock": 3, "in_transit": 2, "dispensed": 4}
    engine = make_engine(world.url)
    try:
        with new_session(engine) as session:
            for name, serials_of in groups.items():
                if name == "unknown":
                    continue
                for step in (EventType.COMMISSION, EventType.SHIP, EventType.RECEIVE, EventType.DISPENSE)[
                    : steps[name]
                ]:
                    events = lot_events(world, step, serials_of, 0, utcnow())
                    who = "maker" if step in (EventType.COMMISSION, EventType.SHIP) else "hospital0"
                    body = canonical_bytes({"group": name, "step": step.value})
                    batch = capture.BatchIn(f"stock-{name}-{step.value}", events, capture.request_digest(body))
                    result = capture.capture(session, actor=actors[who], batch=batch, now=utcnow())
                    if not result.accepted:
                        fail(f"stocking {name} was refused: {result.body['rejected'][:3]}")
            session.commit()
    finally:
        engine.dispose()
    products = world.products
    groups["unknown"] = range(10**8, 10**8 + len(groups["unknown"]))  # never commissioned
    return {name: [products[s % len(products)].code(s) for s in serials] for name, serials in groups.items()}


def bodies(codes: dict[str, list[str]]) -> list[tuple[str, bytes]]:
    """Return (state, JSON body) of the verify requests in the mix, interleaved by weight."""
    out = []
    for turn in range(max(len(c) for c in codes.values())):
        for name, weight in MIX:
            for n in range(weight):
                code = codes[name][(turn * weight + n) % len(codes[name])]
                action = "receive" if name == "in_transit" else "dispense"
                out.append((name, json.dumps({"code": code, "action": action}).encode()))
        if len(out) >= 20 * 500:
            break
    return out


class VerifyScript:
    """One client's rotation through the verify bodies."""

    def __init__(self, requests: list[tuple[str, bytes]], headers: dict[str, str], offset: int) -> None:
        self.requests, self.headers, self.position = requests, headers, offset

    def next_request(self) -> tuple[str, str, dict[str, str], bytes]:
        """Return the next body in the rotation."""
        self.position = (self.position + 1) % len(self.requests)
        return "POST", VERIFY_PATH, self.headers, self.requests[self.position][1]

    def answered(self, status: int, body: bytes) -> None:
        """Answers are counted by the load generator."""


def check_verdicts(port: int, requests: list[tuple[str, bytes]], headers: dict[str, str]) -> None:
    """Refuse to measure unless one request of each state answers 200 with the expected verdict code."""
    seen = set()
    for name, body in requests:
        if name in seen:
            continue
        seen.add(name)
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        try:
            conn.request("POST", VERIFY_PATH, body=body, headers=headers)
            response = conn.getresponse()
            answer = json.loads(response.read() or b"{}")
        finally:
            conn.close()
        if response.status != 200 or answer.get("code") != EXPECTED[name]:
            fail(f"{name}: POST {VERIFY_PATH} answered {response.status}: {answer}")
        print(f"check: {name:10s} → 200, verdict {answer['verdict']}, code {answer['code']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.bench_verify", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up load per server in seconds (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server (default 2)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes (default 4)")
    parser.add_argument("--rounds", type=int, default=1, help="target runs, each between baseline runs (default 1)")
    parser.add_argument("--packs", type=int, default=2000, help="packs captured for the mix (default 2000)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (a throwaway database is made there); "
                        "default: a temporary SQLite file")  # fmt: skip
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= 300 and 0 < args.warmup <= 60 and 1 <= args.clients <= 64):
        parser.error("need 0 < seconds ≤ 300, 0 < warmup ≤ 60 and 1 ≤ clients ≤ 64")
    if not (1 <= args.workers <= 32 and 1 <= args.rounds <= 20 and 100 <= args.packs <= 5000):
        parser.error("need 1 ≤ workers ≤ 32, 1 ≤ rounds ≤ 20 and 100 ≤ packs ≤ 5000")
    return args


def main(argv: list[str] | None = None) -> int:
    """Seed and stock, serve both apps, check, warm up, measure and print the comparison."""
    args = parse_args(argv)
    config = ServerConfig(workers=args.workers)
    with (
        tempfile.TemporaryDirectory(prefix="yaolian-bench-verify-") as tmp,
        bench_database(args.database_url, Path(tmp)) as url,
    ):
        upgrade(url)
        world = seed_world(url, hospitals=2, tokens_per_user=args.clients)
        requests = bodies(stock_up(world, args.packs))
        tokens = world.tokens["hospital0"]
        headers = [{"Authorization": f"Bearer {t}", "Content-Type": "application/json", "Accept": "application/json"}
                   for t in tokens]  # fmt: skip
        env = {"YAOLIAN_DATABASE_URL": url, "YAOLIAN_INSTANCE_PATH": str(Path(tmp) / "instance"),
               "YAOLIAN_ENV": "development"}  # fmt: skip
        print(f"database: {sa.make_url(url).get_backend_name()}; {len(requests)} bodies; gunicorn "
              f"{version('gunicorn')}, {config.workers} sync workers; {args.clients} client processes; "
              f"{args.seconds:g} s per run; Python {platform.python_version()}; {os.cpu_count()} CPUs; "
              f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        target = GunicornServer("wsgi:app", config, env=env, log_path=Path(tmp) / "target.log", ready_path="/api/v1/me")
        baseline = GunicornServer("scripts.bench.hello_app:app", config, env=env,
                                  log_path=Path(tmp) / "baseline.log", ready_path=HELLO_PATH)  # fmt: skip
        with target, baseline:
            check_verdicts(target.port, requests, headers[0])
            check_hello(baseline.port)
            stride = len(requests) // args.clients

            def make_script(client: int) -> VerifyScript:
                return VerifyScript(requests, headers[client], client * stride)

            def run_target(label: str, seconds: float):
                return run_scripts(target.port, make_script, seconds=seconds, clients=args.clients, label=label,
                                   server_cpu=target.cpu_seconds)  # fmt: skip

            def run_baseline(label: str, seconds: float):
                return run_load(baseline.port, HELLO_PATH, seconds=seconds, clients=args.clients, label=label,
                                headers=headers[0], server_cpu=baseline.cpu_seconds)  # fmt: skip

            runs = [run_baseline("warm-up hello", args.warmup), run_target("warm-up verify", args.warmup)]
            baselines, targets = [run_baseline("baseline 1 hello", args.seconds)], []
            for n in range(1, args.rounds + 1):
                targets.append(run_target(f"target {n} verify", args.seconds))
                baselines.append(run_baseline(f"baseline {n + 1} hello", args.seconds))
            runs += baselines[:1] + [r for pair in zip(targets, baselines[1:], strict=True) for r in pair]
    print()
    print_results(runs)
    print_errors(runs)
    hello, verify = mean_rps(baselines), mean_rps(targets)
    print(
        f"\nbaseline hello: {hello:8.1f} req/s, p99 {max(r.percentile(99) for r in baselines):.2f} ms (worst run); "
        f"spread {spread([r.rps for r in baselines]):.0%}; server CPU {mean_cpu_us(baselines):.0f} µs/request"
    )
    print(f"target verify:  {verify:8.1f} req/s, p99 {max(r.percentile(99) for r in targets):.2f} ms (worst run); "
          f"server CPU {mean_cpu_us(targets):.0f} µs/request")  # fmt: skip
    print(f"server CPU ratio hello ÷ verify = {mean_cpu_us(baselines) / mean_cpu_us(targets):.3f}")
    passed = print_ratio("ratio verify ÷ hello", verify / hello if hello else 0.0, TARGET_RATIO)
    if any(r.error_count for r in baselines + targets):
        print("some requests failed: the figures are not trustworthy")
        return 2
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
