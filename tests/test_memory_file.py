"""The file-backed memory tracker shared by several processes at once: nothing lost, no torn file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import BANNER, write_config
from tests.procs import run_together


@pytest.mark.slow  # eight processes
def test_eight_processes_writing_one_tracker_file_lose_nothing(tmp_path: Path) -> None:
    store = tmp_path / "tracker.json"
    base = yaml.safe_load(BANNER.read_text(encoding="utf-8"))
    runs = []
    for n in range(8):
        folder = tmp_path / f"run{n}"
        folder.mkdir()
        config = write_config(
            folder / "incident-syncer.toml", {"mem": {"type": "memory", "path": str(store)}}
        )
        incident = {**base, "id": f"INC-2024-0212-banner-{n}"}
        (folder / "inc.yaml").write_text(
            yaml.safe_dump(incident, allow_unicode=True), encoding="utf-8"
        )
        runs.append((folder, ["--config", str(config), "sync", "inc.yaml"]))
    codes = run_together(runs, {})
    logs = [(folder / "run.log").read_text(encoding="utf-8") for folder, _ in runs]
    assert codes == [0] * 8, logs
    issues = json.loads(store.read_text(encoding="utf-8"))["issues"]
    incidents = [i for i in issues.values() if i["kind"] == "incident"]
    assert sorted(i["incident"] for i in incidents) == [
        f"INC-2024-0212-banner-{n}" for n in range(8)
    ]
    entries = len(base["timeline"])
    assert all(len(i["comments"]) == entries for i in incidents)
    postmortems = [i for i in issues.values() if i["kind"] == "postmortem"]
    items = [i for i in issues.values() if i["kind"] == "action_item"]
    assert len(postmortems) == 8
    assert len(items) == 8 * len(base["postmortem"]["action_items"])
    assert sorted(int(n) for n in issues) == list(range(1, len(issues) + 1))  # numbers unique
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("tracker.json.")] == [
        "tracker.json.lock"
    ]
