"""Benchmark POST /api/v1/orders (place an order at awarded prices) against a bare hello endpoint, same gunicorn.

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_order_placement [--seconds 10] [--clients 4] [--rounds 1]
    .venv/bin/python -m scripts.bench.bench_order_placement --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The database (a temporary SQLite file, or a throwaway PostgreSQL database with ``--database-url``) is migrated and
seeded through the services (``scripts.bench.order_world``): a hospital whose pharmacist gets a bearer token per
client (``core.accounts.issue_token``), a tender of three lots run from demand to award, the winners' distributor
named for the hospital, and ``--listed`` more products listed for the region by the same distributor. Each request
places an order of 1, 2 or 3 lines (in turn) of the hospital's awarded products — the realistic path, which reads
the awards, agreed volumes and distributor of every product the hospital may buy; ``--path listed`` orders listed
products instead — with a quantity of 1 to 50 packs a line and an ``Idempotency-Key`` of its own, so every answer
must be a 201 (a new order). Before measuring, orders of 1, 2 and 3 lines are checked (201, the lines at their
awarded price, addressed to the distributor) and a retry with the same key must answer 200 with the same order.

``wsgi:app`` and ``scripts.bench.hello_app:app`` run under the same gunicorn configuration; the baseline is GET
/hello with the same headers. Runs go baseline, target, baseline, … (``--rounds``); it prints requests/s,
p50/p95/p99 and server CPU µs per request of each run, and the ratio of the means against the goal of 0.3. After
the runs the orders in the database must number at least the 201 answers. Exit status: 0 PASS, 1 MISS, 2 a failed
check.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
import uuid
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import sqlalchemy as sa

from core.db import make_engine
from core.schema import upgrade
from scripts.bench.bench_me import HELLO_PATH, bench_database, check_hello, fail
from scripts.bench.common import HOST, GunicornServer, LoadResult, ServerConfig, run_load
from scripts.bench.order_world import OrderWorld, seed_order_world
from scripts.bench.post_load import run_scripts
from scripts.bench.report import mean_cpu_us, mean_rps, print_errors, print_ratio, print_results, spread

ORDERS_PATH = "/api/v1/orders"
TARGET_RATIO = 0.3  # from the issue: placing an order keeps at least 0.3 of the throughput of a bare endpoint
MAX_LINES = 3


def order_body(products: list[int], n: int) -> bytes:
    """Return the JSON body of the n-th order: 1, 2 or 3 lines in turn, of distinct products, 1 to 50 packs each."""
    count = 1 + n % MAX_LINES
    lines = [{"product_id": products[(n + k) % len(products)], "quantity": 1 + (7 * n + 3 * k) % 50}
             for k in range(count)]  # fmt: skip
    return json.dumps({"lines": lines}).encode()


class OrderScript:
    """One client's orders, each with an Idempotency-Key of its own."""

    def __init__(self, products: list[int], headers: dict[str, str], offset: int) -> None:
        self.products, self.headers, self.position = products, headers, offset
        self.run = uuid.uuid4().hex  # keys never repeat across runs or clients

    def next_request(self) -> tuple[str, str, dict[str, str], bytes]:
        """Return the next order."""
        self.position += 1
        headers = {**self.headers, "Idempotency-Key": f"bench-{self.run}-{self.position}"}
        return "POST", ORDERS_PATH, headers, order_body(self.products, self.position)

    def answered(self, status: int, body: bytes) -> None:
        """Answers are counted by the load generator."""


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """POST one order and return the status and the decoded answer."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("POST", ORDERS_PATH, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def check_orders(port: int, world: OrderWorld, products: list[int], basis: str, headers: dict[str, str]) -> None:
    """Refuse to measure unless orders of 1, 2 and 3 lines answer 201 as expected and a retry answers 200."""
    first = None
    for n in range(MAX_LINES):
        body = order_body(products, n)
        keyed = {**headers, "Idempotency-Key": f"check-{uuid.uuid4().hex}"}
        status, answer = post(port, body, keyed)
        lines = answer.get("lines", [])
        if status != 201 or len(lines) != n + 1:
            fail(f"POST {ORDERS_PATH} ({n + 1} lines) answered {status}: {str(answer)[:300]}")
        if answer.get("supplier_id") != world.distributor_id or {line["price_basis"] for line in lines} != {basis}:
            fail(f"the order went to {answer.get('supplier_id')} at {[line['price_basis'] for line in lines]}")
        print(f"check: POST {ORDERS_PATH} with {n + 1} line(s) → 201, {answer['number']}, total "
              f"{answer['total_amount']}, {basis} prices, supplier the distributor")  # fmt: skip
        first = first or (body, keyed, answer["id"])
    body, keyed, order_id = first
    status, answer = post(port, body, keyed)
    if status != 200 or answer.get("id") != order_id:
        fail(f"a retry with the same Idempotency-Key answered {status}: {str(answer)[:300]}")
    print(f"check: a retry with the same Idempotency-Key → 200, the same order {answer['number']}")


def count_orders(url: str, hospital_id: int) -> int:
    """Return the number of the hospital's orders in the database."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stmt = "SELECT count(*) FROM purchase_orders WHERE hospital_id = :h"
            return conn.execute(sa.text(stmt), {"h": hospital_id}).scalar_one()
    finally:
        engine.dispose()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.bench_order_placement",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up load per server in seconds (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server (default 2)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes (default 4)")
    parser.add_argument("--rounds", type=int, default=1, help="target runs, each between baseline runs (default 1)")
    parser.add_argument("--listed", type=int, default=20, help="products listed for the region (default 20)")
    parser.add_argument("--path", choices=("awarded", "listed"), default="awarded",
                        help="order the hospital's awarded products (default) or listed ones")  # fmt: skip
    parser.add_argument("--database-url", help="a PostgreSQL server URL (a throwaway database is made there); "
                        "default: a temporary SQLite file")  # fmt: skip
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= 300 and 0 < args.warmup <= 60 and 1 <= args.clients <= 64):
        parser.error("need 0 < seconds ≤ 300, 0 < warmup ≤ 60 and 1 ≤ clients ≤ 64")
    if not (1 <= args.workers <= 32 and 1 <= args.rounds <= 20 and 0 <= args.listed <= 2000):
        parser.error("need 1 ≤ workers ≤ 32, 1 ≤ rounds ≤ 20 and 0 ≤ listed ≤ 2000")
    if args.path == "listed" and args.listed < MAX_LINES:
        parser.error(f"--path listed needs at least {MAX_LINES} listed products")
    return args


