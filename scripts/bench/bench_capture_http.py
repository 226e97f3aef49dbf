"""Benchmark HTTP capture: POST /api/v1/trace/events in batches of 500 events under gunicorn on loopback.

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_capture_http [--seconds 20] [--clients 4] [--batch-size 500]

The database (a temporary SQLite file, or a throwaway PostgreSQL database with ``--database-url``) is migrated and
seeded with a maker, two hospitals, their users and six products (``scripts.bench.trace_world``); each user gets a
bearer token per client through ``core.accounts.issue_token``. ``wsgi:app`` is served by gunicorn on 127.0.0.1.
Every client process captures its own packs, a lot of ``--batch-size`` packs at a time, one request per step and
each with a fresh batch id: the maker's token commissions the lot (20-digit and GS1 codes, batch and expiry) and
ships it to a hospital, whose pharmacist's token receives it and dispenses it (three sales in five naming a
patient, pseudonymised on arrival, all with the insurance drug code). A lot whose request fails is abandoned and
the client starts a new one. Before measuring, one lot is captured and every answer checked (201, accepted, one
ledger entry per event). It prints events/s (201 answers × batch size ÷ seconds) against the goal of 20,000 and
p50/p99 per batch. Exit status: 0 PASS, 1 MISS, 2 a failed check.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import sqlalchemy as sa

from core.schema import upgrade
from scripts.bench.bench_me import bench_database
from scripts.bench.common import HOST, GunicornServer, ServerConfig
from scripts.bench.post_load import run_scripts
from scripts.bench.report import print_errors, print_results
from scripts.bench.trace_world import SERIAL_LIMIT, STEPS, World, seed_world
from trace.models import EventType

EVENTS_PATH = "/api/v1/trace/events"
TARGET_EVENTS_PER_SECOND = 20_000  # from the issue
SERIALS_PER_CLIENT_RUN = 1_000_000


class CaptureScript:
    """One client's requests: its own lots of packs, each commissioned, shipped, received and dispensed."""

    def __init__(self, world: World, *, client: int, run: str, first_serial: int, batch_size: int) -> None:
        self.world, self.client, self.run, self.batch_size = world, client, run, batch_size
        self.hospital = client % len(world.hospital_ids)
        self.tokens = {
            "maker": world.tokens["maker"][client],
            "hospital": world.tokens[f"hospital{self.hospital}"][client],
        }
        self.next_serial, self.last_serial = first_serial, first_serial + SERIALS_PER_CLIENT_RUN
        self.lot, self.step = -1, len(STEPS)  # no lot under way
        self.serials = range(0)

    def next_request(self) -> tuple[str, str, dict[str, str], bytes]:
        """Return the next step's batch, starting a new lot when the last one is done or failed."""
        if self.step >= len(STEPS):
            if self.next_serial + self.batch_size > self.last_serial:
                raise RuntimeError("the client ran out of serials: lower --seconds or raise SERIALS_PER_CLIENT_RUN")
            self.lot += 1
            self.step = 0
            self.serials = range(self.next_serial, self.next_serial + self.batch_size)
            self.next_serial += self.batch_size
        step = STEPS[self.step]
        who = "maker" if step in (EventType.COMMISSION, EventType.SHIP) else "hospital"
        body = {
            "batch_id": f"http-{self.run}-{self.client}-{self.lot}-{step.value}",
            "events": self.events(step),
        }
        headers = {
            "Authorization": f"Bearer {self.tokens[who]}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        return "POST", EVENTS_PATH, headers, json.dumps(body, ensure_ascii=False).encode("utf-8")

    def answered(self, status: int, body: bytes) -> None:
        """Go on to the next step after a 201; abandon the lot after anything else."""
        self.step = self.step + 1 if status == 201 else len(STEPS)

    def events(self, step: EventType) -> list[dict]:
        """Return the JSON events of one step for the current lot."""
        at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10 * (len(STEPS) - self.step))).isoformat()
        products, to_org = self.world.products, self.world.hospital_ids[self.hospital]
        out = []
        for serial in self.serials:
            product = products[serial % len(products)]
            event = {"type": step.value, "code": product.code(serial), "at": at}
            if step == EventType.COMMISSION and not product.gtin:
                event |= {"batch": "2601A", "expiry": "2028-12-31"}
            elif step == EventType.SHIP:
                event["to_org_id"] = to_org
            elif step == EventType.DISPENSE:
                event["insurance_code"] = product.insurance_code
                if serial % 5 < 3:
                    event["patient_id"] = f"MZ{serial % 40_000:06d}"
            out.append(event)
        return out


