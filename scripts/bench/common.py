"""Pieces the benchmarks share: a gunicorn server on loopback, a bounded load generator and a results table.

Everything stays on 127.0.0.1 and every loop is bounded both in time and in count, so a benchmark can never run
away or reach beyond the machine.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import multiprocessing
import os
import queue
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
MAX_SECONDS = 600.0  # the longest single measurement accepted
MAX_REQUESTS = 10_000_000  # a request cap on top of the time limit
MAX_CLIENTS = 256
REQUEST_TIMEOUT = 10.0  # seconds for one request, connect included
START_DELAY = 0.3  # seconds between launching the clients and the common start, so that all start together


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def fetch(port: int, path: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """Make one GET request to the loopback server and return its status and body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- the server


def process_group_cpu_seconds(pgid: int) -> float:
    """Return the CPU seconds used so far by the live processes of a process group (read from Linux /proc)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rfind(")") + 2 :].split()  # the fields after "pid (comm) "; pgrp is the 3rd
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ServerConfig:
    """The gunicorn settings that every server of one comparison shares."""

    workers: int = 2
    worker_class: str = "sync"
    timeout: int = 30
    graceful_timeout: int = 5
    log_level: str = "warning"
    extra_args: tuple[str, ...] = ()
    cpus: frozenset[int] | None = None  # pin the server (arbiter and workers) to these CPUs

    def pin(self) -> None:
        """Pin the calling process to ``cpus``, if given (run in the child before it becomes gunicorn)."""
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)

    def args(self, port: int) -> list[str]:
        """Return the gunicorn command-line options for a server on ``port``."""
        return [
            "--bind", f"{HOST}:{port}",
            "--workers", str(self.workers),
            "--worker-class", self.worker_class,
            "--timeout", str(self.timeout),
            "--graceful-timeout", str(self.graceful_timeout),
            "--log-level", self.log_level,
            "--no-control-socket",  # gunicorn 27: otherwise every server claims the same control socket
            *self.extra_args,
        ]  # fmt: skip


class GunicornServer:
    """A gunicorn server for ``module:app`` on a free loopback port, run as a subprocess in its own session."""

    def __init__(
        self,
        app: str,
        config: ServerConfig,
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        ready_path: str = "/",
        ready_timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.config = config
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.ready_path = ready_path
        self.ready_timeout = ready_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GunicornServer:
        """Start gunicorn and wait until it answers HTTP; retry on a new port if the chosen one was taken."""
        for _attempt in range(3):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", *self.config.args(self.port), self.app],
                    cwd=PROJECT_ROOT,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # so that stop() can reach the workers through the process group
                    preexec_fn=self.config.pin if self.config.cpus else None,
                )
            if self._wait_until_answers():
                return self
            exited = self._proc.poll() is not None
            self.stop()
            if not exited:
                break  # running but silent: a new port would not help
        raise RuntimeError(f"gunicorn {self.app} did not start; its log:\n{self.log_tail()}")

    def _wait_until_answers(self) -> bool:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                fetch(self.port, self.ready_path, timeout=1.0)  # any HTTP answer, even a 401, means it is up
                return True
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Stop gunicorn gracefully; kill its whole process group if it does not exit in time."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=self.config.graceful_timeout + 5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group is this server's own session
            proc.wait(timeout=5)

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) used so far by the server's arbiter and workers."""
        return process_group_cpu_seconds(self._proc.pid) if self._proc else 0.0

    def log_tail(self, lines: int = 30) -> str:
        """Return the end of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> GunicornServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------- the load generator


@dataclass(frozen=True)
class _ClientJob:
    port: int
    path: str
    headers: tuple[tuple[str, str], ...]
    start_at: float  # time.monotonic() value, shared by all clients (CLOCK_MONOTONIC is system-wide on Linux)
    seconds: float
    max_requests: int
    expect: int
    cpus: frozenset[int] | None


@dataclass
class LoadResult:
    """What one measurement produced; rates and percentiles count only responses with the expected status."""

    label: str
    ok: int
    errors: Counter[str]
    seconds: float
    clients: int
    latencies_ms: list[float] = field(repr=False)  # sorted
    server_cpu_s: float | None = None  # CPU the server used during the run, if measured

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        """Return server CPU microseconds per successful request (less sensitive than rps to other load)."""
        if self.server_cpu_s is None or not self.ok:
            return math.nan
        return self.server_cpu_s / self.ok * 1e6

    @property
    def error_count(self) -> int:
        """Failed requests: transport errors and unexpected statuses."""
        return sum(self.errors.values())

    def percentile(self, q: float) -> float:
        """Return the q-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies_ms:
            return math.nan
        rank = max(0, math.ceil(q / 100 * len(self.latencies_ms)) - 1)
        return self.latencies_ms[rank]


