"""Jira: requests and wall time of a fresh sync of a 50-event incident and of no-op resyncs.

The real ``jira`` client talks to the fake Jira (tests/fakes/jira.py) on 127.0.0.1 with a
fixed latency per answer (default 20 ms), as Data Center (API v2, wiki markup, /search)
and as Cloud (API v3, ADF, /search/jql), without a marker key (unsigned markers, trusted by
their author) and with one (signed). Printed as a Markdown table.

Run: python benchmarks/bench_jira.py [--latency 0.02] [--events 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MARKER_KEY = "bench-marker-key-0123456789abcdef"  # signs the markers in the "marker key" rows


def incident(events: int) -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load(
        (ROOT / "examples/incidents/INC-2024-0305-checkout.yaml").read_text(encoding="utf-8")
    )
    data["id"] = "INC-bench"
    data["timeline"] = [
        {
            "at": f"2024-03-05T14:{n // 60 + 3:02d}:{n % 60:02d}Z",
            "text": f"Step {n}: checked dashboards, rolled back one more pod",
            "kind": "action" if n % 3 else "note",
        }
        for n in range(events)
    ]
    return data


def run_once(
    cloud: bool, latency: float, events: int, key: str | None
) -> dict[str, tuple[int, int, float]]:
    import yaml
    from click.testing import CliRunner

    from syncer.cli import main
    from tests.conftest import write_config
    from tests.fakes.jira import FakeJira, jira_tracker

    fake = FakeJira(cloud=cloud).start()
    fake.latency = latency
    tmp = Path(tempfile.mkdtemp(prefix="bench-jira-"))
    try:
        os.environ["JIRA_EMAIL"], os.environ["JIRA_API_TOKEN"] = fake.email, fake.token
        os.environ.pop("INCIDENT_SYNCER_MARKER_KEY", None)
        if key:
            os.environ["INCIDENT_SYNCER_MARKER_KEY"] = key
        path = tmp / "inc.yaml"
        path.write_text(yaml.safe_dump(incident(events), allow_unicode=True), encoding="utf-8")
        table = jira_tracker(fake)
        config = write_config(tmp / "incident-syncer.toml", {"jira": table}, language="en")
        out: dict[str, tuple[int, int, float]] = {}
        for name in ("fresh sync", "no-op resync", "no-op resync, no local state"):
            if name.endswith("no local state"):
                shutil.rmtree(tmp / "state")
            fake.reset_log()
            start = time.perf_counter()
            result = CliRunner().invoke(main, ["--config", str(config), "sync", str(path)])
            elapsed = time.perf_counter() - start
            if result.exit_code != 0:
                raise SystemExit(f"{name} failed: {result.output}")
            out[name] = (fake.reads(), fake.writes(), elapsed)
        return out
    finally:
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per answer")
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("INCIDENT_SYNCER_RETRY_BASE", "0.01")
    print(
        f"{args.events}-event incident (resolved, postmortem, 2 action items), "
        f"{args.latency * 1000:.0f} ms per answer, median of {args.runs} runs\n"
    )
    print("| Jira | run | reads | writes | wall time (s) |")
    print("|---|---|---:|---:|---:|")
    for cloud in (False, True):
        for key in (None, MARKER_KEY):
            runs = [run_once(cloud, args.latency, args.events, key) for _ in range(args.runs)]
            for name in runs[0]:
                reads, writes, _ = runs[0][name]
                wall = statistics.median(r[name][2] for r in runs)
                label = ("Cloud (v3)" if cloud else "Data Center (v2)") + (
                    ", marker key" if key else ""
                )
                print(f"| {label} | {name} | {reads} | {writes} | {wall:.2f} |")


if __name__ == "__main__":
    main()
