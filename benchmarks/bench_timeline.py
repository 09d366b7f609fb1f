"""Timeline size: a fresh sync and a no-op resync of incidents with 100, 1,000 and 10,000 entries.

Each incident file is synced by the real CLI in this process (file parsing and validation
included) into the memory tracker and into the fake GitHub server (tests/fakes/github.py, no
latency, pacing off), then synced again unchanged. Reported per size and tracker: wall time,
CPU seconds (of this process, the fake server included: steadier than wall time on a busy
machine), reads and writes, and the times as multiples of the 1,000-entry ones (linear growth
is 10×; the goal is at most 12× for the fresh sync, and a no-op resync of 10,000 entries
under 2 s).

Run: .venv/bin/python benchmarks/bench_timeline.py [--sizes 100 1000 10000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters import memory  # noqa: E402
from tests.conftest import CHECKOUT, write_config  # noqa: E402
from tests.fakes.github import TOKEN, FakeGitHub, github_tracker  # noqa: E402

START = datetime(2024, 3, 5, 5, 0, tzinfo=UTC)


def incident(entries: int) -> dict[str, Any]:
    """The checkout example (resolved, with a postmortem) with ``entries`` timeline entries."""
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(CHECKOUT.read_text(encoding="utf-8")))
    data["id"] = f"INC-timeline-{entries}"
    data["started_at"] = START.isoformat()
    data["detected_at"] = (START + timedelta(minutes=1)).isoformat()
    data["mitigated_at"] = (START + timedelta(seconds=20 * entries + 120)).isoformat()
    data["resolved_at"] = (START + timedelta(seconds=20 * entries + 180)).isoformat()
    data["closed_at"] = (START + timedelta(seconds=20 * entries + 240)).isoformat()
    data["timeline"] = [
        {
            "at": (START + timedelta(seconds=20 * m + 60)).isoformat(),
            "text": f"Step {m}: checked the payments dashboards and the rollback progress",
            "kind": "action" if m % 3 else "note",
        }
        for m in range(entries)
    ]
    return data


class Tracker:
    """One tracker to sync into: its config table, a reset, and its call counts."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.app: FakeGitHub | None = None
        if name == "github":
            self.app = FakeGitHub().start()
            # 10,000 comments: more than GitHub's 5,000 requests an hour, which would hold the
            # sync for the hour (as it should); lifted here with the pacing.
            self.app.rate_limit = self.app.rate_remaining = 10**9
            os.environ["GITHUB_TOKEN"] = TOKEN

    def table(self) -> dict[str, Any]:
        if self.app is not None:
            return github_tracker(self.app)  # pacing off
        return {"type": "memory", "store": "bench"}

    def reset(self) -> None:
        if self.app is not None:
            with self.app.lock:
                self.app.issues.clear()
                self.app.comments.clear()
            self.app.reset_log()
        else:
            memory.reset("bench")

    def counts(self) -> tuple[int, int]:
        if self.app is not None:
            reads, writes = self.app.reads(), self.app.writes()
            self.app.reset_log()
            return reads, writes
        store = memory.store("bench")
        reads, writes = store.reads(), store.writes()
        store.calls.clear()
        return reads, writes

    def stop(self) -> None:
        if self.app is not None:
            self.app.stop()


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn`` (the CPU of this whole process: the fake server too)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--trackers", nargs="+", default=["memory", "github"])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each scenario (median)")
    args = parser.parse_args()

    from click.testing import CliRunner

    from syncer.cli import main as cli

    tmp = Path(tempfile.mkdtemp(prefix="bench-timeline-"))
    rows: list[tuple[str, int, str, float, float, int, int]] = []
    try:
        for tracker_name in args.trackers:
            tracker = Tracker(tracker_name)
            config = write_config(
                tmp / "incident-syncer.toml", {tracker_name: tracker.table()}, language="en"
            )
            for size in args.sizes:
                path = tmp / f"incident-{size}.yaml"
                path.write_text(yaml.safe_dump(incident(size), allow_unicode=True), "utf-8")
                samples: dict[str, list[tuple[float, float]]] = {
                    "fresh sync": [],
                    "no-op resync": [],
                }
                counts: dict[str, tuple[int, int]] = {}

                def sync(path: Path = path, config: Path = config) -> None:
                    result = CliRunner().invoke(cli, ["--config", str(config), "sync", str(path)])
                    if result.exit_code != 0:
                        raise SystemExit(result.output)

                for _ in range(args.repeat):
                    tracker.reset()
                    shutil.rmtree(tmp / "state", ignore_errors=True)
                    samples["fresh sync"].append(timed(sync))
                    counts["fresh sync"] = tracker.counts()
                    samples["no-op resync"].append(timed(sync))
                    counts["no-op resync"] = tracker.counts()
                    if counts["no-op resync"][1]:
                        raise SystemExit(f"{tracker_name}, {size}: the resync wrote something")
                for scenario, times in samples.items():
                    reads, writes = counts[scenario]
                    wall = statistics.median(w for w, _ in times)
                    cpu = statistics.median(c for _, c in times)
                    rows.append((tracker_name, size, scenario, wall, cpu, reads, writes))
                    print(f"{tracker_name} {size} {scenario}: {wall:.2f} s", flush=True)
            tracker.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base = {(t, s): (wall, cpu) for t, n, s, wall, cpu, _, _ in rows if n == 1000}
    print()
    print(
        "| tracker | entries | scenario | wall s | CPU s | × 1,000 entries (wall, CPU) "
        "| reads | writes |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for tracker_name, size, scenario, wall, cpu, reads, writes in rows:
        ref = base.get((tracker_name, scenario))
        ratio = f"{wall / ref[0]:.1f}, {cpu / ref[1]:.1f}" if ref else "-"
        print(
            f"| {tracker_name} | {size:,} | {scenario} | {wall:.2f} | {cpu:.2f} | {ratio} | "
            f"{reads:,} | {writes:,} |"
        )


if __name__ == "__main__":
    main()
