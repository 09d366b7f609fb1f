"""`incident-syncer serve` as a real uvicorn process: parallel redeliveries, resolve, reopen, SIGKILL.

Four trackers: the fake GitHub, Jira and Notion servers (in this test process, driven by the
real client libraries in the serve process) and the memory tracker persisted to a JSON file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from filelock import FileLock

from adapters import memory
from syncer import config as config_mod
from syncer import markers
from syncer.ingest.mapping import Mapping
from syncer.ingest.payloads import parse
from tests.conftest import write_config
from tests.contract import test_github as gh_contract
from tests.contract import test_jira as jira_contract
from tests.contract import test_notion as notion_contract
from tests.fakes.github import FakeGitHub, fresh_pacers
from tests.fakes.jira import FakeJira
from tests.fakes.notion import FakeNotion
from tests.procs import GUARD, wait_until
from tests.test_ingest_helpers import am_alert, am_group, body

pytestmark = pytest.mark.slow  # real serve processes, killed and restarted

WEBHOOK_TOKEN = "serve-process-token-0123456789"
AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}


class ServeProcess:
    """One `incident-syncer serve` process on 127.0.0.1 with a free port."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServeProcess:
        with self.log.open("ab") as out:
            out.write(b"--- start\n")
        start = self.log.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncer", "--config", str(self.config), "serve", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            env={**os.environ, "INCIDENT_SYNCER_WEBHOOK_TOKEN": WEBHOOK_TOKEN},
        )
        proc = self.proc

        def answering() -> bool:
            text = self.log.read_bytes()[start:].decode(errors="replace")
            assert proc.poll() is None, f"serve exited:\n{text}"
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
            if match is None:
                return False
            self.url = match.group(1)
            try:
                return self.health()["status"] == "ok"
            except httpx.TransportError:  # announced, but the socket is not answering yet
                return False

        wait_until("serve to answer", answering)
        return self

    # Answers take what they take on a loaded machine: a timeout only against a hang.

    def post(self, data: dict[str, Any], route: str = "/alertmanager") -> httpx.Response:
        return httpx.post(self.url + route, content=body(data), headers=AUTH, timeout=GUARD)

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(self.url + "/healthz", timeout=GUARD).json()
        return data

    def wait_idle(self) -> None:
        """Until every journaled delivery is finished and nothing is in flight."""
        wait_until(
            "serve to finish its deliveries",
            lambda: (h := self.health())["pending"] == 0 and h["idle"],
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(GUARD)

    def stop(self) -> str:
        """SIGTERM; uvicorn shuts down gracefully, then ends by the signal it caught."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(GUARD)
        assert self.proc.returncode == -signal.SIGTERM
        last = self.log.read_text(encoding="utf-8").strip().splitlines()[-1]
        return last


class Trackers:
    """What each tracker holds: GitHub, Jira and Notion through their contract-suite harnesses
    (fakes in this process), the memory tracker through its JSON file (written by serve)."""

    def __init__(self, github: FakeGitHub, jira: FakeJira, notion: FakeNotion, store: Path) -> None:
        self.github = github
        self.harnesses: dict[str, Any] = {
            "gh": gh_contract.GitHubHarness(github),
            "jira": jira_contract.JiraHarness(jira, cloud=True),
            "notion": notion_contract.NotionHarness(notion),
        }
        self.store = store

    def tables(self) -> dict[str, dict[str, Any]]:
        tables = {name: dict(h.table) for name, h in self.harnesses.items()}
        return tables | {"mem": {"type": "memory", "path": str(self.store)}}

    def env(self) -> dict[str, str]:
        return {k: v for h in self.harnesses.values() for k, v in h.env.items()}

    def memory_issues(self, incident_id: str) -> list[dict[str, Any]]:
        if not self.store.exists():
            return []

        def whole() -> dict[str, Any] | None:
            try:
                found: dict[str, Any] = json.loads(self.store.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                return None
            return found

        # The serve process rewrites the file: read a whole one.
        data = wait_until("a whole memory store file", whole)
        return [
            i
            for i in data["issues"].values()
            if i["kind"] == "incident" and i["incident"] == incident_id
        ]

    def issues(self, incident_id: str) -> dict[str, int]:
        """How many issues of the incident each tracker has."""
        counts = {name: len(h.issues(incident_id)) for name, h in self.harnesses.items()}
        return counts | {"mem": len(self.memory_issues(incident_id))}

    def events(self, incident_id: str) -> dict[str, int]:
        """How many timeline entries this module wrote, per tracker (one issue each)."""
        counts = {
            name: len([e for e in h.events(incident_id) if e.startswith("al-")])
            for name, h in self.harnesses.items()
        }
        (issue,) = self.memory_issues(incident_id)
        marks = [m["id"] for c in memory.texts(issue) if (m := markers.find(c, "event"))]
        return counts | {"mem": len(marks)}

    def closed(self, incident_id: str) -> dict[str, bool]:
        closed = {name: bool(h.closed(incident_id)) for name, h in self.harnesses.items()}
        (issue,) = self.memory_issues(incident_id)
        return closed | {"mem": issue["state"] == "closed"}


ALL = ("gh", "jira", "notion", "mem")


@contextmanager
def running_trackers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trackers]:
    """The fake GitHub, Jira (Cloud) and Notion running, their secrets in the environment."""
    fresh_pacers(monkeypatch)
    github, jira, notion = FakeGitHub().start(), FakeJira(cloud=True).start(), FakeNotion()
    notion.start()
    trackers = Trackers(github, jira, notion, tmp_path / "memory-tracker.json")
    for key, value in trackers.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield trackers
    finally:
        for app in (github, jira, notion):
            app.stop()


def each(value: Any) -> dict[str, Any]:
    return dict.fromkeys(ALL, value)


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ServeProcess, Trackers, Path]]:
    with running_trackers(tmp_path, monkeypatch) as trackers:
        config = write_config(
            tmp_path / "incident-syncer.toml",
            trackers.tables(),
            extra='\n[ingest]\non_resolved = "resolved"\n\n[serve]\nworkers = 4\n',
        )
        server = ServeProcess(config, tmp_path / "serve.log")
        try:
            yield server, trackers, config
        finally:
            if server.proc is not None and server.proc.poll() is None:
                server.kill()


def incident_id(config: Path, data: dict[str, Any]) -> str:
    return Mapping(config_mod.load(str(config))).group_id(parse("alertmanager", body(data)))


def test_twenty_parallel_deliveries_then_resolve_then_reopen(
    setup: tuple[ServeProcess, Trackers, Path],
) -> None:
    server, trackers, config = setup
    server.start()
    firing = am_group([am_alert("order-api-x2k9q"), am_alert("order-api-m7r4t")])
    inc = incident_id(config, firing)
    copies = [
        firing | {"externalURL": f"http://alertmanager-{i % 2}.monitoring:9093"} for i in range(20)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(server.post, copies))
    assert [a.status_code for a in answers] == [202] * 20
    server.wait_idle()
    assert trackers.issues(inc) == each(1)
    assert trackers.events(inc) == each(1)

    resolved = am_group(
        [
            am_alert("order-api-x2k9q", status="resolved", ends="2025-11-03T07:02:00Z"),
            am_alert("order-api-m7r4t", status="resolved", ends="2025-11-03T07:01:30.5Z"),
        ]
    )
    assert server.post(resolved).status_code == 202
    server.wait_idle()
    assert trackers.events(inc) == each(2)
    assert trackers.closed(inc) == each(True)  # on_resolved = "resolved"

    again = am_group([am_alert("order-api-x2k9q", starts="2025-11-03T09:30:00Z")])
    assert server.post(again).status_code == 202
    server.wait_idle()
    assert trackers.issues(inc) == each(1)
    assert trackers.events(inc) == each(3)
    assert trackers.closed(inc) == each(False)
    (gh,) = trackers.harnesses["gh"].issues(inc)
    assert "알림 재발생" in trackers.github.comment_bodies(int(gh.lstrip("#")))[-1]
    assert server.stop() == (
        "incident-syncer serve: stopped; 0 deliveries pending (resumed on the next start)"
    )


def test_sigkill_after_202_loses_nothing_and_duplicates_nothing(
    setup: tuple[ServeProcess, Trackers, Path], tmp_path: Path
) -> None:
    server, trackers, config = setup
    server.start()
    firing = am_group([am_alert("order-api-x2k9q")])
    inc = incident_id(config, firing)
    # Another runner holds the group: the delivery is journaled and answered, then waits.
    group_lock = FileLock(str(tmp_path / "state" / "locks" / f"group-{inc}.lock"))
    group_lock.acquire()
    try:
        assert server.post(firing).status_code == 202
        wait_until("the delivery to be taken up", lambda: not server.health()["idle"])
        server.kill()
    finally:
        group_lock.release()
    assert trackers.issues(inc) == each(0)

    server.start()  # the journaled delivery resumes
    server.wait_idle()
    assert trackers.issues(inc) == each(1)
    assert trackers.events(inc) == each(1)
    assert "incident-syncer serve: resuming 1 pending deliveries" in server.log.read_text()
    assert server.stop().endswith("stopped; 0 deliveries pending (resumed on the next start)")


def test_sigkill_during_a_slow_tracker_write(
    setup: tuple[ServeProcess, Trackers, Path],
) -> None:
    server, trackers, config = setup
    server.start()
    firing = am_group([am_alert("order-api-x2k9q")])
    inc = incident_id(config, firing)
    trackers.github.latency = 0.3  # every GitHub call is slow: the kill lands mid-sync
    assert server.post(firing).status_code == 202
    assert trackers.github.entries("POST") == []  # answered before any tracker write
    wait_until("a first GitHub write", lambda: trackers.github.entries("POST"))
    server.kill()
    trackers.github.latency = 0.0
    server.start()
    server.wait_idle()
    assert trackers.issues(inc) == each(1)
    assert trackers.events(inc) == each(1)
    assert server.stop().endswith("stopped; 0 deliveries pending (resumed on the next start)")
