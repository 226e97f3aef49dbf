"""A bounded load generator for requests with bodies: each client follows its own script of requests.

``scripts.bench.common.run_load`` repeats one GET; the capture and verify benchmarks POST bodies that change from
request to request (a capture batch's events depend on what the client captured before). Here every client builds
its own :class:`Script` from a factory and asks it for each next request and tells it each status. Like
``run_load`` it stays on loopback, bounds every run in time and in count, and returns a
``scripts.bench.common.LoadResult``.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from scripts.bench.common import (
    MAX_CLIENTS,
    MAX_REQUESTS,
    MAX_SECONDS,
    REQUEST_TIMEOUT,
    START_DELAY,
    LoadResult,
    run_client_processes,
    timed_requests,
)


class Script(Protocol):
    """What one client sends next, and what it makes of each answer."""

    def next_request(self) -> tuple[str, str, dict[str, str], bytes]:
        """Return method, path, headers and body of the next request."""
        ...

    def answered(self, status: int, body: bytes) -> None:
        """Take note of the answer to the last request."""
        ...


@dataclass(frozen=True)
class _Job:
    port: int
    make_script: Callable[[int], Script]  # client number → its script (called in the client, after the fork)
    start_at: float
    seconds: float
    max_requests: int
    expect: int
    cpus: frozenset[int] | None


def _client_loop(job: _Job, number: int) -> tuple[list[float], Counter[str], float]:
    script = job.make_script(number)
    return timed_requests(
        job.port, job.start_at, job.seconds, job.max_requests, job.expect, script.next_request, script.answered
    )


def _client_process(job: _Job, number: int, results: multiprocessing.Queue) -> None:
    if job.cpus:
        os.sched_setaffinity(0, job.cpus)
    results.put(_client_loop(job, number))


def run_scripts(
    port: int,
    make_script: Callable[[int], Script],
    *,
    seconds: float,
    clients: int,
    label: str,
    max_requests: int = MAX_REQUESTS,
    expect: int = 200,
    processes: bool = True,
    cpus: frozenset[int] | None = None,
    server_cpu: Callable[[], float] | None = None,
) -> LoadResult:
    """Run ``clients`` concurrent clients (forked processes, or threads), each following its own script."""
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be in (0, {MAX_SECONDS}]")
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be in [1, {MAX_CLIENTS}]")
    if not 1 <= max_requests <= MAX_REQUESTS:
        raise ValueError(f"max_requests must be in [1, {MAX_REQUESTS}]")
    job = _Job(port, make_script, time.monotonic() + START_DELAY, seconds, math.ceil(max_requests / clients), expect,
               cpus)  # fmt: skip
    cpu_before = server_cpu() if server_cpu else 0.0
    if processes:
        outputs = _run_processes(job, clients)
    else:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            outputs = list(pool.map(_client_loop, [job] * clients, range(clients)))
    cpu_used = server_cpu() - cpu_before if server_cpu else None
    latencies = sorted(value for output in outputs for value in output[0])
    errors: Counter[str] = sum((output[1] for output in outputs), Counter())
    elapsed = max(output[2] for output in outputs) - job.start_at
    return LoadResult(label, len(latencies), errors, elapsed, clients, latencies, cpu_used)


def _run_processes(job: _Job, clients: int) -> list[tuple[list[float], Counter[str], float]]:
    deadline = job.start_at + job.seconds + REQUEST_TIMEOUT + 10
    return run_client_processes(_client_process, [(job, n) for n in range(clients)], deadline)
