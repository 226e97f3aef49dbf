"""Benchmark GET /api/v1/me (bearer token + one indexed query) against a bare Flask hello world, same gunicorn setup.

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_me [--seconds 10] [--workers 2] [--clients 4] [--database-url URL]

It builds a throwaway database (a SQLite file in a temporary directory; or, given a PostgreSQL server URL such as
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``, a database of its own there that it drops at the end;
any other URL is used as it is), migrates it, and creates through ``core.accounts`` an organisation, a user with
three roles and a token, plus extra organisations, users and 1,000 tokens so that the token lookup meets a real
index. It then serves ``wsgi:app`` and ``scripts.bench.hello_app:app`` with the same gunicorn configuration on
loopback, checks that /api/v1/me answers 200 with the right username (a benchmark of 401s is worthless), warms
both up and measures baseline, target, baseline (more rounds with ``--rounds``) so that drift shows up and is
averaged out. It prints requests/s and p50/p95/p99 of each run, non-200 answers as errors, and the ratio of the
target's mean to the baseline's mean against the goal of 0.5. Exit status: 0 PASS, 1 MISS, 2 a failed check.

Why these defaults, on a 2-core machine where the Python load generator competes with the servers for the CPU:
2 sync workers (one per core, the usual sizing) and 4 client processes (processes, not threads, so that the
clients are not throttled by one GIL; throughput is already flat from 2 to 8 clients, and 4 keeps both workers
busy while a client reconnects, without the context switches and queueing latency of more). 10 s per run after a
2 s warm-up: on an idle machine the baselines agree within a few per cent. Other load on the machine shows up as
spread between the baselines, which is printed (with a warning above 15 %), so also printed is each server's CPU
time per request, read from /proc, and its ratio: what the throughput ratio would be with the CPUs to
themselves, and much less disturbed by other load. ``--pin`` puts the servers on CPU 0 and the clients on the
others, for a measure of the servers alone. The figures are of this machine and matter only as ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import secrets
import sys
import tempfile
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn

import sqlalchemy as sa
from stdnum.cn import uscc as uscc_std

from core.accounts import TokenPolicy, create_organisation, create_user, issue_token
from core.actor import Actor
from core.db import make_engine, new_session, utcnow
from core.roles import HospitalGrade, OrgKind, Role
from core.schema import upgrade
from scripts.bench.common import MAX_CLIENTS, MAX_SECONDS, GunicornServer, LoadResult, ServerConfig, fetch, run_load
from scripts.bench.report import mean_cpu_us, mean_rps, print_errors, print_ratio, print_results, spread

ME_PATH = "/api/v1/me"
HELLO_PATH = "/hello"
TARGET_RATIO = 0.5  # from the issue: /me must keep at least half the throughput of a bare Flask endpoint
REGION_CODE, REGION_NAME = "350200", "厦门市"
USER_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.ORGANISER)
EXTRA_KINDS = {OrgKind.HOSPITAL: Role.PHARMACIST, OrgKind.MANUFACTURER: Role.SUPPLIER_REP}


def _uscc(tag: int, serial: int) -> str:
    body = f"12{REGION_CODE}{tag:05d}{serial:04d}"  # registration authority 1, institution 2; 17 characters
    return body + uscc_std.calc_check_digit(body)


@contextlib.contextmanager
def bench_database(given: str | None, workdir: Path) -> Iterator[str]:
    """Yield the database URL to benchmark: a temporary SQLite file, a throwaway PostgreSQL database, or ``given``."""
    if not given:
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    server = sa.make_url(given)
    if not server.drivername.startswith("postgresql"):
        yield given
        return
    server = server.set(drivername="postgresql+psycopg")
    name = f"yaolian_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def seed(url: str, *, extra_users: int, extra_tokens: int) -> tuple[str, str]:
    """Create the benchmarked user with a token, and the crowd around it; return its username and secret."""
    actor = Actor.system("bench")
    tag = secrets.randbelow(90_000) + 10_000  # so that runs against one given database do not clash
    now = utcnow()
    policy = TokenPolicy()
    engine = make_engine(url)
    try:
        with new_session(engine) as session:
            home = create_organisation(
                session, name=f"基准医院 {tag}", kind=OrgKind.HOSPITAL, uscc=_uscc(tag, 0), region_code=REGION_CODE,
                region_name=REGION_NAME, hospital_grade=HospitalGrade.G3A, actor=actor,
            )  # fmt: skip
            user = create_user(
                session, username=f"bench{tag}", password=f"bench-password-{tag}", display_name=f"基准用户 {tag}",
                organisation_id=home.id, roles=USER_ROLES, actor=actor,
            )  # fmt: skip
            crowd = []
            kinds = list(EXTRA_KINDS)
            for n in range(1, extra_users + 1):
                kind = kinds[n % len(kinds)]
                org = create_organisation(
                    session, name=f"基准机构 {tag}-{n}", kind=kind, uscc=_uscc(tag, n), region_code=REGION_CODE,
                    region_name=REGION_NAME, actor=actor,
                    hospital_grade=HospitalGrade.G2A if kind == OrgKind.HOSPITAL else None,
                )  # fmt: skip
                member = create_user(
                    session, username=f"bench{tag}_{n}", password=f"crowd-password-{tag}", display_name=f"用户 {n}",
                    organisation_id=org.id, roles=[EXTRA_KINDS[kind]], actor=actor,
                )  # fmt: skip
                crowd.append(member)
            for n in range(extra_tokens):
                issue_token(session, user=crowd[n % len(crowd)], name=f"crowd {n}", now=now, policy=policy)
            _, secret = issue_token(session, user=user, name="bench", now=now, policy=policy)
            session.commit()
            return user.username, secret
    finally:
        engine.dispose()


def fail(message: str) -> NoReturn:
    """Stop with exit status 2: the benchmark cannot be trusted."""
    print(f"check failed: {message}", file=sys.stderr)
    raise SystemExit(2)


def check_me(port: int, headers: dict[str, str], username: str) -> None:
    """Refuse to measure unless /api/v1/me answers 200 for the benchmarked user."""
    status, body = fetch(port, ME_PATH, headers)
    if status != 200:
        fail(f"GET {ME_PATH} answered {status}: {body[:300]!r}")
    me = json.loads(body)
    if me.get("username") != username or sorted(me.get("roles", [])) != sorted(r.value for r in USER_ROLES):
        fail(f"GET {ME_PATH} answered for someone else: {me}")
    print(f"check: GET {ME_PATH} → 200, {len(body)} bytes, username {me['username']}, roles {me['roles']}")


def check_hello(port: int) -> None:
    """Refuse to measure unless the baseline answers 200."""
    status, body = fetch(port, HELLO_PATH)
    if status != 200:
        fail(f"GET {HELLO_PATH} answered {status}: {body[:300]!r}")
    print(f"check: GET {HELLO_PATH} → 200, {len(body)} bytes")


def split_cpus() -> tuple[frozenset[int], frozenset[int]]:
    """Return the CPUs for the servers (the first one) and for the clients (the others)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin needs at least 2 CPUs")
    return frozenset(cpus[:1]), frozenset(cpus[1:])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.bench_me", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up load per server in seconds (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server (default 2)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes (default 4)")
    parser.add_argument("--rounds", type=int, default=1, help="target runs, each between baseline runs (default 1)")
    parser.add_argument("--threads", action="store_true", help="use client threads instead of processes")
    parser.add_argument("--pin", action="store_true", help="servers on CPU 0, clients on the other CPUs")
    parser.add_argument("--extra-users", type=int, default=24, help="users besides the benchmarked one (default 24)")
    parser.add_argument("--extra-tokens", type=int, default=1000, help="tokens of those users (default 1000)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (a throwaway database is made there), "
                        "or a database URL to use as it is; default: a temporary SQLite file")  # fmt: skip
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= MAX_SECONDS and 0 < args.warmup <= MAX_SECONDS and 1 <= args.clients <= MAX_CLIENTS):
        parser.error(f"need 0 < seconds, warmup ≤ {MAX_SECONDS:g} and 1 ≤ clients ≤ {MAX_CLIENTS}")
    if not (1 <= args.workers <= 32 and 1 <= args.rounds <= 20):
        parser.error("need 1 ≤ workers ≤ 32 and 1 ≤ rounds ≤ 20")
    if not (1 <= args.extra_users <= 1000 and 0 <= args.extra_tokens <= 100_000):
        parser.error("need 1 ≤ extra users ≤ 1000 and 0 ≤ extra tokens ≤ 100000")
    return args


