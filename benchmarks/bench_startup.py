"""Start-up time: `incident-syncer --help` beside `python -c 'import click'` (goal: under 1.5x).

Run: python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("incident-syncer")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "syncer"]
    timed([sys.executable, "-c", "import click"], 3)  # warm the file cache
    base = timed([sys.executable, "-c", "import click"], args.runs)
    help_ = timed([*cli, "--help"], args.runs)
    version = timed([*cli, "--version"], args.runs)
    print("| command | median (ms) | × import click |")
    print("|---|---:|---:|")
    print(f"| python -c 'import click' | {base * 1000:.0f} | 1.00 |")
    print(f"| incident-syncer --help | {help_ * 1000:.0f} | {help_ / base:.2f} |")
    print(f"| incident-syncer --version | {version * 1000:.0f} | {version / base:.2f} |")
    imported = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "syncer", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    heavy = [
        m
        for m in ("pydantic", "jinja2", "github", "jira", "notion_client", "yaml", "starlette")
        if f" {m}\n" in imported or f"| {m}\n" in imported
    ]
    print(f"\nheavy modules imported by --help: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
