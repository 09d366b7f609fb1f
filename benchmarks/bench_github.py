"""GitHub: API calls and wall time of `incident-syncer sync` against the fake GitHub server.

Each scenario runs the real CLI in a subprocess (the interpreter start-up included, as a user
or a CI job sees it) against tests/fakes/github.py with a latency added to every call:

* a fresh sync of an incident with 50 timeline events, a postmortem and 2 action items
  (unpaced, and with the default pacing of 1 write a second unless --quick);
* a no-op resync, with the local state and without it (an ephemeral CI runner);
* `incident-syncer --help` beside `python -c 'import click'` (median of --runs).

Run: .venv/bin/python benchmarks/bench_github.py [--latency 0.02] [--runs 7] [--quick]
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
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHECKOUT, write_config  # noqa: E402
from tests.fakes.github import TOKEN, FakeGitHub, github_tracker  # noqa: E402


def incident(events: int) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(CHECKOUT.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["id"] = "INC-bench-50"
    data["timeline"] = [
        {
            "at": f"2024-03-05T{14 + m // 60:02d}:{m % 60:02d}:00Z",
            "text": f"Step {m}: checked the payments dashboards and the rollback progress",
            "kind": "action" if m % 3 else "note",
        }
        for m in range(events)
    ]
    return data


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("incident-syncer")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "syncer"]


class Bench:
    def __init__(self, latency: float) -> None:
        self.app = FakeGitHub(users={"erin": "write", "frank": "write"}).start()
        self.app.latency = latency
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-github-"))
        self.env = {**os.environ, "GITHUB_TOKEN": TOKEN, "INCIDENT_SYNCER_RETRY_BASE": "0.01"}
        self.path = self.tmp / "incident.yaml"
        self.path.write_text(yaml.safe_dump(incident(50), allow_unicode=True), encoding="utf-8")

    def configure(self, writes_per_second: float) -> None:
        table = github_tracker(self.app, writes_per_second=writes_per_second)
        self.config = write_config(self.tmp / "incident-syncer.toml", {"gh": table})

    def reset(self) -> None:
        """A new repository: drop the fake's state and the local state."""
        with self.app.lock:
            self.app.issues.clear()
            self.app.comments.clear()
            self.app.labels.clear()
        self.forget()

    def forget(self) -> None:
        shutil.rmtree(self.tmp / "state", ignore_errors=True)

    def sync(self, name: str) -> tuple[str, int, int, float]:
        self.app.reset_log()
        start = time.perf_counter()
        subprocess.run(
            [*cli(), "--config", str(self.config), "sync", str(self.path)],
            check=True,
            env=self.env,
            cwd=self.tmp,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        return name, self.app.reads(), self.app.writes(), wall

    def stop(self) -> None:
        self.app.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def median_time(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to each call")
    parser.add_argument("--runs", type=int, default=7, help="runs for the start-up medians")
    parser.add_argument("--quick", action="store_true", help="skip the paced fresh sync")
    args = parser.parse_args()

    bench = Bench(args.latency)
    rows = []
    try:
        bench.configure(writes_per_second=0)
        rows.append(bench.sync("fresh sync, 50 events (pacing off)"))
        rows.append(bench.sync("no-op resync (local state)"))
        bench.forget()
        rows.append(bench.sync("no-op resync (no local state)"))
        if not args.quick:
            bench.reset()
            bench.configure(writes_per_second=1.0)
            rows.append(bench.sync("fresh sync, 50 events (default: 1 write/s)"))
    finally:
        bench.stop()

    print(f"GitHub, fake server with {args.latency * 1000:.0f} ms per call")
    print()
    print("| scenario | reads | writes | wall time (s) |")
    print("|---|---:|---:|---:|")
    for name, reads, writes, wall in rows:
        print(f"| {name} | {reads} | {writes} | {wall:.2f} |")

    median_time([sys.executable, "-c", "import click"], 2)  # warm the file cache
    base = median_time([sys.executable, "-c", "import click"], args.runs)
    help_ = median_time([*cli(), "--help"], args.runs)
    github = median_time([sys.executable, "-c", "import github"], args.runs)
    print()
    print(f"| start-up (median of {args.runs}) | ms | × import click |")
    print("|---|---:|---:|")
    print(f"| python -c 'import click' | {base * 1000:.0f} | 1.00 |")
    print(f"| incident-syncer --help | {help_ * 1000:.0f} | {help_ / base:.2f} |")
    print(
        f"| python -c 'import github' (paid only by a sync to GitHub) | {github * 1000:.0f} | "
        f"{github / base:.2f} |"
    )


if __name__ == "__main__":
    main()