def main(argv: list[str] | None = None) -> int:
    """Seed, serve both apps, check, warm up, measure and print the comparison."""
    args = parse_args(argv)
    config = ServerConfig(workers=args.workers)
    with (
        tempfile.TemporaryDirectory(prefix="yaolian-bench-orders-") as tmp,
        bench_database(args.database_url, Path(tmp)) as url,
    ):
        upgrade(url)
        world = seed_order_world(url, listed=args.listed, tokens=args.clients)
        products = [p.product_id for p in world.awarded] if args.path == "awarded" else world.listed
        headers = [{"Authorization": f"Bearer {t}", "Content-Type": "application/json", "Accept": "application/json"}
                   for t in world.tokens]  # fmt: skip
        env = {"YAOLIAN_DATABASE_URL": url, "YAOLIAN_INSTANCE_PATH": str(Path(tmp) / "instance"),
               "YAOLIAN_ENV": "development"}  # fmt: skip
        print(f"database: {sa.make_url(url).get_backend_name()}; ordering {args.path} products ({len(world.awarded)} "
              f"awarded, {len(world.listed)} listed); gunicorn {version('gunicorn')}, {config.workers} sync workers; "
              f"{args.clients} client processes; {args.seconds:g} s per run; Python {platform.python_version()}; "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        target = GunicornServer("wsgi:app", config, env=env, log_path=Path(tmp) / "target.log", ready_path="/api/v1/me")
        baseline = GunicornServer("scripts.bench.hello_app:app", config, env=env,
                                  log_path=Path(tmp) / "baseline.log", ready_path=HELLO_PATH)  # fmt: skip
        with target, baseline:
            check_orders(target.port, world, products, args.path, headers[0])
            check_hello(baseline.port)

            def make_script(client: int) -> OrderScript:
                return OrderScript(products, headers[client], client * 1000)

            def run_target(label: str, seconds: float):
                return run_scripts(target.port, make_script, seconds=seconds, clients=args.clients, label=label,
                                   expect=201, server_cpu=target.cpu_seconds)  # fmt: skip

            def run_baseline(label: str, seconds: float):
                return run_load(baseline.port, HELLO_PATH, seconds=seconds, clients=args.clients, label=label,
                                headers=headers[0], server_cpu=baseline.cpu_seconds)  # fmt: skip

            runs = [run_baseline("warm-up hello", args.warmup), run_target("warm-up orders", args.warmup)]
            baselines, targets = [run_baseline("baseline 1 hello", args.seconds)], []
            for n in range(1, args.rounds + 1):
                targets.append(run_target(f"target {n} orders", args.seconds))
                baselines.append(run_baseline(f"baseline {n + 1} hello", args.seconds))
            runs += baselines[:1] + [r for pair in zip(targets, baselines[1:], strict=True) for r in pair]
            if any(r.error_count for r in runs):
                print(f"target log tail:\n{target.log_tail(10)}")
        placed = count_orders(url, world.hospital_id)
    created = sum(r.ok for r in runs if "orders" in r.label)
    print()
    print_results(runs)
    print_errors(runs)
    hello, orders = mean_rps(baselines), mean_rps(targets)
    print(f"\norders in the database: {placed} (201 answers during the runs: {created}, plus {MAX_LINES} checked)")
    print(
        f"baseline hello: {hello:8.1f} req/s, p99 {max(r.percentile(99) for r in baselines):.2f} ms (worst run); "
        f"spread {spread([r.rps for r in baselines]):.0%}; server CPU {mean_cpu_us(baselines):.0f} µs/request"
    )
    pooled = LoadResult("targets", 0, Counter(), 0.0, args.clients,
                        sorted(ms for r in targets for ms in r.latencies_ms))  # fmt: skip
    print(
        f"target orders:  {orders:8.1f} req/s, p50 {pooled.percentile(50):.2f} ms, p95 {pooled.percentile(95):.2f} "
        f"ms, p99 {pooled.percentile(99):.2f} ms (all target runs); server CPU {mean_cpu_us(targets):.0f} µs/request"
    )
    print(f"server CPU ratio hello ÷ orders = {mean_cpu_us(baselines) / mean_cpu_us(targets):.3f}  (what the rps "
          "ratio would be with the CPUs to the servers alone)")  # fmt: skip
    passed = print_ratio("ratio orders ÷ hello", orders / hello if hello else 0.0, TARGET_RATIO)
    if spread([r.rps for r in baselines]) > 0.15:
        print("warning: the baseline runs disagree by more than 15 %: something else is using the CPUs")
    if any(r.error_count for r in baselines + targets) or placed < created + MAX_LINES:
        print("some requests failed or orders are missing: the figures are not trustworthy")
        return 2
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