def _client_loop(job: _ClientJob) -> tuple[list[float], Counter[str], float]:
    """Send the job's GET one request after another until the time or count runs out."""
    request = ("GET", job.path, dict(job.headers), None)
    return timed_requests(job.port, job.start_at, job.seconds, job.max_requests, job.expect, lambda: request)


def timed_requests(
    port: int,
    start_at: float,
    seconds: float,
    max_requests: int,
    expect: int,
    next_request: Callable[[], tuple[str, str, Mapping[str, str], bytes | None]],
    on_answer: Callable[[int, bytes], None] | None = None,
) -> tuple[list[float], Counter[str], float]:
    """Send ``next_request()`` one after another until time or count runs out; reconnect whenever the server closes.

    Returns the latencies (ms) of answers with status ``expect``, the errors counted by kind, and the end time.
    """
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    stop_at = start_at + seconds
    conn: http.client.HTTPConnection | None = None
    time.sleep(max(0.0, start_at - time.monotonic()))
    for _ in range(max_requests):
        method, path, headers, body = next_request()
        began = time.monotonic()
        if began >= stop_at:
            break
        try:
            if conn is None:
                conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
            # A keep-alive connection; when the response says "Connection: close" (gunicorn's sync workers always
            # do), http.client drops the socket and the next request opens a new one by itself.
            conn.request(method, path, body=body, headers=dict(headers))
            response = conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            errors[type(exc).__name__] += 1
            if on_answer is not None:
                on_answer(0, b"")
            if conn is not None:
                conn.close()
                conn = None
            time.sleep(0.01)  # a refused or reset connection must not become a busy loop
            continue
        if response.status == expect:
            latencies.append((time.monotonic() - began) * 1000)
        else:
            errors[f"HTTP {response.status}"] += 1
        if on_answer is not None:
            on_answer(response.status, answer)
    ended = time.monotonic()
    if conn is not None:
        conn.close()
    return latencies, errors, ended


def _client_process(job: _ClientJob, results: multiprocessing.Queue) -> None:
    if job.cpus:
        os.sched_setaffinity(0, job.cpus)
    results.put(_client_loop(job))


def run_load(
    port: int,
    path: str,
    *,
    seconds: float,
    clients: int,
    label: str = "",
    headers: Mapping[str, str] | None = None,
    max_requests: int = MAX_REQUESTS,
    expect: int = 200,
    processes: bool = True,
    cpus: frozenset[int] | None = None,
    server_cpu: Callable[[], float] | None = None,
) -> LoadResult:
    """Load ``path`` from ``clients`` concurrent clients (processes, or threads) for ``seconds`` or ``max_requests``.

    With ``cpus``, client processes are pinned to those CPUs (threads ignore it); ``server_cpu`` (e.g.
    ``GunicornServer.cpu_seconds``) is read before and after to report the server's CPU cost per request.
    """
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be in (0, {MAX_SECONDS}]")
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be in [1, {MAX_CLIENTS}]")
    if not 1 <= max_requests <= MAX_REQUESTS:
        raise ValueError(f"max_requests must be in [1, {MAX_REQUESTS}]")
    job = _ClientJob(
        port=port,
        path=path,
        headers=tuple((headers or {}).items()),
        start_at=time.monotonic() + START_DELAY,
        seconds=seconds,
        max_requests=math.ceil(max_requests / clients),
        expect=expect,
        cpus=cpus,
    )
    cpu_before = server_cpu() if server_cpu else 0.0
    outputs = _run_processes(job, clients) if processes else _run_threads(job, clients)
    cpu_used = server_cpu() - cpu_before if server_cpu else None
    latencies = sorted(value for output in outputs for value in output[0])
    errors: Counter[str] = sum((output[1] for output in outputs), Counter())
    elapsed = max(output[2] for output in outputs) - job.start_at
    return LoadResult(label or path, len(latencies), errors, elapsed, clients, latencies, cpu_used)


def _run_threads(job: _ClientJob, clients: int) -> list[tuple[list[float], Counter[str], float]]:
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(_client_loop, [job] * clients))


def _run_processes(job: _ClientJob, clients: int) -> list[tuple[list[float], Counter[str], float]]:
    deadline = job.start_at + job.seconds + REQUEST_TIMEOUT + 10
    return run_client_processes(_client_process, [(job,)] * clients, deadline)


def run_client_processes(target: Callable[..., None], client_args: list[tuple], deadline: float) -> list:
    """Run ``target(*args, results)`` in one process per client and collect one result from each by ``deadline``."""
    # One process per client (not a pool, which may hand two jobs to one process and so lose concurrency).
    ctx = multiprocessing.get_context("fork")  # closures are inherited, never pickled
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, results), daemon=True) for args in client_args]
    for proc in procs:
        proc.start()
    outputs = []
    try:
        for _ in procs:
            # Drain the queue before joining: a child cannot exit while its result is still unread.
            outputs.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
    except queue.Empty as exc:
        raise RuntimeError("a load client did not report in time") from exc
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
    return outputs
