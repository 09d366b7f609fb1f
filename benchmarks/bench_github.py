"""GitHub: API calls and wall time of `incident-syncer sync` against the fake GitHub server.

Each scenario runs the real CLI against tests/fakes/github.py with a latency added to every
call, two ways: in a subprocess (interpreter start-up and imports included, as a user or a CI
job sees it) and in this process (warm imports: the engine and the API calls alone). Times
are medians of --repeat runs; the start-up commands are timed alternately, so that load from
other processes on the machine weighs on each alike.

* a fresh sync of an incident with 50 timeline events, a postmortem and 2 action items
  (unpaced, and once with the default pacing of 1 write a second unless --quick);
* a no-op resync, with the local state and without it (an ephemeral CI runner), without a
  marker key (unsigned markers: trusted by their author, the token's identity asked once when
  the local state does not know it) and with one (signed markers: no identity asked);
* `incident-syncer --help` beside `python -c 'import click'`.

Run: .venv/bin/python benchmarks/bench_github.py [--latency 0.02] [--repeat 3] [--runs 15] [--quick]
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
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHECKOUT, write_config  # noqa: E402
from tests.fakes.github import TOKEN, FakeGitHub, github_tracker  # noqa: E402
from tests.procs import cli_command  # noqa: E402

MARKER_KEY = "bench-marker-key-0123456789abcdef"  # signs the markers in the "marker key" rows


def incident(events: int) -> dict[str, object]:
    data: dict[str, object] = copy.deepcopy(yaml.safe_load(CHECKOUT.read_text(encoding="utf-8")))
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


@dataclass
class Row:
    name: str
    reads: int
    writes: int
    wall: float
    in_process: float


class Bench:
    def __init__(self, latency: float) -> None:
        self.app = FakeGitHub(users={"erin": "write", "frank": "write"}).start()
        self.app.latency = latency
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-github-"))
        self.env = {"GITHUB_TOKEN": TOKEN, "INCIDENT_SYNCER_RETRY_BASE": "0.01"}
        self.path = self.tmp / "incident.yaml"
        self.path.write_text(yaml.safe_dump(incident(50), allow_unicode=True), encoding="utf-8")

    def configure(self, writes_per_second: float) -> None:
        table = github_tracker(self.app, writes_per_second=writes_per_second)
        self.config = write_config(self.tmp / "incident-syncer.toml", {"gh": table})

    def reset(self) -> None:
        """An empty repository and no local state."""
        with self.app.lock:
            self.app.issues.clear()
            self.app.comments.clear()
            self.app.labels.clear()
        self.forget()

    def forget(self) -> None:
        shutil.rmtree(self.tmp / "state", ignore_errors=True)

    def sync(self, in_process: bool) -> tuple[int, int, float]:
        """One ``sync``: (reads, writes, seconds)."""
        self.app.reset_log()
        args = ["--config", str(self.config), "sync", str(self.path)]
        start = time.perf_counter()
        if in_process:
            from click.testing import CliRunner

            from syncer.cli import main

            result = CliRunner(env=self.env).invoke(main, args)
            if result.exit_code != 0:
                raise SystemExit(result.output)
        else:
            subprocess.run(
                [*cli_command(), *args],
                check=True,
                env={**os.environ, **self.env},
                cwd=self.tmp,
                stdout=subprocess.DEVNULL,
            )
        wall = time.perf_counter() - start
        return self.app.reads(), self.app.writes(), wall

    def scenario(self, name: str, repeat: int, *, fresh: bool, local_state: bool = True) -> Row:
        samples: dict[bool, list[float]] = {False: [], True: []}
        counts: set[tuple[int, int]] = set()
        for _ in range(repeat):
            for in_process in (False, True):
                if fresh:
                    self.reset()
                elif not local_state:
                    self.forget()
                reads, writes, wall = self.sync(in_process)
                counts.add((reads, writes))
                samples[in_process].append(wall)
        if len(counts) != 1:
            raise SystemExit(f"{name}: the call counts differ between runs: {sorted(counts)}")
        ((reads, writes),) = counts
        return Row(
            name, reads, writes, statistics.median(samples[False]), statistics.median(samples[True])
        )

    def stop(self) -> None:
        self.app.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def medians(commands: list[list[str]], runs: int) -> list[float]:
    """The median wall time of each command, the commands run in turn ``runs`` times."""
    samples: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for i, cmd in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            samples[i].append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to each call")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each sync scenario")
    parser.add_argument("--runs", type=int, default=15, help="runs of each start-up command")
    parser.add_argument("--quick", action="store_true", help="skip the paced fresh sync (~1 min)")
    args = parser.parse_args()

    bench = Bench(args.latency)
    os.chdir(bench.tmp)
    rows = []
    try:
        bench.configure(writes_per_second=0)
        rows.append(bench.scenario("fresh sync, 50 events (pacing off)", args.repeat, fresh=True))
        rows.append(bench.scenario("no-op resync (local state)", args.repeat, fresh=False))
        rows.append(
            bench.scenario(
                "no-op resync (no local state)", args.repeat, fresh=False, local_state=False
            )
        )
        bench.env["INCIDENT_SYNCER_MARKER_KEY"] = MARKER_KEY
        bench.scenario("fresh sync, marker key", 1, fresh=True)
        rows.append(
            bench.scenario("no-op resync, marker key (local state)", args.repeat, fresh=False)
        )
        rows.append(
            bench.scenario(
                "no-op resync, marker key (no local state)",
                args.repeat,
                fresh=False,
                local_state=False,
            )
        )
        del bench.env["INCIDENT_SYNCER_MARKER_KEY"]
        if not args.quick:
            bench.configure(writes_per_second=1.0)
            row = bench.scenario("fresh sync, 50 events (default 1 write/s)", 1, fresh=True)
            rows.append(row)
    finally:
        os.chdir(ROOT)
        bench.stop()

    print(f"GitHub, fake server with {args.latency * 1000:.0f} ms per call")
    print()
    print("| scenario | reads | writes | CLI wall time (s) | in-process (s) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.name} | {r.reads} | {r.writes} | {r.wall:.2f} | {r.in_process:.2f} |")

    commands = {
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "incident-syncer --help": [*cli_command(), "--help"],
        "python -c 'import github' (paid by a sync to GitHub only)": [
            sys.executable,
            "-c",
            "import github",
        ],
    }
    medians(list(commands.values()), 2)  # warm the file cache
    times = medians(list(commands.values()), args.runs)
    print()
    print(f"| start-up (median of {args.runs}, run in turn) | ms | × import click |")
    print("|---|---:|---:|")
    for name, seconds in zip(commands, times, strict=True):
        print(f"| {name} | {seconds * 1000:.0f} | {seconds / times[0]:.2f} |")


if __name__ == "__main__":
    main()