def measure(target: GunicornServer, baseline: GunicornServer, headers: dict[str, str], args: argparse.Namespace,
            load: dict) -> tuple[list[LoadResult], list[LoadResult], list[LoadResult]]:  # fmt: skip
    """Warm both servers up, then run baseline, target, baseline, …; return all runs, the baselines, the targets."""
    # The same headers for both, so that the baseline parses the same request.
    run_target = functools.partial(run_load, target.port, ME_PATH, headers=headers, server_cpu=target.cpu_seconds)
    run_baseline = functools.partial(
        run_load, baseline.port, HELLO_PATH, headers=headers, server_cpu=baseline.cpu_seconds
    )
    warm = {**load, "seconds": args.warmup}
    runs = [run_baseline(label="warm-up hello", **warm), run_target(label="warm-up /me", **warm)]
    baselines, targets = [run_baseline(label="baseline 1 hello", **load)], []
    runs.append(baselines[-1])
    for n in range(1, args.rounds + 1):
        targets.append(run_target(label=f"target {n} /me", **load))
        baselines.append(run_baseline(label=f"baseline {n + 1} hello", **load))
        runs += [targets[-1], baselines[-1]]
    return runs, baselines, targets


def report(runs: list[LoadResult], baselines: list[LoadResult], targets: list[LoadResult]) -> int:
    """Print the table and the verdict; return the exit status."""
    print()
    print_results(runs)
    print_errors(runs)
    baseline_rps, target_rps = mean_rps(baselines), mean_rps(targets)
    baseline_cpu, target_cpu = mean_cpu_us(baselines), mean_cpu_us(targets)
    print(
        f"\nbaseline hello: {baseline_rps:8.1f} req/s (mean of {len(baselines)}, spread "
        f"{spread([r.rps for r in baselines]):.0%}); server CPU {baseline_cpu:.0f} µs/request"
    )
    print(f"target /me:     {target_rps:8.1f} req/s (mean of {len(targets)}, spread "
          f"{spread([r.rps for r in targets]):.0%}); server CPU {target_cpu:.0f} µs/request")  # fmt: skip
    print(f"server CPU ratio hello ÷ /me = {baseline_cpu / target_cpu:.3f}  (what the rps ratio would be if the "
          "servers had the CPUs to themselves; less disturbed by other load on the machine)")  # fmt: skip
    passed = print_ratio("ratio /me ÷ hello", target_rps / baseline_rps if baseline_rps else 0.0, TARGET_RATIO)
    if spread([r.rps for r in baselines]) > 0.15:
        print("warning: the baseline runs disagree by more than 15 %: something else is using the CPUs")
    if any(r.error_count for r in baselines + targets):
        print("some requests failed: the figures are not trustworthy")
        return 2
    return 0 if passed else 1