def check_one_lot(port: int, world: World, batch_size: int) -> None:
    """Capture one lot and refuse to measure unless every step answers 201 with one ledger entry per event."""
    script = CaptureScript(world, client=0, run="check", first_serial=1, batch_size=batch_size)
    for step in STEPS:
        method, path, headers, body = script.next_request()
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            answer = json.loads(response.read() or b"{}")
        finally:
            conn.close()
        if response.status != 201 or not answer.get("accepted") or answer.get("entries") != batch_size:
            raise SystemExit(f"check failed: {step.value} answered {response.status}: {str(answer)[:500]}")
        script.answered(response.status, b"")
    print(f"check: one lot of {batch_size} packs commissioned, shipped, received and dispensed (4 × 201)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.bench_capture_http",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the measured run (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up load in seconds (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes (default 4)")
    parser.add_argument("--batch-size", type=int, default=500, help="events per request (default 500)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (a throwaway database is made there); "
                        "default: a temporary SQLite file")  # fmt: skip
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= 300 and 0 < args.warmup <= 60 and 1 <= args.clients <= 64):
        parser.error("need 0 < seconds ≤ 300, 0 < warmup ≤ 60 and 1 ≤ clients ≤ 64")
    if not (1 <= args.workers <= 32 and 1 <= args.batch_size <= 5000):
        parser.error("need 1 ≤ workers ≤ 32 and 1 ≤ batch size ≤ 5000")
    return args


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, check one lot, warm up, measure and print events/s."""
    args = parse_args(argv)
    config = ServerConfig(workers=args.workers, timeout=120)
    runs = ("warm-up", "measured")
    if (len(runs) * args.clients + 1) * SERIALS_PER_CLIENT_RUN >= SERIAL_LIMIT:
        raise SystemExit("too many clients for the serial space")
    with (
        tempfile.TemporaryDirectory(prefix="yaolian-bench-http-") as tmp,
        bench_database(args.database_url, Path(tmp)) as url,
    ):
        upgrade(url)
        world = seed_world(url, hospitals=2, tokens_per_user=args.clients)
        env = {"YAOLIAN_DATABASE_URL": url, "YAOLIAN_INSTANCE_PATH": str(Path(tmp) / "instance"),
               "YAOLIAN_ENV": "development"}  # fmt: skip
        print(f"database: {sa.make_url(url).get_backend_name()}; gunicorn {version('gunicorn')}, {config.workers} "
              f"sync workers; {args.clients} client processes; {args.batch_size} events per request; Python "
              f"{platform.python_version()}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        server = GunicornServer("wsgi:app", config, env=env, log_path=Path(tmp) / "server.log", ready_path="/api/v1/me")
        results = []
        with server:
            check_one_lot(server.port, world, args.batch_size)
            for number, (name, seconds) in enumerate(zip(runs, (args.warmup, args.seconds), strict=True)):

                def make_script(client: int, number: int = number):
                    first = ((number * args.clients + client) + 1) * SERIALS_PER_CLIENT_RUN
                    return CaptureScript(world, client=client, run=str(number), first_serial=first,
                                         batch_size=args.batch_size)  # fmt: skip

                results.append(run_scripts(server.port, make_script, seconds=seconds, clients=args.clients,
                                           label=f"{name} POST {EVENTS_PATH}", expect=201,
                                           server_cpu=server.cpu_seconds))  # fmt: skip
            with contextlib.suppress(OSError):
                log = server.log_tail(5)
    print()
    print_results(results)
    print_errors(results)
    measured = results[-1]
    events_per_second = measured.rps * args.batch_size
    print(f"\ncapture: {events_per_second:,.0f} events/s ({measured.rps:.1f} batches of {args.batch_size}/s); per "
          f"batch p50 {measured.percentile(50):.0f} ms, p99 {measured.percentile(99):.0f} ms; server CPU "
          f"{measured.cpu_us_per_request / args.batch_size:.0f} µs/event")  # fmt: skip
    passed = events_per_second >= TARGET_EVENTS_PER_SECOND
    verdict = "PASS" if passed else "MISS"
    print(f"events/s = {events_per_second:,.0f}  (target ≥ {TARGET_EVENTS_PER_SECOND:,}): {verdict}")
    if measured.error_count:
        print(f"some requests failed; the server log ends:\n{log}")
        return 2
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
