"""`serve` under load: deliveries accepted per second and answer times, fast vs slow trackers.

A real `incident-syncer serve` process (uvicorn on 127.0.0.1) in front of the fake GitHub
server, which answers every call after 0 ms, then after 200 ms. Senders post Alertmanager
notifications (a few groups, each repeated, as repeat_interval and HA pairs do) from
concurrent keep-alive connections (raw sockets: a sender costs little next to the server).
The answer is given once the delivery is journaled, so its time must not depend on how
slowly the tracker answers; the tracker work happens after.

Beside it, in the same run, the same senders against a bare Starlette app on uvicorn (same
event loop and HTTP parser) that answers 202 with no work at all: the ceiling of the stack
on this machine. The goal: with 8 senders, accepted/s at least 60 % of the bare app's, and
p99 at most 20 ms with 200 ms trackers.

The same bursts then go to one and to two replicas sharing a PostgreSQL state (the senders
alternate between them), beside the SQLite rows; the replicas also claim and apply each
other's deliveries meanwhile. The server comes from INCIDENT_SYNCER_TEST_PG (default
postgresql://postgres@127.0.0.1:5432/test); a schema of the run's own is dropped afterwards.
Without a server the PostgreSQL rows are left out.

Run: python benchmarks/bench_serve.py [--deliveries 2000] [--groups 10] [--concurrency 1 8]
     [--postgresql]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import write_config  # noqa: E402
from tests.fakes.github import REPO, TOKEN, FakeGitHub  # noqa: E402
from tests.test_ingest_helpers import am_alert, am_group, body  # noqa: E402

WEBHOOK_TOKEN = "bench-token-0123456789abcdef"


def payloads(deliveries: int, groups: int) -> list[bytes]:
    out = []
    for i in range(deliveries):
        g = i % groups
        data = am_group(
            [am_alert(f"order-api-{g}-a"), am_alert(f"order-api-{g}-b")],
            group_key=f'{{}}/{{namespace="shop-prod"}}:{{alertname="Bench{g}"}}',
            external_url=f"http://alertmanager-{i % 2}.monitoring:9093",
        )
        out.append(body(data))
    return out


def start_serve(
    config: Path, log: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "--config", str(config), "serve", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"listening on (http://[\d.]+:\d+)", log.read_text(errors="replace"))
        if match:
            try:
                httpx.get(match.group(1) + "/healthz", timeout=2).raise_for_status()
                return proc, match.group(1)
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("serve did not start:\n" + log.read_text(errors="replace"))


def fake_github(latency: float, conn: Connection) -> None:
    """The fake GitHub in a process of its own, so that its work does not slow the senders."""
    app = FakeGitHub().start()
    app.latency = latency
    app.rate_limit = app.rate_remaining = 10**9  # thousands of deliveries: not GitHub's hour
    conn.send(app.url)
    conn.recv()  # until the burst is over
    conn.send(len(app.log))
    app.stop()


def bare_app(conn: Connection, loop: str = "auto", http: str = "serve") -> None:
    """Starlette on uvicorn, as `serve` runs it (same loop and parser unless given), answering
    202 at once."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from syncer.httpguard import http_protocol

    async def accept(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "accepted"}, status_code=202)

    app = Starlette(routes=[Route("/alertmanager", accept, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    conn.send(f"http://127.0.0.1:{sock.getsockname()[1]}")
    protocol: Any = http_protocol() if http == "serve" else http
    config = uvicorn.Config(app, loop=loop, http=protocol, log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def pg_schema() -> Iterator[dict[str, str] | None]:
    """``[syncer]`` keys for a fresh schema on the test server (dropped after), or None."""
    from tests import pg

    dsn = pg.dsn()
    try:
        import psycopg

        psycopg.connect(dsn, connect_timeout=3).close()
    except Exception as exc:
        print(f"(no PostgreSQL at {dsn}: {str(exc).strip().splitlines()[0]}; rows left out)\n")
        yield None
        return
    here = pg.PG(dsn, f"bench_{uuid.uuid4().hex[:10]}")
    try:
        yield here.syncer_keys()
    finally:
        pg.drop(here)


def run(
    latency: float,
    args: argparse.Namespace,
    state: dict[str, str] | None = None,
    replicas: int = 1,
) -> dict[str, Any]:
    ours, theirs = multiprocessing.Pipe()
    tracker = multiprocessing.Process(target=fake_github, args=(latency, theirs), daemon=True)
    tracker.start()
    tracker_url = ours.recv()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = write_config(
            folder / "incident-syncer.toml",
            {
                "gh": {
                    "type": "github",
                    "repo": REPO,
                    "base_url": tracker_url,
                    "token_env": "GITHUB_TOKEN",
                    "writes_per_second": 0,
                }
            },
            extra=f"\n[serve]\nworkers = {args.workers}\nshutdown_timeout = 0\n",
            **(state or {}),
        )
        env = {
            **os.environ,
            "INCIDENT_SYNCER_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            "GITHUB_TOKEN": TOKEN,
        }
        servers = [start_serve(config, folder / f"serve-{n}.log", env) for n in range(replicas)]
        urls = [url for _, url in servers]
        try:
            burst(urls, payloads(args.concurrency * 4, args.groups), args.concurrency)  # warm up
            cpu = sum(cpu_seconds(proc.pid) for proc, _ in servers)
            began = time.perf_counter()
            results = burst(urls, payloads(args.deliveries, args.groups), args.concurrency)
            wall = time.perf_counter() - began
            cpu = sum(cpu_seconds(proc.pid) for proc, _ in servers) - cpu
            pending = httpx.get(urls[0] + "/healthz", timeout=5).json()["pending"]
            metrics = [httpx.get(url + "/metrics", timeout=5).text for url in urls]
            ours.send("done")
            tracker_calls = ours.recv()
        finally:
            for proc, _ in servers:  # shutdown_timeout = 0: what is queued stays queued
                proc.send_signal(signal.SIGTERM)
            for proc, _ in servers:
                proc.wait()
            tracker.join(10)
    return summary(results, wall, cpu) | {
        "pending": pending,
        "tracker_calls": tracker_calls,
        "per_commit": per_commit(metrics),
    }


def run_bare(args: argparse.Namespace, loop: str = "auto", http: str = "serve") -> dict[str, Any]:
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=bare_app, args=(theirs, loop, http), daemon=True)
    server.start()
    url = ours.recv()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                burst([url], payloads(args.concurrency * 4, args.groups), args.concurrency)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert server.pid is not None
        cpu = cpu_seconds(server.pid)
        began = time.perf_counter()
        results = burst([url], payloads(args.deliveries, args.groups), args.concurrency)
        wall = time.perf_counter() - began
        return summary(results, wall, cpu_seconds(server.pid) - cpu)
    finally:
        server.terminate()
        server.join(10)


def summary(results: list[tuple[float, int]], wall: float, cpu: float) -> dict[str, Any]:
    statuses = {s for _, s in results}
    if statuses != {202}:
        raise SystemExit(f"answers other than 202: {sorted(statuses)}")
    times = sorted(t for t, _ in results)
    return {
        "accepted_per_s": len(results) / wall,
        "cpu_us": cpu / len(results) * 1e6,
        "p50_ms": percentile(times, 0.50),
        "p99_ms": percentile(times, 0.99),
        "max_ms": times[-1] * 1000,
    }


def per_commit(metrics: list[str]) -> float:
    """Deliveries per journal commit, from each server's own histogram."""
    total = count = 0.0
    for text in metrics:
        found = re.search(r"^incident_syncer_journal_commit_deliveries_sum (\S+)", text, re.M)
        times = re.search(r"^incident_syncer_journal_commit_deliveries_count (\S+)", text, re.M)
        if found and times:
            total, count = total + float(found.group(1)), count + float(times.group(1))
    return total / count if count else 0.0


def burst(urls: list[str], bodies: list[bytes], concurrency: int) -> list[tuple[float, int]]:
    """Each body POSTed to /alertmanager from ``concurrency`` keep-alive connections; with
    several replicas, each sender sticks to one (as a load balancer's connections do)."""
    local = threading.local()
    turn = iter(range(1 << 30))

    def send(raw: bytes) -> tuple[float, int]:
        conn = getattr(local, "conn", None)
        if conn is None:
            host, port = urls[next(turn) % len(urls)].removeprefix("http://").split(":")
            conn = local.conn = socket.create_connection((host, int(port)), timeout=30)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            local.buffer = b""
        request = (
            "POST /alertmanager HTTP/1.1\r\nHost: incident-syncer\r\n"
            f"Authorization: Bearer {WEBHOOK_TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n"
        ).encode() + raw
        started = time.perf_counter()
        conn.sendall(request)
        status = read_answer(conn, local)
        return time.perf_counter() - started, status

    with ThreadPoolExecutor(concurrency) as pool:
        try:
            return list(pool.map(send, bodies))
        finally:
            pool.shutdown()


def read_answer(conn: socket.socket, local: threading.local) -> int:
    """One HTTP/1.1 answer with a Content-Length, read off a keep-alive connection."""
    data: bytes = local.buffer
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(rest) < length:
        rest += conn.recv(65536)
    local.buffer = rest[length:]
    return int(head.split(b" ", 2)[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_times: list[float], q: float) -> float:
    return sorted_times[min(len(sorted_times) - 1, int(len(sorted_times) * q))] * 1000


def stack_table(args: argparse.Namespace) -> None:
    """What uvloop and httptools bring: the bare app on each event loop and parser."""
    one = argparse.Namespace(**{**vars(args), "concurrency": max(args.concurrency)})
    print(f"The bare app on each event loop and HTTP parser ({one.concurrency} senders):\n")
    print("| event loop | HTTP parser | accepted/s | × asyncio + h11 | CPU per request (µs) |")
    print("|---|---|---:|---:|---:|")
    base = None
    for loop, http in (("asyncio", "h11"), ("uvloop", "h11"), ("asyncio", "httptools"),
                       ("uvloop", "httptools")):  # fmt: skip
        r = run_bare(one, loop, http)
        base = base or r["accepted_per_s"]
        print(
            f"| {loop} | {http} | {r['accepted_per_s']:.0f} | {r['accepted_per_s'] / base:.2f} "
            f"| {r['cpu_us']:.0f} |",
            flush=True,
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--workers", type=int, default=2, help="[serve].workers (default 2)")
    args = parser.parse_args()
    from syncer.httpguard import http_protocol

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    print(
        f"{args.deliveries} deliveries per run ({args.groups} groups, each repeated), "
        f"{args.workers} workers, {os.cpu_count()} CPUs shared by senders, server and fake "
        f"tracker; event loop {loop}, parser {http_protocol().__name__}\n"
    )
    stack_table(args)
    print(
        "| server | state | replicas | senders | tracker latency | accepted/s | × bare app "
        "| server CPU per delivery (µs) | p50 answer (ms) | p99 answer (ms) | max (ms) "
        "| deliveries per commit | queued after the burst | tracker calls during it |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with pg_schema() as probe:
        setups = [("SQLite", 1)] + ([("PostgreSQL", 1), ("PostgreSQL", 2)] if probe else [])
    for concurrency in args.concurrency:
        one = argparse.Namespace(**{**vars(args), "concurrency": concurrency})
        bare = run_bare(one)
        print(
            f"| bare Starlette app | - | 1 | {concurrency} | - | {bare['accepted_per_s']:.0f} "
            f"| 1.00 | {bare['cpu_us']:.0f} | {bare['p50_ms']:.1f} | {bare['p99_ms']:.1f} "
            f"| {bare['max_ms']:.1f} | - | - | - |",
            flush=True,
        )
        for name, replicas in setups:
            for latency in (0.0, 0.2):
                with pg_schema() if name == "PostgreSQL" else nullcontext() as state:
                    r = run(latency, one, state, replicas)  # a fresh state every run
                print(
                    f"| serve | {name} | {replicas} | {concurrency} | {latency * 1000:.0f} ms "
                    f"| {r['accepted_per_s']:.0f} "
                    f"| {r['accepted_per_s'] / bare['accepted_per_s']:.2f} | {r['cpu_us']:.0f} "
                    f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} "
                    f"| {r['per_commit']:.1f} | {r['pending']} | {r['tracker_calls']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
