"""``incident-syncer backfill``, ``retry`` and ``journal`` through the CLI, on in-memory trackers."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner, Result

from adapters import memory
from syncer import markers, pacing
from syncer.cli import main
from tests.conftest import ROOT, write_config
from tests.procs import GUARD, wait_until

EXAMPLE = ROOT / "examples" / "backfill"
SEOUL = ZoneInfo("Asia/Seoul")
TWO = {"gh": {"type": "memory", "store": "gh"}, "notion": {"type": "memory", "store": "notion"}}


def backfill_section() -> str:
    """The example's [backfill] tables (the Korean column mapping)."""
    text = (EXAMPLE / "incident-syncer.toml").read_text(encoding="utf-8")
    return "\n" + text[text.index("[backfill]") :]


def configure(tmp_path: Path, trackers: dict[str, dict[str, Any]] | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_config(
        tmp_path / "incident-syncer.toml", trackers or TWO, extra=backfill_section()
    )


def run(cfg: Path, *args: str) -> Result:
    """One run of the CLI; like a real run it starts with fresh pacers (they live per process)."""
    pacing._PACERS.clear()
    return CliRunner().invoke(main, ["--config", str(cfg), *args], catch_exceptions=False)


def table(text: str) -> str:
    """The summary as printed, its elapsed times (wall clock) shown as ``m:ss``."""
    return re.sub(r"\b\d+:\d\d$", "m:ss", text, flags=re.M)


def incident_data(
    i: int, events: int = 20, status: str = "resolved", **extra: Any
) -> dict[str, Any]:
    start = datetime(2023, 1, 1, 9, 0, tzinfo=SEOUL) + timedelta(days=i)
    data: dict[str, Any] = {
        "id": f"INC-BF-{i:03d}",
        "title": f"과거 장애 {i}",
        "grade": ["SEV1", "SEV2", "SEV3", "SEV4"][i % 4],
        "status": status,
        "commander": "alice",
        "started_at": start.isoformat(),
        "detected_at": (start + timedelta(minutes=5)).isoformat(),
        "timeline": [
            {"at": (start + timedelta(minutes=5 + i)).isoformat(), "text": f"조치 {i}"}
            for i in range(events)
        ],
    }
    if status in ("resolved", "closed"):
        data["resolved_at"] = (start + timedelta(hours=3)).isoformat()
    data.update(extra)
    return data


def make_folder(tmp_path: Path, count: int, **kwargs: Any) -> Path:
    folder = tmp_path / "incidents"
    folder.mkdir(exist_ok=True)
    for i in range(count):
        data = incident_data(i, **kwargs)
        path = folder / f"{data['id']}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def incidents_in(store: memory.Store) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for issue in store.issues.values():
        if issue["kind"] == "incident":
            out.setdefault(issue["incident"], []).append(issue)
    return out


def reset_logs(*names: str) -> None:
    for name in names:
        memory.store(name).calls.clear()


def test_a_korean_spreadsheet_export_with_a_bad_row(tmp_path: Path) -> None:
    cfg = configure(tmp_path, {"gh": TWO["gh"]})
    export = tmp_path / "export.csv"
    rows = (EXAMPLE / "incidents.csv").read_text(encoding="utf-8")
    bad = "INC-2024-0301-bad,등급 오타,5등급,해결,,,,,,2024-03-01 10:00,,,,,,,,,\n"
    export.write_text(rows + bad, encoding="utf-8")
    result = run(cfg, "backfill", str(export), "--progress", "off")
    assert result.exit_code == 1, result.output
    bad_row = f"{export}:8: 등급: unknown grade '5등급'; expected one of: SEV1, SEV2, SEV3, SEV4"
    ignored = f"Warning: {export}: ignored column(s) not in [backfill.columns]: 비고\n"
    assert table(result.stdout) == (
        "tracker  created  updated  unchanged  skipped  failed  writes  (postmortem)  elapsed\n"
        "gh             3        0          0        0       0      10             3     m:ss\n"
        f"✗ input: {bad_row}\n"
        "  gh: 16 request(s) (10 write(s))\n"
    )
    assert result.stderr == (
        f"{ignored}Error: {bad_row}\n"
        "1 input file(s) or row(s) failed: fix them and run the backfill again.\n"
    )
    issues = incidents_in(memory.store("gh"))
    assert sorted(issues) == ["INC-2023-0907-login", "INC-2023-1130-batch", "INC-2024-0115-push"]
    assert all(len(v) == 1 for v in issues.values())
    login = issues["INC-2023-0907-login"][0]
    assert login["state"] == "closed" and login["comments"] == []
    assert "| 2023-09-07 14:31 KST | 조치 | 커넥션 풀 확장, 재시작 |" in login["body"]
    # The mitigated one is not over: its timeline goes in as comments.
    assert len(issues["INC-2024-0115-push"][0]["comments"]) == 2
    reset_logs("gh")
    again = run(cfg, "backfill", str(export), "--progress", "off")
    assert again.exit_code == 1  # the bad row is still bad
    assert table(again.stdout) == (
        "tracker  created  updated  unchanged  skipped  failed  writes  (postmortem)  elapsed\n"
        "gh             0        0          0        3       0       0             0     m:ss\n"
        f"✗ input: {bad_row}\n"
        "  gh: 0 request(s) (0 write(s))\n"
    )
    assert again.stderr == (
        f"{ignored}Error: {bad_row}\n"
        "3 incident(s) already done by an earlier run: skipped (--recheck reads them again)\n"
        "1 input file(s) or row(s) failed: fix them and run the backfill again.\n"
    )
    assert memory.store("gh").calls == []  # not even a read


def test_historical_backfill_of_a_folder_then_resume_and_recheck(tmp_path: Path) -> None:
    cfg = configure(tmp_path)
    folder = make_folder(tmp_path, 24)
    (folder / "broken.yaml").write_text("id: INC-broken\ntitle: [unclosed\n", encoding="utf-8")
    result = run(cfg, "backfill", str(folder), "--json", "--progress", "off")
    assert result.exit_code == 1
    broken = f"{folder / 'broken.yaml'}:3: YAML syntax error: did not find expected ',' or ']'"
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(lines) == 48 and all(x["created"] and x["writes"] == 2 for x in lines)
    for name in TWO:
        store = memory.store(name)
        assert store.writes() == 48  # create + close, for 24 incidents of 20 events each
        issues = incidents_in(store)
        assert len(issues) == 24 and all(len(v) == 1 for v in issues.values())
        assert all(i[0]["state"] == "closed" and i[0]["comments"] == [] for i in issues.values())
    # The summary table goes to stderr with --json, the broken file named.
    assert table(result.stderr) == (
        f"Error: {broken}\n"
        "tracker  created  updated  unchanged  skipped  failed  writes  (postmortem)  elapsed\n"
        "gh            24        0          0        0       0      48             0     m:ss\n"
        "notion        24        0          0        0       0      48             0     m:ss\n"
        f"✗ input: {broken}\n"
        "  gh: 96 request(s) (48 write(s))\n"
        "  notion: 96 request(s) (48 write(s))\n"
        "1 input file(s) or row(s) failed: fix them and run the backfill again.\n"
    )
    (folder / "broken.yaml").unlink()

    reset_logs(*TWO)
    again = run(cfg, "backfill", str(folder), "--progress", "off")
    assert again.exit_code == 0, again.output
    assert table(again.stdout) == (
        "tracker  created  updated  unchanged  skipped  failed  writes  (postmortem)  elapsed\n"
        "gh             0        0          0       24       0       0             0     m:ss\n"
        "notion         0        0          0       24       0       0             0     m:ss\n"
        "  gh: 0 request(s) (0 write(s))\n"
        "  notion: 0 request(s) (0 write(s))\n"
    )
    assert again.stderr == (
        "24 incident(s) already done by an earlier run: skipped (--recheck reads them again)\n"
    )
    assert all(memory.store(n).calls == [] for n in TWO)

    recheck = run(cfg, "backfill", str(folder), "--recheck", "--progress", "off")
    assert recheck.exit_code == 0
    assert all(memory.store(n).writes() == 0 and memory.store(n).reads() > 0 for n in TWO)
    assert table(recheck.output) == (
        "tracker  created  updated  unchanged  skipped  failed  writes  (postmortem)  elapsed\n"
        "gh             0        0         24        0       0       0             0     m:ss\n"
        "notion         0        0         24        0       0       0             0     m:ss\n"
        "  gh: 24 request(s) (0 write(s))\n"
        "  notion: 24 request(s) (0 write(s))\n"
    )

    shutil.rmtree(tmp_path / "state")  # no local state at all: the markers still hold
    reset_logs(*TWO)
    assert run(cfg, "backfill", str(folder), "--progress", "off").exit_code == 0
    assert all(memory.store(n).writes() == 0 for n in TWO)


def test_one_comment_per_event_without_historical_mode(tmp_path: Path) -> None:
    cfg = configure(tmp_path, {"gh": TWO["gh"]})
    folder = make_folder(tmp_path, 3)
    result = run(cfg, "backfill", str(folder), "--no-historical", "--progress", "off")
    assert result.exit_code == 0
    assert memory.store("gh").writes() == 3 * 22
    assert all(len(v[0]["comments"]) == 20 for v in incidents_in(memory.store("gh")).values())


def test_historical_can_be_forced_for_open_incidents(tmp_path: Path) -> None:
    cfg = configure(tmp_path, {"gh": TWO["gh"]})
    folder = make_folder(tmp_path, 2, status="investigating")
    assert run(cfg, "backfill", str(folder), "--progress", "off").exit_code == 0
    assert memory.store("gh").writes() == 2 * 20 + 2  # auto: open ones get comments
    cfg2 = configure(tmp_path / "b", {"gh2": {"type": "memory", "store": "gh2"}})
    assert run(cfg2, "backfill", str(folder), "--historical", "--progress", "off").exit_code == 0
    assert memory.store("gh2").writes() == 2  # one create each, open, nothing else


def test_postmortems_are_published_unless_asked_not_to(tmp_path: Path) -> None:
    pm = {"summary": "요약", "action_items": [{"title": "알림 추가"}, {"title": "문서화"}]}
    folder = make_folder(tmp_path, 2, postmortem=pm)
    cfg = configure(tmp_path, {"gh": TWO["gh"]})
    result = run(cfg, "backfill", str(folder), "--progress", "off")
    row = result.stdout.splitlines()[1].split()
    assert row[6:8] == ["10", "6"]  # writes: 2 issue + 3 postmortem per incident
    store = memory.store("gh")
    assert sum(1 for i in store.issues.values() if i["kind"] == "postmortem") == 2
    cfg2 = configure(tmp_path / "b", {"gh2": {"type": "memory", "store": "gh2"}})
    run(cfg2, "backfill", str(folder), "--no-postmortems", "--progress", "off")
    store2 = memory.store("gh2")
    assert store2.writes() == 4
    assert all(i["kind"] == "incident" for i in store2.issues.values())


def test_since_leaves_older_incidents_out(tmp_path: Path) -> None:
    cfg = configure(tmp_path, {"gh": TWO["gh"]})
    folder = make_folder(tmp_path, 10)
    result = run(cfg, "backfill", str(folder), "--since", "2023-01-08", "--progress", "off")
    assert result.exit_code == 0
    assert table(result.stdout) == (
        "tracker  created  updated  unchanged  skipped  failed  writes  (postmortem)  elapsed\n"
        "gh             3        0          0        0       0       6             0     m:ss\n"
        "  gh: 12 request(s) (6 write(s))\n"
    )
    assert result.stderr == "7 incident(s) started before --since: left out\n"
    assert sorted(incidents_in(memory.store("gh"))) == [f"INC-BF-{i:03d}" for i in (7, 8, 9)]
    bad = run(cfg, "backfill", str(folder), "--since", "last week")
    assert bad.exit_code == 2
    assert bad.output == (
        "Error: --since 'last week': expected a date like 2024-01-01 "
        "or a time like 2024-01-01T09:00\n"
    )


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    cfg = configure(tmp_path, {"gh": TWO["gh"]})
    folder = make_folder(tmp_path, 2)
    result = run(
        cfg, "backfill", str(folder), "--dry-run", "--progress", "off", "--concurrency", "1"
    )
    assert result.exit_code == 0
    assert result.stderr == (
        "~ INC-BF-000 → gh: would do\n"
        "    - create issue '[SEV1] 과거 장애 0' with label grade:SEV1\n"
        "    - set status → closed\n"
        "~ INC-BF-001 → gh: would do\n"
        "    - create issue '[SEV2] 과거 장애 1' with label grade:SEV2\n"
        "    - set status → closed\n"
    )
    assert table(result.stdout) == (
        "tracker  to create  to update  unchanged  skipped  failed  to write  (postmortem)  elapsed\n"
        "gh               2          0          0        0       0         4             0     m:ss\n"
        "  gh: 2 request(s) (0 write(s))\n"
    )
    assert memory.store("gh").writes() == 0 and memory.store("gh").issues == {}
    assert run(cfg, "journal").output == "nothing pending\n"


@pytest.mark.parametrize("trackers", [["gh"], ["gh", "notion"]])
def test_dry_run_counts_the_writes_the_run_then_makes(tmp_path: Path, trackers: list[str]) -> None:
    """The dry run's `to write` is what the real run then writes, tracker by tracker: new
    issues with timelines, postmortems and action items, across trackers that link each other
    (phase 2); a change to incidents that exist (one more entry each); postmortems held back
    by `--no-postmortems` and published later (linked from the issue by an update)."""
    cfg = configure(tmp_path, {name: TWO[name] for name in trackers})
    pm = {"summary": "요약", "action_items": [{"id": "AI-1", "title": "재발 방지"}]}
    folder = make_folder(tmp_path, 3, events=12, postmortem=pm)
    live = incident_data(3, events=7, status="investigating")  # entries as comments
    (folder / "INC-BF-003.yaml").write_text(yaml.safe_dump(live, allow_unicode=True), "utf-8")

    def counts(dry: bool, *more: str) -> dict[str, str]:
        flags = ["--dry-run", *more] if dry else list(more)
        out = run(cfg, "backfill", str(folder), *flags, "--progress", "off", "--concurrency", "1")
        assert out.exit_code == 0, out.output
        rows = [line.split() for line in out.stdout.splitlines()[1:] if line[:1] != " "]
        return {row[0]: row[6] for row in rows}  # the `writes` / `to write` column

    planned = counts(dry=True)
    assert all(memory.store(name).writes() == 0 for name in trackers)
    assert planned == counts(dry=False) and all(int(n) > 3 for n in planned.values()), planned
    for i in range(4):
        path = folder / f"INC-BF-{i:03d}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["timeline"].append({"at": data["detected_at"], "text": "추가 메모"})
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    again = counts(dry=True)
    assert again == counts(dry=False) and all(int(n) >= 4 for n in again.values()), again

    shutil.rmtree(folder)
    folder.mkdir()
    for i in (10, 11):  # incidents the trackers do not hold yet
        data = yaml.safe_dump(incident_data(i, events=3, postmortem=pm), allow_unicode=True)
        (folder / f"INC-BF-{i:03d}.yaml").write_text(data, encoding="utf-8")
    held = counts(True, "--no-postmortems")
    assert held == counts(False, "--no-postmortems")
    late = counts(dry=True)
    assert late == counts(dry=False) and late != {name: "0" for name in trackers}, late


def test_faults_are_journaled_and_retry_converges(tmp_path: Path) -> None:
    import random

    cfg = configure(tmp_path)
    folder = make_folder(tmp_path, 20, events=4)
    for i, name in enumerate(TWO):
        store = memory.store(name)
        store.fail_rate, store.fail_after_write, store.rng = 0.2, True, random.Random(i)
    os.environ["INCIDENT_SYNCER_RETRY_ATTEMPTS"] = "2"  # few in-run retries: leave work for retry
    try:
        first = run(cfg, "backfill", str(folder), "--progress", "off")
    finally:
        os.environ["INCIDENT_SYNCER_RETRY_ATTEMPTS"] = "6"
    assert first.exit_code == 1, first.output
    # Which incidents fail is up to the faults: each line of the summary is checked whole.
    head, *rows = table(first.stdout).splitlines()
    assert head.split() == [
        "tracker", "created", "updated", "unchanged", "skipped", "failed", "writes",
        "(postmortem)", "elapsed",
    ]  # fmt: skip
    failures = [r for r in rows if r.startswith("✗")]
    assert failures and all(
        re.fullmatch(r"✗ (gh|notion): \d+ failed: .*injected failure.* \(INC-BF-\d{3}.*\)", r)
        or re.fullmatch(r"✗ (gh|notion): \d+ failed: answer lost after .* \(INC-BF-\d{3}.*\)", r)
        for r in failures
    ), failures
    pending = json.loads(run(cfg, "journal", "--json").stdout)
    assert pending and all(p["last_error"] for p in pending)
    assert {p["command"] for p in pending} == {"backfill"}
    codes = []
    for _ in range(10):
        codes.append(run(cfg, "retry").exit_code)
        if codes[-1] == 0:
            break
    assert codes[-1] == 0, codes
    for name in TWO:
        store = memory.store(name)
        store.fail_rate = 0.0
        issues = incidents_in(store)
        assert len(issues) == 20 and all(len(v) == 1 for v in issues.values())
        for issue in (v[0] for v in issues.values()):
            assert issue["state"] == "closed" and issue["comments"] == []
            snapshot = markers.find_snapshot(issue["body"])
            assert snapshot is not None and len(snapshot["embedded"]) == 4
    assert run(cfg, "journal").output.strip() == "nothing pending"
    reset_logs(*TWO)
    final = run(cfg, "backfill", str(folder), "--recheck", "--progress", "off")
    assert final.exit_code == 0
    assert all(memory.store(n).writes() == 0 for n in TWO)


def test_progress_lines_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    cfg = configure(tmp_path, {"gh": TWO["gh"]})
    folder = make_folder(tmp_path, 12, events=2)
    result = run(cfg, "backfill", str(folder))
    lines = [x for x in result.stderr.splitlines() if x.startswith("backfill: ")]
    assert lines[-1].startswith("backfill: 12/12 (100%) · ✓ 12 ✗ 0 · ")
    assert "ETA 0:00" in lines[-1]
    assert 2 <= len(lines) <= 13 and "\r" not in result.stderr


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI"))}
    env.update(INCIDENT_SYNCER_RETRY_BASE="0.01", INCIDENT_SYNCER_RETRY_CAP="0.05")
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.slow  # backfill subprocesses interrupted, then resumed
def test_ctrl_c_finishes_in_flight_work_and_retry_resumes(tmp_path: Path) -> None:
    store = tmp_path / "store.json"
    trackers = {"gh": {"type": "memory", "path": str(store), "writes_per_second": 40}}
    cfg = configure(tmp_path, trackers)
    folder = make_folder(tmp_path, 40, events=3)
    command = [sys.executable, "-m", "syncer", "--config", str(cfg), "backfill", str(folder)]
    proc = subprocess.Popen(
        [*command, "--concurrency", "4", "--progress", "lines"],
        env=subprocess_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(
        "8 issues written",
        lambda: (
            store.exists() and len(json.loads(store.read_text(encoding="utf-8"))["issues"]) >= 8
        ),
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=GUARD)
    assert proc.returncode == 130, err
    lines = err.splitlines()
    assert "Stopping: letting what is in flight finish (Ctrl-C again to quit now)…" in lines
    done = json.loads(store.read_text(encoding="utf-8"))["issues"]
    assert lines[-1] == (
        f"Interrupted: {len(done)} incident(s) finished, {40 - len(done)} not started; "
        "`incident-syncer retry` resumes (or run the same backfill again)."
    )
    assert 8 <= len(done) < 40
    # Whatever was started was finished: created and closed, never half done.
    assert all(i["state"] == "closed" for i in done.values())
    pending = json.loads(run(cfg, "journal", "--json").stdout)
    assert len(pending) == 40 - len(done)
    assert all(p["last_error"] is None for p in pending)
    journal = run(cfg, "journal").stdout.splitlines()
    assert journal[0] == f"{len(pending)} pending:"
    line = r"  INC-BF-\d{3} → gh \(backfill, pending since [-\d: ]+\): not started yet"
    assert [x for x in journal[1:] if not re.fullmatch(line, x)] == []
    resumed = subprocess.run(
        [sys.executable, "-m", "syncer", "--config", str(cfg), "retry"],
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=GUARD,
    )
    assert resumed.returncode == 0, resumed.stderr
    issues = json.loads(store.read_text(encoding="utf-8"))["issues"].values()
    ids = sorted(i["incident"] for i in issues)
    assert ids == sorted(f"INC-BF-{i:03d}" for i in range(40))  # each exactly once
    assert all(i["state"] == "closed" for i in issues)
    rerun = subprocess.run(
        [*command, "--progress", "off"], env=subprocess_env(tmp_path), capture_output=True,
        text=True, timeout=GUARD,
    )  # fmt: skip
    assert rerun.returncode == 0
    assert rerun.stderr == (
        "40 incident(s) already done by an earlier run: skipped (--recheck reads them again)\n"
    )


@pytest.mark.slow  # backfill subprocesses interrupted, then resumed
def test_a_second_ctrl_c_quits_at_once_and_retry_still_finishes_exactly_once(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.json"
    # Eight writes at once, then one every 1,000 s: the incidents in flight cannot finish, so
    # a process that waited for them would not end within the bound below.
    crawling = {"type": "memory", "path": str(store), "writes_per_second": 0.001, "burst": 8}
    cfg = configure(tmp_path, {"gh": crawling})
    folder = make_folder(tmp_path, 30, events=2)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncer",
            "--config",
            str(cfg),
            "backfill",
            str(folder),
            "--concurrency",
            "8",
            "--progress",
            "off",
        ],
        env=subprocess_env(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(
        "4 issues written",
        lambda: (
            store.exists() and len(json.loads(store.read_text(encoding="utf-8"))["issues"]) >= 4
        ),
    )
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    for line in proc.stderr:  # the first Ctrl-C was taken: in-flight work may finish...
        if line.startswith("Stopping: letting what is in flight finish"):
            break
    else:
        pytest.fail("the first Ctrl-C was not acknowledged")
    proc.send_signal(signal.SIGINT)  # ...but a second one does not wait for it
    _, err = proc.communicate(timeout=GUARD)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == (
        "Quitting now: what was in flight is left to `incident-syncer retry` "
        "(nothing is created twice)."
    )
    cfg = configure(tmp_path, {"gh": crawling | {"writes_per_second": 0}})  # unpaced from now on
    pending = json.loads(run(cfg, "journal", "--json").stdout)
    assert pending  # the journal was written before anything else
    resumed = subprocess.run(
        [sys.executable, "-m", "syncer", "--config", str(cfg), "retry"],
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=GUARD,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    issues = json.loads(store.read_text(encoding="utf-8"))["issues"].values()
    assert sorted(i["incident"] for i in issues) == [f"INC-BF-{i:03d}" for i in range(30)]
    assert all(i["state"] == "closed" for i in issues)
