"""Notion: API calls and wall time of `incident-syncer sync` against the fake Notion API.

The real CLI runs in a subprocess (start-up and imports included, as a user or a CI job sees
it) against tests/fakes/notion.py, with a latency added to every answer and the fake holding
clients to Notion's rate (3 requests a second, bursts of 3, 429 + Retry-After beyond it).

* a fresh sync of a resolved incident with 250 timeline events, a postmortem and 2 action
  items, paced at the default 3 requests a second;
* the same fresh sync unpaced against an unlimited fake (what the API calls cost alone);
* a no-op resync with the local state, and without it (an ephemeral CI runner), paced and not;
  without a marker key (unsigned tags, trusted by the bot that wrote them) and with one.

Reads and writes count the requests that succeeded; 429s are counted apart (each one is
retried after its Retry-After).

Times are medians of --repeat runs (each fresh sync on a fresh fake).

Run: .venv/bin/python benchmarks/bench_notion.py [--latency 0.02] [--repeat 3] [--events 250]
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import BANNER, write_config  # noqa: E402
from tests.fakes.notion import TOKEN, FakeNotion, notion_tracker  # noqa: E402
from tests.procs import cli_command  # noqa: E402

MARKER_KEY = "bench-marker-key-0123456789abcdef"  # signs the markers in the "marker key" rows


def incident(events: int) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(BANNER.read_text(encoding="utf-8")))
    data["id"] = f"INC-bench-{events}"
    start = datetime.fromisoformat("2024-02-12T00:10:00+09:00")
    data["timeline"] = [
        {
            "at": (start + timedelta(minutes=m)).isoformat(),
            "text": f"조치 {m}: 배너 캐시와 노출 기간을 다시 확인함",
            "kind": "action" if m % 3 else "note",
        }
        for m in range(events)
    ]
    data["resolved_at"] = (start + timedelta(minutes=events + 10)).isoformat()
    return data


@dataclass
class Row:
    name: str
    reads: int
    writes: int
    limited: int
    wall: float


class Bench:
    def __init__(self, latency: float, events: int) -> None:
        self.latency = latency
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-notion-"))
        self.path = self.tmp / "incident.yaml"
        self.path.write_text(yaml.safe_dump(incident(events), allow_unicode=True), "utf-8")
        self.env = {
            **os.environ,
            "NOTION_TOKEN": TOKEN,
            "INCIDENT_SYNCER_RETRY_BASE": "0.05",
        }
        self.app: FakeNotion | None = None

    def fresh_app(self, limited: bool) -> FakeNotion:
        if self.app is not None:
            self.app.stop()
        app = FakeNotion(rate_limit=3.0 if limited else None, burst=3)
        app.retry_after = "1"
        app.latency = self.latency
        app.start()
        self.app = app
        return app

    def configure(self, app: FakeNotion, rate: float) -> Path:
        table = notion_tracker(app, requests_per_second=rate, burst=3)
        shutil.rmtree(self.tmp / "state", ignore_errors=True)
        return write_config(self.tmp / "incident-syncer.toml", {"notion": table})

    def sync(self, config: Path, app: FakeNotion) -> tuple[float, int, int, int]:
        app.reset_log()
        started = time.monotonic()
        done = subprocess.run(
            [*cli_command(), "--config", str(config), "sync", str(self.path)],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"sync failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        done_ok = [e for e in app.log if e.status < 400]
        reads = sum(1 for e in done_ok if not e.write or e.path.endswith("/query"))
        limited = sum(1 for e in app.log if e.status == 429)
        return wall, reads, len(done_ok) - reads, limited

    def scenario(self, name: str, repeat: int, limited: bool, rate: float, mode: str) -> Row:
        results = []
        for _ in range(repeat):
            app = self.fresh_app(limited)
            config = self.configure(app, rate)
            if mode != "fresh":
                self.sync(config, app)
                if mode == "no-state":
                    shutil.rmtree(self.tmp / "state", ignore_errors=True)
            results.append(self.sync(config, app))
        wall = statistics.median(r[0] for r in results)
        reads, writes, hits = results[-1][1:]
        return Row(name, reads, writes, hits, wall)

    def close(self) -> None:
        if self.app is not None:
            self.app.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added per answer")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", type=int, default=250)
    args = parser.parse_args()
    bench = Bench(args.latency, args.events)
    try:
        rows = [
            bench.scenario(
                f"fresh sync, {args.events} events, paced 3 req/s", args.repeat, True, 3, "fresh"
            ),
            bench.scenario(
                f"fresh sync, {args.events} events, unpaced", args.repeat, False, 0, "fresh"
            ),
            bench.scenario("no-op resync (local state), paced", args.repeat, True, 3, "state"),
            bench.scenario("no-op resync (local state), unpaced", args.repeat, False, 0, "state"),
            bench.scenario(
                "no-op resync (no local state), paced", args.repeat, True, 3, "no-state"
            ),
            bench.scenario(
                "no-op resync (no local state), unpaced", args.repeat, False, 0, "no-state"
            ),
        ]
        bench.env["INCIDENT_SYNCER_MARKER_KEY"] = MARKER_KEY  # signed markers from here on
        rows += [
            bench.scenario(
                "no-op resync, marker key (local state)", args.repeat, False, 0, "state"
            ),
            bench.scenario(
                "no-op resync, marker key (no local state)", args.repeat, False, 0, "no-state"
            ),
        ]
    finally:
        bench.close()
    print(f"latency {args.latency * 1000:.0f} ms per answer, median of {args.repeat}\n")
    print("| scenario | reads | writes | 429s (retried) | wall time |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row.name} | {row.reads} | {row.writes} | {row.limited} | {row.wall:.2f} s |")


if __name__ == "__main__":
    main()
