"""`serve` under load: deliveries accepted per second and answer times, fast vs slow trackers.

A real `incident-syncer serve` process (uvicorn on 127.0.0.1) in front of the fake GitHub
server, which answers every call after 0 ms, then after 200 ms. Senders post Alertmanager
notifications (a few groups, each repeated, as repeat_interval and HA pairs do) from
concurrent keep-alive connections. The answer is given once the delivery is journaled, so
its time must not depend on how slowly the tracker answers; the tracker work happens after.

The same burst then goes to one and to two replicas sharing a PostgreSQL state (the senders
alternate between them), beside the SQLite rows: accepting costs one committed insert either
way; the replicas also claim and apply each other's deliveries meanwhile. The server comes from
INCIDENT_SYNCER_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test); a schema of the
run's own is dropped afterwards. Without a server the PostgreSQL rows are left out.

Run: python benchmarks/bench_serve.py [--deliveries 400] [--groups 10] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import signal
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
    conn.send(app.url)
    conn.recv()  # until the burst is over
    conn.send(len(app.log))
    app.stop()


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
            # The floor: the same senders on GET /healthz, which does little work.
            floor = burst(urls, [None] * args.deliveries, args.concurrency)
            burst(urls, payloads(args.concurrency * 2, args.groups), args.concurrency)  # warm up
            began = time.perf_counter()
            results = burst(urls, payloads(args.deliveries, args.groups), args.concurrency)
            wall = time.perf_counter() - began
            pending = httpx.get(urls[0] + "/healthz", timeout=5).json()["pending"]
            ours.send("done")
            tracker_calls = ours.recv()
        finally:
            for proc, _ in servers:  # shutdown_timeout = 0: what is queued stays queued
                proc.send_signal(signal.SIGTERM)
            for proc, _ in servers:
                proc.wait()
            tracker.join(10)
    assert {s for _, s in results} == {202}
    times = sorted(t for t, _ in results)
    floor_times = sorted(t for t, _ in floor)
    return {
        "latency_ms": latency * 1000,
        "accepted_per_s": len(results) / wall,
        "p50_ms": percentile(times, 0.50),
        "p99_ms": percentile(times, 0.99),
        "max_ms": times[-1] * 1000,
        "floor_p50_ms": percentile(floor_times, 0.50),
        "floor_p99_ms": percentile(floor_times, 0.99),
        "pending": pending,
        "tracker_calls": tracker_calls,
    }


def burst(urls: list[str], bodies: list[bytes | None], concurrency: int) -> list[tuple[float, int]]:
    """Each body POSTed to /alertmanager (None: GET /healthz), from keep-alive connections;
    with several replicas, each sender sticks to one (as a load balancer's connections do)."""
    headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    local = threading.local()
    turn = iter(range(1 << 30))

    def send(raw: bytes | None) -> tuple[float, int]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30)
            local.url = urls[next(turn) % len(urls)]
        url = local.url
        started = time.perf_counter()
        if raw is None:
            status = client.get(url + "/healthz").status_code
        else:
            status = client.post(url + "/alertmanager", content=raw, headers=headers).status_code
        return time.perf_counter() - started, status

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(send, bodies))


def percentile(sorted_times: list[float], q: float) -> float:
    return sorted_times[min(len(sorted_times) - 1, int(len(sorted_times) * q))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=400)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--workers", type=int, default=2, help="[serve].workers (default 2)")
    args = parser.parse_args()
    print(
        f"{args.deliveries} deliveries per run ({args.groups} groups, each repeated), "
        f"{args.workers} workers, {os.cpu_count()} CPUs shared by senders, servers and fake tracker\n"
    )
    print(
        "| state | replicas | senders | tracker latency | accepted/s | p50 answer (ms) "
        "| p99 answer (ms) | max (ms) | GET /healthz p50 / p99 (ms) | queued after the burst "
        "| tracker calls during it |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with pg_schema() as probe:
        setups = [("SQLite", 1)] + ([("PostgreSQL", 1), ("PostgreSQL", 2)] if probe else [])
    for concurrency in args.concurrency:
        for latency in (0.0, 0.2):
            for name, replicas in setups:
                options = argparse.Namespace(**{**vars(args), "concurrency": concurrency})
                with pg_schema() if name == "PostgreSQL" else nullcontext() as state:
                    r = run(latency, options, state, replicas)  # a fresh state every run
                print(
                    f"| {name} | {replicas} | {concurrency} | {r['latency_ms']:.0f} ms "
                    f"| {r['accepted_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                    f"| {r['max_ms']:.1f} | {r['floor_p50_ms']:.1f} / {r['floor_p99_ms']:.1f} "
                    f"| {r['pending']} | {r['tracker_calls']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
