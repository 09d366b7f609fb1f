"""Backfill: 500 past incidents × 20 events into GitHub, Jira and Notion at once, at their pace.

The CLI runs as a subprocess (as a user runs it) against the fake trackers in this process,
every answer delayed by --latency (20 ms). The fakes enforce GitHub-like and Notion-like rate
limits, scaled up by --scale (10: everything ten times as fast, so the run takes a couple of
minutes instead of twenty): GitHub's secondary limits on content-creating requests (80 a
minute, 500 an hour → 800 and 5,000), Notion's average of 3 requests a second (→ 30, with
short bursts). The backfill is paced at the same scaled budgets, GitHub's guidance of one
write a second included (→ 10); Jira publishes no fixed rate and only adds latency here.

Reported: writes per incident per tracker (HTTP requests that reached the fakes, and the
engine's count), total wall time, the lower bound the rate limits set (the slowest tracker's
requests at its budget), and their ratio (goal: 1.2 or less, paced at 100 % of the limits),
and how many rate-limit answers the fakes sent (goal: none); then, on a few incidents,
what the same backfill costs with one comment per event (--no-historical).

Run: .venv/bin/python benchmarks/bench_backfill.py [--incidents 500] [--events 20]
     [--latency 0.02] [--scale 10] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.contract.test_jira import JiraHarness  # noqa: E402
from tests.fakes.base import Response  # noqa: E402
from tests.fakes.github import SECONDARY_MESSAGE, FakeGitHub, github_tracker  # noqa: E402
from tests.fakes.github import TOKEN as GITHUB_TOKEN  # noqa: E402
from tests.fakes.jira import FakeJira  # noqa: E402
from tests.fakes.notion import TOKEN as NOTION_TOKEN  # noqa: E402
from tests.fakes.notion import FakeNotion, notion_tracker  # noqa: E402
from tests.test_backfill_cli import configure, make_folder  # noqa: E402

WRITES = {"POST", "PATCH", "PUT", "DELETE"}


class LimitedGitHub(FakeGitHub):
    """GitHub's secondary limits on content-creating requests: several sliding windows."""

    def __init__(self, windows: list[tuple[int, float]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.windows = [(count, seconds, deque[float]()) for count, seconds in windows]
        self.window_lock = threading.Lock()

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        if method in WRITES:
            with self.window_lock:
                now = time.monotonic()
                for count, seconds, times in self.windows:
                    while times and times[0] <= now - seconds:
                        times.popleft()
                    if len(times) >= count:
                        self._log(method, raw_path.split("?", 1)[0], 403, "secondary")
                        return Response(403, {"message": SECONDARY_MESSAGE}, {"Retry-After": "1"})
                for _, _, times in self.windows:
                    times.append(now)
        return super().handle(method, raw_path, headers, body)


def limited(app: Any) -> int:
    return sum(1 for e in app.log if e.status in (403, 429))


def lower_bound(
    github_writes: int, notion_requests: int, scale: float, burst: int
) -> dict[str, float]:
    """Seconds the slowest budget needs, from the first request (documented limits, scaled)."""
    write_rate = 1.0 * scale
    per_minute, per_hour = 80 * scale, 500 * scale
    github = max(
        (github_writes - 1) / write_rate,
        ((github_writes - 1) // per_minute) * 60.0,
        ((github_writes - 1) // per_hour) * 3600.0,
    )
    notion = max(0.0, (notion_requests - burst) / (3.0 * scale))
    return {"github": github, "notion": notion}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--compare", type=int, default=10, help="incidents for --no-historical")
    args = parser.parse_args()
    scale = args.scale
    burst = 3

    github = LimitedGitHub([(int(80 * scale), 60.0), (int(500 * scale), 3600.0)]).start()
    jira = FakeJira(cloud=True).start()
    notion = FakeNotion(rate_limit=3.0 * scale, burst=10)  # "some bursts ... are allowed"
    notion.retry_after = "1"
    notion.start()
    for app in (github, jira, notion):
        app.latency = args.latency
    jira_harness = JiraHarness(jira, cloud=True)
    jira_table = dict(jira_harness.table)
    for key in ("requests_per_second", "burst"):
        jira_table.pop(key)  # Jira: paced by its signals only, as by default
    trackers = {
        "github": github_tracker(
            github,
            writes_per_second=1.0 * scale,
            writes_per_minute=int(80 * scale),
            writes_per_hour=int(500 * scale),
        ),
        "jira": jira_table,
        "notion": notion_tracker(notion, requests_per_second=3.0 * scale, burst=burst),
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    cfg = configure(tmp, trackers)
    folder = make_folder(tmp, args.incidents, events=args.events)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp)),
        "PYTHONPATH": str(ROOT),
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "NOTION_TOKEN": NOTION_TOKEN,
        **jira_harness.env,
    }
    command = [sys.executable, "-m", "syncer", "--config", str(cfg), "backfill", str(folder)]
    command += ["--concurrency", str(args.concurrency), "--progress", "lines"]
    print(
        f"backfill of {args.incidents} incidents × {args.events} events into GitHub, Jira and "
        f"Notion; latency {args.latency * 1000:.0f} ms; limits scaled ×{scale:g}; "
        f"concurrency {args.concurrency}",
        flush=True,
    )
    began = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.monotonic() - began
    if done.returncode != 0:
        print(done.stdout, done.stderr[-3000:])
        raise SystemExit(f"backfill failed with exit code {done.returncode}")
    print(done.stdout)

    n = args.incidents
    rows = []
    for name, app in (("github", github), ("jira", jira), ("notion", notion)):
        ok_writes = sum(1 for e in app.log if e.write and e.status < 400)
        rows.append((name, app.calls(), ok_writes, ok_writes / n, limited(app)))
    notion_requests = notion.calls()
    github_writes = sum(1 for e in github.log if e.write and e.status < 400)
    bounds = lower_bound(github_writes, notion_requests, scale, burst)
    bound = max(bounds.values())
    print("tracker   requests   writes   writes/incident   rate-limited answers")
    for name, calls, writes, per, rl in rows:
        print(f"{name:8} {calls:9} {writes:8} {per:17.2f} {rl:22}")
    print(
        f"\nwall time {wall:.1f} s (process start-up included); lower bound from the rate "
        f"limits {bound:.1f} s (GitHub {bounds['github']:.1f} s for {github_writes} writes at "
        f"{scale:g}/s, Notion {bounds['notion']:.1f} s for {notion_requests} requests at "
        f"{3 * scale:g}/s); ratio {wall / bound:.2f}"
    )
    answers = sum(rl for *_, rl in rows)
    print(f"rate-limit answers (403/429) the fakes sent: {answers} (goal: 0)")

    # The same incidents with one comment per event, on a few of them (unpaced: counts only).
    if args.compare:
        unpaced = github_tracker(
            github, writes_per_second=0, writes_per_minute=0, writes_per_hour=0
        )
        cfg2 = configure(tmp / "compare", {"gh2": unpaced})
        small = make_folder(tmp / "compare", args.compare, events=args.events)
        github.windows = []
        github.latency = 0.0
        for historical in ("--historical", "--no-historical"):
            github.reset_log()
            github.issues.clear()
            subprocess.run(
                [sys.executable, "-m", "syncer", "--config", str(cfg2), "backfill", str(small),
                 historical, "--recheck", "--progress", "off"],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            writes = sum(
                1 for e in github.log if e.write and e.status < 400 and "/labels" not in e.path
            )
            print(
                f"GitHub, {args.compare} incidents × {args.events} events, {historical[2:]}: "
                f"{writes / args.compare:.1f} writes per incident"
            )
    for app in (github, jira, notion):
        app.stop()


if __name__ == "__main__":
    main()