def main(argv: list[str] | None = None) -> int:
    """Seed, serve both apps, check, warm up, measure and print the comparison."""
    args = parse_args(argv)
    server_cpus, client_cpus = split_cpus() if args.pin else (None, None)
    config = ServerConfig(workers=args.workers, cpus=server_cpus)
    load = {"seconds": args.seconds, "clients": args.clients, "processes": not args.threads, "cpus": client_cpus}
    with (
        tempfile.TemporaryDirectory(prefix="yaolian-bench-") as tmp,
        bench_database(args.database_url, Path(tmp)) as url,
    ):
        backend = sa.make_url(url).get_backend_name()
        print(f"database: {backend}; seeding {args.extra_users + 1} users and {args.extra_tokens + 1} tokens")
        upgrade(url)
        username, secret = seed(url, extra_users=args.extra_users, extra_tokens=args.extra_tokens)
        env = {"YAOLIAN_DATABASE_URL": url, "YAOLIAN_INSTANCE_PATH": str(Path(tmp) / "instance"),
               "YAOLIAN_ENV": "development"}  # fmt: skip
        headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
        pinning = f"servers on CPUs {sorted(server_cpus)}, clients on {sorted(client_cpus)}; " if args.pin else ""
        print(
            f"gunicorn {version('gunicorn')}, {config.workers} {config.worker_class} workers; {args.clients} client "
            f"{'threads' if args.threads else 'processes'}; {args.seconds:g} s per run; {pinning}Python "
            f"{platform.python_version()}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}"
        )
        target = GunicornServer("wsgi:app", config, env=env, log_path=Path(tmp) / "target.log", ready_path=ME_PATH)
        baseline = GunicornServer("scripts.bench.hello_app:app", config, env=env,
                                  log_path=Path(tmp) / "baseline.log", ready_path=HELLO_PATH)  # fmt: skip
        with target, baseline:
            check_me(target.port, headers, username)
            check_hello(baseline.port)
            runs, baselines, targets = measure(target, baseline, headers, args, load)
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
        return report(runs, baselines, targets)


if __name__ == "__main__":
    sys.exit(main())
