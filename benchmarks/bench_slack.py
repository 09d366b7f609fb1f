"""Slack: API calls per operation and wall time of the CLI against the fake Slack.

The real CLI runs in a subprocess (start-up and imports included) with a file-backed memory
tracker and one Slack channel (rooms at SEV1/SEV2) against tests/fakes/slack.py, with a
latency added to every answer. Slack's tiers are the tool's own pacing (chat.postMessage one a
second per channel after a burst of three; Tier 2 twenty a minute), so the fresh sync of an
incident with many entries is bounded by the channel's one post a second: its time is shown
against that bound.

* open (notice, room, first entry), note, grade (SEV2 → SEV1), resolve;
* a resync with the local state (the notice's ts remembered) and without it (the history read);
* a fresh sync of an incident with --entries timeline entries (one reply each).

Run: .venv/bin/python benchmarks/bench_slack.py [--latency 0.02] [--entries 20]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import write_config  # noqa: E402
from tests.fakes.slack import TOKEN, WRITES, FakeSlack, slack_channel  # noqa: E402

GRADES = "\n[grades.SEV1]\nroom = true\n[grades.SEV2]\nroom = true\n[grades.SEV3]\n"


def configure(folder: Path, app: FakeSlack) -> Path:
    table = slack_channel(app)
    lines = [f'{k} = "{v}"' for k, v in table.items()]
    people = 'people = { alice = "alice@acme.example" }'
    extra = "\n[channels.slack]\n" + "\n".join([*lines, people]) + "\n" + GRADES
    tracker = {"mem": {"type": "memory", "path": str(folder / "tracker.json")}}
    return write_config(folder / "incident-syncer.toml", tracker, extra=extra)


def cli(config: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "syncer", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started, done


def measure(app: FakeSlack, config: Path, *args: str) -> dict[str, Any]:
    app.reset_log()
    seconds, _ = cli(config, *args)
    methods = [e.path.removeprefix("/api/") for e in app.log]
    writes = [m for m in methods if m in WRITES]
    return {
        "seconds": seconds,
        "calls": len(methods),
        "writes": len(writes),
        "reads": len(methods) - len(writes),
        "posts": methods.count("chat.postMessage"),
    }


def row(name: str, m: dict[str, Any]) -> str:
    return f"| {name} | {m['calls']} | {m['reads']} | {m['writes']} | {m['posts']} | {m['seconds']:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every answer")
    parser.add_argument(
        "--entries", type=int, default=20, help="timeline entries of the long incident"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-slack-"))
    app = FakeSlack().start()
    app.latency = args.latency
    try:
        config = configure(folder, app)
        rows = []
        opening = shlex.split(
            "open --title '결제 실패 급증' --grade SEV2 --id INC-b --commander alice "
            "--at 2026-11-25T10:00:00"
        )
        rows.append(row("open (notice, room, first entry)", measure(app, config, *opening)))
        rows.append(row("note (one reply)", measure(app, config, "note", "INC-b", "롤백 시작")))
        rows.append(
            row(
                "grade SEV2 → SEV1 (edit, reply, topic)",
                measure(app, config, "grade", "INC-b", "SEV1"),
            )
        )
        rows.append(row("resolve (edit, reply, topic)", measure(app, config, "resolve", "INC-b")))
        rows.append(row("resync, local state", measure(app, config, "resolve", "INC-b")))
        shutil.rmtree(folder / "state")
        rows.append(row("resync, no local state", measure(app, config, "resolve", "INC-b")))

        start = datetime.fromisoformat("2026-11-25T10:00:00+09:00")
        incident = {
            "id": "INC-long",
            "title": "긴 타임라인",
            "grade": "SEV3",
            "status": "investigating",
            "detected_at": start.isoformat(),
            "timeline": [
                {
                    "at": (start + timedelta(minutes=m)).isoformat(),
                    "text": f"조치 {m}",
                    "kind": "action",
                }
                for m in range(args.entries)
            ],
        }
        path = folder / "long.yaml"
        path.write_text(yaml.safe_dump(incident, allow_unicode=True), encoding="utf-8")
        long = measure(app, config, "sync", str(path))
        rows.append(row(f"fresh sync, {args.entries} entries (no room)", long))
        bound = max(0, long["posts"] - 3) / 1.0  # a burst of three, then one a second
    finally:
        app.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"latency {args.latency * 1000:.0f} ms per answer; times include the CLI's start-up")
    print()
    print("| operation | Slack calls | reads | writes | posts | seconds |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(
        f"{args.entries} entries: {long['posts']} posts to one channel in {long['seconds']:.1f} s; "
        f"the one-a-second bound is {bound:.0f} s (ratio {long['seconds'] / bound:.2f})"
    )


if __name__ == "__main__":
    main()
